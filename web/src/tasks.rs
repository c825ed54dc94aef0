//! Tasks: the administrator's API (`/api/v1/tasks`) and the netboot
//! environment's (`/api/v1/agent/…`, authenticated by the per-task token
//! its boot script carried). The rules live in `parc_deploy::orders`.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::Json;
use parc_deploy::api::{AgentDone, AgentTask, CreateTasks, TaskDetail, TaskSummary};
use parc_deploy::{orders, Progress, Task};
use serde::Deserialize;

use crate::auth::{check, scope_of, with_before, Principal, RouteScope};
use crate::error::ApiError;
use crate::table::Table;
use crate::AppState;
use axum::Extension;
use parc_access::Permission;

type ApiResult<T> = Result<T, ApiError>;

/// Largest hardware inventory the agent may send.
const MAX_INVENTORY: usize = 1 << 20;

/// Routes under `/api/v1`.
pub fn routes() -> Table {
    Table::default()
        .add(Method::GET, "/tasks", list)
        .add(Method::POST, "/tasks", create)
        .add(Method::GET, "/tasks/{id}", show)
        .add(Method::POST, "/tasks/{id}/cancel", cancel)
        .add(Method::GET, "/agent/task", agent_task)
        .add(Method::POST, "/agent/inventory", agent_inventory)
        .add(Method::POST, "/agent/progress", agent_progress)
        .add(Method::POST, "/agent/done", agent_done)
}

/// 404 for an image the caller may not read, worded as for one that does not exist.
fn no_image(name: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, parc_deploy::boot::no_image(name))
}

async fn create(
    State(s): State<AppState>,
    Extension(RouteScope(scope)): Extension<RouteScope>,
    Extension(p): Extension<Principal>,
    Json(mut req): Json<CreateTasks>,
) -> ApiResult<(StatusCode, Json<Vec<Task>>)> {
    crate::hosts::own_hosts(&s, &p, &scope, Permission::TaskCreate, &mut req.hosts, &mut req.group).await?;
    // And only images they may read.
    if let Ok(img) = s.repo.catalog().get(&req.image).await {
        if !scope_of(&s, &p, Permission::ImageRead).await?.contains(img.entity_id) {
            return Err(no_image(&req.image));
        }
    }
    Ok((StatusCode::CREATED, Json(orders::create(&s.tasks, &s.inventory, s.repo.catalog(), &req).await?)))
}

/// Each host's entity, to filter tasks by.
async fn host_entities(s: &AppState) -> ApiResult<std::collections::HashMap<i64, i64>> {
    Ok(s.inventory.list(None).await?.into_iter().map(|h| (h.id, h.entity_id)).collect())
}

/// The task `id` if the caller may do the route's action on it (404 when
/// they may not even see it).
pub(crate) async fn task_for(s: &AppState, p: &Principal, scope: &parc_access::Scope, perm: Permission, id: i64) -> ApiResult<Task> {
    let t = s.tasks.get(id).await?;
    // Tasks point only at existing hosts (a foreign key): its host's entity is its own.
    let entity = s.inventory.find(&t.host_id.to_string()).await?.entity_id;
    let readable = scope_of(s, p, Permission::TaskRead).await?;
    check(entity, scope, &readable, || parc_deploy::Error::NotFound(id).into(), perm, &p.actor())?;
    Ok(t)
}

#[derive(Deserialize)]
struct ListQuery {
    host: Option<String>,
    #[serde(default)]
    unfinished: bool,
}

async fn list(State(s): State<AppState>, Extension(RouteScope(scope)): Extension<RouteScope>, Query(q): Query<ListQuery>) -> ApiResult<Json<Vec<TaskSummary>>> {
    if let Some(key) = &q.host {
        let h = s.inventory.find(key).await?;
        if !scope.contains(h.entity_id) {
            return Err(parc_inventory::Error::NotFound(key.clone()).into());
        }
    }
    let entities = host_entities(&s).await?;
    let mut all = orders::summaries(&s.tasks, &s.inventory, q.host.as_deref(), q.unfinished).await?;
    all.retain(|t| entities.get(&t.task.host_id).is_some_and(|e| scope.contains(*e)));
    Ok(Json(all))
}

async fn show(State(s): State<AppState>, Extension(RouteScope(scope)): Extension<RouteScope>, Extension(p): Extension<Principal>, Path(id): Path<i64>) -> ApiResult<Json<TaskDetail>> {
    task_for(&s, &p, &scope, Permission::TaskRead, id).await?;
    Ok(Json(orders::detail(&s.tasks, &s.inventory, id).await?))
}

async fn cancel(State(s): State<AppState>, Extension(RouteScope(scope)): Extension<RouteScope>, Extension(p): Extension<Principal>, Path(id): Path<i64>) -> ApiResult<axum::response::Response> {
    let before = task_for(&s, &p, &scope, Permission::TaskCancel, id).await?;
    Ok(with_before(Json(orders::cancel(&s.tasks, &s.inventory, id).await?), &before))
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
