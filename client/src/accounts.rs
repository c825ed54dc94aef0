//! Accounts: login, tokens, users, roles, entities, the audit log.

use parc_access::{AuditEntry, Entity, Grant, Permission, Role, TokenInfo, User};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::{seg, Body, Client, Result};

/// What a password login returns: a new API token (its secret, once).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoggedIn {
    /// The user signed in.
    pub user: String,
    /// The token's secret.
    pub token: String,
    /// Its id, for `parc token revoke`.
    pub token_id: i64,
    /// When it expires.
    pub expires_at: Option<i64>,
}

/// The caller and what they may do (on the root entity).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhoAmI {
    /// The user.
    pub user: User,
    /// Their permissions.
    pub permissions: Vec<Permission>,
}

/// A token just made: its record and its secret (shown once).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenMade {
    /// The record.
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The secret.
    pub token: String,
}

impl Client {
    /// The token this client presents, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Signs in with a password; the server makes a token named `token_name`.
    pub async fn login(&self, user: &str, password: &str, token_name: &str) -> Result<LoggedIn> {
        let body = serde_json::json!({ "user": user, "password": password, "token_name": token_name });
        self.call(Method::POST, "/login", Body::Json(body)).await
    }

    /// Who this client's token belongs to.
    pub async fn whoami(&self) -> Result<WhoAmI> {
        self.call(Method::GET, "/whoami", Body::None).await
    }

    /// The caller's tokens.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        self.call(Method::GET, "/tokens", Body::None).await
    }

    /// A new token for the caller.
    pub async fn create_token(&self, name: &str, expires_at: Option<i64>) -> Result<TokenMade> {
        let body = serde_json::json!({ "name": name, "expires_at": expires_at });
        self.call(Method::POST, "/tokens", Body::Json(body)).await
    }

    /// Revokes a token (the caller's own, or anyone's for an administrator).
    pub async fn revoke_token(&self, id: i64) -> Result<TokenInfo> {
        self.call(Method::DELETE, &format!("/tokens/{id}"), Body::None).await
    }

    /// Every user.
    pub async fn users(&self) -> Result<Vec<User>> {
        self.call(Method::GET, "/users", Body::None).await
    }

    /// Adds a user with optional password and grants.
    pub async fn add_user(&self, name: &str, password: Option<&str>, grants: &[Grant]) -> Result<User> {
        let body = serde_json::json!({ "name": name, "password": password, "grants": grants });
        self.call(Method::POST, "/users", Body::Json(body)).await
    }

    /// Removes a user.
    pub async fn remove_user(&self, name: &str) -> Result<User> {
        self.call(Method::DELETE, &format!("/users/{}", seg(name)), Body::None).await
    }

    /// Sets a user's password.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<()> {
        let body = serde_json::json!({ "password": password });
        self.call(Method::PUT, &format!("/users/{}/password", seg(name)), Body::Json(body)).await
    }

    /// Grants a role on an entity.
    pub async fn grant(&self, name: &str, grant: &Grant) -> Result<User> {
        self.call(Method::POST, &format!("/users/{}/grants", seg(name)), Body::Json(serde_json::to_value(grant).expect("grant"))).await
    }

    /// Takes a grant back.
    pub async fn revoke_grant(&self, name: &str, grant: &Grant) -> Result<User> {
        self.call(Method::DELETE, &format!("/users/{}/grants", seg(name)), Body::Json(serde_json::to_value(grant).expect("grant"))).await
    }

    /// Every role.
    pub async fn roles(&self) -> Result<Vec<Role>> {
        self.call(Method::GET, "/roles", Body::None).await
    }

    /// Makes a custom role.
    pub async fn add_role(&self, name: &str, permissions: &[Permission]) -> Result<Role> {
        let body = serde_json::json!({ "name": name, "permissions": permissions });
        self.call(Method::POST, "/roles", Body::Json(body)).await
    }

    /// Every entity.
    pub async fn entities(&self) -> Result<Vec<Entity>> {
        self.call(Method::GET, "/entities", Body::None).await
    }

    /// Makes an entity.
    pub async fn add_entity(&self, path: &str) -> Result<Entity> {
        self.call(Method::POST, "/entities", Body::Json(serde_json::json!({ "path": path }))).await
    }

    /// Audit entries matching the filter.
    pub async fn audit(&self, since: Option<i64>, actor: Option<&str>, object: Option<&str>, limit: Option<i64>) -> Result<Vec<AuditEntry>> {
        let mut q = Vec::new();
        if let Some(s) = since {
            q.push(format!("since={s}"));
        }
        if let Some(a) = actor {
            q.push(format!("actor={}", seg(a)));
        }
        if let Some(o) = object {
            q.push(format!("object={}", seg(o)));
        }
        if let Some(l) = limit {
            q.push(format!("limit={l}"));
        }
        let q = if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) };
        self.call(Method::GET, &format!("/audit{q}"), Body::None).await
    }
}
