//! The host API: the registry (`/api/v1/hosts`), check-ins from the
//! registration environment, and Wake-on-LAN.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use parc_inventory::{Event, Host, HostEdit, HostSpec, HostState, Mac};
use parc_pxe::net::NetInterface;
use parc_pxe::wol;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::AppState;

type ApiResult<T> = Result<T, ApiError>;

/// Largest check-in body (an inventory summary).
const MAX_CHECKIN: usize = 64 * 1024;
/// Largest CSV import.
const MAX_IMPORT: usize = 32 * 1024 * 1024;

/// Where Wake-on-LAN packets go out.
#[derive(Debug, Clone, Default)]
pub struct WolSite {
    /// The interfaces whose broadcast addresses every wake-up goes to.
    pub interfaces: Vec<NetInterface>,
    /// Prefix length assumed for a remote host's subnet (directed broadcast).
    pub directed_prefix: u8,
}

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

/// A host with its recent history.
#[derive(Debug, Serialize, Deserialize)]
pub struct HostDetail {
    /// The host.
    #[serde(flatten)]
    pub host: Host,
    /// Its latest events, oldest first.
    pub events: Vec<Event>,
}

async fn show(State(s): State<AppState>, Path(key): Path<String>) -> ApiResult<Json<HostDetail>> {
    let host = s.inventory.find(&key).await?;
    let events = s.inventory.events(host.id, 50).await?;
    Ok(Json(HostDetail { host, events }))
}

async fn edit(State(s): State<AppState>, Path(key): Path<String>, Json(e): Json<HostEdit>) -> ApiResult<Json<Host>> {
    Ok(Json(s.inventory.edit(&key, e).await?))
}

async fn remove(State(s): State<AppState>, Path(key): Path<String>) -> ApiResult<Json<Host>> {
    let h = s.inventory.remove(&key).await?;
    tracing::info!(host = %h.label(), "host removed");
    Ok(Json(h))
}

async fn import(State(s): State<AppState>, body: Bytes) -> ApiResult<Json<parc_inventory::registry::ImportReport>> {
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
    // parc's own environment sends its hardware inventory as JSON; anything
    // else (a site's own registration image) is kept as a line of text.
    let hardware = serde_json::from_slice::<parc_inventory::hardware::Hardware>(&body).ok();
    let detail: String = match &hardware {
        Some(hw) => format!("hardware inventory: {} disk(s), {} NIC(s), {} CPU(s)", hw.disks.len(), hw.nics.len(), hw.cpus),
        None => String::from_utf8_lossy(&body).chars().filter(|c| !c.is_control() || *c == ' ').take(512).collect(),
    };
    let mut h = s.inventory.check_in(mac, ip, &detail).await?;
    if let Some(hw) = hardware {
        s.inventory.set_hardware(h.id, &serde_json::to_value(hw).expect("serialisable")).await?;
        h = s.inventory.find(&h.id.to_string()).await?;
    }
    tracing::info!(host = %h.label(), %mac, "host checked in");
    Ok(Json(h))
}

/// Which hosts to wake.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WakeRequest {
    /// Host keys (id, hostname or MAC).
    pub hosts: Vec<String>,
    /// A group, all of whose hosts are woken.
    pub group: Option<String>,
}

/// What was sent.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct WakeReport {
    /// One line per host woken: host label, MACs and destinations.
    pub sent: Vec<WakeSent>,
    /// Hosts not woken, with why.
    pub skipped: Vec<(String, String)>,
}

/// One host's wake-up.
#[derive(Debug, Serialize, Deserialize)]
pub struct WakeSent {
    /// Hostname or MAC.
    pub host: String,
    /// Packets sent (one per MAC and destination).
    pub packets: usize,
    /// Where they went (`eth0 198.18.0.255`, `directed 198.18.5.255`); a
    /// destination whose send failed ends in `(failed: why)`.
    pub targets: Vec<String>,
}

async fn wake(State(s): State<AppState>, Json(req): Json<WakeRequest>) -> ApiResult<Json<WakeReport>> {
    let hosts = select(&s, &req.hosts, req.group.as_deref()).await?;
    let mut report = WakeReport::default();
    for h in hosts {
        if h.state == HostState::Retired {
            report.skipped.push((h.label(), "retired".into()));
            continue;
        }
        let (packets, targets) = match send_magic(&s.wol, &h) {
            Ok(r) => r,
            Err(why) => {
                report.skipped.push((h.label(), why));
                continue;
            }
        };
        s.inventory.record(h.id, "wake", &format!("{packets} magic packets")).await?;
        report.sent.push(WakeSent { host: h.label(), packets, targets });
    }
    Ok(Json(report))
}

/// The hosts named by keys (id, hostname or MAC) and by a group, each once,
/// by id. Naming nothing, an unknown host or an empty group is an error.
pub async fn select(s: &AppState, keys: &[String], group: Option<&str>) -> ApiResult<Vec<Host>> {
    if keys.is_empty() && group.is_none() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "name hosts or a group"));
    }
    let mut hosts = Vec::new();
    for key in keys {
        hosts.push(s.inventory.find(key).await?);
    }
    if let Some(g) = group {
        let members = s.inventory.list(Some(g)).await?;
        if members.is_empty() {
            return Err(ApiError::new(StatusCode::NOT_FOUND, format!("group {g:?} has no hosts")));
        }
        hosts.extend(members);
    }
    hosts.sort_by_key(|h| h.id);
    hosts.dedup_by_key(|h| h.id);
    Ok(hosts)
}

/// Sends a host's magic packets (each MAC, each target); a summary line,
/// or why nothing could be sent.
pub fn wake_host(site: &WolSite, h: &Host) -> Result<String, String> {
    send_magic(site, h).map(|(n, t)| format!("{n} magic packets to {}", t.join(", ")))
}

fn send_magic(site: &WolSite, h: &Host) -> Result<(usize, Vec<String>), String> {
    let targets = wol::targets(&site.interfaces, h.ip, site.directed_prefix);
    if targets.is_empty() {
        return Err("no interface to send from (set pxe.interfaces) and no known address".into());
    }
    let mut packets = 0;
    let mut errors = Vec::new();
    // Per target, why a send failed: such a target must not read as reached.
    let mut failed: Vec<Option<String>> = vec![None; targets.len()];
    for mac in &h.macs {
        let p = wol::magic_packet(mac.0, h.secureon.map(|m| m.0));
        for (t, why) in targets.iter().zip(&mut failed) {
            match wol::send(&p, t) {
                Ok(()) => packets += 1,
                Err(e) => {
                    errors.push(format!("{}: {e}", describe(t)));
                    *why = Some(e.to_string());
                }
            }
        }
    }
    if packets == 0 {
        return Err(errors.join("; "));
    }
    let described = targets
        .iter()
        .zip(failed)
        .map(|(t, why)| match why {
            None => describe(t),
            Some(e) => format!("{} (failed: {e})", describe(t)),
        })
        .collect();
    Ok((packets, described))
}

fn describe(t: &wol::Target) -> String {
    match t {
        wol::Target::Interface { name, broadcast } => format!("{name} {broadcast}"),
        wol::Target::Directed(a) => format!("directed {a}"),
    }
}
