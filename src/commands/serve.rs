//! `parc serve`: the HTTP API over the repository in the data directory.

use std::process::ExitCode;

use anyhow::Context;
use parc_imaging::Repository;
use parc_web::AppState;

use crate::cli::ServeArgs;
use crate::config::Config;

pub async fn run(mut cfg: Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(l) = args.listen {
        cfg.server.listen = l;
    }
    if let Some(d) = args.data_dir {
        cfg.server.data_dir = d;
    }
    let dir = &cfg.server.data_dir;
    let repo = Repository::open_dir(dir)
        .await
        .with_context(|| format!("opening the data directory {} (set server.data_dir or --data-dir)", dir.display()))?;
    let listener = tokio::net::TcpListener::bind(&cfg.server.listen)
        .await
        .with_context(|| format!("cannot listen on {} (set server.listen or --listen)", cfg.server.listen))?;
    let addr = listener.local_addr()?;
    // The first stdout line names the bound address, so scripts and tests can
    // pass port 0 and still find the server.
    println!("parc listening on http://{addr} (data in {})", dir.display());
    tracing::info!(%addr, data_dir = %dir.display(), "parc serving");
    parc_web::serve(listener, AppState { repo }, shutdown_signal()).await?;
    tracing::info!("parc stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
