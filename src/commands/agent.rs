//! `parc agent`: what runs in the netboot environment. It reads its orders
//! from the kernel command line (`parc.server=`, `parc.action=`,
//! `parc.token=`, `parc.mac=`), sends the hardware inventory, runs the task
//! (capture, or restore then hooks) while streaming progress, reports the
//! outcome, and restarts the machine, which then boots what the server
//! decides (its own disk once the task succeeded).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use parc_deploy::{Hook, Progress, Task, TaskKind};
use parc_imaging::{CaptureOptions, HttpRemote, RestoreOptions};
use parc_inventory::hardware::{self, Hardware};
use parc_web::tasks::{AgentDone, AgentTask};

use crate::cli::AgentArgs;
use crate::config::Config;
use crate::units::human;

/// What the boot script put on the kernel command line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Orders {
    server: String,
    action: String,
    token: Option<String>,
    mac: Option<String>,
}

fn parse_cmdline(cmdline: &str) -> anyhow::Result<Orders> {
    let get = |k: &str| cmdline.split_whitespace().find_map(|w| w.strip_prefix(k).map(str::to_string));
    let server = get("parc.server=").context("no parc.server= on the kernel command line: this environment was not booted by parc")?;
    Ok(Orders { server, action: get("parc.action=").unwrap_or_else(|| "register".into()), token: get("parc.token="), mac: get("parc.mac=") })
}

fn say(line: impl AsRef<str>) {
    // The console is what a technician in front of the machine sees.
    println!("parc agent: {}", line.as_ref());
}

/// The agent API, authenticated by the task token.
struct Server {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Server {
    async fn call<T: serde::de::DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Option<T>> {
        // The network of a machine that just booted can be shaky: a few
        // bounded retries before giving up.
        let mut last = anyhow!("no attempt");
        for attempt in 0..5u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            let r = req.try_clone().expect("plain request").bearer_auth(&self.token).send().await;
            match r {
                Ok(resp) if resp.status().is_success() => {
                    let body = resp.bytes().await?;
                    return Ok(if body.is_empty() { None } else { Some(serde_json::from_slice(&body)?) });
                }
                Ok(resp) if resp.status().is_client_error() => {
                    let status = resp.status();
                    bail!("the server refused: {status}: {}", String::from_utf8_lossy(&resp.bytes().await.unwrap_or_default()));
                }
                Ok(resp) => last = anyhow!("the server answered {}", resp.status()),
                Err(e) => last = anyhow!("cannot reach {}: {e}", self.base),
            }
        }
        Err(last)
    }

    fn url(&self, p: &str) -> String {
        format!("{}/api/v1/agent/{p}", self.base)
    }

    async fn progress(&self, p: &Progress) -> anyhow::Result<()> {
        self.call::<serde_json::Value>(self.http.post(self.url("progress")).json(p)).await.map(|_| ())
    }
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

async fn report_progress(server: Arc<Server>, tracker: Arc<Tracker>, kind: &'static str, stop: tokio_util::sync::CancellationToken) {
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
        if let Err(e) = server.progress(&p).await {
            say(format!("progress not delivered ({e:#}); carrying on"));
        }
        if last_round {
            break;
        }
    }
}

pub async fn run(cfg: Config, args: AgentArgs) -> anyhow::Result<ExitCode> {
    let cmdline = std::fs::read_to_string(&args.cmdline).with_context(|| format!("reading {}", args.cmdline.display()))?;
    let orders = parse_cmdline(&cmdline)?;
    let hw = hardware::collect(&args.sys_root);
    say(format!("server {}, action {}, {} disk(s), {} NIC(s)", orders.server, orders.action, hw.disks.len(), hw.nics.len()));
    let outcome = match orders.action.as_str() {
        "register" => register(&orders, &hw).await,
        "capture" | "restore" => run_task(&cfg, &orders, &hw, &args).await,
        other => Err(anyhow!("unknown parc.action={other}")),
    };
    let poweroff = match &outcome {
        Ok(p) => {
            say("done");
            *p
        }
        Err(e) => {
            say(format!("FAILED: {e:#}"));
            false
        }
    };
    if args.no_reboot {
        return Ok(if outcome.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    // Whatever happened, the machine goes back to the server's decision:
    // its disk after a success, a retry (or its disk) after a failure.
    restart(poweroff, if outcome.is_ok() { 1 } else { 10 })
}

/// Sends the inventory as the registration check-in.
async fn register(o: &Orders, hw: &Hardware) -> anyhow::Result<bool> {
    let mac = o.mac.clone().or_else(|| hw.nics.first().map(|n| n.mac.clone())).context("no parc.mac= and no network interface")?;
    let url = format!("{}/api/v1/hosts/{mac}/checkin", o.server.trim_end_matches('/'));
    let resp = reqwest::Client::new().post(&url).json(hw).send().await.with_context(|| format!("cannot reach {url}"))?;
    if !resp.status().is_success() {
        bail!("check-in refused: {}", resp.status());
    }
    say(format!("registered {mac} with its hardware inventory"));
    Ok(false)
}

async fn run_task(cfg: &Config, o: &Orders, hw: &Hardware, args: &AgentArgs) -> anyhow::Result<bool> {
    let token = o.token.clone().context("no parc.token= on the kernel command line")?;
    let server = Arc::new(Server { base: o.server.trim_end_matches('/').to_string(), token, http: reqwest::Client::new() });
    if let Err(e) = server.call::<serde_json::Value>(server.http.post(server.url("inventory")).json(hw)).await {
        say(format!("inventory not delivered ({e:#}); carrying on"));
    }
    let at: AgentTask = server.call(server.http.get(server.url("task"))).await?.context("empty answer to the task request")?;
    let task = at.task.clone();
    say(format!("task {}: {} {}", task.id, task.kind.as_str(), task.image));
    let result = work(cfg, &server, &at, hw, args).await;
    let done = match &result {
        Ok(summary) => AgentDone { ok: true, message: summary.clone() },
        Err(e) => AgentDone { ok: false, message: format!("{e:#}") },
    };
    if let Err(e) = server.call::<Task>(server.http.post(server.url("done")).json(&done)).await {
        say(format!("could not report the outcome ({e:#}); the next boot will tell"));
    }
    result.map(|_| task.options.poweroff)
}

async fn work(cfg: &Config, server: &Arc<Server>, at: &AgentTask, hw: &Hardware, args: &AgentArgs) -> anyhow::Result<String> {
    let task = &at.task;
    let disk = match &task.options.disk {
        Some(d) => PathBuf::from(d),
        None => {
            let d = hardware::default_disk(hw).context("no disk found in this machine (/sys/block)")?;
            args.dev_root.join(&d.name)
        }
    };
    let remote = HttpRemote::new(&server.base)?;
    let tracker = Arc::new(Tracker::default());
    let stop = tokio_util::sync::CancellationToken::new();
    let kind = match task.kind {
        TaskKind::Capture => "capture",
        TaskKind::Restore => "restore",
    };
    let reporter = tokio::spawn(report_progress(Arc::clone(server), Arc::clone(&tracker), kind, stop.clone()));
    let summary = match task.kind {
        TaskKind::Capture => {
            say(format!("capturing {} as {}", disk.display(), task.image));
            let mut opts = CaptureOptions::new(&task.image);
            opts.replace = task.options.replace;
            opts.level = cfg.imaging.level;
            opts.parallel = cfg.imaging.parallel;
            opts.rate_limit = task.options.rate_limit;
            let r = parc_imaging::capture(&disk, &remote, &opts, tracker.as_ref()).await;
            stop.cancel();
            let _ = reporter.await;
            let r = r.with_context(|| format!("capturing {}", disk.display()))?;
            format!("captured {} ({} read, {} sent, {:.1} s)", r.summary.image, human(r.summary.bytes_read), human(r.summary.bytes_sent), r.summary.seconds)
        }
        TaskKind::Restore => {
            say(format!("restoring {} onto {}", task.image, disk.display()));
            let opts = RestoreOptions { full: task.options.full, grow: task.options.grow, parallel: cfg.imaging.parallel, rate_limit: task.options.rate_limit };
            let r = parc_imaging::restore(&task.image, &disk, &remote, &opts, tracker.as_ref()).await;
            stop.cancel();
            let _ = reporter.await;
            let r = r.with_context(|| format!("restoring {} onto {}", task.image, disk.display()))?;
            // Exact byte counts, so a delta restore's cost is checkable from the log.
            let mut s = format!(
                "restored {}: received {} bytes ({}), wrote {} bytes, {:.1} s",
                r.summary.image,
                r.summary.bytes_received,
                human(r.summary.bytes_received),
                r.summary.bytes_written,
                r.summary.seconds
            );
            if !task.hooks.is_empty() {
                let p = Progress { phase: "hooks".into(), message: format!("running {} hook(s)", task.hooks.len()), ..Default::default() };
                let _ = server.progress(&p).await;
                let lines = run_hooks(&disk, &task.hooks, at.ssh_public_key.as_deref())?;
                for l in &lines {
                    say(l);
                    let _ = server.progress(&Progress { phase: "hooks".into(), message: l.clone(), ..Default::default() }).await;
                }
                s += &format!("; hooks: {}", lines.join("; "));
            }
            s
        }
    };
    say(&summary);
    Ok(summary)
}

/// Partition device paths of `disk` (`/dev/vda1`, `/dev/nvme0n1p1`), in order.
fn partitions(disk: &Path) -> Vec<PathBuf> {
    let name = disk.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut parts: Vec<(u32, String)> = std::fs::read_dir(Path::new("/sys/block").join(&name))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let num = std::fs::read_to_string(e.path().join("partition")).ok()?.trim().parse().ok()?;
                    Some((num, n))
                })
                .collect()
        })
        .unwrap_or_default();
    parts.sort();
    let dir = disk.parent().unwrap_or(Path::new("/dev"));
    parts.into_iter().map(|(_, n)| dir.join(n)).collect()
}

/// A filesystem mounted for the hooks, unmounted (after a sync) on drop.
struct Mounted {
    dir: PathBuf,
}

impl Mounted {
    fn new(dev: &Path, dir: &Path, read_only: bool) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut cmd = Command::new("mount");
        if read_only {
            cmd.args(["-o", "ro"]);
        }
        let out = cmd.arg(dev).arg(dir).output().context("running mount")?;
        if !out.status.success() {
            bail!("mount {}: {}", dev.display(), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(Self { dir: dir.to_path_buf() })
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        unsafe { libc::sync() };
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// The Linux root among the disk's partitions: the first holding /etc/os-release or /etc/hostname.
fn find_linux_root(parts: &[PathBuf], probe: &Path) -> Option<PathBuf> {
    parts.iter().find_map(|p| {
        let m = Mounted::new(p, probe, true).ok()?;
        let found = m.dir.join("etc/os-release").exists() || m.dir.join("etc/hostname").exists();
        drop(m);
        found.then(|| p.clone())
    })
}

fn run_hooks(disk: &Path, hooks: &[Hook], key: Option<&str>) -> anyhow::Result<Vec<String>> {
    // The kernel must see the restored partition table before mounting.
    let _ = Command::new("blockdev").arg("--rereadpt").arg(disk).status();
    let parts = partitions(disk);
    if parts.is_empty() {
        bail!("hooks: {} has no partitions", disk.display());
    }
    let base = Path::new("/run/parc");
    let mut lines = Vec::new();
    let needs_root = hooks.iter().any(|h| !matches!(h, Hook::File { partition: Some(_), .. }));
    let root = if needs_root {
        Some(find_linux_root(&parts, &base.join("probe")).context("hooks: no Linux root filesystem (with /etc) on the restored disk")?)
    } else {
        None
    };
    for h in hooks {
        let dev = match h {
            Hook::File { partition: Some(n), .. } => {
                parts.get((*n as usize).wrapping_sub(1)).cloned().with_context(|| format!("hooks: {} has no partition {n}", disk.display()))?
            }
            _ => root.clone().expect("root found above"),
        };
        let m = Mounted::new(&dev, &base.join("target"), false)?;
        lines.push(parc_deploy::hooks::apply(&m.dir, h, key)?);
    }
    Ok(lines)
}

fn restart(poweroff: bool, delay_secs: u64) -> anyhow::Result<ExitCode> {
    say(if poweroff { "powering off" } else { "restarting" });
    std::thread::sleep(Duration::from_secs(delay_secs));
    unsafe {
        libc::sync();
        libc::reboot(if poweroff { libc::RB_POWER_OFF } else { libc::RB_AUTOBOOT });
    }
    Err(anyhow!("could not restart the machine: {}", std::io::Error::last_os_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_from_the_command_line() {
        let o = parse_cmdline("initrd=initrd.img console=ttyS0 parc.server=http://198.18.0.2:7420 parc.mac=52:54:00:18:01:01 parc.action=restore parc.task=3 parc.token=ab12\n").unwrap();
        assert_eq!(o.server, "http://198.18.0.2:7420");
        assert_eq!((o.action.as_str(), o.token.as_deref(), o.mac.as_deref()), ("restore", Some("ab12"), Some("52:54:00:18:01:01")));
        assert!(parse_cmdline("quiet console=ttyS0").is_err());
    }
}
