//! Registration, and a task's run: inventory, capture or restore with
//! progress sent every few seconds, hooks, and the outcome.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parc_client::Client;
use parc_deploy::api::{AgentDone, AgentTask};
use parc_deploy::{Progress, TaskKind};
use parc_imaging::units::human;
use parc_imaging::{CaptureOptions, HttpRemote, RestoreOptions};
use parc_inventory::hardware::Hardware;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::orders::Orders;
use crate::{say, Settings};

/// Imaging settings the agent takes from parc's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Imaging {
    /// zstd level for new chunks.
    pub level: i32,
    /// Chunks in flight.
    pub parallel: usize,
}

/// Attempts per call: the network of a machine that just booted can be shaky.
const ATTEMPTS: u32 = 5;

fn client(o: &Orders) -> Result<Client> {
    Ok(Client::with_trust(&o.server, &o.trust())?.attempts(ATTEMPTS))
}

/// Sends the inventory as the registration check-in.
pub async fn register(o: &Orders, hw: &Hardware) -> Result<bool> {
    let mac = o.mac.clone().or_else(|| hw.nics.first().map(|n| n.mac.clone())).ok_or_else(|| Error::Orders("no parc.mac= and no network interface".into()))?;
    client(o)?.check_in(&mac, hw).await?;
    say(format!("registered {mac} with its hardware inventory"));
    Ok(false)
}

/// Runs the task the token names and reports how it went.
pub async fn run_task(s: &Settings, o: &Orders, hw: &Hardware) -> Result<bool> {
    let token = o.token.clone().ok_or_else(|| Error::Orders("no parc.token= on the kernel command line".into()))?;
    let server = client(o)?.bearer(&token);
    if let Err(e) = server.agent_inventory(hw).await {
        say(format!("inventory not delivered ({e}); carrying on"));
    }
    let at = server.agent_task().await?;
    let task = at.task.clone();
    say(format!("task {}: {} {}", task.id, task.kind.as_str(), task.image));
    let result = work(s, &server, &at, hw).await;
    let done = match &result {
        Ok(summary) => AgentDone { ok: true, message: summary.clone() },
        Err(e) => AgentDone { ok: false, message: e.to_string() },
    };
    if let Err(e) = server.agent_done(&done).await {
        say(format!("could not report the outcome ({e}); the next boot will tell"));
    }
    result.map(|_| task.options.poweroff)
}

/// Imaging progress, sampled and sent to the server every few seconds.
#[derive(Default)]
struct Tracker {
    phase: Mutex<String>,
    total: AtomicU64,
    done: AtomicU64,
}

impl parc_imaging::Progress for Tracker {
    fn begin(&self, phase: &str, total: u64) {
        *self.phase.lock().unwrap() = phase.to_string();
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
    }
    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }
    fn finish(&self) {}
}

async fn report_progress(server: Client, tracker: Arc<Tracker>, kind: &'static str, stop: CancellationToken) {
    let mut last = (String::new(), u64::MAX);
    let mut prev = (Instant::now(), 0u64);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        // One last sample when the work ends, so even a short phase leaves
        // its figures in the task's history.
        let last_round = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tick.tick() => false,
        };
        let phase = tracker.phase.lock().unwrap().clone();
        let (done, total) = (tracker.done.load(Ordering::Relaxed), tracker.total.load(Ordering::Relaxed));
        if phase.is_empty() || (phase.clone(), done) == last {
            if last_round {
                break;
            }
            continue;
        }
        let now = Instant::now();
        let rate = done.saturating_sub(prev.1) as f64 / now.duration_since(prev.0).as_secs_f64().max(0.001);
        prev = (now, done);
        last = (phase.clone(), done);
        let message = format!("{kind}: {phase} {} / {}", human(done), human(total));
        say(&message);
        let p = Progress { phase: format!("{kind}:{phase}"), bytes_done: Some(done), bytes_total: Some(total), rate: Some(rate), message };
        if let Err(e) = server.agent_progress(&p).await {
            say(format!("progress not delivered ({e}); carrying on"));
        }
        if last_round {
            break;
        }
    }
}

async fn work(s: &Settings, server: &Client, at: &AgentTask, hw: &Hardware) -> Result<String> {
    let task = &at.task;
    let disk = match &task.options.disk {
        Some(d) => PathBuf::from(d),
        None => {
            let d = crate::hardware::default_disk(hw).ok_or_else(|| Error::Disk("no disk found in this machine (/sys/block)".into()))?;
            s.dev_root.join(&d.name)
        }
    };
    // Chunk transfers carry the task's token too: the server lets a task
    // read and upload images, nothing else.
    let remote = HttpRemote::with_trust(server.base(), server.trust()).map_err(|cause| Error::Imaging { what: format!("reaching {}", server.base()), cause })?.bearer(server.token());
    let tracker = Arc::new(Tracker::default());
    let stop = CancellationToken::new();
    let kind = task.kind.as_str();
    let reporter = tokio::spawn(report_progress(server.clone(), Arc::clone(&tracker), kind, stop.clone()));
    let summary = match task.kind {
        TaskKind::Capture => {
            say(format!("capturing {} as {}", disk.display(), task.image));
            let mut opts = CaptureOptions::new(&task.image);
            opts.replace = task.options.replace;
            opts.level = s.imaging.level;
            opts.parallel = s.imaging.parallel;
            opts.rate_limit = task.options.rate_limit;
            // The task, not the netboot environment's hostname (the same on
            // every machine), says who captures; its re-run after a power
            // cut takes over its own upload.
            opts.origin = Some(format!("task {} on {}", task.id, at.hostname.as_deref().unwrap_or("an unnamed host")));
            let r = parc_imaging::capture(&disk, &remote, &opts, tracker.as_ref()).await;
            stop.cancel();
            let _ = reporter.await;
            let r = r.map_err(|cause| Error::Imaging { what: format!("capturing {}", disk.display()), cause })?;
            let mut summary = format!("captured {} ({} read, {} sent, {:.1} s)", r.summary.image, human(r.summary.bytes_read), human(r.summary.bytes_sent), r.summary.seconds);
            if !r.warnings.is_empty() {
                summary += &format!("; warnings: {}", r.warnings.join("; "));
            }
            summary
        }
        TaskKind::Restore => {
            say(format!("restoring {} onto {}", task.image, disk.display()));
            let opts = RestoreOptions { full: task.options.full, grow: task.options.grow, parallel: s.imaging.parallel, rate_limit: task.options.rate_limit };
            let r = parc_imaging::restore(&task.image, &disk, &remote, &opts, tracker.as_ref()).await;
            stop.cancel();
            let _ = reporter.await;
            let r = r.map_err(|cause| Error::Imaging { what: format!("restoring {} onto {}", task.image, disk.display()), cause })?;
            // Exact byte counts, so a delta restore's cost is checkable from the log.
            let mut summary = format!(
                "restored {}: received {} bytes ({}), wrote {} bytes, {:.1} s",
                r.summary.image,
                r.summary.bytes_received,
                human(r.summary.bytes_received),
                r.summary.bytes_written,
                r.summary.seconds
            );
            if !task.hooks.is_empty() {
                let p = Progress { phase: "hooks".into(), message: format!("running {} hook(s)", task.hooks.len()), ..Default::default() };
                let _ = server.agent_progress(&p).await;
                let (hooks, key, d) = (task.hooks.clone(), at.ssh_public_key.clone(), disk.clone());
                let lines = tokio::task::spawn_blocking(move || crate::mount::run_hooks(&d, &hooks, key.as_deref())).await.expect("hooks thread")?;
                for l in &lines {
                    say(l);
                    let _ = server.agent_progress(&Progress { phase: "hooks".into(), message: l.clone(), ..Default::default() }).await;
                }
                summary += &format!("; hooks: {}", lines.join("; "));
            }
            summary
        }
    };
    say(&summary);
    Ok(summary)
}
