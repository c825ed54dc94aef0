//! Signing in and out of the console.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::html;
use crate::auth::Principal;
use crate::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "parc_session";

/// The session token a request carries, if any.
pub fn token(headers: &HeaderMap) -> Option<String> {
    axum_extra::extract::CookieJar::from_headers(headers).get(COOKIE).map(|c| c.value().to_string()).filter(|t| !t.is_empty())
}

/// `path` as a query value.
pub(crate) fn encode(path: &str) -> String {
    path.bytes().map(|b| if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// Where to go after signing in: a path on this server, never elsewhere.
fn local(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') { next } else { "/" }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    next: &'a str,
    user: &'a str,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Next {
    #[serde(default)]
    next: String,
}

pub(crate) async fn form(Query(q): Query<Next>) -> Response {
    html(&LoginPage { next: local(&q.next), user: "", error: None })
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    user: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub(crate) async fn login(State(s): State<AppState>, ConnectInfo(from): ConnectInfo<SocketAddr>, Form(f): Form<LoginForm>) -> Response {
    match crate::accounts::sign_in(&s, &f.user, &f.password, from, "/login", "console session").await {
        Ok(done) => {
            let mut c = Cookie::new(COOKIE, done.token);
            c.set_http_only(true);
            c.set_same_site(SameSite::Strict);
            c.set_secure(s.secure_cookies);
            c.set_path("/");
            // A browser-session cookie: closing the browser signs out;
            // the token itself expires on the server as any login's does.
            ([(axum::http::header::SET_COOKIE, c.to_string())], Redirect::to(local(&f.next))).into_response()
        }
        Err(e) => {
            let status = e.status();
            let page = LoginPage { next: local(&f.next), user: &f.user, error: Some(e.message().to_string()) };
            (status, html(&page)).into_response()
        }
    }
}

pub(crate) async fn logout(State(s): State<AppState>, Extension(p): Extension<Principal>) -> Response {
    if let Some(id) = p.user().and_then(|u| u.token_id) {
        if let Err(e) = s.access.revoke_token(id, None).await {
            tracing::warn!(error = %e, "revoking a console session");
        }
    }
    let mut gone = Cookie::new(COOKIE, "");
    gone.set_path("/");
    gone.set_http_only(true);
    gone.set_same_site(SameSite::Strict);
    gone.make_removal();
    ([(axum::http::header::SET_COOKIE, gone.to_string())], Redirect::to("/login")).into_response()
}
