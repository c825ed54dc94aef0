//! The image catalog: which images exist, their manifests, and uploads in
//! flight. SQLite through sqlx on the shared [`parc_db::Db`]; the migrations
//! live in `imaging/migrations`.

use std::time::Duration;

pub use parc_db::unix_now;
use serde::Serialize;
use sqlx::{Row, SqlitePool};

use crate::error::{Error, Result};
use crate::format::manifest::ManifestStats;
use crate::id::ChunkId;

/// An upload left idle this long is considered abandoned.
pub const UPLOAD_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// An image as listed by the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ImageRecord {
    /// Unique name.
    pub name: String,
    /// BLAKE3 of the manifest bytes.
    pub root: ChunkId,
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
}

/// An open upload.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Random id handed to the client.
    pub id: String,
    /// Name the image will get.
    pub name: String,
    /// Whether committing may replace an image of the same name.
    pub replace: bool,
    /// Unix time the upload started.
    pub started_at: i64,
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
    let root: String = row.try_get("root")?;
    Ok(ImageRecord {
        name: row.try_get("name")?,
        root: root.parse().map_err(|e: crate::id::BadChunkId| Error::BadManifest(e.to_string()))?,
        source_size: row.try_get::<i64, _>("source_size")? as u64,
        data_bytes: row.try_get::<i64, _>("data_bytes")? as u64,
        chunks: row.try_get::<i64, _>("chunks")? as u64,
        unique_chunks: row.try_get::<i64, _>("unique_chunks")? as u64,
        created_at: row.try_get("created_at")?,
    })
}

const RECORD_COLUMNS: &str = "name, root, source_size, data_bytes, chunks, unique_chunks, created_at";

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

    /// Records a committed image; replaces one of the same name only if `replace`.
    pub async fn insert_image(
        &self,
        name: &str,
        root: &ChunkId,
        source_size: u64,
        stats: &ManifestStats,
        manifest: &[u8],
        replace: bool,
    ) -> Result<ImageRecord> {
        let packed = zstd::bulk::compress(manifest, 3).map_err(|e| Error::io("compressing manifest", e))?;
        let now = unix_now();
        // A replaced image keeps its row (and id), so the tasks that refer
        // to it follow it to the new content. Without `replace` the update
        // is skipped and no row changes: the name is taken.
        let changed = sqlx::query(
            "INSERT INTO images (name, root, source_size, data_bytes, chunks, unique_chunks, created_at, manifest)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET root = excluded.root, source_size = excluded.source_size, data_bytes = excluded.data_bytes,
                 chunks = excluded.chunks, unique_chunks = excluded.unique_chunks, created_at = excluded.created_at, manifest = excluded.manifest
             WHERE ?",
        )
        .bind(name)
        .bind(root.to_hex())
        .bind(source_size as i64)
        .bind(stats.data_bytes as i64)
        .bind(stats.chunks as i64)
        .bind(stats.unique_chunks as i64)
        .bind(now)
        .bind(packed)
        .bind(replace)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(Error::ImageExists(name.to_string()));
        }
        self.get(name).await
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

    /// Registers a new upload and returns it.
    pub async fn begin_upload(&self, id: &str, name: &str, replace: bool) -> Result<Upload> {
        let now = unix_now();
        sqlx::query("INSERT INTO uploads (id, name, replace, started_at, last_seen, state) VALUES (?, ?, ?, ?, ?, 'open')")
            .bind(id)
            .bind(name)
            .bind(replace)
            .bind(now)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(Upload { id: id.to_string(), name: name.to_string(), replace, started_at: now })
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
        let row = sqlx::query("SELECT id, name, replace, started_at FROM uploads WHERE id = ?")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok(Upload {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            replace: row.try_get("replace")?,
            started_at: row.try_get("started_at")?,
        })
    }

    /// Closes an upload as committed or aborted.
    pub async fn close_upload(&self, id: &str, committed: bool) -> Result<()> {
        sqlx::query("UPDATE uploads SET state = ? WHERE id = ?")
            .bind(if committed { "committed" } else { "aborted" })
            .bind(id)
            .execute(&self.pool)
            .await?;
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
