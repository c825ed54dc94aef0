//! `parc task …`: capture or restore machines at their next network boot.

use std::process::ExitCode;

use anyhow::{bail, Context};
use parc_deploy::api::{CreateTasks, TaskDetail, TaskSummary};
use parc_deploy::{Hook, Task, TaskKind, TaskOptions};
use parc_imaging::units::human;

use super::host::{when, Place};
use super::print_json;
use crate::cli::{Schedule, TaskCommand};
use crate::config::Config;

/// The task calls, on a server or a data directory.
impl Place {
    async fn create_tasks(&self, req: &CreateTasks) -> anyhow::Result<Vec<Task>> {
        Ok(match self {
            Place::Server(c) => c.create_tasks(req).await?,
            Place::Local(d) => parc_deploy::orders::create(&d.tasks, &d.inventory, d.repo.catalog(), req).await?,
        })
    }

    async fn tasks(&self, host: Option<&str>, all: bool) -> anyhow::Result<Vec<TaskSummary>> {
        Ok(match self {
            Place::Server(c) => c.tasks(host, all).await?,
            Place::Local(d) => parc_deploy::orders::summaries(&d.tasks, &d.inventory, host, !all).await?,
        })
    }

    async fn task(&self, id: i64) -> anyhow::Result<TaskDetail> {
        Ok(match self {
            Place::Server(c) => c.task(id).await?,
            Place::Local(d) => parc_deploy::orders::detail(&d.tasks, &d.inventory, id).await?,
        })
    }

    async fn cancel_task(&self, id: i64) -> anyhow::Result<Task> {
        Ok(match self {
            Place::Server(c) => c.cancel_task(id).await?,
            Place::Local(d) => parc_deploy::orders::cancel(&d.tasks, &d.inventory, id).await?,
        })
    }

    /// The ids of a group's hosts.
    async fn group_ids(&self, group: &str) -> anyhow::Result<Vec<String>> {
        Ok(self.list(Some(group)).await?.iter().map(|h| h.id.to_string()).collect())
    }
}

/// The options, with the window checked here; `--at` goes to the server
/// as written, read in its time zone like the window.
fn schedule(s: &Schedule) -> anyhow::Result<TaskOptions> {
    if let Some(w) = &s.window {
        w.parse::<parc_deploy::Window>()?;
    }
    Ok(TaskOptions { disk: s.disk.clone(), poweroff: s.poweroff, rate_limit: s.limit_rate, ..Default::default() })
}

/// Hooks and options in a line each, for `task show`.
fn describe(t: &Task) -> Vec<String> {
    let mut out: Vec<String> = t
        .hooks
        .iter()
        .map(|h| match h {
            Hook::Hostname { name } => format!("hook      hostname {name}"),
            Hook::SshKey { user } => format!("hook      ssh-key for {user}"),
            Hook::File { partition, path, content, .. } => {
                format!("hook      file {}{path} ({} bytes)", partition.map(|p| format!("{p}:")).unwrap_or_default(), content.len())
            }
            Hook::FirstBoot { script } => format!("hook      first-boot script ({} lines)", script.lines().count()),
            Hook::Script { script } => format!("hook      script ({} lines)", script.lines().count()),
        })
        .collect();
    let o = &t.options;
    let mut opts = Vec::new();
    if let Some(d) = &o.disk {
        opts.push(format!("disk {d}"));
    }
    for (on, name) in [(o.full, "full"), (o.grow, "grow"), (o.poweroff, "poweroff"), (o.replace, "replace")] {
        if on {
            opts.push(name.to_string());
        }
    }
    if let Some(r) = o.rate_limit {
        opts.push(format!("limit-rate {}/s", human(r)));
    }
    if !opts.is_empty() {
        out.push(format!("options   {}", opts.join(", ")));
    }
    out
}

fn file_hook(spec: &str) -> anyhow::Result<Hook> {
    let (target, local) = spec.split_once('=').context("--file takes [PART:]/path=LOCAL_FILE")?;
    let (partition, path) = match target.split_once(':') {
        Some((p, path)) => (Some(p.parse::<u32>().context("--file: the partition is a number, e.g. 2:/etc/motd=motd")?), path),
        None => (None, target),
    };
    let content = std::fs::read_to_string(local).with_context(|| format!("--file: reading {local}"))?;
    Ok(Hook::File { partition, path: path.to_string(), content, mode: None })
}

fn print_tasks(tasks: &[Task], label: impl Fn(&Task) -> String) {
    for t in tasks {
        println!("task {}: {} {} on {} ({})", t.id, t.kind.as_str(), t.image, label(t), t.state);
    }
}

fn progress_line(t: &Task) -> String {
    match &t.progress {
        Some(p) => {
            let mut s = p.phase.clone();
            if let (Some(d), Some(n)) = (p.bytes_done, p.bytes_total) {
                s += &format!(" {} / {}", human(d), human(n));
            } else if let Some(d) = p.bytes_done {
                s += &format!(" {}", human(d));
            }
            if let Some(r) = p.rate {
                s += &format!(" at {}/s", human(r as u64));
            }
            s
        }
        None => "-".into(),
    }
}

pub async fn run(cfg: Config, cmd: TaskCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TaskCommand::Capture { host, image, replace, when: w, at, out } => {
            let mut options = schedule(&w)?;
            options.replace = replace;
            let req = CreateTasks { kind: TaskKind::Capture, hosts: vec![host.clone()], group: None, image, hooks: vec![], options, not_before: None, at: w.at.clone(), window: w.window.clone(), max_attempts: w.attempts };
            let created = Place::open(&cfg, &at).await?.create_tasks(&req).await?;
            if out.json {
                print_json(&created);
            } else {
                print_tasks(&created, |_| host.clone());
            }
        }
        TaskCommand::Restore { hosts, group, image, hooks, files, firstboot, script, full, grow, when: w, at, out } => {
            if hosts.is_empty() && group.is_none() {
                bail!("name hosts to restore, or --group");
            }
            let mut options = schedule(&w)?;
            options.full = full;
            options.grow = grow;
            let mut all = hooks.iter().filter(|h| !h.trim().is_empty()).map(|h| Hook::parse_short(h)).collect::<Result<Vec<_>, _>>()?;
            for f in &files {
                all.push(file_hook(f)?);
            }
            if let Some(f) = &firstboot {
                all.push(Hook::FirstBoot { script: std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))? });
            }
            if let Some(f) = &script {
                all.push(Hook::Script { script: std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))? });
            }
            let req = CreateTasks { kind: TaskKind::Restore, hosts, group, image, hooks: all, options, not_before: None, at: w.at.clone(), window: w.window.clone(), max_attempts: w.attempts };
            let created = Place::open(&cfg, &at).await?.create_tasks(&req).await?;
            if out.json {
                print_json(&created);
            } else {
                print_tasks(&created, |t| format!("host {}", t.host_id));
            }
        }
        TaskCommand::List { host, all, at, out } => {
            let tasks = Place::open(&cfg, &at).await?.tasks(host.as_deref(), all).await?;
            if out.json {
                print_json(&tasks);
            } else if tasks.is_empty() {
                println!("no tasks{}", if all { "" } else { " unfinished (--all shows finished ones)" });
            } else {
                println!("{:>5}  {:<8} {:<20} {:<20} {:<10} {:<8} {:<26} {:<11} PROGRESS", "ID", "KIND", "HOST", "IMAGE", "STATE", "TRIES", "NOT BEFORE", "WINDOW");
                for s in &tasks {
                    let t = &s.task;
                    println!(
                        "{:>5}  {:<8} {:<20} {:<20} {:<10} {:<8} {:<26} {:<11} {}",
                        t.id,
                        t.kind.as_str(),
                        s.host,
                        t.image,
                        t.state.as_str(),
                        format!("{}/{}", t.attempts, t.max_attempts),
                        t.not_before.map_or("-".into(), |nb| when(Some(nb))),
                        t.window.as_deref().unwrap_or("-"),
                        progress_line(t)
                    );
                }
            }
        }
        TaskCommand::Show { id, at, out } => {
            let d = Place::open(&cfg, &at).await?.task(id).await?;
            if out.json {
                print_json(&d);
            } else {
                let t = &d.summary.task;
                println!("task {}: {} {} on {}", t.id, t.kind.as_str(), t.image, d.summary.host);
                println!("  state     {} (attempt {} of {})", t.state, t.attempts, t.max_attempts);
                println!("  progress  {}", progress_line(t));
                if let Some(e) = &t.error {
                    println!("  error     {e}");
                }
                if let Some(nb) = t.not_before {
                    println!("  not before {}", when(Some(nb)));
                }
                if let Some(w) = &t.window {
                    let off = d.server_utc_offset;
                    println!("  window    {w} (the server's time, UTC{}{:02}:{:02})", if off < 0 { '-' } else { '+' }, off.abs() / 3600, off.abs() % 3600 / 60);
                }
                for line in describe(t) {
                    println!("  {line}");
                }
                println!("  created   {}  started {}  finished {}", when(Some(t.created_at)), when(t.started_at), when(t.finished_at));
                println!("  log:");
                for l in &d.log {
                    let bytes = match (l.bytes_done, l.bytes_total) {
                        (Some(a), Some(b)) => format!(" [{} / {}]", human(a), human(b)),
                        (Some(a), None) => format!(" [{}]", human(a)),
                        _ => String::new(),
                    };
                    println!("    {}  {:<8} {}{bytes}", when(Some(l.at)), l.phase, l.message);
                }
            }
        }
        TaskCommand::Cancel { ids, hosts, group, at, out } => {
            let place = Place::open(&cfg, &at).await?;
            let mut all = ids;
            let mut keys = hosts;
            if let Some(g) = &group {
                let members = place.group_ids(g).await?;
                if members.is_empty() {
                    bail!("group {g:?} has no hosts");
                }
                keys.extend(members);
            }
            for k in &keys {
                all.extend(place.tasks(Some(k), false).await?.into_iter().map(|t| t.task.id));
            }
            if all.is_empty() {
                bail!("nothing to cancel: name task ids, --host or --group (with unfinished tasks)");
            }
            all.sort_unstable();
            all.dedup();
            let mut cancelled = Vec::new();
            for id in all {
                let t = place.cancel_task(id).await?;
                if !out.json {
                    println!("task {} cancelled", t.id);
                }
                cancelled.push(t);
            }
            if out.json {
                print_json(&cancelled);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
