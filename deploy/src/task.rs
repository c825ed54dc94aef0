//! What a task is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the netboot environment does to the machine's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Read the disk into an image.
    Capture,
    /// Write an image onto the disk (delta), then run the hooks.
    Restore,
}

impl TaskKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Capture => "capture",
            TaskKind::Restore => "restore",
        }
    }
}

impl FromStr for TaskKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "capture" => Ok(TaskKind::Capture),
            "restore" => Ok(TaskKind::Restore),
            _ => Err(Error::Invalid(format!("{s:?} is not a task kind (capture, restore)"))),
        }
    }
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for its time, its window, or the machine's next boot.
    Pending,
    /// The machine booted into it; the environment is working.
    Running,
    /// Done; the machine boots locally from now on.
    Succeeded,
    /// Failed as many times as allowed; the last error is kept.
    Failed,
    /// Cancelled by an administrator.
    Cancelled,
}

impl TaskState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }

    /// True once nothing more will happen.
    pub fn is_final(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => TaskState::Pending,
            "running" => TaskState::Running,
            "succeeded" => TaskState::Succeeded,
            "failed" => TaskState::Failed,
            "cancelled" => TaskState::Cancelled,
            _ => return Err(Error::Invalid(format!("{s:?} is not a task state"))),
        })
    }
}

/// A post-install hook, run by the environment on the restored disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "hook", rename_all = "kebab-case")]
pub enum Hook {
    /// Linux: write /etc/hostname and the 127.0.1.1 line of /etc/hosts.
    Hostname {
        /// The new name.
        name: String,
    },
    /// Install parc's deployment public key in `~user/.ssh/authorized_keys`
    /// (the hand-off to SSH deployment).
    SshKey {
        /// The account.
        user: String,
    },
    /// Drop a file at a path on a partition (the Linux root when `partition`
    /// is not given).
    File {
        /// 1-based partition number.
        partition: Option<u32>,
        /// Absolute path inside that filesystem.
        path: String,
        /// Content.
        content: String,
        /// Unix permissions (octal), default 0644.
        mode: Option<u32>,
    },
    /// A script the installed system runs once at its first boot.
    FirstBoot {
        /// The script.
        script: String,
    },
    /// A script run by the environment with the target mounted at
    /// `$PARC_TARGET` (the Linux root); a non-zero exit fails the task.
    Script {
        /// The script.
        script: String,
    },
}

impl Hook {
    /// Parses the short form `hostname[=NAME]` (NAME may be a template such
    /// as `lab-{{ n }}`; without it, each host's registry hostname),
    /// `ssh-key[=USER]` (user `root` by default).
    pub fn parse_short(s: &str) -> Result<Hook> {
        let (k, v) = s.split_once('=').map_or((s, None), |(k, v)| (k, Some(v)));
        match (k.trim(), v.map(str::trim)) {
            ("hostname", None) => Ok(Hook::Hostname { name: "{{ hostname }}".into() }),
            ("hostname", Some(n)) if !n.is_empty() => Ok(Hook::Hostname { name: n.to_string() }),
            ("ssh-key", None) => Ok(Hook::SshKey { user: "root".into() }),
            ("ssh-key", Some(u)) if !u.is_empty() => Ok(Hook::SshKey { user: u.to_string() }),
            _ => Err(Error::Invalid(format!(
                "unknown hook {s:?} (short forms: hostname[=NAME], ssh-key[=USER]; files and scripts have their own flags)"
            ))),
        }
    }

    /// Checks what can be checked before the machine boots.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        match self {
            Hook::Hostname { name } if name.is_empty() || name.len() > 63 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
                bad(format!("hook hostname: {name:?} is not a valid host name"))
            }
            Hook::SshKey { user } if user.is_empty() || !user.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) => {
                bad(format!("hook ssh-key: {user:?} is not a user name"))
            }
            Hook::File { path, .. } if !path.starts_with('/') || path.split('/').any(|c| c == "..") => {
                bad(format!("hook file: {path:?} must be an absolute path without '..'"))
            }
            _ => Ok(()),
        }
    }
}

/// Options of a task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskOptions {
    /// The disk to work on (`/dev/vda`); default: the first non-removable disk.
    pub disk: Option<String>,
    /// Restore: rewrite everything instead of a delta.
    pub full: bool,
    /// Restore: grow the last partition onto a larger disk.
    pub grow: bool,
    /// Power off when done instead of rebooting.
    pub poweroff: bool,
    /// Capture: replace an existing image of the same name.
    pub replace: bool,
    /// Cap on the disk read rate (capture) or download rate (restore), bytes/s.
    pub rate_limit: Option<u64>,
}

/// A task as an administrator asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTask {
    /// Capture or restore.
    pub kind: TaskKind,
    /// Registry id of the host.
    pub host_id: i64,
    /// Image name.
    pub image: String,
    /// Post-install hooks (restore only).
    #[serde(default)]
    pub hooks: Vec<Hook>,
    /// Options.
    #[serde(default)]
    pub options: TaskOptions,
    /// Not before this time (Unix seconds).
    pub not_before: Option<i64>,
    /// Only inside this daily window.
    pub window: Option<String>,
    /// Boots that may try it.
    pub max_attempts: u32,
}

/// The latest progress of a running task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// `inventory`, `capture`, `restore`, `hooks`, …
    pub phase: String,
    /// Bytes done in this phase.
    pub bytes_done: Option<u64>,
    /// Bytes this phase will do, when known.
    pub bytes_total: Option<u64>,
    /// Bytes per second.
    pub rate: Option<f64>,
    /// A line for the log.
    #[serde(default)]
    pub message: String,
}

/// A task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Id.
    pub id: i64,
    /// Capture or restore.
    pub kind: TaskKind,
    /// Registry id of the host.
    pub host_id: i64,
    /// Image name.
    pub image: String,
    /// Hooks.
    pub hooks: Vec<Hook>,
    /// Options.
    pub options: TaskOptions,
    /// Not before (Unix seconds).
    pub not_before: Option<i64>,
    /// Daily window.
    pub window: Option<String>,
    /// State.
    pub state: TaskState,
    /// Boots that tried it.
    pub attempts: u32,
    /// Boots allowed.
    pub max_attempts: u32,
    /// The last error.
    pub error: Option<String>,
    /// When the server sent the wake-up (Unix seconds).
    pub woken_at: Option<i64>,
    /// Latest progress.
    pub progress: Option<Progress>,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// First started.
    pub started_at: Option<i64>,
    /// Finished.
    pub finished_at: Option<i64>,
}

/// One line of a task's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Unix seconds.
    pub at: i64,
    /// Phase.
    pub phase: String,
    /// Bytes done.
    pub bytes_done: Option<u64>,
    /// Bytes total.
    pub bytes_total: Option<u64>,
    /// Rate, bytes per second.
    pub rate: Option<f64>,
    /// Text.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hooks() {
        assert_eq!(Hook::parse_short("hostname=lab-b").unwrap(), Hook::Hostname { name: "lab-b".into() });
        assert_eq!(Hook::parse_short("ssh-key").unwrap(), Hook::SshKey { user: "root".into() });
        assert_eq!(Hook::parse_short("ssh-key=parc").unwrap(), Hook::SshKey { user: "parc".into() });
        assert!(Hook::parse_short("reboot").is_err());
        assert!(Hook::Hostname { name: "bad name".into() }.validate().is_err());
        assert!(Hook::File { partition: None, path: "etc/x".into(), content: String::new(), mode: None }.validate().is_err());
        let json = serde_json::to_string(&Hook::SshKey { user: "parc".into() }).unwrap();
        assert_eq!(json, r#"{"hook":"ssh-key","user":"parc"}"#);
    }
}
