//! The web console: server-rendered pages (askama) on the API's server and
//! port, under the same rules as the API: every page is in
//! [`RULES`](crate::auth::RULES) with what it needs, and objects outside the
//! user's entities do not exist for it.
//!
//! - [`session`]: sign in and out. A session is an API token (named
//!   "console session", revocable like any) in an HttpOnly,
//!   SameSite=Strict cookie, Secure under TLS.
//! - [`dashboard`]: what the user may see, counted.
//! - [`hosts`]: find, filter, sort and page hosts.
//! - [`guard`]: the session's [`authorize`](crate::auth) front end, with the
//!   CSRF check: a state-changing request must come from parc's own pages.

mod admin;
mod audit;
mod board;
mod dashboard;
mod host;
mod hosts;
mod images;
pub mod live;
pub mod session;
mod tasks;

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use parc_access::Permission;

use crate::auth::{authorize, scope_of, Call, Denial, Principal};
use crate::table::Table;
use crate::AppState;

/// The console's pages.
pub fn routes() -> Table {
    Table::default()
        .add(Method::GET, "/", dashboard::page)
        .add(Method::GET, "/hosts", hosts::page)
        .add(Method::GET, "/login", session::form)
        .add(Method::POST, "/login", session::login)
        .add(Method::POST, "/logout", session::logout)
        .add(Method::GET, "/hosts/{id}", host::page)
        .add(Method::POST, "/hosts/{id}", host::edit)
        .add(Method::POST, "/hosts/{id}/wake", host::wake)
        .add(Method::GET, "/tasks", tasks::list)
        .add(Method::GET, "/tasks/new", tasks::form)
        .add(Method::POST, "/tasks", tasks::create)
        .add(Method::POST, "/tasks/{id}/cancel", tasks::cancel)
        .add(Method::GET, "/board", board::page)
        .add(Method::GET, "/events", live::stream)
        .add(Method::GET, "/images", images::list)
        .add(Method::GET, "/images/{name}", images::page)
        .add(Method::POST, "/images/{name}/verify", images::verify)
        .add(Method::POST, "/images/{name}/delete", images::delete)
        .add(Method::GET, "/audit", audit::page)
        .add(Method::GET, "/audit.csv", audit::csv)
        .add(Method::GET, "/admin", admin::page)
        .add(Method::POST, "/admin/users", admin::add_user)
        .add(Method::POST, "/admin/grants", admin::grant)
        .add(Method::POST, "/admin/roles", admin::add_role)
        .add(Method::POST, "/admin/entities", admin::add_entity)
        .add(Method::GET, "/static/console.css", stylesheet)
        .add(Method::GET, "/static/console.js", script)
        .add(Method::GET, "/static/htmx.min.js", htmx)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "max-age=3600")], body).into_response()
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", include_str!("../../assets/console.css"))
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("../../assets/console.js"))
}

async fn htmx() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("../../assets/vendor/htmx.min.js"))
}

/// What every page's frame needs: the screen (for the menu), the user, and
/// which screens their roles open somewhere.
pub(crate) struct Page {
    pub screen: &'static str,
    pub user: String,
    held: Vec<Permission>,
}

impl Page {
    /// The frame for `p` on `screen`.
    pub async fn of(s: &AppState, p: &Principal, screen: &'static str) -> Page {
        let mut held = Vec::new();
        for perm in Permission::ALL {
            if scope_of(s, p, perm).await.is_ok_and(|sc| !sc.is_empty()) {
                held.push(perm);
            }
        }
        Page { screen, user: p.actor(), held }
    }

    /// Whether the user holds the permission named somewhere.
    pub fn may(&self, name: &str) -> bool {
        self.held.iter().any(|p| p.as_str() == name)
    }
}

/// A page rendered, or an error page if the template fails.
pub(crate) fn html(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a console page");
            error_page(StatusCode::INTERNAL_SERVER_ERROR, "this page could not be rendered; the server's log says why")
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: String,
    message: &'a str,
}

/// An error as a page.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let page = ErrorPage { status: status.to_string(), message };
    let body = page.render().unwrap_or_else(|_| message.to_string());
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// Whether a state-changing request comes from parc's own pages: the
/// browser's `Sec-Fetch-Site`, else an `Origin` naming this host. A
/// request with neither is refused (scripts use the API with a token).
fn same_origin(headers: &HeaderMap) -> bool {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    match get("sec-fetch-site") {
        Some(site) => site == "same-origin" || site == "none",
        None => match (get("origin"), get("host")) {
            (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, o)| o == host),
            _ => false,
        },
    }
}

/// The console's middleware: the session cookie, the CSRF check,
/// authorise, run, audit. Signed-out visitors go to the sign-in page.
pub async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some(call) = Call::of(&req) else {
        return next.run(req).await;
    };
    let Some(rule) = call.rule() else {
        return error_page(StatusCode::FORBIDDEN, "this page declares no permission; refused");
    };
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD);
    // Where to come back to after signing in: the page with its filter.
    let here = req.uri().path_and_query().map_or_else(|| call.object.clone(), |pq| pq.as_str().to_string());
    let principal = match session::token(req.headers()).filter(|_| rule.need != crate::auth::Need::Public) {
        Some(t) => s.access.authenticate(&t).await.ok().map(|u| Principal::User(u, parc_access::AuthMethod::Session)),
        None => Some(Principal::Anonymous),
    };
    if unsafe_method && !same_origin(req.headers()) {
        let d = Denial { who: principal.unwrap_or(Principal::Anonymous), status: StatusCode::FORBIDDEN, message: "a cross-site request was refused: use parc's own pages".into() };
        call.denied(&s, rule, &d).await;
        return error_page(d.status, &d.message);
    }
    match authorize(&s, rule, principal, "your session has ended: sign in again", "sign in first").await {
        Ok((p, scope)) => call.run(&s, rule, p, scope, req, next).await,
        Err(d) => {
            call.denied(&s, rule, &d).await;
            if d.status == StatusCode::UNAUTHORIZED && !unsafe_method {
                return Redirect::to(&format!("/login?next={}", session::encode(&here))).into_response();
            }
            error_page(d.status, &d.message)
        }
    }
}
