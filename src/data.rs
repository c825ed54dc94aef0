//! A data directory: the one database (`parc.db`) and the chunk store
//! (`chunks/`), opened once and handed to every domain crate.

use std::path::Path;

use anyhow::Context;
use parc_db::Db;
use parc_deploy::Tasks;
use parc_imaging::Repository;
use parc_inventory::Inventory;

/// Everything stored in a data directory.
pub struct Data {
    /// The database handle the stores share.
    pub db: Db,
    /// Images and chunks.
    pub repo: Repository,
    /// Hosts.
    pub inventory: Inventory,
    /// Tasks.
    pub tasks: Tasks,
}

/// Opens (creating) the data directory `dir` and brings its database up to
/// date: the catalog's tables, then the registry's, then the tasks' (which
/// refer to both).
pub async fn open(dir: &Path) -> anyhow::Result<Data> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating the data directory {}", dir.display()))?;
    let path = dir.join("parc.db");
    let db = Db::open_sqlite(&path, true).await.with_context(|| format!("opening {}", path.display()))?;
    db.migrate([parc_imaging::catalog::migrator(), parc_inventory::migrator(), parc_deploy::migrator()])
        .await
        .with_context(|| format!("bringing {} up to date", path.display()))?;
    let repo = Repository::open_dir(dir, &db).with_context(|| format!("opening the chunk store in {}", dir.display()))?;
    Ok(Data { inventory: Inventory::new(&db), tasks: Tasks::new(&db), repo, db })
}
