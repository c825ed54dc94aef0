//! The host registry, on SQLite through sqlx on the shared [`parc_db::Db`].

use std::net::Ipv4Addr;

pub use parc_db::unix_now;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Row, Sqlite, Transaction};

use crate::error::{Error, Result};
use crate::host::{check_group, check_hostname, normalise_uuid, Event, Host, HostEdit, HostSpec, Sighting};
use crate::mac::Mac;

/// How many events a host keeps; older ones are dropped as new ones come.
const EVENTS_KEPT: i64 = 200;

/// The registry's tables; runs after the catalog's, before the tasks'.
pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations")
}

/// The registry. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct Inventory {
    pool: SqlitePool,
}

/// The result of reporting a sighting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The host, after the update.
    pub host: Host,
    /// True when this sighting created it.
    pub created: bool,
}

// Every transaction here writes: BEGIN IMMEDIATE takes the write lock up
// front, so a concurrent writer makes it wait (busy timeout) instead of
// failing with "database is locked" when a read would upgrade to a write.
impl Inventory {
    /// The registry on a migrated database (see [`migrator`]).
    pub fn new(db: &parc_db::Db) -> Self {
        Self { pool: db.sqlite().clone() }
    }

    /// Every host, by id; only those in `group` when given.
    pub async fn list(&self, group: Option<&str>) -> Result<Vec<Host>> {
        let ids: Vec<i64> = match group {
            Some(g) => sqlx::query_scalar("SELECT host_id FROM host_groups WHERE name = ? ORDER BY host_id").bind(g).fetch_all(&self.pool).await?,
            None => sqlx::query_scalar("SELECT id FROM hosts ORDER BY id").fetch_all(&self.pool).await?,
        };
        self.load_all(&ids).await
    }

    /// The database pool, for the other modules' queries.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The hosts with these ids, in this order.
    pub(crate) async fn load_all(&self, ids: &[i64]) -> Result<Vec<Host>> {
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(load(&mut conn, *id).await?);
        }
        Ok(out)
    }

    /// The host a key names: its id, hostname or one of its MACs.
    pub async fn find(&self, key: &str) -> Result<Host> {
        let mut conn = self.pool.acquire().await?;
        let id = resolve(&mut conn, key).await?.ok_or_else(|| Error::NotFound(key.to_string()))?;
        load(&mut conn, id).await
    }

    /// The host owning `mac`, if any.
    pub async fn by_mac(&self, mac: Mac) -> Result<Option<Host>> {
        let mut conn = self.pool.acquire().await?;
        match host_of_mac(&mut conn, mac).await? {
            Some(id) => Ok(Some(load(&mut conn, id).await?)),
            None => Ok(None),
        }
    }

    /// Creates a host from an administrator's description (state `ready`).
    pub async fn add(&self, spec: HostSpec) -> Result<Host> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let id = insert(&mut tx, &spec).await?;
        event(&mut tx, id, "edit", "added").await?;
        tx.commit().await?;
        self.find(&id.to_string()).await
    }

    /// Changes a host.
    pub async fn edit(&self, key: &str, edit: HostEdit) -> Result<Host> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let id = resolve(&mut tx, key).await?.ok_or_else(|| Error::NotFound(key.to_string()))?;
        apply_edit(&mut tx, id, &edit).await?;
        event(&mut tx, id, "edit", &describe_edit(&edit)).await?;
        tx.commit().await?;
        self.find(&id.to_string()).await
    }

    /// Deletes a host with its MACs, groups, events and finished tasks;
    /// refused while it has an unfinished task (the database's rule).
    pub async fn remove(&self, key: &str) -> Result<Host> {
        let host = self.find(key).await?;
        match sqlx::query("DELETE FROM hosts WHERE id = ?").bind(host.id).execute(&self.pool).await {
            Err(sqlx::Error::Database(e)) if e.message().contains("unfinished task") => Err(Error::Conflict(format!(
                "{} has an unfinished task: cancel it first (`parc task list --host {}` shows it), or remove with --cancel-tasks",
                host.label(),
                host.id
            ))),
            r => r.map(|_| host).map_err(Error::from),
        }
    }

    /// The hosts named by keys (id, hostname or MAC) and by a group, each
    /// once, by id. Naming nothing, an unknown host or an empty group is an error.
    pub async fn select(&self, keys: &[String], group: Option<&str>) -> Result<Vec<Host>> {
        if keys.is_empty() && group.is_none() {
            return Err(Error::Invalid("name hosts or a group".into()));
        }
        let mut hosts = Vec::new();
        for key in keys {
            hosts.push(self.find(key).await?);
        }
        if let Some(g) = group {
            let members = self.list(Some(g)).await?;
            if members.is_empty() {
                return Err(Error::EmptyGroup(g.to_string()));
            }
            hosts.extend(members);
        }
        hosts.sort_by_key(|h| h.id);
        hosts.dedup_by_key(|h| h.id);
        Ok(hosts)
    }

    /// Records that the boot services saw a machine: creates it (state
    /// `new`) the first time, and keeps UUID, architecture and times current.
    pub async fn seen(&self, s: &Sighting) -> Result<Seen> {
        if let Some(why) = s.mac.not_unicast() {
            return Err(Error::Invalid(format!("MAC {} is {why}: not a machine's card", s.mac)));
        }
        let now = unix_now();
        let uuid = s.uuid.as_deref().map(normalise_uuid).transpose()?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let (id, created) = match host_of_mac(&mut tx, s.mac).await? {
            Some(id) => (id, false),
            None => {
                let id: i64 = sqlx::query_scalar("INSERT INTO hosts (id, state, created_at) VALUES ((SELECT high + 1 FROM host_id_high), 'new', ?) RETURNING id")
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO host_macs (mac, host_id) VALUES (?, ?)").bind(s.mac.to_string()).bind(id).execute(&mut *tx).await?;
                event(&mut tx, id, "registered", &format!("first seen as {}", s.mac)).await?;
                (id, true)
            }
        };
        sqlx::query(
            "UPDATE hosts SET uuid = COALESCE(?, uuid), arch = COALESCE(?, arch),
             first_seen = COALESCE(first_seen, ?), last_seen = ? WHERE id = ?",
        )
        .bind(uuid)
        .bind(&s.arch)
        .bind(now)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Seen { host: self.find(&id.to_string()).await?, created })
    }

    /// Appends an event to a host's history.
    pub async fn record(&self, host_id: i64, kind: &str, detail: &str) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        event(&mut tx, host_id, kind, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The registration environment reported in: the host becomes `ready`.
    pub async fn check_in(&self, mac: Mac, ip: Option<Ipv4Addr>, detail: &str) -> Result<Host> {
        let seen = self.seen(&Sighting { mac, uuid: None, arch: None }).await?;
        let id = seen.host.id;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE hosts SET state = 'ready', ip = COALESCE(?, ip) WHERE id = ? AND state = 'new'")
            .bind(ip.map(|a| a.to_string()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        event(&mut tx, id, "checkin", detail).await?;
        tx.commit().await?;
        self.find(&id.to_string()).await
    }

    /// A check-in's body: parc's environment sends its hardware inventory
    /// as JSON, stored on the host; anything else (a site's own
    /// registration image) is kept as a line of text in the event.
    pub async fn check_in_report(&self, mac: Mac, ip: Option<Ipv4Addr>, body: &[u8]) -> Result<Host> {
        let hardware = serde_json::from_slice::<crate::hardware::Hardware>(body).ok();
        let detail: String = match &hardware {
            Some(hw) => format!("hardware inventory: {} disk(s), {} NIC(s), {} CPU(s)", hw.disks.len(), hw.nics.len(), hw.cpus),
            None => String::from_utf8_lossy(body).chars().filter(|c| !c.is_control() || *c == ' ').take(512).collect(),
        };
        let h = self.check_in(mac, ip, &detail).await?;
        match hardware {
            Some(hw) => {
                self.set_hardware(h.id, &serde_json::to_value(hw).expect("serialisable")).await?;
                self.find(&h.id.to_string()).await
            }
            None => Ok(h),
        }
    }

    /// A host (id, hostname or MAC) with its latest 50 events.
    pub async fn detail(&self, key: &str) -> Result<crate::host::HostDetail> {
        let host = self.find(key).await?;
        let events = self.events(host.id, 50).await?;
        Ok(crate::host::HostDetail { host, events })
    }

    /// Stores the hardware inventory the netboot environment reported.
    pub async fn set_hardware(&self, host_id: i64, hardware: &serde_json::Value) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE hosts SET hardware = ?, hardware_at = ? WHERE id = ?")
            .bind(hardware.to_string())
            .bind(unix_now())
            .bind(host_id)
            .execute(&mut *tx)
            .await?;
        event(&mut tx, host_id, "inventory", "hardware inventory received").await?;
        tx.commit().await?;
        Ok(())
    }

    /// The host's latest events, newest last.
    pub async fn events(&self, host_id: i64, limit: u32) -> Result<Vec<Event>> {
        let rows = sqlx::query("SELECT at, kind, detail FROM (SELECT * FROM host_events WHERE host_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id")
            .bind(host_id)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(Event { at: r.try_get("at")?, kind: r.try_get("kind")?, detail: r.try_get("detail")? }))
            .collect()
    }

    /// Creates or updates many hosts in one transaction: all of them or none.
    pub(crate) async fn upsert_all(&self, rows: Vec<(u64, HostSpec)>, may_change: &(dyn Fn(i64) -> bool + Sync)) -> Result<ImportReport> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut report = ImportReport::default();
        for (line, spec) in rows {
            let at_line = |e: Error| match e {
                Error::Conflict(m) | Error::Invalid(m) => Error::Csv { line, message: m },
                other => other,
            };
            let existing = match &spec.hostname {
                Some(h) => sqlx::query_scalar::<_, i64>("SELECT id FROM hosts WHERE hostname = ?").bind(h).fetch_optional(&mut *tx).await?,
                None => None,
            };
            let existing = match existing {
                Some(id) => Some(id),
                None => match spec.macs.first() {
                    Some(m) => host_of_mac(&mut tx, *m).await?,
                    None => None,
                },
            };
            match existing {
                Some(id) => {
                    let entity: i64 = sqlx::query_scalar("SELECT entity_id FROM hosts WHERE id = ?").bind(id).fetch_one(&mut *tx).await?;
                    if !may_change(entity) {
                        return Err(Error::Csv { line, message: "its hostname or MAC belongs to a host you may not change".into() });
                    }
                    let edit = HostEdit {
                        hostname: spec.hostname.clone(),
                        macs: Some(spec.macs.clone()),
                        uuid: spec.uuid.clone(),
                        ip: spec.ip,
                        groups: Some(spec.groups.clone()),
                        state: None,
                        secureon: spec.secureon,
                        clear_ip: false,
                    };
                    apply_edit(&mut tx, id, &edit).await.map_err(at_line)?;
                    event(&mut tx, id, "edit", "updated by CSV import").await?;
                    report.updated += 1;
                }
                None => {
                    let id = insert(&mut tx, &spec).await.map_err(at_line)?;
                    event(&mut tx, id, "edit", "added by CSV import").await?;
                    report.created += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}

/// What a CSV import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportReport {
    /// Hosts created.
    pub created: u64,
    /// Existing hosts (same hostname or MAC) updated.
    pub updated: u64,
}

fn describe_edit(e: &HostEdit) -> String {
    let mut parts = Vec::new();
    if let Some(h) = &e.hostname {
        parts.push(format!("hostname={h}"));
    }
    if let Some(m) = &e.macs {
        parts.push(format!("macs={}", m.iter().map(Mac::to_string).collect::<Vec<_>>().join(",")));
    }
    if let Some(u) = &e.uuid {
        parts.push(format!("uuid={u}"));
    }
    if let Some(ip) = &e.ip {
        parts.push(format!("ip={ip}"));
    } else if e.clear_ip {
        parts.push("ip=(none)".into());
    }
    if let Some(g) = &e.groups {
        parts.push(format!("groups={}", g.join(",")));
    }
    if let Some(s) = &e.state {
        parts.push(format!("state={s}"));
    }
    if e.secureon.is_some() {
        parts.push("secureon=(set)".into());
    }
    if parts.is_empty() {
        "no change".into()
    } else {
        parts.join(" ")
    }
}

async fn resolve(conn: &mut sqlx::SqliteConnection, key: &str) -> Result<Option<i64>> {
    if let Ok(mac) = key.parse::<Mac>() {
        if let Some(id) = host_of_mac(conn, mac).await? {
            return Ok(Some(id));
        }
    }
    if let Ok(id) = key.parse::<i64>() {
        return Ok(sqlx::query_scalar("SELECT id FROM hosts WHERE id = ?").bind(id).fetch_optional(&mut *conn).await?);
    }
    Ok(sqlx::query_scalar("SELECT id FROM hosts WHERE hostname = ? COLLATE NOCASE").bind(key).fetch_optional(&mut *conn).await?)
}

async fn host_of_mac(conn: &mut sqlx::SqliteConnection, mac: Mac) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT host_id FROM host_macs WHERE mac = ?").bind(mac.to_string()).fetch_optional(&mut *conn).await?)
}

async fn load(conn: &mut sqlx::SqliteConnection, id: i64) -> Result<Host> {
    let row: SqliteRow = sqlx::query("SELECT * FROM hosts WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound(id.to_string()))?;
    let macs: Vec<String> = sqlx::query_scalar("SELECT mac FROM host_macs WHERE host_id = ? ORDER BY rowid").bind(id).fetch_all(&mut *conn).await?;
    let groups: Vec<String> = sqlx::query_scalar("SELECT name FROM host_groups WHERE host_id = ? ORDER BY name").bind(id).fetch_all(&mut *conn).await?;
    let state: String = row.try_get("state")?;
    let ip: Option<String> = row.try_get("ip")?;
    let secureon: Option<String> = row.try_get("secureon")?;
    Ok(Host {
        id,
        hostname: row.try_get("hostname")?,
        macs: macs.iter().filter_map(|m| m.parse().ok()).collect(),
        uuid: row.try_get("uuid")?,
        arch: row.try_get("arch")?,
        state: state.parse()?,
        ip: ip.and_then(|s| s.parse().ok()),
        secureon: secureon.and_then(|s| s.parse().ok()),
        groups,
        first_seen: row.try_get("first_seen")?,
        last_seen: row.try_get("last_seen")?,
        created_at: row.try_get("created_at")?,
        entity_id: row.try_get("entity_id")?,
        hardware: row.try_get::<Option<String>, _>("hardware")?.and_then(|h| serde_json::from_str(&h).ok()),
        hardware_at: row.try_get("hardware_at")?,
    })
}

async fn insert(tx: &mut Transaction<'_, Sqlite>, spec: &HostSpec) -> Result<i64> {
    if spec.macs.is_empty() {
        return Err(Error::Invalid("a host needs at least one MAC address".into()));
    }
    if let Some(h) = &spec.hostname {
        check_hostname(h)?;
        taken_hostname(tx, h, None).await?;
    }
    let uuid = spec.uuid.as_deref().map(normalise_uuid).transpose()?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO hosts (id, hostname, uuid, state, ip, secureon, created_at, entity_id) VALUES ((SELECT high + 1 FROM host_id_high), ?, ?, 'ready', ?, ?, ?, ?) RETURNING id",
    )
        .bind(&spec.hostname)
        .bind(uuid)
        .bind(spec.ip.map(|a| a.to_string()))
        .bind(spec.secureon.map(|m| m.to_string()))
        .bind(unix_now())
        .bind(spec.entity_id.unwrap_or(1))
        .fetch_one(&mut **tx)
        .await?;
    set_macs(tx, id, &spec.macs).await?;
    set_groups(tx, id, &spec.groups).await?;
    Ok(id)
}

async fn apply_edit(tx: &mut Transaction<'_, Sqlite>, id: i64, e: &HostEdit) -> Result<()> {
    if let Some(h) = &e.hostname {
        check_hostname(h)?;
        taken_hostname(tx, h, Some(id)).await?;
        sqlx::query("UPDATE hosts SET hostname = ? WHERE id = ?").bind(h).bind(id).execute(&mut **tx).await?;
    }
    if let Some(u) = &e.uuid {
        sqlx::query("UPDATE hosts SET uuid = ? WHERE id = ?").bind(normalise_uuid(u)?).bind(id).execute(&mut **tx).await?;
    }
    if let Some(ip) = e.ip {
        sqlx::query("UPDATE hosts SET ip = ? WHERE id = ?").bind(ip.to_string()).bind(id).execute(&mut **tx).await?;
    } else if e.clear_ip {
        sqlx::query("UPDATE hosts SET ip = NULL WHERE id = ?").bind(id).execute(&mut **tx).await?;
    }
    if let Some(s) = e.state {
        sqlx::query("UPDATE hosts SET state = ? WHERE id = ?").bind(s.as_str()).bind(id).execute(&mut **tx).await?;
    }
    if let Some(p) = e.secureon {
        sqlx::query("UPDATE hosts SET secureon = ? WHERE id = ?").bind(p.to_string()).bind(id).execute(&mut **tx).await?;
    }
    if let Some(macs) = &e.macs {
        if macs.is_empty() {
            return Err(Error::Invalid("a host needs at least one MAC address".into()));
        }
        sqlx::query("DELETE FROM host_macs WHERE host_id = ?").bind(id).execute(&mut **tx).await?;
        set_macs(tx, id, macs).await?;
    }
    if let Some(groups) = &e.groups {
        sqlx::query("DELETE FROM host_groups WHERE host_id = ?").bind(id).execute(&mut **tx).await?;
        set_groups(tx, id, groups).await?;
    }
    Ok(())
}

async fn taken_hostname(tx: &mut Transaction<'_, Sqlite>, name: &str, except: Option<i64>) -> Result<()> {
    // As DNS does: LAB-A and lab-a are one name.
    let other: Option<i64> = sqlx::query_scalar("SELECT id FROM hosts WHERE hostname = ? COLLATE NOCASE").bind(name).fetch_optional(&mut **tx).await?;
    match other {
        Some(o) if Some(o) != except => Err(Error::Conflict(format!("hostname {name:?} already belongs to host {o}"))),
        _ => Ok(()),
    }
}

async fn set_macs(tx: &mut Transaction<'_, Sqlite>, id: i64, macs: &[Mac]) -> Result<()> {
    for mac in macs {
        if let Some(why) = mac.not_unicast() {
            return Err(Error::Invalid(format!("MAC {mac} is {why}: a host's MAC is its network card's own (unicast) address")));
        }
        if let Some(other) = host_of_mac(tx, *mac).await? {
            if other != id {
                return Err(Error::Conflict(format!("MAC {mac} already belongs to host {other}")));
            }
            continue;
        }
        sqlx::query("INSERT INTO host_macs (mac, host_id) VALUES (?, ?)").bind(mac.to_string()).bind(id).execute(&mut **tx).await?;
    }
    Ok(())
}

async fn set_groups(tx: &mut Transaction<'_, Sqlite>, id: i64, groups: &[String]) -> Result<()> {
    for g in groups {
        check_group(g)?;
        sqlx::query("INSERT OR IGNORE INTO host_groups (host_id, name) VALUES (?, ?)").bind(id).bind(g).execute(&mut **tx).await?;
    }
    Ok(())
}

async fn event(tx: &mut Transaction<'_, Sqlite>, id: i64, kind: &str, detail: &str) -> Result<()> {
    sqlx::query("INSERT INTO host_events (host_id, at, kind, detail) VALUES (?, ?, ?, ?)")
        .bind(id)
        .bind(unix_now())
        .bind(kind)
        .bind(detail)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM host_events WHERE host_id = ? AND id <= (SELECT id FROM host_events WHERE host_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)")
        .bind(id)
        .bind(id)
        .bind(EVENTS_KEPT)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostState;

    async fn inventory() -> (tempfile::TempDir, Inventory) {
        let dir = tempfile::tempdir().unwrap();
        let db = parc_db::Db::open_sqlite(&dir.path().join("parc.db"), true).await.unwrap();
        db.migrate([migrator()]).await.unwrap();
        (dir, Inventory::new(&db))
    }

    fn mac(n: u8) -> Mac {
        Mac([0x52, 0x54, 0, 0, 0, n])
    }

    #[tokio::test]
    async fn sightings_register_then_update() {
        let (_d, inv) = inventory().await;
        let s = Sighting { mac: mac(1), uuid: Some("8D7C5B0E1F2A4C3B9D8E0123456789AB".into()), arch: Some("bios".into()) };
        let first = inv.seen(&s).await.unwrap();
        assert!(first.created);
        assert_eq!(first.host.state, HostState::New);
        assert_eq!(first.host.uuid.as_deref(), Some("8d7c5b0e-1f2a-4c3b-9d8e-0123456789ab"));
        let again = inv.seen(&Sighting { arch: Some("efi-x64".into()), uuid: None, ..s }).await.unwrap();
        assert!(!again.created);
        assert_eq!(again.host.id, first.host.id);
        assert_eq!(again.host.arch.as_deref(), Some("efi-x64"));
        assert!(again.host.uuid.is_some(), "a sighting without UUID keeps the known one");
        let h = inv.check_in(mac(1), Some("198.18.0.100".parse().unwrap()), "probe").await.unwrap();
        assert_eq!(h.state, HostState::Ready);
        let kinds: Vec<String> = inv.events(h.id, 10).await.unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["registered", "checkin"]);
    }

    #[tokio::test]
    async fn conflicts_are_refused_and_change_nothing() {
        let (_d, inv) = inventory().await;
        let a = inv.add(HostSpec { hostname: Some("lab-a".into()), macs: vec![mac(1)], groups: vec!["lab".into()], ..Default::default() }).await.unwrap();
        assert_eq!(a.state, HostState::Ready);
        let dup = inv.add(HostSpec { hostname: Some("lab-b".into()), macs: vec![mac(2), mac(1)], ..Default::default() }).await;
        assert!(matches!(dup, Err(Error::Conflict(_))), "{dup:?}");
        assert!(inv.find("lab-b").await.is_err(), "the failed add left nothing behind");
        assert_eq!(inv.find("52-54-00-00-00-01").await.unwrap().id, a.id);
        assert_eq!(inv.find(&a.id.to_string()).await.unwrap().id, a.id);
        let e = inv.edit("lab-a", HostEdit { macs: Some(vec![mac(1), mac(3)]), groups: Some(vec!["lab".into(), "bios".into()]), ..Default::default() }).await.unwrap();
        assert_eq!(e.macs, [mac(1), mac(3)]);
        assert_eq!(inv.list(Some("bios")).await.unwrap().len(), 1);
        inv.remove("lab-a").await.unwrap();
        assert!(inv.by_mac(mac(3)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn macs_must_be_unicast_and_hostnames_ignore_case() {
        let (_d, inv) = inventory().await;
        for bad in ["ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "01:00:5e:00:00:01"] {
            let e = inv.add(HostSpec { macs: vec![bad.parse().unwrap()], ..Default::default() }).await.unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("unicast"), "{e}");
        }
        assert!(inv.seen(&Sighting { mac: "ff:ff:ff:ff:ff:ff".parse().unwrap(), uuid: None, arch: None }).await.is_err());
        assert!(inv.list(None).await.unwrap().is_empty(), "nothing was registered");
        inv.add(HostSpec { hostname: Some("Lab-A".into()), macs: vec![mac(1)], ..Default::default() }).await.unwrap();
        let dup = inv.add(HostSpec { hostname: Some("lab-a".into()), macs: vec![mac(2)], ..Default::default() }).await.unwrap_err().to_string();
        assert!(dup.contains("already belongs"), "{dup}");
        assert_eq!(inv.find("LAB-A").await.unwrap().hostname.as_deref(), Some("Lab-A"));
    }

    #[tokio::test]
    async fn host_ids_are_never_reused() {
        let (_d, inv) = inventory().await;
        let old = inv.add(HostSpec { hostname: Some("old-pc".into()), macs: vec![mac(1)], ..Default::default() }).await.unwrap();
        inv.remove("old-pc").await.unwrap();
        let new = inv.add(HostSpec { hostname: Some("new-pc".into()), macs: vec![mac(2)], ..Default::default() }).await.unwrap();
        assert!(new.id > old.id, "new-pc got {} after old-pc's {}", new.id, old.id);
        inv.remove("new-pc").await.unwrap();
        let seen = inv.seen(&Sighting { mac: mac(3), uuid: None, arch: None }).await.unwrap();
        assert!(seen.host.id > new.id, "a machine the proxy registers gets a fresh id too");
    }

    #[tokio::test]
    async fn csv_import_is_all_or_nothing() {
        let (_d, inv) = inventory().await;
        inv.add(HostSpec { hostname: Some("lab-a".into()), macs: vec![mac(1)], ..Default::default() }).await.unwrap();
        let bad = "hostname,mac\nlab-b,52:54:00:00:00:02\nlab-c,52:54:00:00:00:03;52:54:00:00:00:01\n";
        let err = inv.import_csv(bad.as_bytes()).await.unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("already belongs"), "{err}");
        assert_eq!(inv.list(None).await.unwrap().len(), 1, "nothing imported");
        let good = "hostname,mac,ip,groups\nlab-a,52:54:00:00:00:01,198.18.1.10,lab\nlab-b,52:54:00:00:00:02,,lab\n";
        let r = inv.import_csv(good.as_bytes()).await.unwrap();
        assert_eq!((r.created, r.updated), (1, 1));
        assert_eq!(inv.list(Some("lab")).await.unwrap().len(), 2);
        assert_eq!(inv.find("lab-a").await.unwrap().ip, Some("198.18.1.10".parse().unwrap()));
    }
}
