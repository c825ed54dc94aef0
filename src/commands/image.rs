//! `parc image …`: capture, restore, list, show, delete, verify.

use std::process::ExitCode;

use anyhow::Context;
use parc_imaging::format::Manifest;
use parc_imaging::{CaptureOptions, Remote, RestoreOptions};

use super::{open_location, print_json};
use crate::cli::ImageCommand;
use crate::config::Config;
use crate::data::Mode;
use crate::progress::Bars;
use parc_imaging::units::human;

pub async fn run(cfg: Config, cmd: ImageCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ImageCommand::Capture { source, name, replace, raw, entity, level, transfer, at, out } => {
            let remote = open_location(&cfg, &at, Mode::Create).await?;
            let mut opts = CaptureOptions::new(&name);
            opts.replace = replace;
            opts.raw = raw;
            opts.entity = entity;
            opts.level = level.unwrap_or(cfg.imaging.level);
            opts.parallel = transfer.parallel.map_or(cfg.imaging.parallel, usize::from);
            opts.rate_limit = transfer.limit_rate;
            let bars = Bars::new(out.json);
            let r = parc_imaging::capture(&source, &remote, &opts, &bars)
                .await
                .with_context(|| format!("capturing {} to {}", source.display(), remote.describe()))?;
            if out.json {
                print_json(&r);
            } else {
                for w in &r.warnings {
                    eprintln!("warning: {w}");
                }
                println!(
                    "captured {} as {:?}: {} read, {} sent ({} of {} chunks new), {} of holes, {:.1}s\nroot {}\ncontent {}",
                    source.display(),
                    r.summary.image,
                    human(r.summary.bytes_read),
                    human(r.summary.bytes_sent),
                    r.summary.chunks_new,
                    r.summary.chunks_total,
                    human(r.hole_bytes),
                    r.summary.seconds,
                    r.summary.root,
                    r.content
                );
                if !r.same_content.is_empty() {
                    println!("same content as {} (nothing changed since)", quoted_list(&r.same_content));
                }
            }
        }
        ImageCommand::Restore { name, target, full, grow, transfer, at, out } => {
            let remote = open_location(&cfg, &at, Mode::Existing).await?;
            let opts = RestoreOptions { full, grow, parallel: transfer.parallel.map_or(cfg.imaging.parallel, usize::from), rate_limit: transfer.limit_rate };
            let bars = Bars::new(out.json);
            let r = parc_imaging::restore(&name, &target, &remote, &opts, &bars)
                .await
                .with_context(|| format!("restoring {name:?} from {} onto {}", remote.describe(), target.display()))?;
            if out.json {
                print_json(&r);
            } else {
                for a in &r.adjustments {
                    println!("{a}");
                }
                println!(
                    "restored {:?} onto {}: {} received, {} written, {} of {} chunks already in place, {:.1}s; verified root {}",
                    r.summary.image,
                    target.display(),
                    human(r.summary.bytes_received),
                    human(r.summary.bytes_written),
                    r.chunks_unchanged,
                    r.summary.chunks_total,
                    r.summary.seconds,
                    r.summary.root
                );
            }
        }
        ImageCommand::List { at, out } => {
            let remote = open_location(&cfg, &at, Mode::Existing).await?;
            let images = remote.list().await?;
            if out.json {
                print_json(&images);
            } else if images.is_empty() {
                println!("no images");
            } else {
                println!("{:<32} {:>10} {:>10} {:>8}  CONTENT", "NAME", "SIZE", "DATA", "CHUNKS");
                for i in images {
                    println!("{:<32} {:>10} {:>10} {:>8}  {}", i.name, human(i.source_size), human(i.data_bytes), i.chunks, &i.content.to_hex()[..16]);
                }
            }
        }
        ImageCommand::Show { name, at, out } => {
            let remote = open_location(&cfg, &at, Mode::Existing).await?;
            let (rec, bytes) = remote.manifest(&name).await?;
            let m = Manifest::from_bytes(&bytes).with_context(|| format!("image {name:?}"))?;
            let stats = m.stats();
            if out.json {
                let same = same_content(&remote, &rec).await;
                print_json(&serde_json::json!({
                    "image": rec, "same_content": same, "format_version": m.version, "chunking": m.chunking,
                    "compression": m.compression, "created": m.created, "stats": stats,
                    "layout": m.layout,
                }));
            } else {
                println!("image        {}", rec.name);
                println!("root         {}", rec.root);
                println!("content      {}", rec.content);
                let same = same_content(&remote, &rec).await;
                if !same.is_empty() {
                    println!("same content {}", quoted_list(&same));
                }
                println!("size         {} ({} bytes)", human(m.source_size), m.source_size);
                println!("data         {} in {} chunks ({} distinct)", human(stats.data_bytes), stats.chunks, stats.unique_chunks);
                println!("holes        {}", human(stats.hole_bytes));
                println!("chunking     fastcdc {}/{}/{} bytes", m.chunking.min, m.chunking.avg, m.chunking.max);
                println!("compression  zstd level {}", m.compression.level);
                println!("captured     from {} on {} by {} at {}", m.created.source, m.created.host, m.created.tool, super::host::when(Some(m.created.unix_time)));
                match &m.layout {
                    None => println!("layout       raw capture (every byte)"),
                    Some(l) => {
                        println!("layout       {:?} table, {}-byte sectors; {} not captured (free space)", l.table, l.sector_size, human(stats.unused_bytes));
                        println!("  {:>3} {:>12} {:>10} {:<8} {:>10}  TYPE / NAME", "#", "START", "SIZE", "FS", "USED");
                        for p in &l.partitions {
                            let used = p.used_bytes.map(human).unwrap_or_else(|| "raw".into());
                            let kind = parc_imaging::layout::type_name(&p.type_id).map_or_else(|| p.type_id.clone(), |n| format!("{n} ({})", p.type_id));
                            println!("  {:>3} {:>12} {:>10} {:<8} {:>10}  {kind} {}", p.number, p.start, human(p.size), format!("{:?}", p.filesystem).to_lowercase(), used, p.name);
                            if let Some(why) = &p.raw_reason {
                                println!("      imaged raw: {why}");
                            }
                        }
                    }
                }
            }
        }
        ImageCommand::Delete { name, force, at, out } => {
            let done = match &at.store {
                Some(dir) => {
                    let d = crate::data::open(dir, Mode::Existing).await?;
                    parc_deploy::orders::delete_image(&d.tasks, &d.inventory, d.repo.catalog(), &name, force).await?
                }
                None => super::host::server(&cfg, at.server.as_deref())?.delete_image(&name, force).await?,
            };
            if out.json {
                print_json(&done);
                return Ok(ExitCode::SUCCESS);
            }
            for id in &done.cancelled_tasks {
                println!("cancelled task {id}");
            }
            println!("deleted {name:?}; run `parc store gc` to free its chunks");
        }
        ImageCommand::Verify { name, parallel, at, out } => {
            let remote = open_location(&cfg, &at, Mode::Existing).await?;
            let bars = Bars::new(out.json);
            let r = parc_imaging::verify(&name, &remote, parallel.map_or(cfg.imaging.parallel, usize::from), &bars).await?;
            if out.json {
                print_json(&r);
            } else {
                for b in &r.bad {
                    println!("image {:?}: chunk {}: {}", r.image, b.chunk, b.problem);
                }
                println!("{:?}: {} chunks checked, {} bad", r.image, r.chunks_checked, r.bad.len());
            }
            if !r.bad.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Other images whose content root equals `rec`'s.
async fn same_content(remote: &parc_imaging::AnyRemote, rec: &parc_imaging::ImageRecord) -> Vec<String> {
    let all = remote.list().await.unwrap_or_default();
    all.into_iter().filter(|i| i.content == rec.content && i.name != rec.name).map(|i| i.name).collect()
}

/// `"a", "b"` for a message.
fn quoted_list(names: &[String]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}
