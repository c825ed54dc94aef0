//! Tasks on SQLite through sqlx, on the shared [`parc_db::Db`].

use std::time::Duration;

use chrono::{DateTime, TimeZone};
pub use parc_db::unix_now;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::Row;

use crate::error::{Error, Result};
use crate::task::{LogEntry, NewTask, Progress, Task, TaskState};
use crate::window::{may_start, Window};

/// The task tables; they refer to the registry's hosts and the catalog's
/// images, so they run last.
pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations")
}

/// A task handed to a booting machine, with the token its environment
/// presents back.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The task, now running.
    pub task: Task,
    /// The secret (only its hash is stored).
    pub token: String,
}

/// The task store. Cheap to clone.
#[derive(Clone)]
pub struct Tasks {
    pool: SqlitePool,
}

fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

fn new_token() -> String {
    let mut b = [0u8; 24];
    getrandom::fill(&mut b).expect("the system's random source");
    hex::encode(b)
}

fn row_to_task(r: &SqliteRow) -> Result<Task> {
    let kind: String = r.try_get("kind")?;
    let state: String = r.try_get("state")?;
    let hooks: String = r.try_get("hooks")?;
    let options: String = r.try_get("options")?;
    let phase: Option<String> = r.try_get("phase")?;
    let bad = |e: serde_json::Error| Error::Invalid(format!("stored task is unreadable: {e}"));
    Ok(Task {
        id: r.try_get("id")?,
        kind: kind.parse()?,
        host_id: r.try_get("host_id")?,
        image: r.try_get("image")?,
        hooks: serde_json::from_str(&hooks).map_err(bad)?,
        options: serde_json::from_str(&options).map_err(bad)?,
        not_before: r.try_get("not_before")?,
        window: r.try_get("window")?,
        state: state.parse()?,
        attempts: r.try_get::<i64, _>("attempts")? as u32,
        max_attempts: r.try_get::<i64, _>("max_attempts")? as u32,
        error: r.try_get("error")?,
        woken_at: r.try_get("woken_at")?,
        progress: phase.map(|phase| -> Result<Progress> {
            Ok(Progress {
                phase,
                bytes_done: r.try_get::<Option<i64>, _>("bytes_done")?.map(|v| v as u64),
                bytes_total: r.try_get::<Option<i64>, _>("bytes_total")?.map(|v| v as u64),
                rate: r.try_get("rate")?,
                message: String::new(),
            })
        }).transpose()?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

// Every transaction here writes: BEGIN IMMEDIATE takes the write lock up
// front, so a concurrent writer makes it wait (busy timeout) instead of
// failing with "database is locked" when a read would upgrade to a write.
impl Tasks {
    /// The task store on a migrated database (see [`migrator`]).
    pub fn new(db: &parc_db::Db) -> Self {
        Self { pool: db.sqlite().clone() }
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Creates a task. A host has at most one unfinished task.
    pub async fn create(&self, t: NewTask) -> Result<Task> {
        if t.image.is_empty() {
            return Err(Error::Invalid("a task needs an image name".into()));
        }
        if t.max_attempts == 0 {
            return Err(Error::Invalid("max attempts must be at least 1".into()));
        }
        if let Some(w) = &t.window {
            w.parse::<Window>()?;
        }
        for h in &t.hooks {
            h.validate()?;
        }
        if !t.hooks.is_empty() && t.kind != crate::task::TaskKind::Restore {
            return Err(Error::Invalid("hooks run after a restore; a capture takes none".into()));
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let busy: Option<i64> = sqlx::query_scalar("SELECT id FROM tasks WHERE host_id = ? AND state IN ('pending', 'running')")
            .bind(t.host_id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(other) = busy {
            return Err(Error::Conflict(format!("the host already has task {other} unfinished (cancel it first: parc task cancel {other})")));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tasks (kind, host_id, image, image_id, hooks, options, not_before, window, state, max_attempts, created_at)
             VALUES (?, ?, ?, CASE WHEN ? = 'restore' THEN (SELECT id FROM images WHERE name = ?) END, ?, ?, ?, ?, 'pending', ?, ?) RETURNING id",
        )
        .bind(t.kind.as_str())
        .bind(t.host_id)
        .bind(&t.image)
        .bind(t.kind.as_str())
        .bind(&t.image)
        .bind(serde_json::to_string(&t.hooks).expect("serialisable"))
        .bind(serde_json::to_string(&t.options).expect("serialisable"))
        .bind(t.not_before)
        .bind(&t.window)
        .bind(t.max_attempts as i64)
        .bind(unix_now())
        .fetch_one(&mut *tx)
        .await?;
        log(&mut tx, id, "created", &format!("{} {}", t.kind.as_str(), t.image), None).await?;
        tx.commit().await?;
        self.get(id).await
    }

    /// One task.
    pub async fn get(&self, id: i64) -> Result<Task> {
        let r = sqlx::query("SELECT * FROM tasks WHERE id = ?").bind(id).fetch_optional(&self.pool).await?.ok_or(Error::NotFound(id))?;
        row_to_task(&r)
    }

    /// Tasks, newest first; of one host when given; unfinished only when asked.
    pub async fn list(&self, host_id: Option<i64>, unfinished_only: bool) -> Result<Vec<Task>> {
        let rows = sqlx::query(
            "SELECT * FROM tasks WHERE (? IS NULL OR host_id = ?) AND (? = 0 OR state IN ('pending', 'running')) ORDER BY id DESC LIMIT 10000",
        )
        .bind(host_id)
        .bind(host_id)
        .bind(unfinished_only as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_task).collect()
    }

    /// A task's history, oldest first (the latest `limit` lines).
    pub async fn log(&self, id: i64, limit: u32) -> Result<Vec<LogEntry>> {
        let rows = sqlx::query("SELECT * FROM (SELECT * FROM task_log WHERE task_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id")
            .bind(id)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LogEntry {
                    at: r.try_get("at")?,
                    phase: r.try_get("phase")?,
                    bytes_done: r.try_get::<Option<i64>, _>("bytes_done")?.map(|v| v as u64),
                    bytes_total: r.try_get::<Option<i64>, _>("bytes_total")?.map(|v| v as u64),
                    rate: r.try_get("rate")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    /// Cancels an unfinished task; the machine boots locally from then on.
    pub async fn cancel(&self, id: i64) -> Result<Task> {
        let t = self.get(id).await?;
        if t.state.is_final() {
            return Err(Error::Conflict(format!("task {id} is already {}", t.state)));
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE tasks SET state = 'cancelled', token_hash = NULL, finished_at = ? WHERE id = ?").bind(unix_now()).bind(id).execute(&mut *tx).await?;
        log(&mut tx, id, "cancelled", "cancelled by an administrator", None).await?;
        tx.commit().await?;
        self.get(id).await
    }

    /// The host's unfinished task, if any.
    pub async fn active_for_host(&self, host_id: i64) -> Result<Option<Task>> {
        let r = sqlx::query("SELECT * FROM tasks WHERE host_id = ? AND state IN ('pending', 'running') ORDER BY id LIMIT 1")
            .bind(host_id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(row_to_task).transpose()
    }

    /// The host's unfinished task when it may start at `now` (its time has
    /// come and `now` is inside its window).
    pub async fn startable<Tz: TimeZone>(&self, host_id: i64, now: &DateTime<Tz>) -> Result<Option<Task>> {
        let Some(t) = self.active_for_host(host_id).await? else { return Ok(None) };
        let window = t.window.as_deref().map(str::parse::<Window>).transpose()?;
        Ok(may_start(t.not_before, window.as_ref(), now).then_some(t))
    }

    /// The machine is booting: hand it its task when one may start now,
    /// with a fresh token valid for `ttl`. A task still `running` means the
    /// previous attempt died (power cut, server restart): this boot is the
    /// next attempt. When no attempt is left, the task fails instead.
    pub async fn claim<Tz: TimeZone>(&self, host_id: i64, now: &DateTime<Tz>, ttl: Duration) -> Result<Option<Claim>> {
        let Some(t) = self.active_for_host(host_id).await? else { return Ok(None) };
        let window = t.window.as_deref().map(str::parse::<Window>).transpose()?;
        if !may_start(t.not_before, window.as_ref(), now) {
            return Ok(None);
        }
        if t.attempts >= t.max_attempts {
            let why = format!("gave up after {} attempts; last error: {}", t.attempts, t.error.as_deref().unwrap_or("the machine restarted before finishing"));
            self.fail(t.id, &why).await?;
            return Ok(None);
        }
        let token = new_token();
        let at = now.timestamp();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // A restore created before its image was captured points at it from now on.
        sqlx::query(
            "UPDATE tasks SET state = 'running', attempts = attempts + 1, token_hash = ?, token_expires = ?,
             started_at = COALESCE(started_at, ?), phase = 'boot', bytes_done = NULL, bytes_total = NULL, rate = NULL,
             image_id = CASE WHEN kind = 'restore' THEN COALESCE(image_id, (SELECT id FROM images WHERE name = tasks.image)) END
             WHERE id = ?",
        )
        .bind(token_hash(&token))
        .bind(at + ttl.as_secs() as i64)
        .bind(at)
        .bind(t.id)
        .execute(&mut *tx)
        .await?;
        log(&mut tx, t.id, "boot", &format!("the machine booted into the environment (attempt {} of {})", t.attempts + 1, t.max_attempts), None).await?;
        tx.commit().await?;
        Ok(Some(Claim { task: self.get(t.id).await?, token }))
    }

    /// The task a token belongs to, while it is valid.
    pub async fn by_token(&self, token: &str) -> Result<Task> {
        let r = sqlx::query("SELECT * FROM tasks WHERE token_hash = ?").bind(token_hash(token)).fetch_optional(&self.pool).await?.ok_or(Error::BadToken("unknown token"))?;
        let expires: Option<i64> = r.try_get("token_expires")?;
        if expires.is_some_and(|e| e < unix_now()) {
            return Err(Error::BadToken("expired"));
        }
        let t = row_to_task(&r)?;
        if t.state != TaskState::Running {
            return Err(Error::BadToken("the task is not running"));
        }
        Ok(t)
    }

    /// Records progress.
    pub async fn progress(&self, id: i64, p: &Progress) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE tasks SET phase = ?, bytes_done = ?, bytes_total = ?, rate = ? WHERE id = ? AND state = 'running'")
            .bind(&p.phase)
            .bind(p.bytes_done.map(|v| v as i64))
            .bind(p.bytes_total.map(|v| v as i64))
            .bind(p.rate)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        log(&mut tx, id, &p.phase, &p.message, Some(p)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The environment finished: success, or a failure that the next boot
    /// retries while attempts remain (the error is kept either way).
    pub async fn finish(&self, id: i64, result: std::result::Result<String, String>) -> Result<Task> {
        let t = self.get(id).await?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        match &result {
            Ok(summary) => {
                sqlx::query("UPDATE tasks SET state = 'succeeded', token_hash = NULL, finished_at = ?, phase = 'done' WHERE id = ?")
                    .bind(unix_now())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                log(&mut tx, id, "done", summary, None).await?;
            }
            Err(e) => {
                let final_ = t.attempts >= t.max_attempts;
                sqlx::query("UPDATE tasks SET state = ?, error = ?, token_hash = NULL, finished_at = CASE WHEN ? THEN ? ELSE NULL END, woken_at = NULL WHERE id = ?")
                    .bind(if final_ { "failed" } else { "pending" })
                    .bind(e)
                    .bind(final_)
                    .bind(unix_now())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let what = if final_ { "failed" } else { "failed; the next boot retries" };
                log(&mut tx, id, "error", &format!("{what}: {e}"), None).await?;
            }
        }
        tx.commit().await?;
        self.get(id).await
    }

    /// Fails a task at once (its image is gone, no attempts left…).
    pub async fn fail(&self, id: i64, why: &str) -> Result<Task> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE tasks SET state = 'failed', error = ?, token_hash = NULL, finished_at = ? WHERE id = ?")
            .bind(why)
            .bind(unix_now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        log(&mut tx, id, "error", &format!("failed: {why}"), None).await?;
        tx.commit().await?;
        self.get(id).await
    }

    /// Pending tasks whose time has come and whose host has not been woken.
    pub async fn due_to_wake<Tz: TimeZone>(&self, now: &DateTime<Tz>) -> Result<Vec<Task>> {
        let rows = sqlx::query("SELECT * FROM tasks WHERE state = 'pending' AND woken_at IS NULL ORDER BY id LIMIT 10000").fetch_all(&self.pool).await?;
        let mut out = Vec::new();
        for r in &rows {
            let t = row_to_task(r)?;
            let w = t.window.as_deref().map(str::parse::<Window>).transpose()?;
            if may_start(t.not_before, w.as_ref(), now) {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Notes that the host was sent its wake-up.
    pub async fn mark_woken(&self, id: i64, detail: &str) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE tasks SET woken_at = ? WHERE id = ?").bind(unix_now()).bind(id).execute(&mut *tx).await?;
        log(&mut tx, id, "wake", detail, None).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Most history lines a task keeps; progress samples beyond are dropped
/// oldest first.
const LOG_KEPT: i64 = 5000;

async fn log(tx: &mut sqlx::SqliteConnection, id: i64, phase: &str, message: &str, p: Option<&Progress>) -> Result<()> {
    let now_ms = unix_now_ms();
    sqlx::query("INSERT INTO task_log (task_id, at, at_ms, phase, bytes_done, bytes_total, rate, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(id)
        .bind(now_ms / 1000)
        .bind(now_ms)
        .bind(phase)
        .bind(p.and_then(|p| p.bytes_done).map(|v| v as i64))
        .bind(p.and_then(|p| p.bytes_total).map(|v| v as i64))
        .bind(p.and_then(|p| p.rate))
        .bind(message)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM task_log WHERE task_id = ? AND id <= (SELECT id FROM task_log WHERE task_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)")
        .bind(id)
        .bind(id)
        .bind(LOG_KEPT)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::task::{Hook, TaskKind, TaskOptions};
    use chrono::Utc;

    /// A migrated database, as the binary makes it, with hosts 1 to 3.
    pub(crate) async fn database() -> (tempfile::TempDir, parc_db::Db) {
        let d = tempfile::tempdir().unwrap();
        let db = parc_db::Db::open_sqlite(&d.path().join("parc.db"), true).await.unwrap();
        db.migrate([parc_imaging::catalog::migrator(), parc_inventory::registry::migrator(), migrator()]).await.unwrap();
        let inv = parc_inventory::Inventory::new(&db);
        for n in 1..=3u8 {
            let spec = parc_inventory::HostSpec { hostname: Some(format!("h{n}")), macs: vec![parc_inventory::Mac([2, 0, 0, 0, 0, n])], ..Default::default() };
            assert_eq!(inv.add(spec).await.unwrap().id, n as i64);
        }
        (d, db)
    }

    pub(crate) async fn tasks() -> (tempfile::TempDir, Tasks) {
        let (d, db) = database().await;
        (d, Tasks::new(&db))
    }

    #[tokio::test]
    async fn hosts_and_images_keep_their_unfinished_tasks() {
        let (_d, db) = database().await;
        let (s, inv) = (Tasks::new(&db), parc_inventory::Inventory::new(&db));
        let catalog = parc_imaging::Catalog::new(&db);
        sqlx::query("INSERT INTO images (name, root, source_size, data_bytes, chunks, unique_chunks, created_at, manifest) VALUES ('golden', '00', 1, 1, 1, 1, 0, x'00')")
            .execute(db.sqlite())
            .await
            .unwrap();
        let t = s.create(restore(1, 1)).await.unwrap();
        assert!(matches!(s.create(NewTask { host_id: 42, ..restore(1, 1) }).await, Err(Error::Db(_))), "no task for a host that does not exist");
        let refused = inv.remove("h1").await.unwrap_err().to_string();
        assert!(refused.contains("unfinished task"), "{refused}");
        let refused = catalog.delete("golden").await.unwrap_err().to_string();
        assert!(refused.contains("needed by an unfinished task"), "{refused}");
        s.cancel(t.id).await.unwrap();
        catalog.delete("golden").await.unwrap();
        assert_eq!(s.get(t.id).await.unwrap().image, "golden", "finished history keeps the name");
        inv.remove("h1").await.unwrap();
        assert!(matches!(s.get(t.id).await, Err(Error::NotFound(_))), "finished history goes with its host");
        let next = s.create(restore(2, 1)).await.unwrap();
        assert!(next.id > t.id, "task ids are never reused");
    }

    pub(crate) fn restore(host: i64, max: u32) -> NewTask {
        NewTask {
            kind: TaskKind::Restore,
            host_id: host,
            image: "golden".into(),
            hooks: vec![Hook::Hostname { name: "lab-b".into() }],
            options: TaskOptions::default(),
            not_before: None,
            window: None,
            max_attempts: max,
        }
    }

    #[tokio::test]
    async fn boot_claims_then_success_ends_it() {
        let (_d, s) = tasks().await;
        let t = s.create(restore(1, 2)).await.unwrap();
        assert!(matches!(s.create(restore(1, 2)).await, Err(Error::Conflict(_))), "one unfinished task per host");
        let now = Utc::now();
        let c = s.claim(1, &now, Duration::from_secs(600)).await.unwrap().unwrap();
        assert_eq!((c.task.id, c.task.state, c.task.attempts), (t.id, TaskState::Running, 1));
        assert_eq!(s.by_token(&c.token).await.unwrap().id, t.id);
        assert!(matches!(s.by_token("nope").await, Err(Error::BadToken(_))));
        s.progress(t.id, &Progress { phase: "restore".into(), bytes_done: Some(10), bytes_total: Some(100), rate: Some(5.0), message: "10 %".into() }).await.unwrap();
        let done = s.finish(t.id, Ok("restored".into())).await.unwrap();
        assert_eq!(done.state, TaskState::Succeeded);
        assert!(s.by_token(&c.token).await.is_err(), "the token dies with the task");
        assert!(s.claim(1, &now, Duration::from_secs(600)).await.unwrap().is_none(), "nothing left: local boot");
        let phases: Vec<String> = s.log(t.id, 100).await.unwrap().into_iter().map(|l| l.phase).collect();
        assert_eq!(phases, ["created", "boot", "restore", "done"]);
    }

    #[tokio::test]
    async fn failures_retry_until_attempts_run_out() {
        let (_d, s) = tasks().await;
        let t = s.create(restore(1, 2)).await.unwrap();
        let now = Utc::now();
        s.claim(1, &now, Duration::from_secs(600)).await.unwrap().unwrap();
        let again = s.finish(t.id, Err("disk too small".into())).await.unwrap();
        assert_eq!((again.state, again.error.as_deref()), (TaskState::Pending, Some("disk too small")));
        // Second attempt dies without a word (server restarted, power cut)…
        s.claim(1, &now, Duration::from_secs(600)).await.unwrap().unwrap();
        // …so the next boot finds no attempt left and the task fails.
        assert!(s.claim(1, &now, Duration::from_secs(600)).await.unwrap().is_none());
        let t = s.get(t.id).await.unwrap();
        assert_eq!(t.state, TaskState::Failed);
        assert!(t.error.unwrap().contains("gave up after 2 attempts"));
    }

    #[tokio::test]
    async fn time_and_window_gate_the_boot_and_the_wake() {
        let (_d, s) = tasks().await;
        let noon = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let t = s.create(NewTask { window: Some("22:00-06:00".into()), ..restore(1, 1) }).await.unwrap();
        assert!(s.claim(1, &noon, Duration::from_secs(60)).await.unwrap().is_none(), "outside the window nothing starts");
        assert!(s.due_to_wake(&noon).await.unwrap().is_empty());
        let night = noon + chrono::Duration::hours(11);
        assert_eq!(s.due_to_wake(&night).await.unwrap().len(), 1);
        s.mark_woken(t.id, "3 packets").await.unwrap();
        assert!(s.due_to_wake(&night).await.unwrap().is_empty(), "woken once");
        assert!(s.claim(1, &night, Duration::from_secs(60)).await.unwrap().is_some());
        let c = s.create(NewTask { not_before: Some(night.timestamp()), ..restore(2, 1) }).await.unwrap();
        assert!(s.claim(2, &noon, Duration::from_secs(60)).await.unwrap().is_none());
        assert_eq!(s.cancel(c.id).await.unwrap().state, TaskState::Cancelled);
        assert!(s.claim(2, &night, Duration::from_secs(60)).await.unwrap().is_none());
    }
}
