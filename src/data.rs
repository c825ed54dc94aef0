//! A data directory: the one database (`parc.db`) and the chunk store
//! (`chunks/`), opened once and handed to every domain crate.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{bail, Context};
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
    /// Users, roles, tokens.
    pub access: parc_access::Access,
    /// The audit log.
    pub audit: parc_access::AuditLog,
}

/// Whether opening a data directory may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `parc serve` and captures: a new directory is made.
    Create,
    /// Everything else: a mistyped path is an error, not a new empty store.
    Existing,
}

/// Opens the data directory `dir` (creating it in `Mode::Create`) and
/// brings its database up to date: the catalog's tables, then the
/// registry's, then the tasks' (which refer to both), then accounts'.
pub async fn open(dir: &Path, mode: Mode) -> anyhow::Result<Data> {
    let path = dir.join("parc.db");
    match mode {
        Mode::Create => std::fs::create_dir_all(dir).with_context(|| format!("creating the data directory {}", dir.display()))?,
        Mode::Existing if !path.is_file() => bail!(
            "no parc data directory at {} (one holds parc.db and chunks/; `parc serve --data-dir DIR` or `parc image capture --store DIR` makes one)",
            dir.display()
        ),
        Mode::Existing => {}
    }
    let db = Db::open_sqlite(&path, mode == Mode::Create).await.with_context(|| format!("opening {}", path.display()))?;
    db.migrate([parc_imaging::catalog::migrator(), parc_inventory::migrator(), parc_deploy::migrator(), parc_access::migrator()])
        .await
        .with_context(|| format!("bringing {} up to date", path.display()))?;
    let repo = Repository::open_dir(dir, &db).with_context(|| format!("opening the chunk store in {}", dir.display()))?;
    repo.catalog().fill_content().await.with_context(|| format!("computing content roots in {}", path.display()))?;
    Ok(Data {
        inventory: Inventory::new(&db),
        tasks: Tasks::new(&db),
        access: parc_access::Access::new(&db),
        audit: parc_access::AuditLog::new(&db),
        repo,
        db,
    })
}

/// The data directory's lock, held while `parc serve` runs: two servers on
/// one directory would each run the scheduler and the boot claims.
pub struct ServeLock {
    _file: File,
}

/// Takes `dir/parc.lock` for this server, or says which process holds it.
pub fn lock_for_serving(dir: &Path) -> anyhow::Result<ServeLock> {
    let path = dir.join("parc.lock");
    let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: plain syscall on an open descriptor; the lock lives as long as the file.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        bail!(
            "another parc serve{} already uses the data directory {} (stop it first, or give this one another --data-dir)",
            if holder.is_empty() { String::new() } else { format!(" (PID {holder})") },
            dir.display()
        );
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(ServeLock { _file: file })
}

#[cfg(test)]
mod tests {
    /// The crates share one migrations table, keyed by version: two crates
    /// with one version would each see the other's as "modified".
    #[test]
    fn migration_versions_are_unique_across_crates() {
        let mut seen = std::collections::HashMap::new();
        let sets = [
            ("imaging", parc_imaging::catalog::migrator()),
            ("inventory", parc_inventory::migrator()),
            ("deploy", parc_deploy::migrator()),
            ("access", parc_access::migrator()),
        ];
        for (krate, m) in sets {
            for mig in m.iter() {
                if let Some(other) = seen.insert(mig.version, krate) {
                    panic!("migration {} is in both {other} and {krate}: give one a new version", mig.version);
                }
            }
        }
    }
}
