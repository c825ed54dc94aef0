//! Tasks: the administrator's API (`/api/v1/tasks`) and the netboot
//! environment's (`/api/v1/agent/…`, authenticated by the per-task token
//! its boot script carried). The rules live in `parc_deploy::orders`.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use parc_deploy::api::{AgentDone, AgentTask, CreateTasks, TaskDetail, TaskSummary};
use parc_deploy::{orders, Progress, Task};
use serde::Deserialize;

use crate::error::ApiError;
use crate::AppState;

type ApiResult<T> = Result<T, ApiError>;

/// Largest hardware inventory the agent may send.
const MAX_INVENTORY: usize = 1 << 20;

/// Routes under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tasks", get(list).post(create))
        .route("/tasks/{id}", get(show))
        .route("/tasks/{id}/cancel", post(cancel))
        .route("/agent/task", get(agent_task))
        .route("/agent/inventory", post(agent_inventory))
        .route("/agent/progress", post(agent_progress))
        .route("/agent/done", post(agent_done))
}

async fn create(State(s): State<AppState>, Json(req): Json<CreateTasks>) -> ApiResult<(StatusCode, Json<Vec<Task>>)> {
    Ok((StatusCode::CREATED, Json(orders::create(&s.tasks, &s.inventory, s.repo.catalog(), &req).await?)))
}

#[derive(Deserialize)]
struct ListQuery {
    host: Option<String>,
    #[serde(default)]
    unfinished: bool,
}

async fn list(State(s): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Json<Vec<TaskSummary>>> {
    Ok(Json(orders::summaries(&s.tasks, &s.inventory, q.host.as_deref(), q.unfinished).await?))
}

async fn show(State(s): State<AppState>, Path(id): Path<i64>) -> ApiResult<Json<TaskDetail>> {
    Ok(Json(orders::detail(&s.tasks, &s.inventory, id).await?))
}

async fn cancel(State(s): State<AppState>, Path(id): Path<i64>) -> ApiResult<Json<Task>> {
    Ok(Json(orders::cancel(&s.tasks, &s.inventory, id).await?))
}

/// The task behind the request's bearer token.
async fn authorised(s: &AppState, headers: &HeaderMap) -> ApiResult<Task> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "the agent API needs `Authorization: Bearer TOKEN` (the token from parc.token=)"))?;
    Ok(s.tasks.by_token(token.trim()).await?)
}

async fn agent_task(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Json<AgentTask>> {
    let task = authorised(&s, &headers).await?;
    let host = s.inventory.find(&task.host_id.to_string()).await?;
    Ok(Json(AgentTask { task, hostname: host.hostname, ssh_public_key: s.ssh_public_key.as_ref().clone() }))
}

async fn agent_inventory(State(s): State<AppState>, headers: HeaderMap, Json(hw): Json<serde_json::Value>) -> ApiResult<StatusCode> {
    let task = authorised(&s, &headers).await?;
    if hw.to_string().len() > MAX_INVENTORY {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "inventory larger than 1 MiB"));
    }
    s.inventory.set_hardware(task.host_id, &hw).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn agent_progress(State(s): State<AppState>, headers: HeaderMap, Json(p): Json<Progress>) -> ApiResult<StatusCode> {
    let task = authorised(&s, &headers).await?;
    s.tasks.progress(task.id, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn agent_done(State(s): State<AppState>, headers: HeaderMap, Json(d): Json<AgentDone>) -> ApiResult<Json<Task>> {
    let task = authorised(&s, &headers).await?;
    Ok(Json(orders::finish(&s.tasks, &s.inventory, &task, &d).await?))
}
