//! `parc store …`: garbage collection and integrity checks on a data directory.

use std::process::ExitCode;
use std::time::Duration;


use super::print_json;
use crate::cli::StoreCommand;
use crate::config::Config;
use parc_imaging::units::human;

pub async fn run(cfg: Config, cmd: StoreCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StoreCommand::Gc { dir, grace_secs, out } => {
            let dir = dir.store.unwrap_or(cfg.server.data_dir);
            let repo = crate::data::open(&dir, crate::data::Mode::Existing).await?.repo;
            let r = repo.gc(Duration::from_secs(grace_secs)).await?;
            if out.json {
                print_json(&r);
            } else {
                println!(
                    "{} chunks: {} referenced, {} protected (uploads in flight or younger than {grace_secs}s), {} removed ({} freed)",
                    r.chunks_before, r.referenced, r.protected, r.removed, human(r.removed_bytes)
                );
            }
        }
        StoreCommand::Check { repair, dir, out } => {
            let dir = dir.store.unwrap_or(cfg.server.data_dir);
            let repo = crate::data::open(&dir, crate::data::Mode::Existing).await?.repo;
            if repair {
                let fixed = repo.repair_quarantine().await?;
                if !out.json {
                    for id in &fixed.dropped {
                        println!("chunk {id}: stored intact again; its quarantined copy is dropped");
                    }
                    for id in &fixed.remaining {
                        println!("chunk {id}: still quarantined (no good copy stored yet)");
                    }
                }
            }
            let r = repo.check().await?;
            if out.json {
                print_json(&r);
            } else {
                for p in &r.problems {
                    let images = if p.images.is_empty() { "no image".to_string() } else { p.images.join(", ") };
                    println!("chunk {}: {} (used by {images})", p.chunk, p.problem);
                }
                println!(
                    "{} images, {} chunks ({}) verified, {} unreferenced, {} problems",
                    r.images, r.chunks_checked, human(r.bytes_checked), r.unreferenced, r.problems.len()
                );
                if !r.problems.is_empty() {
                    println!("affected images must be re-captured (or a machine holding the chunks captured); corrupt chunks were moved to chunks/.quarantine");
                }
            }
            if !r.problems.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
