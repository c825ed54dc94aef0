//! The host API: the registry (`/api/v1/hosts`), check-ins from the
//! registration environment, and Wake-on-LAN.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use parc_inventory::registry::ImportReport;
use parc_deploy::api::HostRemoved;
use parc_inventory::{Host, HostDetail, HostEdit, HostSpec, Mac};
use parc_pxe::wol::{WakeReport, WakeRequest};
use serde::Deserialize;

use crate::error::ApiError;
use crate::AppState;

type ApiResult<T> = Result<T, ApiError>;

/// Largest check-in body (an inventory summary).
const MAX_CHECKIN: usize = 64 * 1024;
/// Largest CSV import.
const MAX_IMPORT: usize = 32 * 1024 * 1024;

/// Routes under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/hosts", get(list).post(add))
        .route("/hosts/import", post(import).layer(DefaultBodyLimit::max(MAX_IMPORT)))
        .route("/hosts/wake", post(wake))
        .route("/hosts/{key}", get(show).patch(edit).delete(remove))
        .route("/hosts/{key}/checkin", post(check_in).layer(DefaultBodyLimit::max(MAX_CHECKIN)))
}

#[derive(Deserialize)]
struct ListQuery {
    group: Option<String>,
}

async fn list(State(s): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Json<Vec<Host>>> {
    Ok(Json(s.inventory.list(q.group.as_deref()).await?))
}

async fn add(State(s): State<AppState>, Json(spec): Json<HostSpec>) -> ApiResult<(StatusCode, Json<Host>)> {
    let h = s.inventory.add(spec).await?;
    tracing::info!(host = %h.label(), "host added");
    Ok((StatusCode::CREATED, Json(h)))
}

async fn show(State(s): State<AppState>, Path(key): Path<String>) -> ApiResult<Json<HostDetail>> {
    Ok(Json(s.inventory.detail(&key).await?))
}

async fn edit(State(s): State<AppState>, Path(key): Path<String>, Json(e): Json<HostEdit>) -> ApiResult<Json<Host>> {
    Ok(Json(s.inventory.edit(&key, e).await?))
}

#[derive(Deserialize)]
struct RemoveQuery {
    #[serde(default)]
    cancel_tasks: bool,
}

async fn remove(State(s): State<AppState>, Path(key): Path<String>, Query(q): Query<RemoveQuery>) -> ApiResult<Json<HostRemoved>> {
    Ok(Json(parc_deploy::orders::remove_host(&s.tasks, &s.inventory, &key, q.cancel_tasks).await?))
}

async fn import(State(s): State<AppState>, body: Bytes) -> ApiResult<Json<ImportReport>> {
    Ok(Json(s.inventory.import_csv(&body[..]).await?))
}

/// The registration environment reports in; the host becomes `ready`.
async fn check_in(State(s): State<AppState>, Path(key): Path<String>, ext: axum::http::Extensions, body: Bytes) -> ApiResult<Json<Host>> {
    let mac: Mac = key.parse().map_err(|e: parc_inventory::mac::BadMac| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    // Absent when the router is driven without a socket (in-process tests).
    let ip = ext.get::<ConnectInfo<SocketAddr>>().and_then(|ConnectInfo(a)| match a.ip() {
        std::net::IpAddr::V4(v4) if !v4.is_loopback() => Some(v4),
        _ => None,
    });
    let h = s.inventory.check_in_report(mac, ip, &body).await?;
    tracing::info!(host = %h.label(), %mac, "host checked in");
    Ok(Json(h))
}

async fn wake(State(s): State<AppState>, Json(req): Json<WakeRequest>) -> ApiResult<Json<WakeReport>> {
    Ok(Json(s.wol.wake(&s.inventory, &req).await?))
}
