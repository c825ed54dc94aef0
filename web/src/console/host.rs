//! One host: identity, hardware, a timeline (boots, registration, edits,
//! and each task's phases with rates and durations, errors pinned to the
//! phase they ended), and its actions: wake, capture, restore, edit.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use axum_extra::extract::Form;
use parc_access::Permission;
use parc_deploy::{LogEntry, TaskQuery};
use parc_inventory::hardware::Hardware;
use parc_inventory::{Host, HostEdit, HostState};
use serde::Deserialize;

use super::board::rate;
use super::{error_page, html, Page};
use crate::auth::{Principal, RouteScope};
use crate::error::ApiError;
use crate::AppState;

/// Tasks on the timeline at most.
const TASKS_SHOWN: u32 = 20;
/// Host events on the timeline at most.
const EVENTS_SHOWN: u32 = 200;

fn fail(e: impl Into<ApiError>) -> Response {
    let e = e.into();
    error_page(e.status(), e.message())
}

/// One phase of a task's attempt.
pub(crate) struct Phase {
    name: String,
    at: String,
    took: String,
    bytes: String,
    rate: String,
    lines: Vec<String>,
    error: Option<String>,
}

/// Something on the timeline.
pub(crate) enum Item {
    Event { at: String, kind: String, detail: String },
    Task { at: String, id: i64, kind: &'static str, image: String, state: &'static str, phases: Vec<Phase> },
}

struct Dated(i64, Item);

#[derive(Template)]
#[template(path = "host.html")]
struct HostPage {
    page: Page,
    host: Host,
    entity: String,
    macs: String,
    hardware: Vec<(&'static str, String)>,
    hardware_at: String,
    timeline: Vec<Item>,
    notice: Option<String>,
}

impl HostPage {
    fn name(&self) -> String {
        self.host.label()
    }
    fn groups(&self) -> String {
        self.host.groups.join(", ")
    }
    fn when(t: &Option<i64>) -> String {
        t.map_or_else(|| "never".into(), parc_deploy::window::local_time)
    }
}

fn duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// A task's history as phases: consecutive lines of one phase are one
/// phase; an `error` line belongs to the phase it ended.
pub(crate) fn phases(log: &[LogEntry]) -> Vec<Phase> {
    let mut out: Vec<(Phase, i64, i64)> = Vec::new();
    for l in log {
        if l.phase == "error" {
            match out.last_mut() {
                Some((p, _, end)) => {
                    p.error = Some(l.message.clone());
                    *end = l.at;
                }
                None => out.push((Phase { name: "error".into(), at: parc_deploy::window::local_time(l.at), took: String::new(), bytes: String::new(), rate: String::new(), lines: Vec::new(), error: Some(l.message.clone()) }, l.at, l.at)),
            }
            continue;
        }
        let same = out.last().is_some_and(|(p, _, _)| p.name == l.phase && p.error.is_none());
        if !same {
            if let Some((_, _, end)) = out.last_mut() {
                *end = (*end).max(l.at);
            }
            out.push((Phase { name: l.phase.clone(), at: parc_deploy::window::local_time(l.at), took: String::new(), bytes: String::new(), rate: String::new(), lines: Vec::new(), error: None }, l.at, l.at));
        }
        let (p, _, end) = out.last_mut().expect("pushed above");
        *end = l.at;
        if let Some(d) = l.bytes_done {
            p.bytes = match l.bytes_total {
                Some(t) => format!("{} of {}", parc_imaging::units::human(d), parc_imaging::units::human(t)),
                None => parc_imaging::units::human(d),
            };
        }
        if l.rate.is_some_and(|r| r > 0.0) {
            p.rate = rate(l.rate);
        }
        if !l.message.is_empty() && p.lines.last() != Some(&l.message) && p.lines.len() < 50 {
            p.lines.push(l.message.clone());
        }
    }
    // A phase lasts until the next one starts.
    let starts: Vec<i64> = out.iter().map(|(_, s, _)| *s).collect();
    out.into_iter()
        .enumerate()
        .map(|(i, (mut p, start, end))| {
            let next = starts.get(i + 1).copied();
            let end = next.unwrap_or(end);
            if end > start {
                p.took = duration(end - start);
            } else if next.is_some() {
                p.took = "< 1 s".into();
            }
            p
        })
        .collect()
}

async fn draw(s: &AppState, p: &Principal, scope: &parc_access::Scope, id: &str, notice: Option<String>) -> Response {
    let host = match crate::hosts::host_for(s, p, scope, Permission::HostRead, id).await {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let detail = match s.inventory.detail(&host.id.to_string()).await {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let host = detail.host;
    let mut dated = Vec::new();
    if let Ok(events) = s.inventory.events(host.id, EVENTS_SHOWN).await {
        for e in events {
            // Task creation is shown with the task.
            if e.kind == "task" {
                continue;
            }
            dated.push(Dated(e.at, Item::Event { at: parc_deploy::window::local_time(e.at), kind: e.kind, detail: e.detail }));
        }
    }
    let may_tasks = crate::auth::scope_of(s, p, Permission::TaskRead).await.is_ok_and(|sc| sc.contains(host.entity_id));
    if may_tasks {
        let q = TaskQuery { host_id: Some(host.id), limit: TASKS_SHOWN, ..Default::default() };
        if let Ok(found) = s.tasks.find(&q).await {
            for t in found.tasks {
                let log = s.tasks.log(t.task.id, 2000).await.unwrap_or_default();
                let t = t.task;
                dated.push(Dated(
                    t.created_at,
                    Item::Task { at: parc_deploy::window::local_time(t.created_at), id: t.id, kind: t.kind.as_str(), image: t.image, state: t.state.as_str(), phases: phases(&log) },
                ));
            }
        }
    }
    dated.sort_by_key(|d| std::cmp::Reverse(d.0));
    let hardware = host.hardware.as_ref().and_then(|v| serde_json::from_value::<Hardware>(v.clone()).ok()).map(|h| h.summary()).unwrap_or_default();
    let entity = s.access.entity_path(host.entity_id).await.unwrap_or_else(|_| "?".into());
    let page = HostPage {
        page: Page::of(s, p, "hosts").await,
        entity,
        macs: host.macs.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(" "),
        hardware,
        hardware_at: HostPage::when(&host.hardware_at),
        timeline: dated.into_iter().map(|d| d.1).collect(),
        notice,
        host,
    };
    html(&page)
}

pub(crate) async fn page(State(s): State<AppState>, Extension(p): Extension<Principal>, Extension(RouteScope(scope)): Extension<RouteScope>, Path(id): Path<String>) -> Response {
    draw(&s, &p, &scope, &id, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct Edit {
    hostname: String,
    state: String,
    groups: String,
}

pub(crate) async fn edit(State(s): State<AppState>, Extension(p): Extension<Principal>, Extension(RouteScope(scope)): Extension<RouteScope>, Path(id): Path<String>, Form(f): Form<Edit>) -> Response {
    let host = match crate::hosts::host_for(&s, &p, &scope, Permission::HostEdit, &id).await {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let state = match f.state.parse::<HostState>() {
        Ok(st) => st,
        Err(e) => return fail(e),
    };
    let hostname = f.hostname.trim();
    let edit = HostEdit {
        hostname: (!hostname.is_empty() && Some(hostname) != host.hostname.as_deref()).then(|| hostname.to_string()),
        groups: Some(f.groups.split(',').map(str::trim).filter(|g| !g.is_empty()).map(String::from).collect()),
        state: Some(state),
        ..Default::default()
    };
    match s.inventory.edit(&host.id.to_string(), edit).await {
        Ok(_) => Redirect::to(&format!("/hosts/{}", host.id)).into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            let mut r = draw(&s, &p, &scope, &id, Some(e.message().to_string())).await;
            *r.status_mut() = e.status();
            r
        }
    }
}

pub(crate) async fn wake(State(s): State<AppState>, Extension(p): Extension<Principal>, Extension(RouteScope(scope)): Extension<RouteScope>, Path(id): Path<String>) -> Response {
    let host = match crate::hosts::host_for(&s, &p, &scope, Permission::HostWake, &id).await {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let req = parc_pxe::wol::WakeRequest { hosts: vec![host.id.to_string()], group: None };
    let notice = match s.wol.wake(&s.inventory, &req).await {
        Ok(r) if !r.sent.is_empty() => format!("Wake-on-LAN sent: {} packet(s) to {}", r.sent.iter().map(|w| w.packets).sum::<usize>(), host.label()),
        Ok(r) => format!("not woken: {}", r.skipped.iter().map(|(_, why)| why.as_str()).collect::<Vec<_>>().join("; ")),
        Err(e) => format!("not woken: {e}"),
    };
    draw(&s, &p, &scope, &host.id.to_string(), Some(notice)).await
}
