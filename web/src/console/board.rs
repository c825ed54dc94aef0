//! The live board: every running task the user may see, with its phase,
//! progress, rate and time left, kept current by the event stream
//! ([`super::live`]); a finished task leaves it.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use parc_deploy::{TaskQuery, TaskState};

use super::{error_page, html, Page};
use crate::auth::{Principal, RouteScope};
use crate::AppState;

/// Running tasks the board draws at most; the stream adds any others.
const SHOWN: u32 = 2000;

pub(crate) struct Row {
    pub id: i64,
    pub host: String,
    pub kind: &'static str,
    pub image: String,
    pub phase: String,
    pub percent: Option<f64>,
    pub rate: String,
    pub eta: String,
}

#[derive(Template)]
#[template(path = "board.html")]
struct Board {
    page: Page,
    after: i64,
    rows: Vec<Row>,
}

/// "12.5 MB/s", or "".
pub(crate) fn rate(r: Option<f64>) -> String {
    r.filter(|r| *r > 0.0).map_or_else(String::new, |r| format!("{:.1} MB/s", r / 1e6))
}

/// "3 min 20 s", "45 s", or "".
pub(crate) fn eta(secs: Option<u64>) -> String {
    match secs {
        None => String::new(),
        Some(s) if s < 60 => format!("{s} s"),
        Some(s) if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        Some(s) => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

pub(crate) async fn page(State(s): State<AppState>, Extension(p): Extension<Principal>, Extension(RouteScope(scope)): Extension<RouteScope>) -> Response {
    // The position first: whatever happens after it reaches the page by the stream.
    let after = match s.tasks.last_event().await {
        Ok(a) => a,
        Err(e) => return error_page(crate::error::ApiError::from(e).status(), "the task history could not be read"),
    };
    let q = TaskQuery { states: vec![TaskState::Running], entities: scope.entities(), limit: SHOWN, ..Default::default() };
    let found = match s.tasks.find(&q).await {
        Ok(f) => f,
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            return error_page(e.status(), e.message());
        }
    };
    let rows = found
        .tasks
        .into_iter()
        .rev()
        .map(|t| {
            let p = t.task.progress.clone().unwrap_or_default();
            let percent = match (p.bytes_done, p.bytes_total) {
                (Some(d), Some(n)) if n > 0 => Some((d as f64 * 100.0 / n as f64).min(100.0)),
                _ => None,
            };
            let left = match (p.bytes_done, p.bytes_total, p.rate) {
                (Some(d), Some(n), Some(r)) if r > 0.0 && n >= d => Some(((n - d) as f64 / r).ceil() as u64),
                _ => None,
            };
            Row { id: t.task.id, host: t.host, kind: t.task.kind.as_str(), image: t.task.image, phase: p.phase, percent, rate: rate(p.rate), eta: eta(left) }
        })
        .collect();
    html(&Board { page: Page::of(&s, &p, "board").await, after, rows })
}
