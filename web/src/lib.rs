//! parc's HTTP server.
//!
//! - [`images`]: the image and chunk API under `/api/v1` (uploads, manifests, chunks).
//! - [`error`]: how domain errors become HTTP answers.
//!
//! The server is stateless beyond the [`parc_imaging::Repository`] it is given,
//! so several instances can share one repository.

pub mod error;
pub mod images;

use std::future::Future;

use axum::Router;
use parc_imaging::Repository;
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Images and chunks.
    pub repo: Repository,
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .nest("/api/v1", images::routes())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves; in-flight
/// requests are allowed to finish.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
