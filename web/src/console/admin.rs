//! Administration: users and their grants, roles, and the entity tree.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use axum_extra::extract::Form;
use parc_access::{Entity, Permission, Role, User};
use serde::Deserialize;

use super::{html, Page};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::AppState;

#[derive(Template)]
#[template(path = "admin.html")]
struct Admin {
    page: Page,
    users: Vec<User>,
    roles: Vec<Role>,
    entities: Vec<Entity>,
    all: Vec<&'static str>,
    error: Option<String>,
}

impl Admin {
    fn perms(r: &Role) -> String {
        r.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
    }
}

async fn draw(s: &AppState, p: &Principal, error: Option<String>, status: StatusCode) -> Response {
    let page = Admin {
        page: Page::of(s, p, "admin").await,
        users: s.access.users().await.unwrap_or_default(),
        roles: s.access.roles().await.unwrap_or_default(),
        entities: s.access.entities().await.unwrap_or_default(),
        all: Permission::ALL.iter().map(|p| p.as_str()).collect(),
        error,
    };
    let mut r = html(&page);
    *r.status_mut() = status;
    r
}

pub(crate) async fn page(State(s): State<AppState>, Extension(p): Extension<Principal>) -> Response {
    draw(&s, &p, None, StatusCode::OK).await
}

/// Back to the page, or the page again with what went wrong.
async fn done(s: &AppState, p: &Principal, r: Result<(), ApiError>) -> Response {
    match r {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(e) => draw(s, p, Some(e.message().to_string()), e.status()).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewUser {
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    entity: String,
}

pub(crate) async fn add_user(State(s): State<AppState>, Extension(p): Extension<Principal>, Form(f): Form<NewUser>) -> Response {
    let r = async {
        let password = Some(f.password.as_str()).filter(|p| !p.is_empty());
        s.access.add_user(f.name.trim(), password).await?;
        if !f.role.is_empty() {
            s.access.grant(f.name.trim(), &f.role, if f.entity.is_empty() { "/" } else { &f.entity }).await?;
        }
        Ok::<_, ApiError>(())
    }
    .await;
    done(&s, &p, r).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewGrant {
    user: String,
    role: String,
    entity: String,
    #[serde(default)]
    revoke: Option<String>,
}

pub(crate) async fn grant(State(s): State<AppState>, Extension(p): Extension<Principal>, Form(f): Form<NewGrant>) -> Response {
    let r = if f.revoke.is_some() { s.access.revoke_grant(&f.user, &f.role, &f.entity).await } else { s.access.grant(&f.user, &f.role, &f.entity).await };
    done(&s, &p, r.map_err(ApiError::from)).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewRole {
    name: String,
    #[serde(default)]
    permission: Vec<String>,
}

pub(crate) async fn add_role(State(s): State<AppState>, Extension(p): Extension<Principal>, Form(f): Form<NewRole>) -> Response {
    let r = async {
        let perms = f.permission.iter().map(|p| p.parse::<Permission>()).collect::<Result<Vec<_>, _>>().map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        s.access.add_role(f.name.trim(), &perms).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    done(&s, &p, r).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewEntity {
    path: String,
}

pub(crate) async fn add_entity(State(s): State<AppState>, Extension(p): Extension<Principal>, Form(f): Form<NewEntity>) -> Response {
    let r = s.access.add_entity(f.path.trim()).await.map(|_| ()).map_err(ApiError::from);
    done(&s, &p, r).await
}
