//! Stored packages: a row each, their chunks held in the image store. The
//! hold is taken before the row is written and dropped after the row is
//! gone, so a crash in between keeps chunks rather than losing them.

use parc_imaging::Repository;
use serde::Serialize;
use sqlx::{Row, SqlitePool};

use super::manifest::PackageManifest;
use super::PackageError;

/// A package as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageRecord {
    /// Its name.
    pub name: String,
    /// The manifest's root hash.
    pub root: String,
    /// Regular files.
    pub files: u64,
    /// Bytes of all files.
    pub bytes: u64,
    /// What runs on the target once the files are in place.
    pub run: Option<String>,
    /// When it was added (Unix seconds).
    pub created_at: i64,
    /// The entity it belongs to.
    pub entity_id: i64,
}

/// The package store. Cheap to clone.
#[derive(Clone)]
pub struct Packages {
    pool: SqlitePool,
    repo: Repository,
}

fn holder(name: &str, root: &str) -> String {
    format!("package {name}@{root}")
}

fn check_name(name: &str) -> Result<(), PackageError> {
    parc_imaging::repo::validate_name(name)
        .map_err(|_| PackageError::Invalid(format!("package name {name:?}: use 1-128 letters, digits, '.', '_' or '-', not starting with '.'")))
}

impl Packages {
    /// Packages on `db`, their chunks in `repo`'s store.
    pub fn new(db: &parc_db::Db, repo: Repository) -> Self {
        Self { pool: db.sqlite().clone(), repo }
    }

    /// Records a package whose chunks are all stored already; replaces one
    /// of the same name only if `replace`.
    pub async fn add(&self, name: &str, m: &PackageManifest, run: Option<&str>, entity_id: i64, replace: bool) -> Result<PackageRecord, PackageError> {
        check_name(name)?;
        m.validate()?;
        let ids = m.chunk_ids();
        let absent = self.repo.absent(ids.clone()).await.map_err(store)?;
        if let Some(first) = absent.first() {
            return Err(PackageError::ChunksAbsent { count: absent.len(), first: *first });
        }
        let old = self.record(name).await?;
        if old.is_some() && !replace {
            return Err(PackageError::Exists(name.to_string()));
        }
        let root = m.root();
        self.repo.catalog().hold(&holder(name, &root), &ids).await.map_err(store)?;
        sqlx::query(
            "INSERT INTO packages (name, root, files, bytes, run, created_at, entity_id, manifest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET root = excluded.root, files = excluded.files, bytes = excluded.bytes, run = excluded.run,
                 created_at = excluded.created_at, manifest = excluded.manifest",
        )
        .bind(name)
        .bind(&root)
        .bind(m.files() as i64)
        .bind(m.bytes() as i64)
        .bind(run)
        .bind(parc_db::unix_now())
        .bind(entity_id)
        .bind(m.to_bytes())
        .execute(&self.pool)
        .await?;
        if let Some(old) = old.filter(|o| o.root != root) {
            self.repo.catalog().release(&holder(&old.name, &old.root)).await.map_err(store)?;
        }
        self.record(name).await?.ok_or_else(|| PackageError::NotFound(name.to_string()))
    }

    /// Every package, by name.
    pub async fn list(&self) -> Result<Vec<PackageRecord>, PackageError> {
        let rows = sqlx::query("SELECT name, root, files, bytes, run, created_at, entity_id FROM packages ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(record).collect()
    }

    /// One package and its manifest.
    pub async fn get(&self, name: &str) -> Result<(PackageRecord, PackageManifest), PackageError> {
        let row = sqlx::query("SELECT name, root, files, bytes, run, created_at, entity_id, manifest FROM packages WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| PackageError::NotFound(name.to_string()))?;
        let bytes: Vec<u8> = row.try_get("manifest")?;
        Ok((record(&row)?, PackageManifest::from_bytes(&bytes)?))
    }

    /// Removes a package; its chunks go at the next GC unless something
    /// else holds them.
    pub async fn remove(&self, name: &str) -> Result<PackageRecord, PackageError> {
        let r = self.record(name).await?.ok_or_else(|| PackageError::NotFound(name.to_string()))?;
        sqlx::query("DELETE FROM packages WHERE name = ?").bind(&r.name).execute(&self.pool).await?;
        self.repo.catalog().release(&holder(&r.name, &r.root)).await.map_err(store)?;
        Ok(r)
    }

    async fn record(&self, name: &str) -> Result<Option<PackageRecord>, PackageError> {
        let row = sqlx::query("SELECT name, root, files, bytes, run, created_at, entity_id FROM packages WHERE name = ?").bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(record).transpose()
    }
}

fn record(r: &sqlx::sqlite::SqliteRow) -> Result<PackageRecord, PackageError> {
    Ok(PackageRecord {
        name: r.try_get("name")?,
        root: r.try_get("root")?,
        files: r.try_get::<i64, _>("files")? as u64,
        bytes: r.try_get::<i64, _>("bytes")? as u64,
        run: r.try_get("run")?,
        created_at: r.try_get("created_at")?,
        entity_id: r.try_get("entity_id")?,
    })
}

fn store(e: parc_imaging::Error) -> PackageError {
    PackageError::Store(e.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use parc_imaging::format::ChunkingParams;

    use super::*;
    use crate::package::build;

    async fn fixture() -> (tempfile::TempDir, Packages, Repository) {
        let d = tempfile::tempdir().unwrap();
        let db = parc_db::Db::open_sqlite(&d.path().join("parc.db"), true).await.unwrap();
        db.migrate([parc_imaging::catalog::migrator(), parc_inventory::registry::migrator(), crate::migrator()]).await.unwrap();
        let repo = Repository::new(Arc::new(parc_imaging::store::MemoryStore::default()), parc_imaging::Catalog::new(&db));
        (d, Packages::new(&db, repo.clone()), repo)
    }

    /// Builds `dir` into a manifest, storing its chunks.
    async fn built(repo: &Repository, dir: &std::path::Path) -> PackageManifest {
        let mut chunks = Vec::new();
        let m = build(dir, ChunkingParams::default(), &mut |id, b| {
            chunks.push((id, b));
            Ok(())
        })
        .unwrap();
        repo.put_raw_chunks(chunks).await.unwrap();
        m
    }

    #[tokio::test]
    async fn packages_are_kept_listed_replaced_and_removed_with_their_chunks() {
        let (d, pkgs, repo) = fixture().await;
        let tree = d.path().join("tree");
        std::fs::create_dir_all(tree.join("bin")).unwrap();
        std::fs::write(tree.join("bin/tool"), content(600_000, 1)).unwrap();
        let v1 = built(&repo, &tree).await;
        let r = pkgs.add("tools", &v1, Some("bin/tool --install"), 1, false).await.unwrap();
        assert_eq!((r.files, r.bytes, r.run.as_deref()), (1, 600_000, Some("bin/tool --install")));
        assert_eq!(pkgs.get("TOOLS").await.unwrap().1, v1, "names are one whatever their case");
        let again = pkgs.add("tools", &v1, None, 1, false).await.unwrap_err().to_string();
        assert!(again.contains("already exists"), "{again}");
        assert!(pkgs.add("../x", &v1, None, 1, false).await.unwrap_err().to_string().contains("package name"));

        // GC keeps what a package holds.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(repo.gc(Duration::ZERO).await.unwrap().removed, 0);

        // A new version replaces it; the old version's own chunks go.
        std::fs::write(tree.join("bin/tool"), content(600_000, 2)).unwrap();
        let v2 = built(&repo, &tree).await;
        pkgs.add("tools", &v2, None, 1, true).await.unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(repo.gc(Duration::ZERO).await.unwrap().removed > 0, "v1's chunks are released");
        assert!(repo.absent(v2.chunk_ids()).await.unwrap().is_empty(), "v2's are kept");
        assert_eq!(pkgs.list().await.unwrap().iter().map(|r| r.root.clone()).collect::<Vec<_>>(), [v2.root()]);

        // Removed, its chunks go too; a second remove says so.
        pkgs.remove("tools").await.unwrap();
        std::thread::sleep(Duration::from_millis(20));
        repo.gc(Duration::ZERO).await.unwrap();
        assert_eq!(repo.absent(v2.chunk_ids()).await.unwrap().len(), v2.chunk_ids().len());
        assert!(pkgs.remove("tools").await.unwrap_err().to_string().contains("no package"));

        // A manifest whose chunks are not stored is refused, and nothing is recorded.
        let refused = pkgs.add("tools", &v2, None, 1, false).await.unwrap_err().to_string();
        assert!(refused.contains("chunk(s) the store lacks"), "{refused}");
        assert!(pkgs.list().await.unwrap().is_empty());
    }

    /// Deterministic bytes that do not compress to nothing.
    fn content(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32).map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 11) as u8).collect()
    }
}
