//! The scheduler: when a task's time and window come, wake its host so its
//! next network boot runs the task.

use std::sync::Arc;
use std::time::Duration;

use parc_inventory::{Host, Inventory};
use tokio_util::sync::CancellationToken;

use crate::store::Tasks;

/// How often due tasks are looked for.
const TICK: Duration = Duration::from_secs(5);

/// What wakes a machine (Wake-on-LAN, from the boot services).
pub trait Waker: Send + Sync {
    /// Wakes `host`: a line saying what was sent, or why nothing could be.
    fn wake(&self, host: &Host) -> Result<String, String>;
}

/// Runs until `shutdown`.
pub async fn run(tasks: Tasks, inventory: Inventory, waker: Arc<dyn Waker>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let due = match tasks.due_to_wake(&chrono::Local::now()).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "scheduler: cannot read tasks");
                continue;
            }
        };
        for t in due {
            let detail = match inventory.find(&t.host_id.to_string()).await {
                Ok(host) => match waker.wake(&host) {
                    Ok(sent) => {
                        let _ = inventory.record(host.id, "wake", &format!("for task {}: {sent}", t.id)).await;
                        format!("woke {}: {sent}", host.label())
                    }
                    Err(why) => format!("could not wake {}: {why}; the task runs at its next network boot", host.label()),
                },
                Err(e) => format!("host {} not found: {e}", t.host_id),
            };
            tracing::info!(task = t.id, "{detail}");
            if let Err(e) = tasks.mark_woken(t.id, &detail).await {
                tracing::warn!(error = %e, task = t.id, "scheduler: cannot record the wake-up");
            }
        }
    }
}
