//! parc's HTTP server: a thin adapter. Each handler extracts the request,
//! calls one domain function (`parc_imaging`, `parc_inventory`,
//! `parc_deploy`, `parc_pxe`) and maps its error to a status.
//!
//! - [`auth`]: what each API route needs ([`auth::RULES`]), enforced and
//!   audited by one middleware.
//! - [`accounts`]: login, tokens, users, roles, entities, the audit log.
//! - [`images`]: the image and chunk API under `/api/v1` (uploads, manifests, chunks).
//! - [`hosts`]: the host registry API, check-ins and Wake-on-LAN.
//! - [`tasks`]: tasks for administrators, and the netboot environment's API.
//! - [`boot`]: per-machine iPXE scripts and boot assets under `/boot`.
//! - [`error`]: how domain errors become HTTP answers.
//!
//! The server is stateless beyond the repository and registry it is given,
//! so several instances can share them.

pub mod accounts;
pub mod auth;
pub mod boot;
pub mod console;
pub mod error;
pub mod hosts;
pub mod images;
pub mod openapi;
pub mod table;
pub mod tasks;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use parc_imaging::Repository;
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Images and chunks.
    pub repo: Repository,
    /// Hosts.
    pub inventory: parc_inventory::Inventory,
    /// Boot scripts and assets.
    pub boot: Arc<parc_pxe::site::BootSite>,
    /// Wake-on-LAN.
    pub wol: Arc<parc_pxe::wol::WolSite>,
    /// Tasks.
    pub tasks: parc_deploy::Tasks,
    /// parc's deployment SSH public key, for the ssh-key hook.
    pub ssh_public_key: Arc<Option<String>>,
    /// Users, roles, tokens.
    pub access: parc_access::Access,
    /// The audit log.
    pub audit: parc_access::AuditLog,
    /// Served over TLS: the console's cookies are `Secure`.
    pub secure_cookies: bool,
    /// The task feed fanned out to the console's live pages.
    pub live: console::live::Hub,
}

/// Where the API is mounted.
pub const API: &str = "/api/v1";

/// Every API route, under [`API`].
fn api() -> table::Table {
    accounts::routes().merge(images::routes()).merge(hosts::routes()).merge(tasks::routes()).merge(openapi::routes())
}

/// The routes the router serves under [`API`] and the console's pages,
/// with their full paths: read from the tables the router is built from.
pub fn route_table() -> Vec<table::Route> {
    let api = api().routes().iter().map(|r| table::Route { method: r.method.clone(), path: format!("{API}{}", r.path) }).collect::<Vec<_>>();
    api.into_iter().chain(console::routes().routes().iter().cloned()).collect()
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let (api, _) = api().into_parts();
    let (console, _) = console::routes().into_parts();
    Router::new()
        .merge(console.layer(axum::middleware::from_fn_with_state(state.clone(), console::guard)))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .nest(API, api.layer(axum::middleware::from_fn_with_state(state.clone(), auth::guard)))
        .nest("/boot", boot::routes(&state.boot))
        .merge(openapi::browser())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Beside an HTTPS API: what firmware and iPXE fetch over plain HTTP (they
/// cannot trust parc's certificate), and nothing else.
pub fn boot_router(state: AppState, api: String) -> Router {
    let elsewhere = move || {
        let api = api.clone();
        async move { (axum::http::StatusCode::NOT_FOUND, format!("this port serves network boot files only; the API is at {api}\n")) }
    };
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .nest("/boot", boot::routes(&state.boot))
        .fallback(elsewhere)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves; in-flight
/// requests are allowed to finish.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown).await
}

/// The same over TLS. After `shutdown`, requests in flight get 10 s.
pub async fn serve_tls(listener: tokio::net::TcpListener, tls: Arc<parc_tls::server::Loaded>, app: Router, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    let stop = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    let config = axum_server::tls_rustls::RustlsConfig::from_config(tls.config.clone());
    axum_server::from_tcp_rustls(listener.into_std()?, config)?.handle(handle).serve(app.into_make_service_with_connect_info::<SocketAddr>()).await
}
