//! The `parc` binary: command line, configuration, and the wiring of the
//! domain crates: it opens the data directory's one database and hands it
//! to the catalog, the registry and the tasks, then to the web layer, the
//! boot services and the scheduler.

mod cli;
mod commands;
mod config;
mod credentials;
mod data;
mod progress;
mod sshkey;

// Capture and restore allocate and free many 16-256 KiB buffers; glibc maps
// and unmaps those one by one (page faults, syscalls), mimalloc reuses them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("PARC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cli.log.as_deref().unwrap_or(cli.command.default_log())));
    // Colours only for a person at a terminal, not in logs and pipes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
