//! Administrators' orders: the rules that turn a request into tasks, and
//! the views of tasks with their hosts.

use parc_inventory::Inventory;

use crate::api::{AgentDone, CreateTasks, HostRemoved, TaskDetail, TaskSummary};
use crate::error::{Error, Result};
use crate::store::Tasks;
use crate::task::{NewTask, Task, TaskKind};

/// Boots a task may take unless told otherwise.
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// Creates one task per host the request names (keys and group), each
/// recorded in its host's events. A capture names exactly one host. A
/// restore of an image that does not exist yet is accepted: it may be
/// captured before the task's time, and the boot checks again.
pub async fn create(tasks: &Tasks, inventory: &Inventory, req: &CreateTasks) -> Result<Vec<Task>> {
    if req.kind == TaskKind::Capture && (req.hosts.len() != 1 || req.group.is_some()) {
        return Err(Error::Invalid("a capture names exactly one host".into()));
    }
    let hosts = inventory.select(&req.hosts, req.group.as_deref()).await?;
    let mut created = Vec::new();
    for h in &hosts {
        let t = tasks
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
            .map_err(|e| e.about(&h.label()))?;
        inventory.record(h.id, "task", &format!("task {} created: {} {}", t.id, t.kind.as_str(), t.image)).await?;
        created.push(t);
    }
    Ok(created)
}

async fn label(inventory: &Inventory, host_id: i64) -> Result<String> {
    Ok(inventory.find(&host_id.to_string()).await?.label())
}

/// Tasks with their hosts, newest first: of one host (by key) when given,
/// unfinished only when asked.
pub async fn summaries(tasks: &Tasks, inventory: &Inventory, host: Option<&str>, unfinished: bool) -> Result<Vec<TaskSummary>> {
    let host_id = match host {
        Some(k) => Some(inventory.find(k).await?.id),
        None => None,
    };
    let mut out = Vec::new();
    for t in tasks.list(host_id, unfinished).await? {
        let host = label(inventory, t.host_id).await?;
        out.push(TaskSummary { task: t, host });
    }
    Ok(out)
}

/// One task with its host and history.
pub async fn detail(tasks: &Tasks, inventory: &Inventory, id: i64) -> Result<TaskDetail> {
    let task = tasks.get(id).await?;
    let host = label(inventory, task.host_id).await?;
    let log = tasks.log(id, 1000).await?;
    Ok(TaskDetail { summary: TaskSummary { task, host }, log })
}

/// Cancels a task; the host's events say so.
pub async fn cancel(tasks: &Tasks, inventory: &Inventory, id: i64) -> Result<Task> {
    let t = tasks.cancel(id).await?;
    inventory.record(t.host_id, "task", &format!("task {id} cancelled")).await?;
    Ok(t)
}

/// Removes a host. Its unfinished task is cancelled first when
/// `cancel_tasks`; otherwise the removal is refused while it has one.
pub async fn remove_host(tasks: &Tasks, inventory: &Inventory, key: &str, cancel_tasks: bool) -> Result<HostRemoved> {
    let host = inventory.find(key).await?;
    let mut cancelled = Vec::new();
    if cancel_tasks {
        for t in tasks.list(Some(host.id), true).await? {
            cancelled.push(cancel(tasks, inventory, t.id).await?.id);
        }
    }
    let host = inventory.remove(&host.id.to_string()).await?;
    tracing::info!(host = %host.label(), cancelled = ?cancelled, "host removed");
    Ok(HostRemoved { host, cancelled_tasks: cancelled })
}

/// The environment reports how its task ended.
pub async fn finish(tasks: &Tasks, inventory: &Inventory, task: &Task, done: &AgentDone) -> Result<Task> {
    let t = tasks.finish(task.id, if done.ok { Ok(done.message.clone()) } else { Err(done.message.clone()) }).await?;
    let what = if done.ok { "succeeded".to_string() } else { format!("failed: {}", done.message) };
    inventory.record(t.host_id, "task", &format!("task {} {what}", t.id)).await?;
    tracing::info!(task = t.id, state = %t.state, "task finished");
    Ok(t)
}
