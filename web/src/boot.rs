//! What network-booting machines fetch over HTTP: their iPXE script
//! (`/boot/{mac}.ipxe`), the boot assets (kernels, initramfs) and the iPXE
//! binaries for UEFI HTTP boot.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use parc_inventory::{HostState, Mac, Sighting};
use parc_deploy::TaskKind;
use parc_inventory::Host;
use parc_pxe::script::{choose, Action, Known, ScriptContext, TaskBoot, Templates};
use serde::Deserialize;
use tower_http::services::ServeDir;

use crate::error::ApiError;
use crate::AppState;

/// The boot side of the HTTP server.
pub struct BootSite {
    /// Boot assets served under `/boot/assets/` (the environment in `env/`).
    pub assets_dir: PathBuf,
    /// iPXE binaries served under `/boot/ipxe/` (Debian's `/usr/lib/ipxe`).
    pub ipxe_dir: PathBuf,
    /// The script templates.
    pub templates: Templates,
    /// Extra kernel arguments for the netboot environment.
    pub env_args: String,
}

impl BootSite {
    /// True when the netboot environment (kernel and initramfs) is in place.
    pub fn env_available(&self) -> bool {
        self.assets_dir.join("env/vmlinuz").is_file() && self.assets_dir.join("env/initrd.img").is_file()
    }
}

/// Routes under `/boot`.
pub fn routes(site: &BootSite) -> Router<AppState> {
    Router::new()
        .route("/{file}", get(script))
        .nest_service("/assets", ServeDir::new(&site.assets_dir))
        .nest_service("/ipxe", ServeDir::new(&site.ipxe_dir))
}

#[derive(Deserialize)]
struct ScriptQuery {
    arch: Option<String>,
}

/// Renders the machine's script and records the boot on the host.
async fn script(State(state): State<AppState>, Path(file): Path<String>, Query(q): Query<ScriptQuery>, headers: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    let site: &Arc<BootSite> = &state.boot;
    let mac: Mac = file
        .strip_suffix(".ipxe")
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no boot file {file:?}: scripts are /boot/MAC.ipxe")))?
        .parse()
        .map_err(|e: parc_inventory::mac::BadMac| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let arch = q.arch.filter(|a| a.len() <= 32 && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let seen = state.inventory.seen(&Sighting { mac, uuid: None, arch: arch.clone() }).await?;
    let host = seen.host;
    let known = match host.state {
        HostState::New => Known::New,
        HostState::Ready => Known::Ready,
        HostState::Retired => Known::Retired,
    };
    let pending = pending_task(&state, &host).await?;
    let action = choose(known, pending, site.env_available());
    // The machine reached us by the address in its Host header: every URL
    // in the script uses the same one, whatever interface it came in on.
    let authority = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let server = format!("http://{authority}");
    let efi = host.arch.as_deref().or(arch.as_deref()).is_some_and(|a| a.contains("efi"));
    let ctx = ScriptContext {
        assets: format!("{server}/boot/assets"),
        server,
        mac: mac.to_string(),
        label: host.label(),
        efi,
        env_args: site.env_args.clone(),
        task: None,
    };
    if let Action::Task(t) = &action {
        state.inventory.record(host.id, "task", &format!("booting into task {} ({})", t.id, t.action)).await?;
    }
    let text = site.templates.render(&action, &ctx).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let arch_name = host.arch.clone().unwrap_or_else(|| "unknown".into());
    state.inventory.record(host.id, "boot", &format!("{} ({arch_name})", action.name())).await?;
    tracing::info!(host = %host.label(), %mac, action = %action.name(), "boot script served");
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], text))
}

/// How long a task's token stays valid: the longest task one boot may run.
const TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// The host's task, claimed for this boot when it may start now. A task
/// that cannot run (its image is gone, no environment to run it in) fails
/// here with a clear message, and the machine boots locally.
async fn pending_task(state: &AppState, host: &Host) -> Result<Option<TaskBoot>, ApiError> {
    if host.state == parc_inventory::HostState::Retired {
        return Ok(None);
    }
    let now = chrono::Local::now();
    let Some(task) = state.tasks.startable(host.id, &now).await? else { return Ok(None) };
    let problem = if task.kind == TaskKind::Restore && state.repo.catalog().get(&task.image).await.is_err() {
        Some(format!("image {:?} does not exist (parc image list shows the images; capture it first)", task.image))
    } else if !state.boot.env_available() {
        Some(format!(
            "the netboot environment is not installed ({}/env/vmlinuz and initrd.img; build it with `parc env build`)",
            state.boot.assets_dir.display()
        ))
    } else {
        None
    };
    if let Some(why) = problem {
        let t = state.tasks.fail(task.id, &why).await?;
        state.inventory.record(host.id, "task", &format!("task {} failed: {why}", t.id)).await?;
        tracing::warn!(task = t.id, host = %host.label(), "{why}");
        return Ok(None);
    }
    Ok(state.tasks.claim(host.id, &now, TOKEN_TTL).await?.map(|c| TaskBoot {
        id: c.task.id,
        action: c.task.kind.as_str().to_string(),
        token: c.token,
    }))
}
