//! The tasks' change feed: every history line, in the order written, with
//! its task's state and its host. The console's live board tails it; a
//! line's id is the event id a browser resumes from (`Last-Event-ID`), so a
//! reconnect misses nothing and sees nothing twice.

use serde::Serialize;
use sqlx::Row;

use crate::error::Result;
use crate::store::Tasks;
use crate::task::{TaskKind, TaskState};

/// One change to a task, as the board shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskEvent {
    /// The history line's id: increasing, the stream's event id.
    pub seq: i64,
    /// When it was written (ms since the Unix epoch; the page measures lag from it).
    pub at_ms: i64,
    /// The task.
    pub task: i64,
    /// Its host's registry id.
    pub host_id: i64,
    /// Its host's hostname, else its first MAC.
    pub host: String,
    /// The entity the host belongs to: who may see the event.
    #[serde(skip)]
    pub entity_id: i64,
    /// Capture or restore.
    pub kind: TaskKind,
    /// The image.
    pub image: String,
    /// The task's state now (not when the line was written).
    pub state: TaskState,
    /// The line's phase.
    pub phase: String,
    /// Bytes done in the phase.
    pub bytes_done: Option<u64>,
    /// Bytes the phase will do.
    pub bytes_total: Option<u64>,
    /// Bytes per second.
    pub rate: Option<f64>,
    /// The line.
    pub message: String,
}

impl TaskEvent {
    /// Percent of the phase done, when its size is known.
    pub fn percent(&self) -> Option<f64> {
        match (self.bytes_done, self.bytes_total) {
            (Some(d), Some(t)) if t > 0 => Some((d as f64 * 100.0 / t as f64).min(100.0)),
            _ => None,
        }
    }

    /// Seconds left at the current rate, when both are known.
    pub fn eta_secs(&self) -> Option<u64> {
        match (self.bytes_done, self.bytes_total, self.rate) {
            (Some(d), Some(t), Some(r)) if r > 0.0 && t >= d => Some(((t - d) as f64 / r).ceil() as u64),
            _ => None,
        }
    }
}

impl Tasks {
    /// Up to `limit` events after `seq`, oldest first.
    pub async fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<TaskEvent>> {
        let rows = sqlx::query(
            "SELECT l.id, COALESCE(l.at_ms, l.at * 1000) AS at_ms, l.phase, l.bytes_done, l.bytes_total, l.rate, l.message,
                    t.id AS task, t.kind, t.image, t.state, h.id AS host_id, h.entity_id,
                    COALESCE(h.hostname, (SELECT mac FROM host_macs m WHERE m.host_id = h.id ORDER BY rowid LIMIT 1), 'host ' || h.id) AS host
             FROM task_log l JOIN tasks t ON t.id = l.task_id JOIN hosts h ON h.id = t.host_id
             WHERE l.id > ? ORDER BY l.id LIMIT ?",
        )
        .bind(seq)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                let state: String = r.try_get("state")?;
                Ok(TaskEvent {
                    seq: r.try_get("id")?,
                    at_ms: r.try_get("at_ms")?,
                    task: r.try_get("task")?,
                    host_id: r.try_get("host_id")?,
                    host: r.try_get("host")?,
                    entity_id: r.try_get("entity_id")?,
                    kind: kind.parse()?,
                    image: r.try_get("image")?,
                    state: state.parse()?,
                    phase: r.try_get("phase")?,
                    bytes_done: r.try_get::<Option<i64>, _>("bytes_done")?.map(|v| v as u64),
                    bytes_total: r.try_get::<Option<i64>, _>("bytes_total")?.map(|v| v as u64),
                    rate: r.try_get("rate")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    /// The latest event's `seq` (0 when there is none).
    pub async fn last_event(&self) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM task_log").fetch_one(self.pool()).await?.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::store::tests::{restore, tasks};
    use crate::task::{Progress, TaskKind, TaskState};

    #[tokio::test]
    async fn the_feed_lists_each_line_once_in_order_with_the_tasks_state_now() {
        let (_d, s) = tasks().await;
        assert_eq!(s.last_event().await.unwrap(), 0, "an empty feed");
        let t = s.create(restore(1, 1)).await.unwrap();
        s.claim(1, &chrono::Utc::now(), Duration::from_secs(600)).await.unwrap().unwrap();
        s.progress(t.id, &Progress { phase: "restore".into(), bytes_done: Some(10), bytes_total: Some(100), rate: Some(5.0), message: String::new() }).await.unwrap();
        let all = s.events_after(0, 100).await.unwrap();
        let phases: Vec<&str> = all.iter().map(|e| e.phase.as_str()).collect();
        assert_eq!(phases, ["created", "boot", "restore"]);
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq && w[0].at_ms <= w[1].at_ms), "in the order written");
        let p = &all[2];
        assert_eq!((p.task, p.host.as_str(), p.kind, p.state, p.image.as_str()), (t.id, "h1", TaskKind::Restore, TaskState::Running, "golden"));
        assert_eq!((p.percent(), p.eta_secs()), (Some(10.0), Some(18)), "90 bytes left at 5 B/s");
        assert!(all[0].percent().is_none() && all[0].eta_secs().is_none(), "no size, no percent");
        assert_eq!(s.last_event().await.unwrap(), p.seq);

        // Resuming after a line gives only what follows; the limit holds.
        let after: Vec<i64> = s.events_after(all[0].seq, 100).await.unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(after, [all[1].seq, all[2].seq]);
        assert_eq!(s.events_after(0, 1).await.unwrap().len(), 1);
        assert!(s.events_after(p.seq, 100).await.unwrap().is_empty());

        // An old line reports the task as it is now.
        s.finish(t.id, Ok("restored".into())).await.unwrap();
        let now = s.events_after(0, 100).await.unwrap();
        assert!(now.iter().all(|e| e.state == TaskState::Succeeded), "{now:?}");
        assert_eq!(now.last().map(|e| e.phase.as_str()), Some("done"));
    }
}
