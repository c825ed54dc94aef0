//! The images screen: size, stored size, the share deduplicated with other
//! images, partitions and filesystems, where and when each was captured,
//! the tasks using it; verify; delete after a confirmation.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use axum_extra::extract::Form;
use parc_access::Permission;
use parc_deploy::{orders, TaskQuery};
use parc_imaging::format::Manifest;
use parc_imaging::units::human;
use serde::Deserialize;

use super::{error_page, html, Page};
use crate::auth::{scope_of, Principal, RouteScope};
use crate::error::ApiError;
use crate::AppState;

fn fail(e: impl Into<ApiError>) -> Response {
    let e = e.into();
    error_page(e.status(), e.message())
}

struct Row {
    name: String,
    size: String,
    data: String,
    stored: String,
    shared: String,
    created: String,
}

#[derive(Template)]
#[template(path = "images.html")]
struct List {
    page: Page,
    rows: Vec<Row>,
    stored: String,
    logical: String,
    saved: String,
}

pub(crate) async fn list(State(s): State<AppState>, Extension(p): Extension<Principal>, Extension(RouteScope(scope)): Extension<RouteScope>) -> Response {
    let images = match s.repo.catalog().list().await {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let usage = s.repo.usage().await.unwrap_or_default();
    let rows = images
        .into_iter()
        .filter(|i| scope.contains(i.entity_id))
        .map(|i| {
            let u = usage.image(&i.name);
            Row {
                size: human(i.source_size),
                data: human(i.data_bytes),
                stored: u.map_or_else(|| "-".into(), |u| human(u.stored_bytes)),
                shared: u.map_or_else(|| "-".into(), |u| format!("{:.0} %", u.shared_percent())),
                created: parc_deploy::window::local_time(i.created_at),
                name: i.name,
            }
        })
        .collect();
    html(&List { page: Page::of(&s, &p, "images").await, rows, stored: human(usage.stored_bytes), logical: human(usage.logical_bytes), saved: format!("{:.0} %", usage.saved_percent()) })
}

struct Part {
    number: u32,
    kind: String,
    size: String,
    filesystem: String,
    used: String,
}

struct TaskRow {
    id: i64,
    host: String,
    host_id: i64,
    kind: &'static str,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "image.html")]
struct One {
    page: Page,
    name: String,
    size: String,
    data: String,
    stored: String,
    own: String,
    shared: String,
    chunks: u64,
    unique: u64,
    root: String,
    captured_at: String,
    captured_on: String,
    source: String,
    tool: String,
    table: String,
    parts: Vec<Part>,
    tasks: Vec<TaskRow>,
    open_tasks: usize,
    verified: Option<(bool, String)>,
    confirm_delete: bool,
}

async fn draw(s: &AppState, p: &Principal, scope: &parc_access::Scope, name: &str, verified: Option<(bool, String)>, confirm_delete: bool) -> Response {
    let no_image = || fail(parc_imaging::Error::NoSuchImage(name.to_string()));
    let (rec, bytes) = match s.repo.catalog().manifest(name).await {
        Ok(m) => m,
        Err(parc_imaging::Error::NoSuchImage(_)) => return no_image(),
        Err(e) => return fail(e),
    };
    if !scope.contains(rec.entity_id) {
        return no_image();
    }
    let m = match Manifest::from_bytes(&bytes) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let usage = s.repo.usage().await.unwrap_or_default();
    let u = usage.image(name).cloned().unwrap_or_default();
    let (table, parts) = match &m.layout {
        None => ("none (a raw image)".to_string(), Vec::new()),
        Some(l) => (
            format!("{:?}, {}-byte sectors", l.table, l.sector_size),
            l.partitions
                .iter()
                .map(|pt| Part {
                    number: pt.number,
                    kind: parc_imaging::layout::type_name(&pt.type_id).map_or_else(|| pt.type_id.clone(), String::from),
                    size: human(pt.size),
                    filesystem: format!("{:?}", pt.filesystem).to_lowercase(),
                    used: pt.used_bytes.map_or_else(|| pt.raw_reason.clone().map_or_else(|| "-".into(), |r| format!("raw: {r}")), human),
                })
                .collect(),
        ),
    };
    let mut tasks = Vec::new();
    let mut open_tasks = 0;
    if let Ok(task_scope) = scope_of(s, p, Permission::TaskRead).await {
        let q = TaskQuery { image: Some(name.to_string()), entities: task_scope.entities(), limit: 50, ..Default::default() };
        if let Ok(found) = s.tasks.find(&q).await {
            for t in found.tasks {
                open_tasks += usize::from(!t.task.state.is_final());
                tasks.push(TaskRow { id: t.task.id, host: t.host, host_id: t.task.host_id, kind: t.task.kind.as_str(), state: t.task.state.as_str() });
            }
        }
    }
    let page = One {
        page: Page::of(s, p, "images").await,
        name: rec.name.clone(),
        size: human(rec.source_size),
        data: human(rec.data_bytes),
        stored: human(u.stored_bytes),
        own: human(u.own_stored_bytes),
        shared: format!("{:.0} %", u.shared_percent()),
        chunks: rec.chunks,
        unique: rec.unique_chunks,
        root: rec.root.to_string(),
        captured_at: parc_deploy::window::local_time(m.created.unix_time),
        captured_on: m.created.host.clone(),
        source: m.created.source.clone(),
        tool: m.created.tool.clone(),
        table,
        parts,
        tasks,
        open_tasks,
        verified,
        confirm_delete,
    };
    html(&page)
}

pub(crate) async fn page(State(s): State<AppState>, Extension(p): Extension<Principal>, Extension(RouteScope(scope)): Extension<RouteScope>, Path(name): Path<String>) -> Response {
    draw(&s, &p, &scope, &name, None, false).await
}

pub(crate) async fn verify(State(s): State<AppState>, Extension(p): Extension<Principal>, Extension(RouteScope(scope)): Extension<RouteScope>, Path(name): Path<String>) -> Response {
    let rec = match s.repo.catalog().get(&name).await {
        Ok(r) if scope.contains(r.entity_id) => r,
        Ok(_) | Err(parc_imaging::Error::NoSuchImage(_)) => return fail(parc_imaging::Error::NoSuchImage(name)),
        Err(e) => return fail(e),
    };
    let verdict = match parc_imaging::verify(&rec.name, &s.repo, 4, &parc_imaging::progress::NoProgress).await {
        Ok(r) if r.bad.is_empty() => (true, format!("every one of its {} chunks is present and intact ({} read)", r.chunks_checked, human(r.bytes_received))),
        Ok(r) => (
            false,
            format!("{} of {} chunks are missing or corrupt, first {}: {}. Capturing a machine that holds them stores them again", r.bad.len(), r.chunks_checked, r.bad[0].chunk, r.bad[0].problem),
        ),
        Err(e) => (false, e.to_string()),
    };
    draw(&s, &p, &scope, &name, Some(verdict), false).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct Delete {
    #[serde(default)]
    confirm: String,
}

pub(crate) async fn delete(State(s): State<AppState>, Extension(p): Extension<Principal>, Extension(RouteScope(scope)): Extension<RouteScope>, Path(name): Path<String>, Form(f): Form<Delete>) -> Response {
    let rec = match s.repo.catalog().get(&name).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let readable = scope_of(&s, &p, Permission::ImageRead).await.unwrap_or_default();
    if let Err(e) = crate::auth::check(rec.entity_id, &scope, &readable, || parc_imaging::Error::NoSuchImage(name.clone()).into(), Permission::ImageDelete, &p.actor()) {
        return fail(e);
    }
    // The name typed back is the confirmation.
    if f.confirm != rec.name {
        let mut r = draw(&s, &p, &readable, &name, None, true).await;
        if !f.confirm.is_empty() {
            *r.status_mut() = StatusCode::BAD_REQUEST;
        }
        return r;
    }
    match orders::delete_image(&s.tasks, &s.inventory, s.repo.catalog(), &name, false).await {
        Ok(_) => Redirect::to("/images").into_response(),
        Err(e) => fail(e),
    }
}
