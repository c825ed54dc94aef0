//! What a booting machine's task is: claimed for this boot when it may
//! start now, or failed at once when it cannot run at all.

use std::time::Duration;

use parc_imaging::Catalog;
use parc_inventory::{Host, HostState, Inventory};

use crate::error::Result;
use crate::store::{Claim, Tasks};
use crate::task::TaskKind;

/// How long a task's token stays valid: the longest task one boot may run.
pub const TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// Where the netboot environment would come from, for the check that it exists.
pub trait Environment: Sync {
    /// Why the environment cannot boot (not built, say), or `None` when it can.
    fn missing(&self) -> Option<String>;
}

/// Why a restore cannot run: its image is not in the catalog.
pub fn no_image(image: &str) -> String {
    format!("image {image:?} does not exist (parc image list shows the images; capture it first)")
}

/// The host's task, claimed for this boot when it may start now. A task
/// that cannot run (its image is gone, no environment to run it in) fails
/// here with a clear message, and the machine boots locally.
pub async fn claim(tasks: &Tasks, inventory: &Inventory, catalog: &Catalog, env: &dyn Environment, host: &Host) -> Result<Option<Claim>> {
    if host.state == HostState::Retired {
        return Ok(None);
    }
    let now = chrono::Local::now();
    let Some(task) = tasks.startable(host.id, &now).await? else { return Ok(None) };
    let problem = if task.kind == TaskKind::Restore && catalog.get(&task.image).await.is_err() {
        Some(no_image(&task.image))
    } else {
        env.missing()
    };
    if let Some(why) = problem {
        let t = tasks.fail(task.id, &why).await?;
        inventory.record(host.id, "task", &format!("task {} failed: {why}", t.id)).await?;
        tracing::warn!(task = t.id, host = %host.label(), "{why}");
        return Ok(None);
    }
    let claim = tasks.claim(host.id, &now, TOKEN_TTL).await?;
    if let Some(c) = &claim {
        inventory.record(host.id, "task", &format!("booting into task {} ({})", c.task.id, c.task.kind.as_str())).await?;
    }
    Ok(claim)
}
