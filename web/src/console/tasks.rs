//! The tasks screen: list and filter, cancel, and schedule captures and
//! restores for one host, a hand-picked selection, or every host matching
//! a filter (a group is a filter). "All matching" is frozen when the
//! confirmation is drawn: if the matching set changes before it is
//! confirmed, nothing is scheduled and the user is shown the difference.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use axum_extra::extract::{Form, Query};
use parc_access::Permission;
use parc_deploy::api::CreateTasks;
use parc_deploy::{orders, Hook, TaskKind, TaskQuery, TaskState};
use parc_inventory::{HostQuery, HostSort, HostState};
use serde::Deserialize;

use super::board::rate;
use super::{error_page, html, Page};
use crate::auth::{scope_of, Principal, RouteScope};
use crate::error::ApiError;
use crate::AppState;

/// Tasks listed at most.
const LISTED: u32 = 200;
/// Hosts one bulk order may take.
const BULK_MAX: u32 = 10_000;
/// Hosts the confirmation names.
const NAMED: usize = 10;

fn fail(e: impl Into<ApiError>) -> Response {
    let e = e.into();
    error_page(e.status(), e.message())
}

// ---- the list ----

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListFilter {
    #[serde(default)]
    state: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    host: String,
    scheduled: Option<usize>,
}

struct Row {
    id: i64,
    host: String,
    host_id: i64,
    kind: &'static str,
    image: String,
    state: &'static str,
    progress: String,
    when: String,
    attempts: String,
    error: String,
    open: bool,
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct List {
    page: Page,
    state: String,
    kind: String,
    image: String,
    host: String,
    total: u64,
    shown: usize,
    scheduled: Option<usize>,
    rows: Vec<Row>,
}

pub(crate) async fn list(State(s): State<AppState>, Extension(p): Extension<Principal>, Extension(RouteScope(scope)): Extension<RouteScope>, Query(f): Query<ListFilter>) -> Response {
    let mut q = TaskQuery { entities: scope.entities(), limit: LISTED, image: Some(f.image.trim().to_string()).filter(|i| !i.is_empty()), ..Default::default() };
    if let Ok(st) = f.state.parse::<TaskState>() {
        q.states = vec![st];
    } else if f.state == "open" {
        q.states = vec![TaskState::Pending, TaskState::Running];
    }
    q.kind = f.kind.parse::<TaskKind>().ok();
    if !f.host.trim().is_empty() {
        match s.inventory.find(f.host.trim()).await {
            Ok(h) if scope.contains(h.entity_id) => q.host_id = Some(h.id),
            // Unknown or not theirs: nothing matches.
            _ => q.host_id = Some(-1),
        }
    }
    let found = match s.tasks.find(&q).await {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let rows: Vec<Row> = found
        .tasks
        .into_iter()
        .map(|t| {
            let task = t.task;
            let progress = match (&task.progress, task.state) {
                (Some(p), TaskState::Running) => {
                    let pct = match (p.bytes_done, p.bytes_total) {
                        (Some(d), Some(n)) if n > 0 => format!(" {:.0} %", d as f64 * 100.0 / n as f64),
                        _ => String::new(),
                    };
                    format!("{}{pct} {}", p.phase, rate(p.rate)).trim().to_string()
                }
                _ => String::new(),
            };
            let when = match (task.state, task.not_before) {
                (TaskState::Pending, Some(t)) => format!("not before {}", parc_deploy::window::local_time(t)),
                _ => parc_deploy::window::local_time(task.created_at),
            };
            let when = match &task.window {
                Some(w) if !task.state.is_final() => format!("{when}, window {w}"),
                _ => when,
            };
            Row {
                id: task.id,
                host: t.host,
                host_id: task.host_id,
                kind: task.kind.as_str(),
                image: task.image,
                state: task.state.as_str(),
                progress,
                when,
                attempts: format!("{}/{}", task.attempts, task.max_attempts),
                error: task.error.unwrap_or_default(),
                open: !task.state.is_final(),
            }
        })
        .collect();
    html(&List { page: Page::of(&s, &p, "tasks").await, state: f.state, kind: f.kind, image: f.image, host: f.host, total: found.total, shown: rows.len(), scheduled: f.scheduled, rows })
}

pub(crate) async fn cancel(State(s): State<AppState>, Extension(p): Extension<Principal>, Extension(RouteScope(scope)): Extension<RouteScope>, Path(id): Path<i64>) -> Response {
    if let Err(e) = crate::tasks::task_for(&s, &p, &scope, Permission::TaskCancel, id).await {
        return fail(e);
    }
    match orders::cancel(&s.tasks, &s.inventory, id).await {
        Ok(_) => Redirect::to("/tasks?state=open").into_response(),
        Err(e) => fail(e),
    }
}

// ---- what an order is for ----

/// Hosts resolved for an order.
struct Chosen {
    ids: Vec<i64>,
    /// The first hosts by name, for the confirmation.
    names: Vec<String>,
    /// What the filter matched, hashed: the frozen selection.
    digest: String,
    /// How the selection was made, in words.
    how: String,
}

fn digest(ids: &[i64]) -> String {
    let mut h = blake3::Hasher::new();
    for id in ids {
        h.update(&id.to_le_bytes());
    }
    h.finalize().to_hex()[..32].to_string()
}

impl Order {
    fn matching(&self) -> bool {
        self.all.is_some() || !self.group.trim().is_empty()
    }

    fn group(&self) -> &str {
        if self.group.trim().is_empty() { self.f_group.trim() } else { self.group.trim() }
    }

    /// The hosts, within `scope`. An empty filter never means every host.
    async fn resolve(&self, s: &AppState, p: &Principal, scope: &parc_access::Scope, perm: Permission) -> Result<Chosen, Response> {
        if self.matching() {
            let text = self.f_q.trim();
            let state = self.f_state.parse::<HostState>().ok();
            if text.is_empty() && state.is_none() && self.group().is_empty() {
                return Err(error_page(StatusCode::BAD_REQUEST, "an empty filter never means every host: narrow the hosts list by a word, a state or a group first"));
            }
            let q = HostQuery {
                text: Some(text.to_string()).filter(|t| !t.is_empty()),
                group: Some(self.group().to_string()).filter(|g| !g.is_empty()),
                state,
                entities: scope.entities(),
                sort: HostSort::Name,
                limit: Some(BULK_MAX),
                ..Default::default()
            };
            let found = s.inventory.search(&q).await.map_err(fail)?;
            if found.total > u64::from(BULK_MAX) {
                return Err(error_page(StatusCode::BAD_REQUEST, &format!("{} hosts match: one order takes at most {BULK_MAX}; narrow the filter", found.total)));
            }
            if found.hosts.is_empty() {
                return Err(error_page(StatusCode::BAD_REQUEST, "no host matches this filter"));
            }
            let names = found.hosts.iter().take(NAMED).map(|h| h.label()).collect();
            let mut ids: Vec<i64> = found.hosts.iter().map(|h| h.id).collect();
            ids.sort_unstable();
            let mut how = Vec::new();
            if !text.is_empty() {
                how.push(format!("matching “{text}”"));
            }
            if let Some(st) = state {
                how.push(format!("in state {}", st.as_str()));
            }
            if !self.group().is_empty() {
                how.push(format!("in group {}", self.group()));
            }
            Ok(Chosen { digest: digest(&ids), ids, names, how: format!("every host {}", how.join(", ")) })
        } else {
            if self.host.is_empty() {
                return Err(error_page(StatusCode::BAD_REQUEST, "no host was selected: tick hosts in the hosts list, or choose all matching a filter"));
            }
            let mut hosts = Vec::new();
            for id in &self.host {
                hosts.push(crate::hosts::host_for(s, p, scope, perm, &id.to_string()).await.map_err(fail)?);
            }
            hosts.sort_by_key(|h| h.label());
            let names = hosts.iter().take(NAMED).map(|h| h.label()).collect();
            let mut ids: Vec<i64> = hosts.iter().map(|h| h.id).collect();
            ids.sort_unstable();
            ids.dedup();
            let how = if ids.len() == 1 { "one host".to_string() } else { "the hosts selected".to_string() };
            Ok(Chosen { digest: digest(&ids), ids, names, how })
        }
    }
}

// ---- the order form and its confirmation ----

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Order {
    /// Hand-picked hosts (ids).
    #[serde(default)]
    host: Vec<i64>,
    /// Every host matching the `f_` filter.
    #[serde(default)]
    all: Option<String>,
    #[serde(default)]
    f_q: String,
    #[serde(default)]
    f_state: String,
    #[serde(default)]
    f_group: String,
    /// A group's hosts (the same as the filter `f_group`).
    #[serde(default)]
    group: String,

    #[serde(default)]
    kind: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    hooks: String,
    #[serde(default)]
    at: String,
    #[serde(default)]
    window: String,
    #[serde(default)]
    attempts: Option<u32>,
    /// The selection confirmed (form posts only).
    #[serde(default)]
    digest: String,
    #[serde(default)]
    count: Option<usize>,
}

#[derive(Template)]
#[template(path = "task_new.html")]
struct NewOrder<'a> {
    page: Page,
    order: &'a Order,
    chosen: Chosen,
    images: Vec<String>,
    error: Option<String>,
}

impl NewOrder<'_> {
    fn capture(&self) -> bool {
        self.order.kind == "capture"
    }
    fn count(&self) -> usize {
        self.chosen.ids.len()
    }
    fn more(&self) -> usize {
        self.count().saturating_sub(self.chosen.names.len())
    }
    fn attempts(&self) -> u32 {
        self.order.attempts.unwrap_or(orders::DEFAULT_ATTEMPTS)
    }
    fn hidden(&self) -> Vec<(&'static str, String)> {
        let t = self.order;
        let mut v: Vec<(&'static str, String)> = Vec::new();
        if t.matching() {
            v.push(("all", "1".into()));
            v.push(("f_q", t.f_q.clone()));
            v.push(("f_state", t.f_state.clone()));
            v.push(("f_group", t.group().to_string()));
        } else {
            v.extend(self.chosen.ids.iter().map(|id| ("host", id.to_string())));
        }
        v.push(("digest", self.chosen.digest.clone()));
        v.push(("count", self.count().to_string()));
        v
    }
}

async fn images_readable(s: &AppState, p: &Principal) -> Vec<String> {
    let Ok(scope) = scope_of(s, p, Permission::ImageRead).await else { return Vec::new() };
    s.repo.catalog().list().await.map(|l| l.into_iter().filter(|i| scope.contains(i.entity_id)).map(|i| i.name).collect()).unwrap_or_default()
}

async fn draw(s: &AppState, p: &Principal, order: &Order, chosen: Chosen, error: Option<String>, status: StatusCode) -> Response {
    let page = NewOrder { page: Page::of(s, p, "tasks").await, order, chosen, images: images_readable(s, p).await, error };
    let mut r = html(&page);
    *r.status_mut() = status;
    r
}

pub(crate) async fn form(State(s): State<AppState>, Extension(p): Extension<Principal>, Extension(RouteScope(scope)): Extension<RouteScope>, Query(mut order): Query<Order>) -> Response {
    if order.kind.is_empty() {
        order.kind = "restore".into();
    }
    match order.resolve(&s, &p, &scope, Permission::TaskCreate).await {
        Ok(chosen) => draw(&s, &p, &order, chosen, None, StatusCode::OK).await,
        Err(r) => r,
    }
}

pub(crate) async fn create(State(s): State<AppState>, Extension(p): Extension<Principal>, Extension(RouteScope(scope)): Extension<RouteScope>, Form(order): Form<Order>) -> Response {
    let chosen = match order.resolve(&s, &p, &scope, Permission::TaskCreate).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if chosen.digest != order.digest {
        // Not what was confirmed: schedule nothing, show the set as it is now.
        let was = order.count.unwrap_or(0);
        let msg = format!("The hosts changed while this was open: you confirmed {was}, now {} match. Nothing was scheduled; check the hosts below and confirm again.", chosen.ids.len());
        return draw(&s, &p, &order, chosen, Some(msg), StatusCode::CONFLICT).await;
    }
    let kind = match order.kind.parse::<TaskKind>() {
        Ok(k) => k,
        Err(_) => return draw(&s, &p, &order, chosen, Some("choose capture or restore".into()), StatusCode::BAD_REQUEST).await,
    };
    let hooks: Result<Vec<Hook>, _> = order.hooks.split(',').map(str::trim).filter(|h| !h.is_empty()).map(Hook::parse_short).collect();
    let hooks = match hooks {
        Ok(h) => h,
        Err(e) => return draw(&s, &p, &order, chosen, Some(e.to_string()), StatusCode::BAD_REQUEST).await,
    };
    if let Ok(img) = s.repo.catalog().get(order.image.trim()).await {
        if !images_readable(&s, &p).await.contains(&img.name) && kind == TaskKind::Restore {
            return draw(&s, &p, &order, chosen, Some(parc_deploy::boot::no_image(order.image.trim())), StatusCode::NOT_FOUND).await;
        }
    }
    let req = CreateTasks {
        kind,
        hosts: chosen.ids.iter().map(i64::to_string).collect(),
        group: None,
        image: order.image.trim().to_string(),
        hooks,
        options: Default::default(),
        not_before: None,
        at: Some(order.at.trim().to_string()).filter(|a| !a.is_empty()),
        window: Some(order.window.trim().to_string()).filter(|w| !w.is_empty()),
        max_attempts: order.attempts,
    };
    match orders::create(&s.tasks, &s.inventory, s.repo.catalog(), &req).await {
        Ok(made) => Redirect::to(&format!("/tasks?state=open&scheduled={}", made.len())).into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            draw(&s, &p, &order, chosen, Some(e.message().to_string()), e.status()).await
        }
    }
}
