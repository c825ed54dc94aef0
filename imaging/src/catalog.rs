//! The image catalog: which images exist, their manifests, and uploads in
//! flight. SQLite through sqlx on the shared [`parc_db::Db`]; the migrations
//! live in `imaging/migrations`.

use std::time::Duration;

pub use parc_db::unix_now;
use serde::Serialize;
use sqlx::{Row, SqlitePool};

use crate::error::{Error, Result};
use crate::format::Manifest;
use crate::id::ChunkId;

/// An upload left idle this long is abandoned: it is closed, and its chunks
/// are no longer kept from GC for it.
pub const UPLOAD_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// An upload idle this long no longer holds its image name: a capture from
/// anywhere may take the name over. A running capture talks to the server
/// every few seconds.
pub const UPLOAD_STALE: Duration = Duration::from_secs(15 * 60);

/// An image as listed by the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ImageRecord {
    /// Unique name.
    pub name: String,
    /// BLAKE3 of the manifest bytes.
    pub root: ChunkId,
    /// Hash of what the image restores to, the same for re-captures of an
    /// unchanged disk (see [`crate::format::Manifest::content`]).
    pub content: ChunkId,
    /// Size of the captured source in bytes.
    pub source_size: u64,
    /// Bytes in data extents (the rest are holes).
    pub data_bytes: u64,
    /// Chunk references.
    pub chunks: u64,
    /// Distinct chunks.
    pub unique_chunks: u64,
    /// Unix time of the commit.
    pub created_at: i64,
    /// The entity it belongs to (1: the root).
    #[serde(default = "root_entity")]
    pub entity_id: i64,
}

fn root_entity() -> i64 {
    1
}

/// An open upload.
#[derive(Debug, Clone, Serialize)]
pub struct Upload {
    /// Random id handed to the client.
    pub id: String,
    /// Name the image will get.
    pub name: String,
    /// Whether committing may replace an image of the same name.
    pub replace: bool,
    /// Who captures: host and source (a CLI capture) or task and host (the agent).
    pub origin: String,
    /// The entity the image will belong to (when new).
    pub entity_id: i64,
    /// Unix time the upload started.
    pub started_at: i64,
    /// Unix time of its last request.
    pub last_seen: i64,
}

impl Upload {
    /// Idle long enough that it no longer holds its name ([`UPLOAD_STALE`]).
    pub fn is_stale(&self, now: i64) -> bool {
        self.last_seen < now - UPLOAD_STALE.as_secs() as i64
    }
}

const UPLOAD_COLUMNS: &str = "id, name, replace, origin, started_at, last_seen, entity_id";

fn upload_row(row: &sqlx::sqlite::SqliteRow) -> Result<Upload> {
    Ok(Upload {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        replace: row.try_get("replace")?,
        origin: row.try_get("origin")?,
        entity_id: row.try_get("entity_id")?,
        started_at: row.try_get("started_at")?,
        last_seen: row.try_get("last_seen")?,
    })
}

/// The catalog's tables (images, uploads); the first set to run, since
/// other crates' tables refer to images.
pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations")
}

/// Handle on the catalog database.
#[derive(Clone, Debug)]
pub struct Catalog {
    pool: SqlitePool,
}

fn record(row: &sqlx::sqlite::SqliteRow) -> Result<ImageRecord> {
    let hash = |col: &str| -> Result<ChunkId> {
        let v: Option<String> = row.try_get(col)?;
        // Filled in at open for rows older than the column ([`Catalog::fill_content`]).
        let v = v.ok_or_else(|| Error::BadManifest(format!("image has no {col} yet; open the data directory with this parc version")))?;
        v.parse().map_err(|e: crate::id::BadChunkId| Error::BadManifest(e.to_string()))
    };
    Ok(ImageRecord {
        name: row.try_get("name")?,
        root: hash("root")?,
        content: hash("content")?,
        source_size: row.try_get::<i64, _>("source_size")? as u64,
        data_bytes: row.try_get::<i64, _>("data_bytes")? as u64,
        chunks: row.try_get::<i64, _>("chunks")? as u64,
        unique_chunks: row.try_get::<i64, _>("unique_chunks")? as u64,
        created_at: row.try_get("created_at")?,
        entity_id: row.try_get("entity_id")?,
    })
}

const RECORD_COLUMNS: &str = "name, root, content, source_size, data_bytes, chunks, unique_chunks, created_at, entity_id";

impl Catalog {
    /// The catalog on a migrated database (see [`migrator`]).
    pub fn new(db: &parc_db::Db) -> Self {
        Self { pool: db.sqlite().clone() }
    }

    /// All images, by name.
    pub async fn list(&self) -> Result<Vec<ImageRecord>> {
        let rows = sqlx::query(&format!("SELECT {RECORD_COLUMNS} FROM images ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    /// One image by name.
    pub async fn get(&self, name: &str) -> Result<ImageRecord> {
        let row = sqlx::query(&format!("SELECT {RECORD_COLUMNS} FROM images WHERE name = ?"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()?.ok_or_else(|| Error::NoSuchImage(name.to_string()))
    }

    /// The image's record and its manifest bytes (uncompressed).
    pub async fn manifest(&self, name: &str) -> Result<(ImageRecord, Vec<u8>)> {
        let row = sqlx::query(&format!("SELECT {RECORD_COLUMNS}, manifest FROM images WHERE name = ?"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NoSuchImage(name.to_string()))?;
        let rec = record(&row)?;
        let z: Vec<u8> = row.try_get("manifest")?;
        Ok((rec, unpack_manifest(&z, name)?))
    }

    /// Every image's name and manifest bytes, for GC and checks.
    pub async fn all_manifests(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let rows = sqlx::query("SELECT name, manifest FROM images").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get("name")?;
                let z: Vec<u8> = r.try_get("manifest")?;
                let m = unpack_manifest(&z, &name)?;
                Ok((name, m))
            })
            .collect()
    }

    /// Records that `holder` needs `ids` (in one transaction), on top of
    /// what it held before.
    pub async fn hold(&self, holder: &str, ids: &[ChunkId]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query("INSERT OR IGNORE INTO chunk_holds (holder, chunk) VALUES (?, ?)").bind(holder).bind(id.to_hex()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drops every hold of `holder`.
    pub async fn release(&self, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM chunk_holds WHERE holder = ?").bind(holder).execute(&self.pool).await?;
        Ok(())
    }

    /// Every hold: (holder, chunk).
    pub async fn all_holds(&self) -> Result<Vec<(String, ChunkId)>> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT holder, chunk FROM chunk_holds").fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|(h, c)| {
                let id = c.parse::<ChunkId>().map_err(|e| Error::BadManifest(format!("hold of {h}: {e}")))?;
                Ok((h, id))
            })
            .collect()
    }

    /// Records a committed image from its parsed manifest and the bytes it
    /// was parsed from; replaces one of the same name only if `replace`.
    /// A new image goes into `entity_id`; a replaced one keeps its entity.
    pub async fn insert_image(&self, name: &str, parsed: &Manifest, manifest: &[u8], replace: bool, entity_id: i64) -> Result<ImageRecord> {
        let (root, content, stats) = (Manifest::root(manifest), parsed.content(), parsed.stats());
        let packed = zstd::bulk::compress(manifest, 3).map_err(|e| Error::io("compressing manifest", e))?;
        let now = unix_now();
        // A replaced image keeps its row (and id), so the tasks that refer
        // to it follow it to the new content. Without `replace` the update
        // is skipped and no row changes: the name is taken.
        let changed = sqlx::query(
            "INSERT INTO images (name, root, content, source_size, data_bytes, chunks, unique_chunks, created_at, manifest, entity_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET root = excluded.root, content = excluded.content, source_size = excluded.source_size, data_bytes = excluded.data_bytes,
                 chunks = excluded.chunks, unique_chunks = excluded.unique_chunks, created_at = excluded.created_at, manifest = excluded.manifest
             WHERE ?",
        )
        .bind(name)
        .bind(root.to_hex())
        .bind(content.to_hex())
        .bind(parsed.source_size as i64)
        .bind(stats.data_bytes as i64)
        .bind(stats.chunks as i64)
        .bind(stats.unique_chunks as i64)
        .bind(now)
        .bind(packed)
        .bind(entity_id)
        .bind(replace)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(Error::ImageExists(name.to_string()));
        }
        self.get(name).await
    }

    /// Computes the content root of images stored before it existed; run
    /// once after the migrations. Returns how many were filled in.
    pub async fn fill_content(&self) -> Result<usize> {
        let rows = sqlx::query("SELECT name, manifest FROM images WHERE content IS NULL").fetch_all(&self.pool).await?;
        for r in &rows {
            let name: String = r.try_get("name")?;
            let z: Vec<u8> = r.try_get("manifest")?;
            let content = crate::format::Manifest::from_bytes(&unpack_manifest(&z, &name)?)?.content();
            sqlx::query("UPDATE images SET content = ? WHERE name = ? AND content IS NULL")
                .bind(content.to_hex())
                .bind(&name)
                .execute(&self.pool)
                .await?;
        }
        Ok(rows.len())
    }

    /// Deletes an image record (its chunks go at the next GC).
    pub async fn delete(&self, name: &str) -> Result<()> {
        let r = match sqlx::query("DELETE FROM images WHERE name = ?").bind(name).execute(&self.pool).await {
            // The task tables' rule (deploy/migrations).
            Err(sqlx::Error::Database(e)) if e.message().contains("unfinished task") => return Err(Error::InUse(name.to_string())),
            r => r?,
        };
        if r.rows_affected() == 0 {
            return Err(Error::NoSuchImage(name.to_string()));
        }
        Ok(())
    }

    /// Registers a new upload, reserving the image name: refused while
    /// another origin's upload of that name is open and not stale; an
    /// upload from the same origin (an interrupted capture run again) or a
    /// stale one is closed and the new one takes the name.
    pub async fn begin_upload(&self, id: &str, name: &str, replace: bool, origin: &str, entity_id: i64) -> Result<Upload> {
        let now = unix_now();
        self.expire_uploads(now).await?;
        let mut tx = self.pool.begin().await?;
        let held = sqlx::query(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE name = ? AND state = 'open'"))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(upload_row)
            .transpose()?;
        if let Some(held) = held {
            if held.origin != origin && !held.is_stale(now) {
                return Err(Error::UploadInProgress { name: name.to_string(), upload: held.id, origin: held.origin, idle_secs: now - held.last_seen });
            }
            let why = if held.origin == origin { "aborted" } else { "expired" };
            sqlx::query("UPDATE uploads SET state = ? WHERE id = ?").bind(why).bind(&held.id).execute(&mut *tx).await?;
            tracing::info!(upload = %held.id, image = name, origin = %held.origin, "upload superseded by a new capture of the same name");
        }
        let inserted = sqlx::query(
            "INSERT INTO uploads (id, name, replace, origin, started_at, last_seen, state, entity_id) VALUES (?, ?, ?, ?, ?, ?, 'open', ?)",
        )
        .bind(id)
        .bind(name)
        .bind(replace)
        .bind(origin)
        .bind(now)
        .bind(now)
        .bind(entity_id)
        .execute(&mut *tx)
        .await;
        match inserted {
            // Another capture of the name began between our look and our insert.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                drop(tx);
                let held = sqlx::query(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE name = ? AND state = 'open'"))
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?;
                let held = upload_row(&held)?;
                return Err(Error::UploadInProgress { name: name.to_string(), upload: held.id, origin: held.origin, idle_secs: now - held.last_seen });
            }
            r => r?,
        };
        tx.commit().await?;
        Ok(Upload { id: id.to_string(), name: name.to_string(), replace, origin: origin.to_string(), entity_id, started_at: now, last_seen: now })
    }

    /// Closes uploads idle past [`UPLOAD_EXPIRY`].
    async fn expire_uploads(&self, now: i64) -> Result<()> {
        sqlx::query("UPDATE uploads SET state = 'expired' WHERE state = 'open' AND last_seen < ?")
            .bind(now - UPLOAD_EXPIRY.as_secs() as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Uploads still open, oldest first.
    pub async fn open_uploads(&self) -> Result<Vec<Upload>> {
        self.expire_uploads(unix_now()).await?;
        let rows = sqlx::query(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE state = 'open' ORDER BY started_at, id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(upload_row).collect()
    }

    /// An open, unexpired upload; refreshes its last-seen time.
    pub async fn upload(&self, id: &str) -> Result<Upload> {
        let now = unix_now();
        let r = sqlx::query("UPDATE uploads SET last_seen = ? WHERE id = ? AND state = 'open' AND last_seen >= ?")
            .bind(now)
            .bind(id)
            .bind(now - UPLOAD_EXPIRY.as_secs() as i64)
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(Error::NoSuchUpload(id.to_string()));
        }
        let row = sqlx::query(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ?")).bind(id).fetch_one(&self.pool).await?;
        upload_row(&row)
    }

    /// Closes an upload as committed or aborted; an upload no longer open
    /// is [`Error::NoSuchUpload`].
    pub async fn close_upload(&self, id: &str, committed: bool) -> Result<()> {
        let r = sqlx::query("UPDATE uploads SET state = ? WHERE id = ? AND state = 'open'")
            .bind(if committed { "committed" } else { "aborted" })
            .bind(id)
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(Error::NoSuchUpload(id.to_string()));
        }
        Ok(())
    }

    /// Start time of the oldest upload still open and unexpired.
    pub async fn oldest_open_upload(&self) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(started_at) AS t FROM uploads WHERE state = 'open' AND last_seen >= ?")
            .bind(unix_now() - UPLOAD_EXPIRY.as_secs() as i64)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("t")?)
    }
}

fn unpack_manifest(z: &[u8], name: &str) -> Result<Vec<u8>> {
    zstd::stream::decode_all(z)
        .map_err(|e| Error::BadManifest(format!("stored manifest of {name:?} is unreadable: {e}")))
}
