//! Live updates: one poller tails the tasks' change feed and fans it out;
//! each browser tab holds one server-sent event stream, filtered to the
//! entities its user may read tasks in, resumable with `Last-Event-ID`.
//!
//! The feed is polled rather than pushed from the writers so that what a
//! tab sees is exactly what is in the database, whichever server process
//! (or node) wrote it.

use std::convert::Infallible;
use std::sync::{Arc, Once, Weak};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use parc_access::Scope;
use parc_deploy::{TaskEvent, Tasks};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};

use crate::auth::RouteScope;
use crate::AppState;

/// How often the feed is read while someone watches.
const POLL: Duration = Duration::from_millis(150);
/// Events a resuming tab is sent at most; further behind, it reloads.
const BACKLOG: u32 = 5000;

/// The fan-out of the task feed. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    tasks: Tasks,
    tx: broadcast::Sender<Arc<Vec<TaskEvent>>>,
    started: Once,
}

impl Hub {
    /// A hub over `tasks`; it starts polling at its first subscriber and
    /// stops when the hub is dropped.
    pub fn new(tasks: Tasks) -> Self {
        let (tx, _) = broadcast::channel(256);
        Self { inner: Arc::new(Inner { tasks, tx, started: Once::new() }) }
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Vec<TaskEvent>>> {
        let rx = self.inner.tx.subscribe();
        self.inner.started.call_once(|| {
            tokio::spawn(poll(Arc::downgrade(&self.inner)));
        });
        rx
    }
}

async fn poll(hub: Weak<Inner>) {
    let mut cursor = None;
    loop {
        let Some(h) = hub.upgrade() else { return };
        if h.tx.receiver_count() == 0 {
            // Nobody watches: nothing to send, and no history to replay to
            // the next watcher (it backfills from its own position).
            cursor = None;
        } else {
            let from = match cursor {
                Some(c) => Ok(c),
                None => h.tasks.last_event().await,
            };
            match from {
                Ok(from) => match h.tasks.events_after(from, 1000).await {
                    Ok(batch) => {
                        cursor = Some(batch.last().map_or(from, |e| e.seq));
                        if !batch.is_empty() {
                            let _ = h.tx.send(Arc::new(batch));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "reading the task feed"),
                },
                Err(e) => tracing::warn!(error = %e, "reading the task feed"),
            }
        }
        drop(h);
        tokio::time::sleep(POLL).await;
    }
}

/// Where a stream starts: `?after=` from the page that opened it, or the
/// browser's `Last-Event-ID` when it reconnects.
#[derive(Debug, Deserialize)]
pub(crate) struct Resume {
    after: Option<i64>,
}

fn start(headers: &HeaderMap, q: &Resume) -> Option<i64> {
    headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).or(q.after)
}

/// `GET /events`: the task events the user may see, as they happen.
pub(crate) async fn stream(State(s): State<AppState>, Extension(RouteScope(scope)): Extension<RouteScope>, headers: HeaderMap, Query(q): Query<Resume>) -> Response {
    let mut rx = s.live.subscribe();
    let after = match start(&headers, &q) {
        Some(a) => a,
        None => match s.tasks.last_event().await {
            Ok(a) => a,
            Err(e) => return crate::error::ApiError::from(e).into_response(),
        },
    };
    let (out, events) = mpsc::channel::<Event>(64);
    let tasks = s.tasks.clone();
    tokio::spawn(async move {
        let mut sent = after;
        // What was written since the page was drawn, then the live feed;
        // after a lag, the database again from the last one sent.
        if !backfill(&tasks, &scope, &mut sent, &out).await {
            return;
        }
        loop {
            let batch = tokio::select! {
                r = rx.recv() => r,
                () = out.closed() => return,
            };
            let ok = match batch {
                Ok(batch) => send(batch.iter(), &scope, &mut sent, &out).await,
                Err(broadcast::error::RecvError::Lagged(_)) => backfill(&tasks, &scope, &mut sent, &out).await,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if !ok {
                return;
            }
        }
    });
    let body = futures::stream::unfold(events, |mut rx| async move { rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx)) });
    Sse::new(body).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

/// Sends the events after `sent` from the database; false when the tab is gone.
async fn backfill(tasks: &Tasks, scope: &Scope, sent: &mut i64, out: &mpsc::Sender<Event>) -> bool {
    let latest = tasks.last_event().await.unwrap_or(*sent);
    if latest - *sent > i64::from(BACKLOG) {
        // Too far behind to replay: the page draws itself afresh.
        *sent = latest;
        return out.send(Event::default().event("reset").data("")).await.is_ok();
    }
    loop {
        let batch = match tasks.events_after(*sent, 500).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "reading the task feed");
                return true;
            }
        };
        if batch.is_empty() {
            return true;
        }
        if !send(batch.iter(), scope, sent, out).await {
            return false;
        }
    }
}

/// Sends the events newer than `sent` that `scope` covers.
async fn send<'a>(batch: impl Iterator<Item = &'a TaskEvent>, scope: &Scope, sent: &mut i64, out: &mpsc::Sender<Event>) -> bool {
    for e in batch {
        if e.seq <= *sent {
            continue;
        }
        *sent = e.seq;
        if !scope.contains(e.entity_id) {
            continue;
        }
        let data = serde_json::json!({
            "seq": e.seq, "at_ms": e.at_ms, "task": e.task, "host": e.host, "host_id": e.host_id,
            "kind": e.kind.as_str(), "image": e.image, "state": e.state.as_str(), "phase": e.phase,
            "done": e.bytes_done, "total": e.bytes_total, "rate": e.rate, "percent": e.percent(),
            "eta": e.eta_secs(), "message": e.message,
        });
        if out.send(Event::default().id(e.seq.to_string()).event("task").data(data.to_string())).await.is_err() {
            return false;
        }
    }
    true
}
