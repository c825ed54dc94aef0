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
        StoreCommand::Uploads { abort, dir, out } => {
            let dir = dir.store.unwrap_or(cfg.server.data_dir);
            let repo = crate::data::open(&dir, crate::data::Mode::Existing).await?.repo;
            let open = repo.catalog().open_uploads().await?;
            match abort {
                Some(want) => {
                    let up = pick(&open, &want)?;
                    repo.abort(&up.id).await?;
                    println!("aborted upload {} of {:?} (by {}); the name is free, its chunks go at the next `parc store gc`", up.id, up.name, up.origin);
                }
                None if out.json => print_json(&open),
                None if open.is_empty() => println!("no uploads in flight"),
                None => {
                    let now = parc_imaging::catalog::unix_now();
                    println!("{:<32}  {:<24} {:<9} {:<26}  {:<26}  ORIGIN", "ID", "IMAGE", "STATE", "STARTED", "LAST ACTIVE");
                    for u in &open {
                        let state = if u.is_stale(now) { "stale" } else { "active" };
                        println!(
                            "{:<32}  {:<24} {:<9} {:<26}  {:<26}  {}",
                            u.id,
                            u.name,
                            state,
                            super::host::when(Some(u.started_at)),
                            super::host::when(Some(u.last_seen)),
                            u.origin
                        );
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The open upload `want` names: its id or a unique start of it.
fn pick<'a>(open: &'a [parc_imaging::catalog::Upload], want: &str) -> anyhow::Result<&'a parc_imaging::catalog::Upload> {
    let hits: Vec<_> = open.iter().filter(|u| !want.is_empty() && u.id.starts_with(want)).collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => anyhow::bail!("no upload in flight with id {want:?} (`parc store uploads` lists them; it may have finished)"),
        _ => anyhow::bail!("{} uploads start with {want:?}; give more of the id", hits.len()),
    }
}
