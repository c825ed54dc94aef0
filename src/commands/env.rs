//! `parc env build`: the netboot environment machines boot into for tasks
//! and registration, built from the host's Debian packages into
//! `<assets>/env/`, where `parc serve` serves it.

use std::process::ExitCode;

use anyhow::Context;
use parc_pxe::netenv::{self, BuildOptions};

use crate::cli::EnvCommand;
use crate::config::Config;

pub async fn run(cfg: Config, cmd: EnvCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EnvCommand::Build { out, data_dir, kernel_version, parc, no_strip } => {
            let out = out.unwrap_or_else(|| {
                let assets = match (&data_dir, &cfg.pxe.assets_dir) {
                    (None, Some(a)) => a.clone(),
                    _ => data_dir.unwrap_or(cfg.server.data_dir.clone()).join("boot-assets"),
                };
                assets.join("env")
            });
            let parc = match parc {
                Some(p) => p,
                None => std::env::current_exe().context("finding the parc binary to include (pass --parc)")?,
            };
            let mut opts = BuildOptions::new(out.clone(), parc);
            opts.kernel_version = kernel_version;
            opts.strip = !no_strip;
            let t0 = std::time::Instant::now();
            let built = tokio::task::spawn_blocking(move || netenv::build(&opts))
                .await?
                .with_context(|| format!("building the netboot environment in {}", out.display()))?;
            print_built(&built, t0.elapsed());
            // Beside env/, in the same boot-assets directory.
            let assets = out.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
            match tokio::task::spawn_blocking(move || netenv::build_local_loader(&assets)).await? {
                Ok(p) => println!("  UEFI local boot: {} (chained by iPXE when a UEFI machine has nothing to do)", p.display()),
                Err(e) => println!("  note: no UEFI local-boot loader ({e}); UEFI machines with nothing to do leave iPXE for the firmware's next boot entry"),
            }
            println!();
            print_next();
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

fn print_built(b: &netenv::Built, took: std::time::Duration) {
    println!("netboot environment in {} ({:.1}s)", b.out.display(), took.as_secs_f64());
    println!("  kernel      vmlinuz     {:>10}  Linux {}", mib(b.kernel_bytes), b.kernel_version);
    println!(
        "  initramfs   initrd.img  {:>10}  ({} uncompressed, {}; {} entries, {} modules, parc {}{})",
        mib(b.initrd_bytes),
        mib(b.initrd_uncompressed),
        b.compression.name(),
        b.entries,
        b.modules,
        mib(b.parc_bytes),
        if b.parc_stripped { " stripped" } else { "" }
    );
    println!("  download    {:>22}", mib(b.kernel_bytes + b.initrd_bytes));
    println!("  manifest    manifest.txt (files, sizes, blake3, package versions)");
    if !b.missing_modules.is_empty() {
        println!("  note: this kernel has no module {}", b.missing_modules.join(", "));
    }
    if !b.skipped_tools.is_empty() {
        println!("  note: not installed, left out: {}", b.skipped_tools.join(", "));
    }
}

fn print_next() {
    println!("Next: `parc serve` serves it at /boot/assets/env/ (from its boot-assets directory);");
    println!("machines boot it to register, and for tasks: `parc task capture|restore ...`.");
}
