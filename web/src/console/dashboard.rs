//! The dashboard: hosts by state, tasks by state, images, each shown only
//! to a user who may read them, and counting only their entities.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use parc_access::Permission;
use parc_deploy::{TaskQuery, TaskState};
use parc_inventory::{HostQuery, HostState};

use super::{error_page, html, Page};
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
    /// The whole store (shared by every entity): compressed bytes held.
    stored: String,
    /// What deduplication and compression save, store-wide.
    saved: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    page: Page,
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
    // Counted in SQL within the user's entities: no host list is loaded.
    let hosts_scope = scope_of(s, p, Permission::HostRead).await?;
    let hosts = if hosts_scope.is_empty() {
        None
    } else {
        let count = |state: Option<HostState>| {
            let q = HostQuery { state, entities: hosts_scope.entities(), limit: Some(0), ..Default::default() };
            async move { s.inventory.search(&q).await.map(|p| p.total as usize) }
        };
        Some(HostCounts { total: count(None).await?, new: count(Some(HostState::New)).await?, ready: count(Some(HostState::Ready)).await?, retired: count(Some(HostState::Retired)).await? })
    };
    let tasks_scope = scope_of(s, p, Permission::TaskRead).await?;
    let tasks = if tasks_scope.is_empty() {
        None
    } else {
        let count = |st: TaskState| {
            let q = TaskQuery { states: vec![st], entities: tasks_scope.entities(), limit: 0, ..Default::default() };
            async move { s.tasks.find(&q).await.map(|p| p.total as usize) }
        };
        Some(TaskCounts { running: count(TaskState::Running).await?, pending: count(TaskState::Pending).await?, failed: count(TaskState::Failed).await? })
    };
    let images_scope = scope_of(s, p, Permission::ImageRead).await?;
    let images = if images_scope.is_empty() {
        None
    } else {
        let mine: Vec<_> = s.repo.catalog().list().await?.into_iter().filter(|i| images_scope.contains(i.entity_id)).collect();
        let data: u64 = mine.iter().map(|i| i.data_bytes).sum();
        let source: u64 = mine.iter().map(|i| i.source_size).sum();
        let usage = s.repo.usage().await.unwrap_or_default();
        let human = parc_imaging::units::human;
        Some(ImageSums { count: mine.len(), data: human(data), source: human(source), stored: human(usage.stored_bytes), saved: format!("{:.0} %", usage.saved_percent()) })
    };
    Ok(Dashboard { page: Page::of(s, p, "dashboard").await, hosts, tasks, images })
}
