//! The audit log: every mutating request and every denial, append-only
//! (the schema's triggers refuse updates and deletes from anyone).

use serde::{Deserialize, Serialize};
use sqlx::{Row, SqlitePool};

use crate::error::Result;

/// How a request ended, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused for want of credentials or a permission.
    Denied,
    /// Allowed, but it failed (bad input, conflict, server error).
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "ok" => Outcome::Ok,
            "denied" => Outcome::Denied,
            _ => Outcome::Failed,
        }
    }
}

/// One audit row: what happened, numbered and timed by the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increasing id: the order things happened in.
    pub id: i64,
    /// Unix time.
    pub at: i64,
    /// What happened.
    #[serde(flatten)]
    pub entry: NewEntry,
}

/// What happened, before the log numbers and times it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEntry {
    /// Who: a user name, `agent:task N`, or `anonymous`.
    pub actor: String,
    /// How they proved it: password, token, agent, store, none.
    pub auth: String,
    /// The client's address.
    pub source: String,
    /// What was asked, e.g. `DELETE /api/v1/images/{name}`.
    pub action: String,
    /// The permission it needs.
    pub permission: Option<String>,
    /// The entity it acted in.
    pub entity: Option<String>,
    /// The object, e.g. `/api/v1/images/golden`.
    pub object: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The HTTP status answered.
    pub status: u16,
    /// The request's values, the object before and after (secrets
    /// redacted) and, on failure, the error.
    pub detail: Option<String>,
}

/// Which entries to list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditFilter {
    /// At or after this Unix time.
    pub since: Option<i64>,
    /// This actor only.
    pub actor: Option<String>,
    /// Objects containing this text.
    pub object: Option<String>,
    /// At most this many, newest kept (default 1000).
    pub limit: Option<i64>,
}

/// Handle on the audit log.
#[derive(Clone, Debug)]
pub struct AuditLog {
    pool: SqlitePool,
}

/// Field names whose values never reach the log.
const SECRETS: [&str; 6] = ["password", "token", "secret", "secureon", "ssh_private_key", "content"];

/// `value` with every secret field (at any depth) replaced by `"[redacted]"`.
pub fn redact(mut value: serde_json::Value) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    if SECRETS.iter().any(|s| k.to_ascii_lowercase().contains(s)) && !v.is_null() {
                        *v = serde_json::Value::String("[redacted]".into());
                    } else {
                        walk(v);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

impl AuditLog {
    /// The log on a migrated database.
    pub fn new(db: &parc_db::Db) -> Self {
        Self { pool: db.sqlite().clone() }
    }

    /// Appends an entry.
    pub async fn append(&self, e: &NewEntry) -> Result<i64> {
        let r = sqlx::query(
            "INSERT INTO audit (at, actor, auth, source, action, permission, entity, object, outcome, status, detail)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(parc_db::unix_now())
        .bind(&e.actor)
        .bind(&e.auth)
        .bind(&e.source)
        .bind(&e.action)
        .bind(&e.permission)
        .bind(&e.entity)
        .bind(&e.object)
        .bind(e.outcome.as_str())
        .bind(e.status as i64)
        .bind(&e.detail)
        .execute(&self.pool)
        .await?;
        Ok(r.last_insert_rowid())
    }

    /// Entries matching `f`, oldest first.
    pub async fn list(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT * FROM (SELECT * FROM audit
                 WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR instr(object, ?3) > 0)
                 ORDER BY id DESC LIMIT ?4)
             ORDER BY id",
        )
        .bind(f.since)
        .bind(&f.actor)
        .bind(&f.object)
        .bind(f.limit.unwrap_or(1000).clamp(1, 1_000_000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    entry: NewEntry {
                        actor: r.try_get("actor")?,
                        auth: r.try_get("auth")?,
                        source: r.try_get("source")?,
                        action: r.try_get("action")?,
                        permission: r.try_get("permission")?,
                        entity: r.try_get("entity")?,
                        object: r.try_get("object")?,
                        outcome: Outcome::parse(&r.try_get::<String, _>("outcome")?),
                        status: r.try_get::<i64, _>("status")? as u16,
                        detail: r.try_get("detail")?,
                    },
                })
            })
            .collect()
    }
}

/// The entries as CSV (RFC 4180, a header line first).
pub fn to_csv(entries: &[AuditEntry]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["id", "at", "actor", "auth", "source", "action", "permission", "entity", "object", "outcome", "status", "detail"])
        .expect("writing to memory");
    for AuditEntry { id, at, entry: e } in entries {
        w.write_record([
            id.to_string(),
            at.to_string(),
            e.actor.clone(),
            e.auth.clone(),
            e.source.clone(),
            e.action.clone(),
            e.permission.clone().unwrap_or_default(),
            e.entity.clone().unwrap_or_default(),
            e.object.clone(),
            e.outcome.as_str().to_string(),
            e.status.to_string(),
            e.detail.clone().unwrap_or_default(),
        ])
        .expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("flushing to memory")).expect("CSV of UTF-8 fields")
}

/// Parses [`to_csv`]'s output back (for checks and re-imports).
pub fn from_csv(text: &str) -> std::result::Result<Vec<AuditEntry>, csv::Error> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec?;
        let opt = |i: usize| Some(rec[i].to_string()).filter(|s| !s.is_empty());
        out.push(AuditEntry {
            id: rec[0].parse().unwrap_or_default(),
            at: rec[1].parse().unwrap_or_default(),
            entry: NewEntry {
                actor: rec[2].to_string(),
                auth: rec[3].to_string(),
                source: rec[4].to_string(),
                action: rec[5].to_string(),
                permission: opt(6),
                entity: opt(7),
                object: rec[8].to_string(),
                outcome: Outcome::parse(&rec[9]),
                status: rec[10].parse().unwrap_or_default(),
                detail: opt(11),
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_log_refuses_changes_and_exports_what_it_holds() {
        let d = tempfile::tempdir().unwrap();
        let db = parc_db::Db::open_sqlite(&d.path().join("parc.db"), true).await.unwrap();
        db.migrate([crate::migrator()]).await.unwrap();
        let log = AuditLog::new(&db);
        let e = NewEntry {
            actor: "ann".into(),
            auth: "token".into(),
            source: "127.0.0.1".into(),
            action: "DELETE /api/v1/images/{name}".into(),
            permission: Some("image.delete".into()),
            entity: Some("/".into()),
            object: "/api/v1/images/golden".into(),
            outcome: Outcome::Ok,
            status: 200,
            detail: Some("a \"quoted\", comma".into()),
        };
        log.append(&e).await.unwrap();
        log.append(&NewEntry { outcome: Outcome::Denied, status: 403, actor: "bob".into(), ..e.clone() }).await.unwrap();
        for sql in ["UPDATE audit SET actor = 'x'", "DELETE FROM audit"] {
            let err = sqlx::query(sql).execute(db.sqlite()).await.unwrap_err().to_string();
            assert!(err.contains("append-only"), "{err}");
        }
        let all = log.list(&AuditFilter::default()).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(from_csv(&to_csv(&all)).unwrap(), all);
        let bob = log.list(&AuditFilter { actor: Some("bob".into()), ..Default::default() }).await.unwrap();
        assert_eq!((bob.len(), bob[0].entry.outcome), (1, Outcome::Denied));
    }

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let v = redact(serde_json::json!({"name": "ann", "password": "hunter22", "hooks": [{"secureon": "aa:bb"}], "token": null}));
        assert_eq!(v, serde_json::json!({"name": "ann", "password": "[redacted]", "hooks": [{"secureon": "[redacted]"}], "token": null}));
    }
}
