//! Tasks: the administrator's API (`/api/v1/tasks`) and the netboot
//! environment's (`/api/v1/agent/…`, authenticated by the per-task token
//! its boot script carried).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use parc_deploy::{Hook, LogEntry, NewTask, Progress, Task, TaskKind, TaskOptions};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::AppState;

type ApiResult<T> = Result<T, ApiError>;

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

/// A request to create tasks: one per host named, and per host of the group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateTasks {
    /// Capture or restore.
    pub kind: TaskKind,
    /// Host keys (id, hostname or MAC).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// A group.
    #[serde(default)]
    pub group: Option<String>,
    /// Image name.
    pub image: String,
    /// Hooks (restore).
    #[serde(default)]
    pub hooks: Vec<Hook>,
    /// Options.
    #[serde(default)]
    pub options: TaskOptions,
    /// Not before (Unix seconds).
    #[serde(default)]
    pub not_before: Option<i64>,
    /// Daily window `HH:MM-HH:MM`.
    #[serde(default)]
    pub window: Option<String>,
    /// Boots that may try it; the server's default when absent.
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

/// Boots a task may take unless told otherwise.
pub const DEFAULT_ATTEMPTS: u32 = 3;

async fn create(State(s): State<AppState>, Json(req): Json<CreateTasks>) -> ApiResult<(StatusCode, Json<Vec<Task>>)> {
    if req.kind == TaskKind::Capture && (req.hosts.len() != 1 || req.group.is_some()) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "a capture names exactly one host"));
    }
    let hosts = crate::hosts::select(&s, &req.hosts, req.group.as_deref()).await?;
    // A restore of an image that does not exist (yet) is accepted: the
    // image may be captured before the task's time. The boot checks again.
    let mut created = Vec::new();
    for h in &hosts {
        let t = s
            .tasks
            .create(NewTask {
                kind: req.kind,
                host_id: h.id,
                image: req.image.clone(),
                hooks: req.hooks.clone(),
                options: req.options.clone(),
                not_before: req.not_before,
                window: req.window.clone(),
                max_attempts: req.max_attempts.unwrap_or(DEFAULT_ATTEMPTS),
            })
            .await
            .map_err(|e| ApiError::from(e).context(&h.label()))?;
        s.inventory.record(h.id, "task", &format!("task {} created: {} {}", t.id, t.kind.as_str(), t.image)).await?;
        created.push(t);
    }
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Deserialize)]
struct ListQuery {
    host: Option<String>,
    #[serde(default)]
    unfinished: bool,
}

/// A task with its host's label.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskSummary {
    /// The task.
    #[serde(flatten)]
    pub task: Task,
    /// Hostname or MAC.
    pub host: String,
}

async fn label(s: &AppState, host_id: i64) -> String {
    match s.inventory.find(&host_id.to_string()).await {
        Ok(h) => h.label(),
        Err(_) => format!("host {host_id} (removed)"),
    }
}

async fn list(State(s): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Json<Vec<TaskSummary>>> {
    let host_id = match &q.host {
        Some(k) => Some(s.inventory.find(k).await?.id),
        None => None,
    };
    let mut out = Vec::new();
    for t in s.tasks.list(host_id, q.unfinished).await? {
        let host = label(&s, t.host_id).await;
        out.push(TaskSummary { task: t, host });
    }
    Ok(Json(out))
}

/// A task with its host and history.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskDetail {
    /// The task and its host.
    #[serde(flatten)]
    pub summary: TaskSummary,
    /// History, oldest first.
    pub log: Vec<LogEntry>,
}

async fn show(State(s): State<AppState>, Path(id): Path<i64>) -> ApiResult<Json<TaskDetail>> {
    let task = s.tasks.get(id).await?;
    let host = label(&s, task.host_id).await;
    let log = s.tasks.log(id, 1000).await?;
    Ok(Json(TaskDetail { summary: TaskSummary { task, host }, log }))
}

async fn cancel(State(s): State<AppState>, Path(id): Path<i64>) -> ApiResult<Json<Task>> {
    let t = s.tasks.cancel(id).await?;
    s.inventory.record(t.host_id, "task", &format!("task {id} cancelled")).await?;
    Ok(Json(t))
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

/// What the environment needs to run its task.
#[derive(Debug, Serialize, Deserialize)]
pub struct AgentTask {
    /// The task.
    pub task: Task,
    /// The host's hostname, if any.
    pub hostname: Option<String>,
    /// parc's deployment public key (OpenSSH format), for the ssh-key hook.
    pub ssh_public_key: Option<String>,
}

async fn agent_task(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Json<AgentTask>> {
    let task = authorised(&s, &headers).await?;
    let host = s.inventory.find(&task.host_id.to_string()).await?;
    Ok(Json(AgentTask { task, hostname: host.hostname, ssh_public_key: s.ssh_public_key.as_ref().clone() }))
}

async fn agent_inventory(State(s): State<AppState>, headers: HeaderMap, Json(hw): Json<serde_json::Value>) -> ApiResult<StatusCode> {
    let task = authorised(&s, &headers).await?;
    if hw.to_string().len() > 1 << 20 {
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

/// How the environment's work ended.
#[derive(Debug, Serialize, Deserialize)]
pub struct AgentDone {
    /// Success.
    pub ok: bool,
    /// Summary on success; the error (with hook output) on failure.
    pub message: String,
}

async fn agent_done(State(s): State<AppState>, headers: HeaderMap, Json(d): Json<AgentDone>) -> ApiResult<Json<Task>> {
    let task = authorised(&s, &headers).await?;
    let t = s.tasks.finish(task.id, if d.ok { Ok(d.message.clone()) } else { Err(d.message.clone()) }).await?;
    let what = if d.ok { "succeeded".to_string() } else { format!("failed: {}", d.message) };
    s.inventory.record(t.host_id, "task", &format!("task {} {what}", t.id)).await?;
    tracing::info!(task = t.id, state = %t.state, "task finished");
    Ok(Json(t))
}
