//! Accounts under `/api/v1`: login, the caller's tokens, users and their
//! grants, roles, entities, and the audit log. The rules live in
//! `parc_access`; what each route needs is in [`crate::auth::RULES`].

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, Method, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use parc_access::{AuditEntry, AuditFilter, Entity, NewEntry, Outcome, Permission, Role, TokenInfo, User};
use serde::{Deserialize, Serialize};

use crate::auth::{with_before, Principal};
use crate::error::ApiError;
use crate::table::Table;
use crate::AppState;

type ApiResult<T> = Result<T, ApiError>;

/// Lifetime of a token made by a password login.
const LOGIN_TOKEN_DAYS: i64 = 30;

/// Routes under `/api/v1`.
pub fn routes() -> Table {
    Table::default()
        .add(Method::POST, "/login", login)
        .add(Method::GET, "/whoami", whoami)
        .add(Method::GET, "/tokens", my_tokens)
        .add(Method::POST, "/tokens", create_token)
        .add(Method::DELETE, "/tokens/{id}", revoke_token)
        .add(Method::GET, "/users", users)
        .add(Method::POST, "/users", add_user)
        .add(Method::GET, "/users/{name}", user)
        .add(Method::DELETE, "/users/{name}", remove_user)
        .add(Method::PUT, "/users/{name}/password", set_password)
        .add(Method::POST, "/users/{name}/grants", grant)
        .add(Method::DELETE, "/users/{name}/grants", revoke_grant)
        .add(Method::GET, "/roles", roles)
        .add(Method::POST, "/roles", add_role)
        .add(Method::GET, "/entities", entities)
        .add(Method::POST, "/entities", add_entity)
        .add(Method::GET, "/audit", audit)
}

fn me(p: &Principal) -> ApiResult<&parc_access::UserPrincipal> {
    p.user().ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "sign in first"))
}

/// A login: user, password, and a name for the token it makes.
#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
    #[serde(default)]
    token_name: Option<String>,
}

/// The token a login made (its secret, shown once).
#[derive(Serialize)]
pub(crate) struct LoggedIn {
    pub(crate) user: String,
    pub(crate) token: String,
    token_id: i64,
    pub(crate) expires_at: Option<i64>,
}

async fn login(State(s): State<AppState>, ConnectInfo(from): ConnectInfo<SocketAddr>, Json(l): Json<Login>) -> ApiResult<Json<LoggedIn>> {
    let name = l.token_name.clone().unwrap_or_else(|| format!("login from {}", from.ip()));
    Ok(Json(sign_in(&s, &l.user, &l.password, from, "/api/v1/login", &name).await?))
}

/// A password login from `from` at `path`, throttled and audited: a new
/// token named `token_name`, valid [`LOGIN_TOKEN_DAYS`].
pub(crate) async fn sign_in(s: &AppState, user: &str, password: &str, from: SocketAddr, path: &str, token_name: &str) -> ApiResult<LoggedIn> {
    // The login writes its own audit row: the actor is whoever it claims to be.
    let mut entry = NewEntry {
        actor: user.to_string(),
        auth: "password".into(),
        source: from.ip().to_string(),
        action: format!("POST {path}"),
        permission: None,
        entity: None,
        object: path.into(),
        outcome: Outcome::Ok,
        status: 200,
        detail: None,
    };
    let source = from.ip().to_string();
    let now = std::time::Instant::now();
    let wait = s.access.throttle().wait(user, &source, now);
    if !wait.is_zero() {
        let message = format!("too many failed logins for this account or from this address; try again in {} s", wait.as_secs().max(1));
        entry.outcome = Outcome::Denied;
        entry.status = 429;
        entry.detail = Some(message.clone());
        if let Err(e) = s.audit.append(&entry).await {
            tracing::error!(error = %e, "writing the audit log");
        }
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, message));
    }
    let result = async {
        let u = s.access.login(user, password).await?;
        let expires = parc_db::unix_now() + LOGIN_TOKEN_DAYS * 86400;
        let (info, token) = s.access.create_token(&u.name, token_name, Some(expires)).await?;
        Ok::<_, parc_access::Error>(LoggedIn { user: u.name, token, token_id: info.id, expires_at: info.expires_at })
    }
    .await;
    match &result {
        Err(parc_access::Error::BadLogin) => s.access.throttle().failed(user, &source, now),
        Ok(_) => s.access.throttle().succeeded(user, &source),
        Err(_) => {}
    }
    if let Err(e) = &result {
        entry.outcome = Outcome::Denied;
        entry.status = 401;
        entry.detail = Some(e.to_string());
    }
    if let Err(e) = s.audit.append(&entry).await {
        tracing::error!(error = %e, "writing the audit log");
    }
    Ok(result?)
}

/// Who the caller is and what they hold.
#[derive(Serialize)]
struct WhoAmI {
    user: User,
    permissions: Vec<Permission>,
}

async fn whoami(State(s): State<AppState>, Extension(p): Extension<Principal>) -> ApiResult<Json<WhoAmI>> {
    let u = s.access.user(&me(&p)?.name).await?;
    let mut permissions = Vec::new();
    for perm in Permission::ALL {
        if s.access.allowed(u.id, perm, parc_access::ROOT_ENTITY).await? {
            permissions.push(perm);
        }
    }
    Ok(Json(WhoAmI { user: u, permissions }))
}

async fn my_tokens(State(s): State<AppState>, Extension(p): Extension<Principal>) -> ApiResult<Json<Vec<TokenInfo>>> {
    Ok(Json(s.access.tokens(Some(me(&p)?.id)).await?))
}

#[derive(Deserialize)]
struct NewToken {
    name: String,
    expires_at: Option<i64>,
}

#[derive(Serialize)]
struct TokenMade {
    #[serde(flatten)]
    info: TokenInfo,
    token: String,
}

async fn create_token(State(s): State<AppState>, Extension(p): Extension<Principal>, Json(t): Json<NewToken>) -> ApiResult<(StatusCode, Json<TokenMade>)> {
    let (info, token) = s.access.create_token(&me(&p)?.name, &t.name, t.expires_at).await?;
    Ok((StatusCode::CREATED, Json(TokenMade { info, token })))
}

async fn revoke_token(State(s): State<AppState>, Extension(p): Extension<Principal>, Path(id): Path<i64>) -> ApiResult<Json<TokenInfo>> {
    let u = me(&p)?;
    // An administrator may revoke anyone's token; others only their own.
    let owner = if s.access.allowed(u.id, Permission::UserAdmin, parc_access::ROOT_ENTITY).await? { None } else { Some(u.id) };
    Ok(Json(s.access.revoke_token(id, owner).await?))
}

async fn users(State(s): State<AppState>) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(s.access.users().await?))
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    password: Option<String>,
    /// Roles to grant at once, as `role` on `/` or `role@/entity/path`.
    #[serde(default)]
    grants: Vec<parc_access::Grant>,
}

async fn add_user(State(s): State<AppState>, Json(u): Json<NewUser>) -> ApiResult<(StatusCode, Json<User>)> {
    s.access.add_user(&u.name, u.password.as_deref()).await?;
    for g in &u.grants {
        s.access.grant(&u.name, &g.role, &g.entity).await?;
    }
    Ok((StatusCode::CREATED, Json(s.access.user(&u.name).await?)))
}

async fn user(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<User>> {
    Ok(Json(s.access.user(&name).await?))
}

async fn remove_user(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<User>> {
    // The answer is the removed user: the audit row's "after" is its "before".
    Ok(Json(s.access.remove_user(&name).await?))
}

#[derive(Deserialize)]
struct NewPassword {
    password: String,
}

async fn set_password(State(s): State<AppState>, Extension(p): Extension<Principal>, Path(name): Path<String>, Json(pw): Json<NewPassword>) -> ApiResult<StatusCode> {
    let u = me(&p)?;
    // Anyone may set their own password; an administrator anyone's.
    let own = u.name.eq_ignore_ascii_case(&name);
    if !own && !s.access.allowed(u.id, Permission::UserAdmin, parc_access::ROOT_ENTITY).await? {
        return Err(ApiError::new(StatusCode::FORBIDDEN, format!("{} lacks the permission user.admin (needed to set another user's password)", u.name)));
    }
    s.access.set_password(&name, &pw.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn grant(State(s): State<AppState>, Path(name): Path<String>, Json(g): Json<parc_access::Grant>) -> ApiResult<axum::response::Response> {
    let before = s.access.user(&name).await?;
    s.access.grant(&name, &g.role, &g.entity).await?;
    Ok(with_before(Json(s.access.user(&name).await?), &before))
}

async fn revoke_grant(State(s): State<AppState>, Path(name): Path<String>, Json(g): Json<parc_access::Grant>) -> ApiResult<axum::response::Response> {
    let before = s.access.user(&name).await?;
    s.access.revoke_grant(&name, &g.role, &g.entity).await?;
    Ok(with_before(Json(s.access.user(&name).await?), &before))
}

async fn roles(State(s): State<AppState>) -> ApiResult<Json<Vec<Role>>> {
    Ok(Json(s.access.roles().await?))
}

#[derive(Deserialize)]
struct NewRole {
    name: String,
    permissions: Vec<Permission>,
}

async fn add_role(State(s): State<AppState>, Json(r): Json<NewRole>) -> ApiResult<(StatusCode, Json<Role>)> {
    Ok((StatusCode::CREATED, Json(s.access.add_role(&r.name, &r.permissions).await?)))
}

async fn entities(State(s): State<AppState>) -> ApiResult<Json<Vec<Entity>>> {
    Ok(Json(s.access.entities().await?))
}

#[derive(Deserialize)]
struct NewEntity {
    path: String,
}

async fn add_entity(State(s): State<AppState>, Json(e): Json<NewEntity>) -> ApiResult<(StatusCode, Json<Entity>)> {
    Ok((StatusCode::CREATED, Json(s.access.add_entity(&e.path).await?)))
}

// Not `#[serde(flatten)]` of the filter: query strings carry only text,
// and flattening loses the conversion to numbers.
#[derive(Deserialize)]
struct AuditQuery {
    since: Option<i64>,
    actor: Option<String>,
    object: Option<String>,
    limit: Option<i64>,
    /// `csv` for a CSV export instead of JSON.
    format: Option<String>,
}

async fn audit(State(s): State<AppState>, Query(q): Query<AuditQuery>) -> ApiResult<axum::response::Response> {
    let filter = AuditFilter { since: q.since, actor: q.actor, object: q.object, limit: q.limit };
    let rows: Vec<AuditEntry> = s.audit.list(&filter).await?;
    Ok(match q.format.as_deref() {
        Some("csv") => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], parc_access::audit::to_csv(&rows)).into_response(),
        Some(other) => return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("unknown format {other:?} (csv, or none for JSON)"))),
        None => Json(rows).into_response(),
    })
}
