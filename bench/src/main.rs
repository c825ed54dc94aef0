//! `parc-bench`: parc against its peer tools, each ratio measured in one
//! run on this machine. Not part of the shipped `parc` binary; figures go to
//! docs/benchmarks.md.
//!
//! ```sh
//! cargo build --release && cargo run --release -p parc-bench -- imaging|tftp|dhcp|console
//! ```

mod console;
mod dhcp;
mod imaging;
mod tftp;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

// As in `parc`: the in-process capture and restore figures use the same allocator.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "parc-bench", version, about = "Measure parc against its peer tools (ratios from one run)")]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand, Debug)]
enum Bench {
    /// Capture/restore throughput vs zstd and partclone, and dedup/delta ratios, on a real ext4 image.
    Imaging(imaging::ImagingBenchArgs),
    /// parc's TFTP server vs tftpd-hpa and dnsmasq, one client, in a network namespace (root).
    Tftp(tftp::TftpBenchArgs),
    /// proxyDHCP answers/s and p99 latency, parc vs dnsmasq in proxy mode, in network namespaces (root).
    Dhcp(dhcp::DhcpBenchArgs),
    /// The web console at 100,000 hosts: hosts-screen server time, keystroke → count in Chromium, live-board lag.
    Console(console::ConsoleBenchArgs),
}

/// The `parc` binary to measure: `given`, else the one beside this program.
pub(crate) fn parc_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let p = match given {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe().context("finding this program")?.with_file_name("parc"),
    };
    anyhow::ensure!(p.is_file(), "no parc binary at {} (build it first: cargo build --release; or pass --parc)", p.display());
    Ok(p)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("PARC_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = rt.block_on(async {
        match cli.command {
            Bench::Imaging(a) => imaging::run(a).await,
            Bench::Tftp(a) => tftp::run(a).await,
            Bench::Dhcp(a) => dhcp::run(a).await,
            Bench::Console(a) => console::run(a).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
