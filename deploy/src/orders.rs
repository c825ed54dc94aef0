//! Administrators' orders: the rules that turn a request into tasks, and
//! the views of tasks with their hosts.

use parc_imaging::format::Manifest;
use parc_imaging::Catalog;
use parc_inventory::{HostState, Inventory};

use crate::api::{AgentDone, CreateTasks, HostRemoved, ImageDeleted, TaskDetail, TaskSummary};
use crate::error::{Error, Result};
use crate::store::{unix_now, Tasks};
use crate::task::{Hook, NewTask, Task, TaskKind};

/// How far in the past `--at` may be (clock skew between client and server).
const AT_SLACK_SECS: i64 = 60;

/// Boots a task may take unless told otherwise.
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// Creates one task per host the request names (keys and group), each
/// recorded in its host's events. Everything that can be known wrong now is
/// refused now, with the reason, rather than at the machine's boot: a bad
/// image name, a restore of an image that does not exist or a file hook on
/// a partition it lacks, a capture into an existing image without
/// `replace` or into a name another task captures into, a retired host, a
/// time in the past. A capture names exactly one host.
pub async fn create(tasks: &Tasks, inventory: &Inventory, catalog: &Catalog, req: &CreateTasks) -> Result<Vec<Task>> {
    if req.kind == TaskKind::Capture && (req.hosts.len() != 1 || req.group.is_some()) {
        return Err(Error::Invalid("a capture names exactly one host".into()));
    }
    parc_imaging::repo::validate_name(&req.image).map_err(|e| Error::Invalid(e.to_string()))?;
    let not_before = match &req.at {
        Some(at) => Some(crate::window::parse_at(at, chrono::Local::now())?),
        None => req.not_before,
    };
    if let Some(t) = not_before.filter(|t| *t < unix_now() - AT_SLACK_SECS) {
        let show = crate::window::local_time;
        return Err(Error::Invalid(format!("--at {} is in the past (the server's clock says {})", show(t), show(unix_now()))));
    }
    match req.kind {
        TaskKind::Restore => check_restore(catalog, &req.image, &req.hooks).await?,
        TaskKind::Capture => check_capture(tasks, catalog, &req.image, req.options.replace).await?,
    }
    let hosts = inventory.select(&req.hosts, req.group.as_deref()).await?;
    if let Some(h) = hosts.iter().find(|h| h.state == HostState::Retired) {
        return Err(Error::Invalid(format!("{} is retired (put it back in service first: parc host edit {} --state ready)", h.label(), h.id)));
    }
    // Every host's hooks before any task, so a host that cannot take them
    // (no registry hostname, say) leaves no half-made order behind.
    let per_host = hosts.iter().enumerate().map(|(i, h)| hooks_for(&req.hooks, h, i + 1, hosts.len())).collect::<Result<Vec<_>>>()?;
    let mut created = Vec::new();
    for (h, hooks) in hosts.iter().zip(per_host) {
        let t = tasks
            .create(NewTask {
                kind: req.kind,
                host_id: h.id,
                image: req.image.clone(),
                hooks,
                options: req.options.clone(),
                not_before,
                window: req.window.clone(),
                max_attempts: req.max_attempts.unwrap_or(DEFAULT_ATTEMPTS),
            })
            .await
            .map_err(|e| e.about(&h.label()))?;
        inventory.record(h.id, "task", &format!("task {} created: {} {}", t.id, t.kind.as_str(), t.image)).await?;
        created.push(t);
    }
    Ok(created)
}

/// One host's hooks: a `hostname` hook is a template, rendered with the
/// host's registry fields (`{{ hostname }}`, `{{ id }}`, `{{ mac }}` with
/// dashes) and its 1-based place `{{ n }}` among the hosts ordered by id.
/// One literal name for several hosts would name them all alike: refused.
fn hooks_for(hooks: &[Hook], host: &parc_inventory::Host, n: usize, count: usize) -> Result<Vec<Hook>> {
    hooks
        .iter()
        .map(|h| match h {
            Hook::Hostname { name } => {
                if count > 1 && !name.contains("{{") {
                    return Err(Error::Invalid(format!(
                        "hostname={name} would name all {count} hosts {name}: use --hooks hostname (each host's registry name) or a template such as hostname=lab-{{{{ n }}}}"
                    )));
                }
                if name.contains("hostname") && host.hostname.is_none() {
                    return Err(Error::Invalid(format!("{}: no hostname in the registry for the hostname hook (parc host edit {} --hostname NAME)", host.label(), host.id)));
                }
                let ctx = minijinja::context! {
                    hostname => host.hostname.clone().unwrap_or_default(),
                    id => host.id,
                    mac => host.macs.first().map(|m| m.to_string().replace(':', "-")),
                    n => n,
                };
                let mut env = minijinja::Environment::new();
                env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
                let rendered = env.render_str(name, ctx).map_err(|e| Error::Invalid(format!("hostname hook {name:?}: {e}")))?;
                let hook = Hook::Hostname { name: rendered };
                hook.validate().map_err(|e| e.about(&host.label()))?;
                Ok(hook)
            }
            other => Ok(other.clone()),
        })
        .collect()
}

/// A restore needs its image now, and each file hook's partition in it.
async fn check_restore(catalog: &Catalog, image: &str, hooks: &[Hook]) -> Result<()> {
    let (_, bytes) = catalog.manifest(image).await.map_err(|e| match e {
        parc_imaging::Error::NoSuchImage(_) => Error::Invalid(crate::boot::no_image(image)),
        e => Error::Invalid(format!("image {image:?}: {e}")),
    })?;
    let wanted: Vec<u32> = hooks.iter().filter_map(|h| if let Hook::File { partition: Some(n), .. } = h { Some(*n) } else { None }).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let manifest = Manifest::from_bytes(&bytes).map_err(|e| Error::Invalid(format!("image {image:?}: {e}")))?;
    let numbers: Vec<u32> = manifest.layout.iter().flat_map(|l| l.partitions.iter().map(|p| p.number)).filter(|n| *n > 0).collect();
    match wanted.iter().find(|n| !numbers.contains(n)) {
        Some(n) => Err(Error::Invalid(format!(
            "--file {n}:…: image {image:?} has no partition {n} (it has {})",
            if numbers.is_empty() { "no partition table".to_string() } else { numbers.iter().map(u32::to_string).collect::<Vec<_>>().join(", ") }
        ))),
        None => Ok(()),
    }
}

/// A capture may not overwrite an image unasked, nor race another capture.
async fn check_capture(tasks: &Tasks, catalog: &Catalog, image: &str, replace: bool) -> Result<()> {
    if !replace && catalog.get(image).await.is_ok() {
        return Err(Error::Invalid(format!("image {image:?} already exists: capture with --replace to overwrite it, or choose another name")));
    }
    if let Some(t) = tasks.list(None, true).await?.into_iter().find(|t| t.kind == TaskKind::Capture && t.image == image) {
        return Err(Error::Conflict(format!("task {} already captures into {image:?} (parc task cancel {} first, or choose another name)", t.id, t.id)));
    }
    Ok(())
}

/// Deletes an image. Refused while unfinished tasks need it, unless
/// `force`, which cancels them first; returns the tasks cancelled.
pub async fn delete_image(tasks: &Tasks, inventory: &Inventory, catalog: &Catalog, name: &str, force: bool) -> Result<ImageDeleted> {
    let mut cancelled = Vec::new();
    if force {
        for t in tasks.list(None, true).await?.into_iter().filter(|t| t.kind == TaskKind::Restore && t.image == name) {
            cancelled.push(cancel(tasks, inventory, t.id).await?.id);
        }
    }
    catalog.delete(name).await.map_err(|e| match e {
        parc_imaging::Error::NoSuchImage(_) => Error::NotFoundImage(name.to_string()),
        e @ parc_imaging::Error::InUse(_) => Error::Conflict(e.to_string()),
        e => Error::Invalid(e.to_string()),
    })?;
    tracing::info!(image = %name, cancelled = ?cancelled, "image deleted");
    Ok(ImageDeleted { cancelled_tasks: cancelled })
}

async fn label(inventory: &Inventory, host_id: i64) -> Result<String> {
    Ok(inventory.find(&host_id.to_string()).await?.label())
}

/// Tasks with their hosts, newest first: of one host (by key) when given,
/// unfinished only when asked.
pub async fn summaries(tasks: &Tasks, inventory: &Inventory, host: Option<&str>, unfinished: bool) -> Result<Vec<TaskSummary>> {
    let host_id = match host {
        Some(k) => Some(inventory.find(k).await?.id),
        None => None,
    };
    let mut out = Vec::new();
    for t in tasks.list(host_id, unfinished).await? {
        let host = label(inventory, t.host_id).await?;
        out.push(TaskSummary { task: t, host });
    }
    Ok(out)
}

/// One task with its host and history.
pub async fn detail(tasks: &Tasks, inventory: &Inventory, id: i64) -> Result<TaskDetail> {
    let task = tasks.get(id).await?;
    let host = label(inventory, task.host_id).await?;
    let log = tasks.log(id, 1000).await?;
    let server_utc_offset = chrono::Local::now().offset().local_minus_utc();
    Ok(TaskDetail { summary: TaskSummary { task, host }, server_utc_offset, log })
}

/// Cancels a task; the host's events say so.
pub async fn cancel(tasks: &Tasks, inventory: &Inventory, id: i64) -> Result<Task> {
    let t = tasks.cancel(id).await?;
    inventory.record(t.host_id, "task", &format!("task {id} cancelled")).await?;
    Ok(t)
}

/// Removes a host. Its unfinished task is cancelled first when
/// `cancel_tasks`; otherwise the removal is refused while it has one.
pub async fn remove_host(tasks: &Tasks, inventory: &Inventory, key: &str, cancel_tasks: bool) -> Result<HostRemoved> {
    let host = inventory.find(key).await?;
    let mut cancelled = Vec::new();
    if cancel_tasks {
        for t in tasks.list(Some(host.id), true).await? {
            cancelled.push(cancel(tasks, inventory, t.id).await?.id);
        }
    }
    let host = inventory.remove(&host.id.to_string()).await?;
    tracing::info!(host = %host.label(), cancelled = ?cancelled, "host removed");
    Ok(HostRemoved { host, cancelled_tasks: cancelled })
}

/// The environment reports how its task ended.
pub async fn finish(tasks: &Tasks, inventory: &Inventory, task: &Task, done: &AgentDone) -> Result<Task> {
    let t = tasks.finish(task.id, if done.ok { Ok(done.message.clone()) } else { Err(done.message.clone()) }).await?;
    let what = if done.ok { "succeeded".to_string() } else { format!("failed: {}", done.message) };
    inventory.record(t.host_id, "task", &format!("task {} {what}", t.id)).await?;
    tracing::info!(task = t.id, state = %t.state, "task finished");
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: i64, name: Option<&str>) -> parc_inventory::Host {
        let spec = format!(r#"{{"id":{id},"hostname":{},"macs":["52:54:00:00:00:{id:02x}"],"uuid":null,"arch":null,"state":"ready","ip":null,"secureon":null,"groups":[],"first_seen":null,"last_seen":null,"created_at":0,"hardware":null,"hardware_at":null}}"#, name.map_or("null".to_string(), |n| format!("{n:?}")));
        serde_json::from_str(&spec).unwrap()
    }

    fn name(hooks: Vec<Hook>) -> String {
        match &hooks[0] {
            Hook::Hostname { name } => name.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostname_hooks_name_each_host() {
        let registry = Hook::parse_short("hostname").unwrap();
        assert_eq!(name(hooks_for(std::slice::from_ref(&registry), &host(7, Some("pc-07")), 1, 2).unwrap()), "pc-07");
        let e = hooks_for(&[registry], &host(8, None), 2, 2).unwrap_err().to_string();
        assert!(e.contains("no hostname in the registry"), "{e}");
        let template = Hook::parse_short("hostname=lab-{{ n }}").unwrap();
        assert_eq!(name(hooks_for(std::slice::from_ref(&template), &host(8, None), 2, 2).unwrap()), "lab-2");
        let by_mac = Hook::parse_short("hostname=pc-{{ mac }}").unwrap();
        assert_eq!(name(hooks_for(&[by_mac], &host(9, None), 1, 1).unwrap()), "pc-52-54-00-00-00-09");
        let literal = Hook::parse_short("hostname=pc-01").unwrap();
        assert!(hooks_for(std::slice::from_ref(&literal), &host(7, None), 1, 2).unwrap_err().to_string().contains("would name all 2 hosts pc-01"));
        assert_eq!(name(hooks_for(&[literal], &host(7, None), 1, 1).unwrap()), "pc-01", "one host may take a literal name");
        let bad = Hook::parse_short("hostname=lab {{ n }}").unwrap();
        assert!(hooks_for(&[bad], &host(7, None), 1, 1).is_err(), "the rendered name is still checked");
    }
}
