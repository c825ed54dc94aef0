//! The task API's request and answer bodies, shared by the server, the
//! CLI and the netboot agent.

use serde::{Deserialize, Serialize};

use parc_inventory::Host;

use crate::task::{Hook, LogEntry, Task, TaskKind, TaskOptions};

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
    /// Not before, as a person writes it (`22:30`, `2026-11-27 22:30`, RFC
    /// 3339), read in the server's time zone, the one windows use.
    #[serde(default)]
    pub at: Option<String>,
    /// Daily window `HH:MM-HH:MM`.
    #[serde(default)]
    pub window: Option<String>,
    /// Boots that may try it; the server's default when absent.
    #[serde(default)]
    pub max_attempts: Option<u32>,
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

/// A task with its host and history.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskDetail {
    /// The task and its host.
    #[serde(flatten)]
    pub summary: TaskSummary,
    /// The server's offset from UTC in seconds: windows are in its local time.
    #[serde(default)]
    pub server_utc_offset: i32,
    /// History, oldest first.
    pub log: Vec<LogEntry>,
}

/// A removed host, and the tasks cancelled for it (`--cancel-tasks`).
#[derive(Debug, Serialize, Deserialize)]
pub struct HostRemoved {
    /// The host as it was.
    #[serde(flatten)]
    pub host: Host,
    /// Unfinished tasks cancelled before the removal.
    #[serde(default)]
    pub cancelled_tasks: Vec<i64>,
}

/// A deleted image, and the tasks cancelled for it (`--force`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ImageDeleted {
    /// Unfinished restores of it, cancelled before the deletion.
    pub cancelled_tasks: Vec<i64>,
}

/// What the netboot environment needs to run its task.
#[derive(Debug, Serialize, Deserialize)]
pub struct AgentTask {
    /// The task.
    pub task: Task,
    /// The host's hostname, if any.
    pub hostname: Option<String>,
    /// parc's deployment public key (OpenSSH format), for the ssh-key hook.
    pub ssh_public_key: Option<String>,
}

/// How the environment's work ended.
#[derive(Debug, Serialize, Deserialize)]
pub struct AgentDone {
    /// Success.
    pub ok: bool,
    /// Summary on success; the error (with hook output) on failure.
    pub message: String,
}
