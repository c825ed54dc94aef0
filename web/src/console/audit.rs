//! The audit log: filter by actor, object and age; export as CSV.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum_extra::extract::Query;
use parc_access::audit::{AuditEntry, AuditFilter};
use serde::Deserialize;

use super::session::encode;
use super::{error_page, html, Page};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::AppState;

/// Rows the page shows at most (the CSV takes more).
const SHOWN: i64 = 500;
const EXPORTED: i64 = 100_000;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filter {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    object: String,
    #[serde(default)]
    hours: Option<i64>,
}

impl Filter {
    fn to_filter(&self, limit: i64) -> AuditFilter {
        AuditFilter {
            since: self.hours.filter(|h| *h > 0).map(|h| parc_db::unix_now() - h * 3600),
            actor: Some(self.actor.trim().to_string()).filter(|a| !a.is_empty()),
            object: Some(self.object.trim().to_string()).filter(|o| !o.is_empty()),
            limit: Some(limit),
        }
    }

    fn query(&self) -> String {
        let mut q = vec![format!("actor={}", encode(self.actor.trim())), format!("object={}", encode(self.object.trim()))];
        if let Some(h) = self.hours {
            q.push(format!("hours={h}"));
        }
        q.join("&")
    }
}

struct Row {
    id: i64,
    at: String,
    actor: String,
    action: String,
    object: String,
    outcome: String,
    status: u16,
    source: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct Audit {
    page: Page,
    actor: String,
    object: String,
    hours: String,
    csv: String,
    rows: Vec<Row>,
}

pub(crate) async fn page(State(s): State<AppState>, Extension(p): Extension<Principal>, Query(f): Query<Filter>) -> Response {
    let entries: Vec<AuditEntry> = match s.audit.list(&f.to_filter(SHOWN)).await {
        Ok(e) => e,
        Err(e) => {
            let e = ApiError::from(e);
            return error_page(e.status(), e.message());
        }
    };
    let rows = entries
        .into_iter()
        .rev()
        .map(|e| Row {
            id: e.id,
            at: parc_deploy::window::local_time(e.at),
            actor: e.entry.actor,
            action: e.entry.action,
            object: e.entry.object,
            outcome: format!("{:?}", e.entry.outcome).to_lowercase(),
            status: e.entry.status,
            source: e.entry.source,
        })
        .collect();
    html(&Audit { page: Page::of(&s, &p, "audit").await, csv: format!("/audit.csv?{}", f.query()), actor: f.actor, object: f.object, hours: f.hours.map(|h| h.to_string()).unwrap_or_default(), rows })
}

pub(crate) async fn csv(State(s): State<AppState>, Query(f): Query<Filter>) -> Response {
    match s.audit.list(&f.to_filter(EXPORTED)).await {
        Ok(rows) => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"parc-audit.csv\"")],
            parc_access::audit::to_csv(&rows),
        )
            .into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            error_page(e.status(), e.message())
        }
    }
}
