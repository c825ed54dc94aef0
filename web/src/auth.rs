//! Who may call what. Every API route is listed in [`RULES`] with what it
//! needs; [`guard`] enforces it before the handler runs (a matched route
//! missing from the table is refused: deny by default) and writes the
//! audit log: every mutating request it lets through and every denial.

use std::net::SocketAddr;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parc_access::{AuthMethod, NewEntry, Outcome, Permission, Scope, UserPrincipal};

use crate::error::ApiError;
use crate::AppState;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone (health, login, the registration check-in).
    Public,
    /// A netboot environment's per-task token (the handler checks it).
    Agent,
    /// Any signed-in user (their own tokens, who they are).
    User,
    /// A user holding this permission.
    Perm(Permission),
}

/// One API route and its rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// HTTP method.
    pub method: &'static str,
    /// Path as routed, with `{param}`s, under `/api/v1`.
    pub path: &'static str,
    /// What it needs.
    pub need: Need,
    /// Whether a call is written to the audit log (mutating requests;
    /// not the chunk traffic of an upload, nor agent progress).
    pub audited: bool,
    /// What it does, in a line (the OpenAPI summary).
    pub summary: &'static str,
}

const fn rule(method: &'static str, path: &'static str, need: Need, audited: bool, summary: &'static str) -> Rule {
    Rule { method, path, need, audited, summary }
}

use Need::*;
use Permission as P;

/// Every route under `/api/v1` and every console page. A route added to
/// the router but not here answers 403 to everyone; the route-table test
/// checks each entry.
pub const RULES: &[Rule] = &[
    // The console's pages (session cookie; signed-out visitors are sent to /login).
    rule("GET", "/", User, false, "The dashboard: hosts, tasks and images the user may see, counted"),
    rule("GET", "/hosts", Perm(P::HostRead), false, "Hosts: find, filter, sort and page, with exact counts"),
    rule("GET", "/login", Public, false, "The sign-in page"),
    // The sign-in writes its own audit row (the actor is whoever it claims to be).
    rule("POST", "/login", Public, false, "Sign in: a session cookie holding a new token"),
    rule("POST", "/logout", User, true, "Sign out: the session's token is revoked"),
    rule("GET", "/hosts/{id}", Perm(P::HostRead), false, "One host: identity, hardware, timeline, actions"),
    rule("POST", "/hosts/{id}", Perm(P::HostEdit), true, "Edit a host's name, state and groups"),
    rule("POST", "/hosts/{id}/wake", Perm(P::HostWake), true, "Wake a host with Wake-on-LAN"),
    rule("GET", "/tasks", Perm(P::TaskRead), false, "Tasks, filtered by state, kind, host and image"),
    rule("GET", "/tasks/new", Perm(P::TaskCreate), false, "The order form and its confirmation, for a host, a selection or all hosts matching a filter"),
    rule("POST", "/tasks", Perm(P::TaskCreate), true, "Schedule the confirmed order (409 when the matching hosts changed)"),
    rule("POST", "/tasks/{id}/cancel", Perm(P::TaskCancel), true, "Cancel a task"),
    rule("GET", "/board", Perm(P::TaskRead), false, "The live board of running tasks"),
    rule("GET", "/events", Perm(P::TaskRead), false, "Server-sent task events within the user's entities (resumes from Last-Event-ID)"),
    rule("GET", "/images", Perm(P::ImageRead), false, "Images with their sizes and shared data"),
    rule("GET", "/images/{name}", Perm(P::ImageRead), false, "One image: sizes, partitions, origin, tasks"),
    rule("POST", "/images/{name}/verify", Perm(P::ImageRead), false, "Verify every chunk of an image"),
    rule("POST", "/images/{name}/delete", Perm(P::ImageDelete), true, "Delete an image once its name is typed back"),
    rule("GET", "/audit", Perm(P::AuditRead), false, "The audit log, filtered"),
    rule("GET", "/audit.csv", Perm(P::AuditRead), false, "The audit log as CSV"),
    rule("GET", "/admin", Perm(P::UserAdmin), false, "Users, roles and entities"),
    rule("POST", "/admin/users", Perm(P::UserAdmin), true, "Add a user"),
    rule("POST", "/admin/grants", Perm(P::UserAdmin), true, "Grant or withdraw a role on an entity"),
    rule("POST", "/admin/roles", Perm(P::UserAdmin), true, "Make a role"),
    rule("POST", "/admin/entities", Perm(P::UserAdmin), true, "Add an entity"),
    rule("GET", "/static/console.css", Public, false, "The console's stylesheet"),
    rule("GET", "/static/console.js", Public, false, "The console's script (live board, keyboard)"),
    rule("GET", "/static/htmx.min.js", Public, false, "htmx, vendored"),
    // The API.
    rule("POST", "/api/v1/login", Public, false, "Sign in with a password; answers a new API token"),
    rule("GET", "/api/v1/whoami", User, false, "The signed-in user, their grants and permissions"),
    rule("GET", "/api/v1/tokens", User, false, "The caller's API tokens (never the secrets)"),
    rule("POST", "/api/v1/tokens", User, true, "Make an API token for the caller; the secret is shown once"),
    rule("DELETE", "/api/v1/tokens/{id}", User, true, "Revoke one of the caller's tokens (an admin: anyone's)"),
    rule("GET", "/api/v1/users", Perm(P::UserAdmin), false, "Every account with its grants"),
    rule("POST", "/api/v1/users", Perm(P::UserAdmin), true, "Add an account, with an optional password and roles"),
    rule("GET", "/api/v1/users/{name}", Perm(P::UserAdmin), false, "One account"),
    rule("DELETE", "/api/v1/users/{name}", Perm(P::UserAdmin), true, "Remove an account (not the last admin)"),
    rule("PUT", "/api/v1/users/{name}/password", User, true, "Set a password: one's own, or anyone's with user.admin"),
    rule("POST", "/api/v1/users/{name}/grants", Perm(P::UserAdmin), true, "Grant a role on an entity"),
    rule("DELETE", "/api/v1/users/{name}/grants", Perm(P::UserAdmin), true, "Withdraw a role on an entity"),
    rule("GET", "/api/v1/roles", Perm(P::UserAdmin), false, "Roles and their permissions"),
    rule("POST", "/api/v1/roles", Perm(P::UserAdmin), true, "Make a custom role"),
    rule("GET", "/api/v1/entities", Perm(P::UserAdmin), false, "The entity tree"),
    rule("POST", "/api/v1/entities", Perm(P::UserAdmin), true, "Add an entity (its parent must exist)"),
    rule("GET", "/api/v1/audit", Perm(P::AuditRead), false, "The audit log, filtered; `?format=csv` for CSV"),
    rule("GET", "/api/v1/images", Perm(P::ImageRead), false, "Images the caller may read"),
    rule("GET", "/api/v1/images/{name}", Perm(P::ImageRead), false, "One image's record"),
    rule("DELETE", "/api/v1/images/{name}", Perm(P::ImageDelete), true, "Delete an image (its chunks go at the next GC)"),
    rule("GET", "/api/v1/images/{name}/manifest", Perm(P::ImageRead), false, "An image's manifest (layout, extents, chunk ids)"),
    rule("POST", "/api/v1/uploads", Perm(P::ImageCapture), true, "Begin a capture's upload, reserving the image name"),
    rule("DELETE", "/api/v1/uploads/{upload}", Perm(P::ImageCapture), true, "Abort an upload, freeing its name"),
    rule("POST", "/api/v1/uploads/{upload}/missing", Perm(P::ImageCapture), false, "Which of these chunk ids the store lacks"),
    rule("PUT", "/api/v1/uploads/{upload}/chunks/{chunk}", Perm(P::ImageCapture), false, "Store one compressed chunk (checked against its id)"),
    rule("POST", "/api/v1/uploads/{upload}/commit", Perm(P::ImageCapture), true, "Commit the manifest: the image appears"),
    rule("GET", "/api/v1/chunks/{chunk}", Perm(P::ImageRead), false, "One compressed chunk"),
    rule("GET", "/api/v1/stats", Perm(P::ImageRead), false, "The server's transfer counters"),
    rule("GET", "/api/v1/hosts", Perm(P::HostRead), false, "Hosts the caller may read: ?q= words (hostname, MAC fragment, IP, UUID, serial), group, state, sort (id, name, last_seen), desc, after (keyset) or skip, limit; X-Total-Count is the exact count"),
    rule("POST", "/api/v1/hosts", Perm(P::HostEdit), true, "Register a host"),
    rule("POST", "/api/v1/hosts/import", Perm(P::HostEdit), true, "Register hosts from CSV"),
    rule("POST", "/api/v1/hosts/wake", Perm(P::HostWake), true, "Wake hosts with Wake-on-LAN"),
    rule("GET", "/api/v1/hosts/{key}", Perm(P::HostRead), false, "One host (id, hostname or MAC) with recent events"),
    rule("PATCH", "/api/v1/hosts/{key}", Perm(P::HostEdit), true, "Change a host"),
    rule("DELETE", "/api/v1/hosts/{key}", Perm(P::HostEdit), true, "Remove a host"),
    // The registration environment, before the machine has a task: it can
    // only record what it sees of itself (MAC, hardware), never a task.
    rule("POST", "/api/v1/hosts/{key}/checkin", Public, true, "The registration environment's check-in with its hardware"),
    rule("GET", "/api/v1/tasks", Perm(P::TaskRead), false, "Tasks the caller may read, filtered"),
    rule("POST", "/api/v1/tasks", Perm(P::TaskCreate), true, "Schedule capture or restore tasks"),
    rule("GET", "/api/v1/tasks/{id}", Perm(P::TaskRead), false, "One task with its progress history"),
    rule("POST", "/api/v1/tasks/{id}/cancel", Perm(P::TaskCancel), true, "Cancel a task"),
    rule("GET", "/api/v1/openapi.json", Public, false, "This description of the API"),
    rule("GET", "/api/v1/agent/task", Agent, false, "The netboot agent's task (per-task bearer token)"),
    rule("POST", "/api/v1/agent/inventory", Agent, true, "The agent's hardware inventory"),
    rule("POST", "/api/v1/agent/progress", Agent, false, "The agent's progress"),
    rule("POST", "/api/v1/agent/done", Agent, true, "The agent's outcome"),
];

/// The rule for a routed request, if the table has one.
pub fn rule_for(method: &Method, path: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.method == method.as_str() && r.path == path)
}

/// The state of what a mutating request changes, as it was before: a
/// handler puts it in its response's extensions and the audit row keeps it
/// beside the request's values and the answer.
#[derive(Debug, Clone)]
pub struct Before(pub serde_json::Value);

/// `resp` carrying `before` for the audit log.
pub fn with_before(resp: impl IntoResponse, before: &impl serde::Serialize) -> Response {
    let mut r = resp.into_response();
    if let Ok(v) = serde_json::to_value(before) {
        r.extensions_mut().insert(Before(v));
    }
    r
}

/// Where the caller holds the route's permission (set by [`guard`] on
/// permission routes): handlers show and change only objects inside.
#[derive(Debug, Clone)]
pub struct RouteScope(pub Scope);

/// Where `p` holds `perm` (for a second permission a handler needs, such as
/// reading what it is about to change).
pub async fn scope_of(s: &AppState, p: &Principal, perm: Permission) -> Result<Scope, ApiError> {
    Ok(match p {
        Principal::User(u, _) => s.access.scope(u.id, perm).await?,
        Principal::Agent { .. } if matches!(perm, P::ImageRead | P::ImageCapture) => Scope::all(),
        _ => Scope::default(),
    })
}

/// An object of entity `entity` that `scope` (the route's) must hold:
/// outside what the caller may even read it does not exist (404, so its
/// existence does not leak); readable but outside `scope` is 403.
pub fn check(entity: i64, scope: &Scope, readable: &Scope, not_found: impl FnOnce() -> ApiError, perm: Permission, actor: &str) -> Result<(), ApiError> {
    if scope.contains(entity) {
        Ok(())
    } else if readable.contains(entity) {
        Err(ApiError::new(StatusCode::FORBIDDEN, format!("{actor} lacks the permission {perm} there (ask an administrator for a role that has it)")))
    } else {
        Err(not_found())
    }
}

/// Who made a request, as the handlers see it.
#[derive(Debug, Clone)]
pub enum Principal {
    /// Nobody proved anything (public routes).
    Anonymous,
    /// A user, with how they proved it.
    User(UserPrincipal, AuthMethod),
    /// A netboot environment with its task's token: it may read images
    /// (restore) and upload them (capture), nothing else.
    Agent {
        /// The task the token belongs to.
        task: i64,
    },
}

impl Principal {
    /// The actor's name in the audit log.
    pub fn actor(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::User(u, _) => u.name.clone(),
            Principal::Agent { task } => format!("agent:task {task}"),
        }
    }

    fn auth(&self) -> &'static str {
        match self {
            Principal::Anonymous => "none",
            Principal::User(_, m) => m.as_str(),
            Principal::Agent { .. } => AuthMethod::Agent.as_str(),
        }
    }

    /// The signed-in user, for handlers of [`Need::User`] routes.
    pub fn user(&self) -> Option<&UserPrincipal> {
        match self {
            Principal::User(u, _) => Some(u),
            _ => None,
        }
    }
}

fn bearer(req: &Request) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Who the bearer token names: a user's API token, else a task's.
async fn identify(s: &AppState, token: &str) -> Option<Principal> {
    match s.access.authenticate(token).await {
        Ok(u) => return Some(Principal::User(u, AuthMethod::Token)),
        Err(parc_access::Error::BadToken) => {}
        Err(e) => {
            tracing::error!(error = %e, "checking a token");
            return None;
        }
    }
    s.tasks.by_token(token).await.ok().map(|t| Principal::Agent { task: t.id })
}

/// Largest request body copied into the audit log.
const MAX_AUDITED_BODY: usize = 64 * 1024;

/// One routed request, as the audit log names it.
pub(crate) struct Call {
    method: Method,
    /// The path as routed, with `{param}`s.
    pub(crate) matched: String,
    source: String,
    /// The path as requested.
    pub(crate) object: String,
}

impl Call {
    /// `None` for an unrouted request (a plain 404 reveals nothing).
    pub(crate) fn of(req: &Request) -> Option<Self> {
        let matched = req.extensions().get::<MatchedPath>()?.as_str().to_string();
        let source = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_default();
        // Inside `/api/v1` the URI has lost its prefix; the original keeps it.
        let object = req.extensions().get::<axum::extract::OriginalUri>().map_or_else(|| req.uri().path().to_string(), |u| u.0.path().to_string());
        Some(Self { method: req.method().clone(), matched, source, object })
    }

    /// The rule for this call; `None` when the route declares none.
    pub(crate) fn rule(&self) -> Option<&'static Rule> {
        let rule = rule_for(&self.method, &self.matched);
        if rule.is_none() {
            tracing::error!(method = %self.method, path = %self.matched, "route has no rule in web::auth::RULES: refused");
        }
        rule
    }

    fn entry(&self, rule: &Rule, p: &Principal, outcome: Outcome, status: StatusCode, detail: Option<String>) -> NewEntry {
        NewEntry {
            actor: p.actor(),
            auth: p.auth().to_string(),
            source: self.source.clone(),
            action: format!("{} {}", self.method, self.matched),
            permission: match rule.need {
                Perm(p) => Some(p.as_str().to_string()),
                _ => None,
            },
            entity: matches!(rule.need, Perm(_)).then(|| "/".to_string()),
            object: self.object.clone(),
            outcome,
            status: status.as_u16(),
            detail,
        }
    }

    /// Writes the denial to the audit log.
    pub(crate) async fn denied(&self, s: &AppState, rule: &Rule, d: &Denial) {
        if let Err(err) = s.audit.append(&self.entry(rule, &d.who, Outcome::Denied, d.status, Some(d.message.clone()))).await {
            tracing::error!(error = %err, "writing the audit log");
        }
    }

    /// Runs the handler as `principal` with `scope`, and audits the call
    /// when the rule says so.
    pub(crate) async fn run(self, s: &AppState, rule: &Rule, principal: Principal, scope: Option<RouteScope>, req: Request, next: Next) -> Response {
        let audited = rule.audited && self.method != Method::GET;
        let (mut req, detail) = if audited { body_detail(req).await } else { (req, None) };
        req.extensions_mut().insert(principal.clone());
        if let Some(scope) = scope {
            req.extensions_mut().insert(scope);
        }
        let resp = next.run(req).await;
        if !audited {
            return resp;
        }
        let status = resp.status();
        // A console form answers with a redirect when it succeeds.
        let outcome = if status.is_success() || status.is_redirection() { Outcome::Ok } else { Outcome::Failed };
        let before = resp.extensions().get::<Before>().map(|b| b.0.clone());
        let (resp, after) = answer_detail(resp).await;
        let detail = if before.is_none() && after.is_none() {
            detail
        } else {
            let request = detail.and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok());
            let all = serde_json::json!({ "request": request, "before": before, "after": after });
            Some(parc_access::audit::redact(all).to_string())
        };
        if let Err(e) = s.audit.append(&self.entry(rule, &principal, outcome, status, detail)).await {
            tracing::error!(error = %e, "writing the audit log");
        }
        resp
    }
}

/// A refusal: who was refused, the status and why.
pub(crate) struct Denial {
    /// Who asked.
    pub(crate) who: Principal,
    /// 401 (who are you?) or 403.
    pub(crate) status: StatusCode,
    /// Why, and what to do.
    pub(crate) message: String,
}

/// Whether `principal` (`None`: credentials that prove nothing) may call
/// `rule`'s route: who the handler sees, and where the route's permission holds.
/// `expired` and `sign_in` say what to do, in the caller's terms (CLI or browser).
pub(crate) async fn authorize(s: &AppState, rule: &Rule, principal: Option<Principal>, expired: &str, sign_in: &str) -> Result<(Principal, Option<RouteScope>), Denial> {
    let deny = |who: Principal, status: StatusCode, message: String| Err(Denial { who, status, message });
    match (principal, rule.need) {
        (_, Public) => Ok((Principal::Anonymous, None)),
        // The agent routes check their task token themselves.
        (Some(p), Agent) => Ok((p, None)),
        (None, Agent) => Ok((Principal::Anonymous, None)),
        (None, _) => deny(Principal::Anonymous, StatusCode::UNAUTHORIZED, expired.to_string()),
        (Some(Principal::Anonymous), _) => deny(Principal::Anonymous, StatusCode::UNAUTHORIZED, sign_in.to_string()),
        (Some(p @ Principal::User(..)), User) => Ok((p, None)),
        (Some(p @ Principal::Agent { .. }), User) => deny(p, StatusCode::FORBIDDEN, "a task token cannot do this".into()),
        (Some(p), Perm(perm)) => {
            let scope = match &p {
                Principal::User(u, _) => s.access.scope(u.id, perm).await.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "checking a permission");
                    Scope::default()
                }),
                Principal::Agent { .. } if matches!(perm, P::ImageRead | P::ImageCapture) => Scope::all(),
                _ => Scope::default(),
            };
            // Accounts and the audit log span every entity: those rights
            // count only when held on the root.
            let global = matches!(perm, P::UserAdmin | P::AuditRead);
            if scope.is_empty() || (global && !scope.contains(parc_access::ROOT_ENTITY)) {
                let message = format!("{} lacks the permission {perm}{} (ask an administrator for a role that has it)", p.actor(), if global { " on /" } else { "" });
                return deny(p, StatusCode::FORBIDDEN, message);
            }
            Ok((p, Some(RouteScope(scope))))
        }
    }
}

/// The API's middleware: authenticate (a bearer token), authorise, run, audit.
pub async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some(call) = Call::of(&req) else {
        return next.run(req).await;
    };
    let Some(rule) = call.rule() else {
        return ApiError::new(StatusCode::FORBIDDEN, format!("{} {} declares no permission; refused", call.method, call.matched)).into_response();
    };
    // Public routes never look at credentials.
    let principal = match bearer(&req).filter(|_| rule.need != Public) {
        Some(t) => identify(&s, &t).await,
        None => Some(Principal::Anonymous),
    };
    let expired = "the API token is unknown, expired or revoked (`parc login` gets a new one)";
    match authorize(&s, rule, principal, expired, "sign in: `parc login --server URL` (or send `Authorization: Bearer TOKEN`)").await {
        Ok((p, scope)) => call.run(&s, rule, p, scope, req, next).await,
        Err(d) => {
            call.denied(&s, rule, &d).await;
            ApiError::new(d.status, d.message).into_response()
        }
    }
}

/// The answer with its body read back in, and the body as JSON (small JSON
/// answers of known length only: a stream is never held back).
async fn answer_detail(resp: Response) -> (Response, Option<serde_json::Value>) {
    use axum::body::HttpBody;
    let is_json = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let small = resp.body().size_hint().exact().is_some_and(|n| n as usize <= MAX_AUDITED_BODY);
    if !(is_json && small) {
        return (resp, None);
    }
    let (parts, body) = resp.into_parts();
    match to_bytes(body, MAX_AUDITED_BODY).await {
        Ok(bytes) => {
            let v = serde_json::from_slice(&bytes).ok();
            (Response::from_parts(parts, Body::from(bytes)), v)
        }
        Err(_) => (Response::from_parts(parts, Body::empty()), None),
    }
}

/// The request with its body read back in, and the body as JSON with
/// secrets redacted (small JSON bodies only).
async fn body_detail(req: Request) -> (Request, Option<String>) {
    let is_json = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let small = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n <= MAX_AUDITED_BODY);
    if !(is_json && small) {
        return (req, None);
    }
    let (parts, body) = req.into_parts();
    match to_bytes(body, MAX_AUDITED_BODY).await {
        Ok(bytes) => {
            let detail = serde_json::from_slice::<serde_json::Value>(&bytes).ok().map(|v| parc_access::audit::redact(v).to_string());
            (Request::from_parts(parts, Body::from(bytes)), detail)
        }
        Err(_) => (Request::from_parts(parts, Body::empty()), None),
    }
}
