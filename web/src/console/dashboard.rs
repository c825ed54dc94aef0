//! The dashboard: hosts by state, tasks by state, images, each shown only
//! to a user who may read them, and counting only their entities.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use parc_access::Permission;
use parc_deploy::TaskState;
use parc_inventory::HostState;

use super::{error_page, html};
use crate::auth::{scope_of, Principal};
use crate::AppState;

pub(crate) struct HostCounts {
    total: usize,
    new: usize,
    ready: usize,
    retired: usize,
}

pub(crate) struct TaskCounts {
    running: usize,
    pending: usize,
    failed: usize,
}

pub(crate) struct ImageSums {
    count: usize,
    data: String,
    source: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    screen: &'static str,
    user: String,
    hosts: Option<HostCounts>,
    tasks: Option<TaskCounts>,
    images: Option<ImageSums>,
}

pub(crate) async fn page(State(s): State<AppState>, Extension(p): Extension<Principal>) -> Response {
    match counts(&s, &p).await {
        Ok(d) => html(&d),
        Err(e) => error_page(e.status(), e.message()),
    }
}

async fn counts(s: &AppState, p: &Principal) -> Result<Dashboard, crate::error::ApiError> {
    let user = p.actor();
    let hosts_scope = scope_of(s, p, Permission::HostRead).await?;
    let all_hosts = s.inventory.list(None).await?;
    let hosts = (!hosts_scope.is_empty()).then(|| {
        let mine: Vec<_> = all_hosts.iter().filter(|h| hosts_scope.contains(h.entity_id)).collect();
        let n = |st: HostState| mine.iter().filter(|h| h.state == st).count();
        HostCounts { total: mine.len(), new: n(HostState::New), ready: n(HostState::Ready), retired: n(HostState::Retired) }
    });
    let tasks_scope = scope_of(s, p, Permission::TaskRead).await?;
    let tasks = if tasks_scope.is_empty() {
        None
    } else {
        let entity_of: std::collections::HashMap<i64, i64> = all_hosts.iter().map(|h| (h.id, h.entity_id)).collect();
        let all = parc_deploy::orders::summaries(&s.tasks, &s.inventory, None, false).await?;
        let mine: Vec<_> = all.iter().filter(|t| entity_of.get(&t.task.host_id).is_some_and(|e| tasks_scope.contains(*e))).collect();
        let n = |st: TaskState| mine.iter().filter(|t| t.task.state == st).count();
        Some(TaskCounts { running: n(TaskState::Running), pending: n(TaskState::Pending), failed: n(TaskState::Failed) })
    };
    let images_scope = scope_of(s, p, Permission::ImageRead).await?;
    let images = if images_scope.is_empty() {
        None
    } else {
        let mine: Vec<_> = s.repo.catalog().list().await?.into_iter().filter(|i| images_scope.contains(i.entity_id)).collect();
        let data: u64 = mine.iter().map(|i| i.data_bytes).sum();
        let source: u64 = mine.iter().map(|i| i.source_size).sum();
        Some(ImageSums { count: mine.len(), data: parc_imaging::units::human(data), source: parc_imaging::units::human(source) })
    };
    Ok(Dashboard { screen: "dashboard", user, hosts, tasks, images })
}
