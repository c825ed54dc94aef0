//! The host API: the registry (`/api/v1/hosts`), check-ins from the
//! registration environment, and Wake-on-LAN.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::Json;
use parc_inventory::registry::ImportReport;
use parc_inventory::{Host, HostDetail, HostEdit, HostSpec, Mac};
use parc_pxe::wol::{WakeReport, WakeRequest};
use serde::Deserialize;

use crate::auth::{with_before, Principal, RouteScope};
use crate::error::ApiError;
use crate::table::Table;
use crate::AppState;
use axum::Extension;
use parc_access::Permission;

type ApiResult<T> = Result<T, ApiError>;

/// Largest check-in body (an inventory summary).
const MAX_CHECKIN: usize = 64 * 1024;
/// Largest CSV import.
const MAX_IMPORT: usize = 32 * 1024 * 1024;

/// Routes under `/api/v1`.
pub fn routes() -> Table {
    Table::default()
        .add(Method::GET, "/hosts", list)
        .add(Method::POST, "/hosts", add)
        .add_limited(Method::POST, "/hosts/import", import, Some(MAX_IMPORT))
        .add(Method::POST, "/hosts/wake", wake)
        .add(Method::GET, "/hosts/{key}", show)
        .add(Method::PATCH, "/hosts/{key}", edit)
        .add(Method::DELETE, "/hosts/{key}", remove)
        .add_limited(Method::POST, "/hosts/{key}/checkin", check_in, Some(MAX_CHECKIN))
}

#[derive(Deserialize)]
struct ListQuery {
    group: Option<String>,
    /// Words to find in hostname, MAC, IP, UUID or serial.
    q: Option<String>,
    state: Option<parc_inventory::HostState>,
    #[serde(default)]
    sort: parc_inventory::HostSort,
    #[serde(default)]
    desc: bool,
    /// Keyset paging: the id of the previous page's last host.
    after: Option<i64>,
    /// Offset paging (a jump): hosts to skip.
    #[serde(default)]
    skip: u64,
    limit: Option<u32>,
}

/// Largest page.
const MAX_PAGE: u32 = 1000;

/// The caller's hosts that match, in order; `X-Total-Count` holds the
/// exact number of matches, counted only among the caller's entities.
async fn list(State(s): State<AppState>, Extension(RouteScope(scope)): Extension<RouteScope>, Query(q): Query<ListQuery>) -> ApiResult<impl axum::response::IntoResponse> {
    let query = parc_inventory::HostQuery {
        text: q.q.filter(|t| !t.trim().is_empty()),
        group: q.group,
        state: q.state,
        entities: scope.entities(),
        sort: q.sort,
        desc: q.desc,
        after: q.after,
        skip: q.skip,
        limit: q.limit.map(|l| l.clamp(1, MAX_PAGE)),
    };
    let page = s.inventory.search(&query).await?;
    Ok(([("x-total-count", page.total.to_string())], Json(page.hosts)))
}

/// Where new hosts go: `?entity=/path`, else the caller's one place.
#[derive(Deserialize)]
struct EntityQuery {
    entity: Option<String>,
}

/// The entity new objects go into: the one named (inside `scope`), else
/// the caller's home in it.
pub(crate) async fn target_entity(s: &AppState, scope: &parc_access::Scope, named: Option<&str>) -> ApiResult<i64> {
    match named {
        Some(path) => {
            let not_found = || ApiError::new(StatusCode::NOT_FOUND, format!("no entity {path:?} (`parc entity list` shows them)"));
            let e = s.access.entity_by_path(path).await.map_err(|_| not_found())?;
            if !scope.contains(e.id) {
                return Err(not_found());
            }
            Ok(e.id)
        }
        None => scope.home().ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "you hold this right in several entities: name one (--entity PATH)")),
    }
}

async fn add(State(s): State<AppState>, Extension(RouteScope(scope)): Extension<RouteScope>, Query(q): Query<EntityQuery>, Json(mut spec): Json<HostSpec>) -> ApiResult<(StatusCode, Json<Host>)> {
    spec.entity_id = Some(target_entity(&s, &scope, q.entity.as_deref()).await?);
    let h = s.inventory.add(spec).await?;
    tracing::info!(host = %h.label(), "host added");
    Ok((StatusCode::CREATED, Json(h)))
}

fn no_host(key: &str) -> ApiError {
    parc_inventory::Error::NotFound(key.to_string()).into()
}

/// Narrows a selection of hosts to the caller's: each named host must be
/// inside `scope` (404 or 403 otherwise), and a group becomes the ids of
/// the caller's part of it, appended to `hosts`.
pub(crate) async fn own_hosts(s: &AppState, p: &Principal, scope: &parc_access::Scope, perm: Permission, hosts: &mut Vec<String>, group: &mut Option<String>) -> ApiResult<()> {
    let readable = crate::auth::scope_of(s, p, Permission::HostRead).await?;
    for key in hosts.iter() {
        let h = s.inventory.find(key).await?;
        crate::auth::check(h.entity_id, scope, &readable, || no_host(key), perm, &p.actor())?;
    }
    if let Some(g) = group.take() {
        let mine: Vec<String> = s.inventory.list(Some(&g)).await?.into_iter().filter(|h| scope.contains(h.entity_id)).map(|h| h.id.to_string()).collect();
        if mine.is_empty() {
            return Err(parc_inventory::Error::EmptyGroup(g).into());
        }
        hosts.extend(mine);
    }
    Ok(())
}

/// The host `key`, if the caller may do the route's action on it.
pub(crate) async fn host_for(s: &AppState, p: &Principal, scope: &parc_access::Scope, perm: Permission, key: &str) -> ApiResult<Host> {
    let h = s.inventory.find(key).await?;
    let readable = crate::auth::scope_of(s, p, Permission::HostRead).await?;
    crate::auth::check(h.entity_id, scope, &readable, || no_host(key), perm, &p.actor())?;
    Ok(h)
}

async fn show(State(s): State<AppState>, Extension(RouteScope(scope)): Extension<RouteScope>, Path(key): Path<String>) -> ApiResult<Json<HostDetail>> {
    let d = s.inventory.detail(&key).await?;
    if !scope.contains(d.host.entity_id) {
        return Err(no_host(&key));
    }
    Ok(Json(d))
}

async fn edit(
    State(s): State<AppState>,
    Extension(RouteScope(scope)): Extension<RouteScope>,
    Extension(p): Extension<Principal>,
    Path(key): Path<String>,
    Json(e): Json<HostEdit>,
) -> ApiResult<axum::response::Response> {
    let before = host_for(&s, &p, &scope, Permission::HostEdit, &key).await?;
    Ok(with_before(Json(s.inventory.edit(&key, e).await?), &before))
}

#[derive(Deserialize)]
struct RemoveQuery {
    #[serde(default)]
    cancel_tasks: bool,
}

async fn remove(
    State(s): State<AppState>,
    Extension(RouteScope(scope)): Extension<RouteScope>,
    Extension(p): Extension<Principal>,
    Path(key): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> ApiResult<axum::response::Response> {
    let before = host_for(&s, &p, &scope, Permission::HostEdit, &key).await?;
    Ok(with_before(Json(parc_deploy::orders::remove_host(&s.tasks, &s.inventory, &key, q.cancel_tasks).await?), &before))
}

async fn import(State(s): State<AppState>, Extension(RouteScope(scope)): Extension<RouteScope>, Query(q): Query<EntityQuery>, body: Bytes) -> ApiResult<Json<ImportReport>> {
    let entity = target_entity(&s, &scope, q.entity.as_deref()).await?;
    Ok(Json(s.inventory.import_csv_into(&body[..], Some(entity), &|e| scope.contains(e)).await?))
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

async fn wake(State(s): State<AppState>, Extension(RouteScope(scope)): Extension<RouteScope>, Extension(p): Extension<Principal>, Json(req): Json<WakeRequest>) -> ApiResult<Json<WakeReport>> {
    let mut req = req;
    own_hosts(&s, &p, &scope, Permission::HostWake, &mut req.hosts, &mut req.group).await?;
    Ok(Json(s.wol.wake(&s.inventory, &req).await?))
}
