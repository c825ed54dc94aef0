//! The [`Access`] store: users, roles, grants on the entity tree, API tokens.
//! Migrations in `access/migrations`, run after the other crates'.

use std::collections::BTreeSet;

use parc_db::unix_now;
use serde::Serialize;
use sqlx::{Row, SqlitePool};

use crate::error::{Error, Result};
use crate::permission::{parse_list, Permission};
use crate::secret;

/// The root entity's id; every object belongs to it until entities are assigned.
pub const ROOT_ENTITY: i64 = 1;

/// The built-in role every right belongs to.
pub const ADMIN_ROLE: &str = "admin";

/// The account made at first start.
pub const FIRST_ADMIN: &str = "admin";

/// Last-used times are written at most this often per token, so requests
/// (thousands per capture) do not each write to the database.
const LAST_USED_EVERY: i64 = 60;

/// The access tables' migrations.
pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations")
}

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// A user name and password (login).
    Password,
    /// An API token.
    Token,
    /// A netboot environment's per-task token.
    Agent,
    /// The web console's session cookie.
    Session,
}

impl AuthMethod {
    /// Its name in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Password => "password",
            AuthMethod::Token => "token",
            AuthMethod::Agent => "agent",
            AuthMethod::Session => "session",
        }
    }
}

/// An authenticated user.
#[derive(Debug, Clone, Serialize)]
pub struct UserPrincipal {
    /// User id.
    pub id: i64,
    /// User name.
    pub name: String,
    /// The token used, if any.
    pub token_id: Option<i64>,
}

/// A user as listed.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct User {
    /// Id, never reused.
    pub id: i64,
    /// Unique name (case-insensitive).
    pub name: String,
    /// Whether a password is set (else only tokens log in).
    pub has_password: bool,
    /// Unix time created.
    pub created_at: i64,
    /// Roles held, each on an entity (and all below it).
    pub grants: Vec<Grant>,
}

/// A role on an entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Grant {
    /// Role name.
    pub role: String,
    /// Entity path, `/` for the root.
    pub entity: String,
}

/// A role: a named set of permissions.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Role {
    /// Unique name.
    pub name: String,
    /// Shipped with parc (cannot be changed or removed).
    pub builtin: bool,
    /// What it allows.
    pub permissions: Vec<Permission>,
}

/// An API token as listed (never its secret).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TokenInfo {
    /// Id, for `parc token revoke`.
    pub id: i64,
    /// Owner.
    pub user: String,
    /// What it is for.
    pub name: String,
    /// Unix times.
    pub created_at: i64,
    /// After this it is refused.
    pub expires_at: Option<i64>,
    /// Last request made with it (to the minute).
    pub last_used: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

/// An entity of the tree.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Entity {
    /// Id.
    pub id: i64,
    /// Full path, `/` for the root, e.g. `/Ministry/Site A`.
    pub path: String,
}

/// The entities where a principal holds one permission.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    all: bool,
    ids: std::collections::HashSet<i64>,
    tops: Vec<i64>,
}

impl Scope {
    /// Everywhere (a netboot environment within its task, the local CLI).
    pub fn all() -> Self {
        Scope { all: true, ids: Default::default(), tops: vec![ROOT_ENTITY] }
    }

    /// Whether objects of entity `id` are inside.
    pub fn contains(&self, id: i64) -> bool {
        self.all || self.ids.contains(&id)
    }

    /// The entities inside, for a query's filter; `None`: everywhere.
    pub fn entities(&self) -> Option<Vec<i64>> {
        (!self.all).then(|| self.ids.iter().copied().collect())
    }

    /// Nowhere at all.
    pub fn is_empty(&self) -> bool {
        !self.all && self.ids.is_empty()
    }

    /// Where a new object goes when none is named: the root when inside,
    /// else the one entity granted, else none (it must be named).
    pub fn home(&self) -> Option<i64> {
        if self.contains(ROOT_ENTITY) {
            return Some(ROOT_ENTITY);
        }
        match self.tops.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }
}

/// Handle on the access tables.
#[derive(Clone, Debug)]
pub struct Access {
    pool: SqlitePool,
    throttle: std::sync::Arc<crate::throttle::Throttle>,
}

fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!("invalid {what} name {name:?}: use 1-64 letters, digits, '.', '_', '-' or '@'")))
    }
}

impl Access {
    /// The store on a migrated database (see [`migrator`]).
    pub fn new(db: &parc_db::Db) -> Self {
        Self { pool: db.sqlite().clone(), throttle: Default::default() }
    }

    /// This process's login back-off.
    pub fn throttle(&self) -> &crate::throttle::Throttle {
        &self.throttle
    }

    /// On an empty database, makes the `admin` account (holding the admin
    /// role on the root entity, no password) and returns a first API token
    /// for it: `secret` if given (provisioning), else a random one. `None`
    /// when users exist already.
    pub async fn bootstrap(&self, secret: Option<&str>) -> Result<Option<String>> {
        let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&self.pool).await?;
        if users > 0 {
            return Ok(None);
        }
        let secret = match secret {
            Some(s) if s.trim().len() >= 32 => s.trim().to_string(),
            Some(_) => return Err(Error::Invalid("an initial admin token needs at least 32 characters".into())),
            None => secret::new_token()?,
        };
        let user = self.add_user(FIRST_ADMIN, None).await?;
        self.grant(&user.name, ADMIN_ROLE, "/").await?;
        self.insert_token(user.id, "initial admin token", &secret, None).await?;
        tracing::info!("made the first account, {FIRST_ADMIN}");
        Ok(Some(secret))
    }

    // --- users ---

    /// Adds a user; `password` may be absent (tokens only, until `passwd`).
    pub async fn add_user(&self, name: &str, password: Option<&str>) -> Result<User> {
        check_name("user", name)?;
        let hash = password.map(secret::hash_password).transpose()?;
        let r = sqlx::query("INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)")
            .bind(name)
            .bind(hash)
            .bind(unix_now())
            .execute(&self.pool)
            .await;
        match r {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(Error::Conflict(format!("a user named {name:?} exists"))),
            r => r?,
        };
        self.user(name).await
    }

    /// One user with their grants.
    pub async fn user(&self, name: &str) -> Result<User> {
        let row = sqlx::query("SELECT id, name, password_hash IS NOT NULL AS has_password, created_at FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user {name:?} (`parc user list` shows them)")))?;
        let id: i64 = row.try_get("id")?;
        Ok(User { id, name: row.try_get("name")?, has_password: row.try_get("has_password")?, created_at: row.try_get("created_at")?, grants: self.grants_of(id).await? })
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>> {
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM users ORDER BY name").fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            out.push(self.user(&n).await?);
        }
        Ok(out)
    }

    async fn grants_of(&self, user_id: i64) -> Result<Vec<Grant>> {
        let rows = sqlx::query("SELECT r.name AS role, g.entity_id FROM grants g JOIN roles r ON r.id = g.role_id WHERE g.user_id = ? ORDER BY r.name, g.entity_id")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for r in rows {
            out.push(Grant { role: r.try_get("role")?, entity: self.entity_path(r.try_get("entity_id")?).await? });
        }
        Ok(out)
    }

    /// Removes a user and their tokens; the last administrator stays.
    pub async fn remove_user(&self, name: &str) -> Result<User> {
        let user = self.user(name).await?;
        if self.is_last_admin(user.id).await? {
            return Err(Error::Conflict(format!("{name:?} is the last administrator (admin on /): grant admin to another user first")));
        }
        sqlx::query("DELETE FROM users WHERE id = ?").bind(user.id).execute(&self.pool).await?;
        Ok(user)
    }

    async fn is_last_admin(&self, user_id: i64) -> Result<bool> {
        let admins: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT g.user_id FROM grants g JOIN roles r ON r.id = g.role_id WHERE r.name = ? AND g.entity_id = ?",
        )
        .bind(ADMIN_ROLE)
        .bind(ROOT_ENTITY)
        .fetch_all(&self.pool)
        .await?;
        Ok(admins == [user_id])
    }

    /// Sets (or replaces) a user's password.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<()> {
        let hash = secret::hash_password(password)?;
        let r = sqlx::query("UPDATE users SET password_hash = ? WHERE name = ?").bind(hash).bind(name).execute(&self.pool).await?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound(format!("no user {name:?}")));
        }
        Ok(())
    }

    /// Checks a user name and password.
    pub async fn login(&self, name: &str, password: &str) -> Result<UserPrincipal> {
        let row = sqlx::query("SELECT id, name, password_hash FROM users WHERE name = ?").bind(name).fetch_optional(&self.pool).await?;
        let Some(row) = row else {
            secret::burn_time(password);
            return Err(Error::BadLogin);
        };
        let hash: Option<String> = row.try_get("password_hash")?;
        match hash {
            Some(h) if secret::verify_password(password, &h) => Ok(UserPrincipal { id: row.try_get("id")?, name: row.try_get("name")?, token_id: None }),
            Some(_) => Err(Error::BadLogin),
            None => {
                secret::burn_time(password);
                Err(Error::BadLogin)
            }
        }
    }

    // --- roles and grants ---

    /// Every role.
    pub async fn roles(&self) -> Result<Vec<Role>> {
        let rows = sqlx::query("SELECT name, builtin, permissions FROM roles ORDER BY builtin DESC, name").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let perms: String = r.try_get("permissions")?;
                Ok(Role { name: r.try_get("name")?, builtin: r.try_get("builtin")?, permissions: parse_list(&perms).map_err(|e| Error::Invalid(e.to_string()))? })
            })
            .collect()
    }

    /// Makes a custom role.
    pub async fn add_role(&self, name: &str, permissions: &[Permission]) -> Result<Role> {
        check_name("role", name)?;
        if permissions.is_empty() {
            return Err(Error::Invalid("a role needs at least one permission".into()));
        }
        let set: BTreeSet<Permission> = permissions.iter().copied().collect();
        let list = set.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" ");
        let r = sqlx::query("INSERT INTO roles (name, builtin, permissions) VALUES (?, 0, ?)").bind(name).bind(list).execute(&self.pool).await;
        match r {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(Error::Conflict(format!("a role named {name:?} exists"))),
            r => r?,
        };
        Ok(Role { name: name.to_string(), builtin: false, permissions: set.into_iter().collect() })
    }

    /// Grants `role` to `user` on the entity at `path` (and all below it).
    pub async fn grant(&self, user: &str, role: &str, path: &str) -> Result<()> {
        let u = self.user(user).await?;
        let role_id = self.role_id(role).await?;
        let entity = self.entity_by_path(path).await?;
        sqlx::query("INSERT OR IGNORE INTO grants (user_id, role_id, entity_id) VALUES (?, ?, ?)")
            .bind(u.id)
            .bind(role_id)
            .bind(entity.id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes a grant back; the last administrator keeps theirs.
    pub async fn revoke_grant(&self, user: &str, role: &str, path: &str) -> Result<()> {
        let u = self.user(user).await?;
        let role_id = self.role_id(role).await?;
        let entity = self.entity_by_path(path).await?;
        if role.eq_ignore_ascii_case(ADMIN_ROLE) && entity.id == ROOT_ENTITY && self.is_last_admin(u.id).await? {
            return Err(Error::Conflict(format!("{user:?} is the last administrator (admin on /): grant admin to another user first")));
        }
        let r = sqlx::query("DELETE FROM grants WHERE user_id = ? AND role_id = ? AND entity_id = ?")
            .bind(u.id)
            .bind(role_id)
            .bind(entity.id)
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound(format!("{user:?} does not hold {role:?} on {}", entity.path)));
        }
        Ok(())
    }

    async fn role_id(&self, role: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT id FROM roles WHERE name = ?")
            .bind(role)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no role {role:?} (`parc role list` shows them)")))
    }

    /// Whether `user` holds `perm` on `entity` (through a grant there or above).
    pub async fn allowed(&self, user_id: i64, perm: Permission, entity: i64) -> Result<bool> {
        Ok(self.scope(user_id, perm).await?.contains(entity))
    }

    /// Where `user` holds `perm`: the entities granted with it and all below.
    pub async fn scope(&self, user_id: i64, perm: Permission) -> Result<Scope> {
        // One walk down from the grants; `top` marks the entities granted
        // themselves (a grant inside another grant's subtree stays a top).
        let rows: Vec<(i64, bool)> = sqlx::query_as(
            "WITH RECURSIVE down(id, top) AS (
                 SELECT g.entity_id, 1 FROM grants g JOIN roles r ON r.id = g.role_id
                 WHERE g.user_id = ? AND instr(' ' || r.permissions || ' ', ' ' || ? || ' ') > 0
                 UNION SELECT e.id, 0 FROM entities e JOIN down ON e.parent_id = down.id)
             SELECT id, max(top) FROM down GROUP BY id ORDER BY id",
        )
        .bind(user_id)
        .bind(perm.as_str())
        .fetch_all(&self.pool)
        .await?;
        let tops: Vec<i64> = rows.iter().filter(|r| r.1).map(|r| r.0).collect();
        // Every entity is below the root: a grant there is everywhere, and
        // queries need no entity filter (which costs a row read per host).
        let all = tops.contains(&ROOT_ENTITY);
        Ok(Scope { all, ids: rows.into_iter().map(|r| r.0).collect(), tops })
    }

    // --- entities ---

    /// The path of entity `id`.
    pub async fn entity_path(&self, id: i64) -> Result<String> {
        let names: Vec<String> = sqlx::query_scalar(
            "WITH RECURSIVE up(id, parent_id, name, depth) AS (
                 SELECT id, parent_id, name, 0 FROM entities WHERE id = ?
                 UNION ALL SELECT e.id, e.parent_id, e.name, up.depth + 1 FROM entities e JOIN up ON e.id = up.parent_id)
             SELECT name FROM up WHERE parent_id IS NOT NULL ORDER BY depth DESC",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(format!("/{}", names.join("/")))
    }

    /// The entity at `path` (`/`, `/Ministry/Site A`).
    pub async fn entity_by_path(&self, path: &str) -> Result<Entity> {
        let mut id = ROOT_ENTITY;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            id = sqlx::query_scalar("SELECT id FROM entities WHERE parent_id = ? AND name = ? COLLATE NOCASE")
                .bind(id)
                .bind(part)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no entity {path:?} (`parc entity list` shows them)")))?;
        }
        Ok(Entity { id, path: self.entity_path(id).await? })
    }

    /// Makes the entity at `path` under its existing parent.
    pub async fn add_entity(&self, path: &str) -> Result<Entity> {
        let path = path.trim_end_matches('/');
        let (parent, name) = path.rsplit_once('/').ok_or_else(|| Error::Invalid(format!("an entity path starts with '/': {path:?}")))?;
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(Error::Invalid(format!("invalid entity name {name:?}")));
        }
        let parent = self.entity_by_path(if parent.is_empty() { "/" } else { parent }).await?;
        let r = sqlx::query("INSERT INTO entities (parent_id, name) VALUES (?, ?)").bind(parent.id).bind(name).execute(&self.pool).await;
        match r {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(Error::Conflict(format!("entity {path:?} exists"))),
            r => r?,
        };
        self.entity_by_path(path).await
    }

    /// Every entity, by path.
    pub async fn entities(&self) -> Result<Vec<Entity>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM entities").fetch_all(&self.pool).await?;
        let mut out = Vec::new();
        for id in ids {
            out.push(Entity { id, path: self.entity_path(id).await? });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    // --- tokens ---

    async fn insert_token(&self, user_id: i64, name: &str, secret: &str, expires_at: Option<i64>) -> Result<i64> {
        let r = sqlx::query("INSERT INTO tokens (user_id, name, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(user_id)
            .bind(name)
            .bind(secret::token_hash(secret))
            .bind(unix_now())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(r.last_insert_rowid())
    }

    /// A new API token for `user`; the secret is returned once and never stored.
    pub async fn create_token(&self, user: &str, name: &str, expires_at: Option<i64>) -> Result<(TokenInfo, String)> {
        if name.trim().is_empty() || name.len() > 128 {
            return Err(Error::Invalid("a token needs a name of 1-128 characters (what it is for)".into()));
        }
        if expires_at.is_some_and(|t| t <= unix_now()) {
            return Err(Error::Invalid("the expiry is in the past".into()));
        }
        let u = self.user(user).await?;
        let secret = secret::new_token()?;
        let id = self.insert_token(u.id, name.trim(), &secret, expires_at).await?;
        Ok((self.token(id).await?, secret))
    }

    async fn token(&self, id: i64) -> Result<TokenInfo> {
        let rows = self.token_rows(Some(id), None).await?;
        rows.into_iter().next().ok_or_else(|| Error::NotFound(format!("no token {id} (`parc token list` shows them)")))
    }

    async fn token_rows(&self, id: Option<i64>, user: Option<i64>) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT t.id, u.name AS user, t.name, t.created_at, t.expires_at, t.last_used, t.revoked_at
             FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE (?1 IS NULL OR t.id = ?1) AND (?2 IS NULL OR t.user_id = ?2) ORDER BY t.id",
        )
        .bind(id)
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.try_get("id")?,
                    user: r.try_get("user")?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    last_used: r.try_get("last_used")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Tokens of one user (by id), or of everyone.
    pub async fn tokens(&self, user_id: Option<i64>) -> Result<Vec<TokenInfo>> {
        self.token_rows(None, user_id).await
    }

    /// Revokes token `id`: refused from the next request on. `owner`
    /// limits it to that user's tokens (others' are "not found").
    pub async fn revoke_token(&self, id: i64, owner: Option<i64>) -> Result<TokenInfo> {
        let r = sqlx::query("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND (?3 IS NULL OR user_id = ?3)")
            .bind(unix_now())
            .bind(id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            let exists = self.token_rows(Some(id), owner).await?.into_iter().next();
            return Err(match exists {
                Some(t) if t.revoked_at.is_some() => Error::Conflict(format!("token {id} is already revoked")),
                _ => Error::NotFound(format!("no token {id} (`parc token list` shows yours)")),
            });
        }
        self.token(id).await
    }

    /// The user behind a token secret, if it is valid now.
    pub async fn authenticate(&self, secret: &str) -> Result<UserPrincipal> {
        let now = unix_now();
        let row = sqlx::query(
            "SELECT t.id, t.user_id, u.name, t.last_used FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE t.hash = ? AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?)",
        )
        .bind(secret::token_hash(secret))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::BadToken)?;
        let id: i64 = row.try_get("id")?;
        let last: Option<i64> = row.try_get("last_used")?;
        if last.is_none_or(|t| now - t >= LAST_USED_EVERY) {
            sqlx::query("UPDATE tokens SET last_used = ? WHERE id = ?").bind(now).bind(id).execute(&self.pool).await?;
        }
        Ok(UserPrincipal { id: row.try_get("user_id")?, name: row.try_get("name")?, token_id: Some(id) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn access() -> (tempfile::TempDir, Access) {
        let d = tempfile::tempdir().unwrap();
        let db = parc_db::Db::open_sqlite(&d.path().join("parc.db"), true).await.unwrap();
        db.migrate([migrator()]).await.unwrap();
        (d, Access::new(&db))
    }

    #[tokio::test]
    async fn bootstrap_makes_one_admin_once() {
        let (_d, a) = access().await;
        let secret = a.bootstrap(None).await.unwrap().unwrap();
        let p = a.authenticate(&secret).await.unwrap();
        assert_eq!(p.name, FIRST_ADMIN);
        assert!(a.allowed(p.id, Permission::UserAdmin, ROOT_ENTITY).await.unwrap());
        assert!(a.bootstrap(None).await.unwrap().is_none(), "only on an empty database");
        assert!(matches!(a.remove_user(FIRST_ADMIN).await, Err(Error::Conflict(_))), "the last admin stays");
        assert!(matches!(a.revoke_grant(FIRST_ADMIN, ADMIN_ROLE, "/").await, Err(Error::Conflict(_))));
    }

    #[tokio::test]
    async fn roles_hold_on_their_entity_and_below_only() {
        let (_d, a) = access().await;
        a.add_entity("/Ministry").await.unwrap();
        let site = a.add_entity("/Ministry/Site A").await.unwrap();
        let lab = a.add_entity("/Ministry/Site A/Lab 3").await.unwrap();
        let other = a.add_entity("/Ministry/Site B").await.unwrap();
        assert_eq!(lab.path, "/Ministry/Site A/Lab 3");
        let tech = a.add_user("tech", Some("long enough")).await.unwrap();
        a.grant("tech", "technician", "/Ministry/Site A").await.unwrap();
        assert!(a.allowed(tech.id, Permission::TaskCreate, site.id).await.unwrap());
        assert!(a.allowed(tech.id, Permission::TaskCreate, lab.id).await.unwrap());
        assert!(!a.allowed(tech.id, Permission::TaskCreate, other.id).await.unwrap());
        assert!(!a.allowed(tech.id, Permission::TaskCreate, ROOT_ENTITY).await.unwrap());
        assert!(!a.allowed(tech.id, Permission::ImageDelete, lab.id).await.unwrap(), "not in the role");
        assert_eq!(a.user("TECH").await.unwrap().grants, [Grant { role: "technician".into(), entity: "/Ministry/Site A".into() }]);
    }

    #[tokio::test]
    async fn a_scope_is_the_granted_entities_and_all_below() {
        let (_d, a) = access().await;
        let a_ = a.add_entity("/A").await.unwrap();
        let lab = a.add_entity("/A/Lab").await.unwrap();
        let b = a.add_entity("/B").await.unwrap();
        let t = a.add_user("t", None).await.unwrap();
        a.grant("t", "technician", "/A").await.unwrap();
        let s = a.scope(t.id, Permission::HostRead).await.unwrap();
        assert!(s.contains(a_.id) && s.contains(lab.id) && !s.contains(b.id) && !s.contains(ROOT_ENTITY));
        assert_eq!(s.home(), Some(a_.id));
        assert!(a.scope(t.id, Permission::HostEdit).await.unwrap().is_empty(), "not in the role");
        a.grant("t", "technician", "/B").await.unwrap();
        assert_eq!(a.scope(t.id, Permission::HostRead).await.unwrap().home(), None, "two places: name one");
    }

    #[tokio::test]
    async fn tokens_expire_and_revocation_holds_at_once() {
        let (_d, a) = access().await;
        a.add_user("ci", None).await.unwrap();
        let (info, secret) = a.create_token("ci", "pipeline", None).await.unwrap();
        assert_eq!(a.authenticate(&secret).await.unwrap().token_id, Some(info.id));
        assert!(a.tokens(None).await.unwrap()[0].last_used.is_some());
        a.revoke_token(info.id, None).await.unwrap();
        assert!(matches!(a.authenticate(&secret).await, Err(Error::BadToken)));
        let (old, secret) = a.create_token("ci", "short-lived", Some(unix_now() + 1)).await.unwrap();
        sqlx::query("UPDATE tokens SET expires_at = ? WHERE id = ?").bind(unix_now() - 1).bind(old.id).execute(&a.pool).await.unwrap();
        assert!(matches!(a.authenticate(&secret).await, Err(Error::BadToken)), "expired");
        assert!(a.create_token("ci", "past", Some(unix_now() - 5)).await.is_err());
        let other = a.add_user("other", None).await.unwrap();
        let (theirs, _) = a.create_token("other", "x", None).await.unwrap();
        let me = a.user("ci").await.unwrap();
        assert!(matches!(a.revoke_token(theirs.id, Some(me.id)).await, Err(Error::NotFound(_))), "not someone else's");
        assert!(a.revoke_token(theirs.id, Some(other.id)).await.is_ok());
    }

    #[tokio::test]
    async fn logins_check_the_password() {
        let (_d, a) = access().await;
        a.add_user("ann", Some("s3cret-pass")).await.unwrap();
        assert_eq!(a.login("Ann", "s3cret-pass").await.unwrap().name, "ann");
        assert!(matches!(a.login("ann", "wrong-pass").await, Err(Error::BadLogin)));
        assert!(matches!(a.login("nobody", "wrong-pass").await, Err(Error::BadLogin)));
        a.add_user("tok", None).await.unwrap();
        assert!(matches!(a.login("tok", "").await, Err(Error::BadLogin)), "no password, no password login");
        assert!(matches!(a.add_user("ann", None).await, Err(Error::Conflict(_))));
        assert!(matches!(a.add_user("bad name", None).await, Err(Error::Invalid(_))));
    }
}
