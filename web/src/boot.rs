//! What network-booting machines fetch over HTTP: their iPXE script
//! (`/boot/{mac}.ipxe`, decided by `parc_pxe::site`), the boot assets
//! (kernels, initramfs, the UEFI local-boot loader) and the iPXE binaries
//! for UEFI HTTP boot.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use parc_pxe::site::{BootSite, BootStores};
use serde::Deserialize;
use tower_http::services::ServeDir;

use crate::error::ApiError;
use crate::AppState;

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

async fn script(State(s): State<AppState>, Path(file): Path<String>, Query(q): Query<ScriptQuery>, headers: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    let authority = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let stores = BootStores { inventory: &s.inventory, tasks: &s.tasks, catalog: s.repo.catalog() };
    let text = parc_pxe::site::script(&s.boot, stores, &file, q.arch, authority).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], text))
}
