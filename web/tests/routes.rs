//! The route table: every API route is in `auth::RULES`, each non-public
//! one answers 401 without credentials and 403 to a signed-in user without
//! its permission, and a route missing from the table is refused to all.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use parc_web::auth::{Need, RULES};
use parc_web::AppState;
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    state: AppState,
    admin: String,
    nobody: String,
    viewer: String,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = parc_db::Db::open_sqlite(&dir.path().join("parc.db"), true).await.unwrap();
    db.migrate([parc_imaging::catalog::migrator(), parc_inventory::migrator(), parc_deploy::migrator(), parc_access::migrator()]).await.unwrap();
    let access = parc_access::Access::new(&db);
    let admin = access.bootstrap(None).await.unwrap().unwrap();
    access.add_user("nobody", None).await.unwrap();
    let (_, nobody) = access.create_token("nobody", "test", None).await.unwrap();
    access.add_user("viewer", None).await.unwrap();
    access.grant("viewer", "viewer", "/").await.unwrap();
    let (_, viewer) = access.create_token("viewer", "test", None).await.unwrap();
    let state = AppState {
        repo: parc_imaging::Repository::open_dir(dir.path(), &db).unwrap(),
        inventory: parc_inventory::Inventory::new(&db),
        boot: Arc::new(parc_pxe::site::BootSite {
            assets_dir: dir.path().join("assets"),
            ipxe_dir: dir.path().join("ipxe"),
            templates: parc_pxe::script::Templates::load(None).unwrap(),
            env_args: String::new(),
            secure_api: None,
        }),
        wol: Arc::new(parc_pxe::wol::WolSite { interfaces: vec![], directed_prefix: 24 }),
        tasks: parc_deploy::Tasks::new(&db),
        live: parc_web::console::live::Hub::new(parc_deploy::Tasks::new(&db)),
        ssh_public_key: Arc::new(None),
        access,
        audit: parc_access::AuditLog::new(&db),
        secure_cookies: false,
    };
    Fixture { _dir: dir, state, admin, nobody, viewer }
}

/// A concrete path for a routed one: each `{param}` filled in.
fn concrete(path: &str) -> String {
    path.replace("{name}", "nosuch")
        .replace("{key}", "nosuch")
        .replace("{id}", "999")
        .replace("{upload}", "nosuch")
        .replace("{chunk}", &"0".repeat(64))
}

async fn call(state: &AppState, method: &str, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
    // The API takes a bearer token; the console's pages a session cookie,
    // from its own pages.
    let console = !path.starts_with("/api/");
    if let Some(t) = token {
        req = if console { req.header("cookie", format!("parc_session={t}")) } else { req.header("authorization", format!("Bearer {t}")) };
    }
    if console {
        req = req.header("sec-fetch-site", "same-origin");
    }
    let mut req = req.body(Body::from("{}")).unwrap();
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 5555))));
    let resp = parc_web::router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    // An event stream never ends: its headers are the answer.
    if resp.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream")) {
        return (status, String::new());
    }
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn every_route_declares_what_it_needs_and_enforces_it() {
    let f = fixture().await;
    let mut checked = 0;
    for r in RULES {
        let path = concrete(r.path);
        let (anon, anon_body) = call(&f.state, r.method, &path, None).await;
        let (bad, _) = call(&f.state, r.method, &path, Some("parc_not-a-token")).await;
        // Signing out revokes the session's token: that call gets tokens of its own.
        let (nobody_token, admin_token) = if r.path == "/logout" {
            (f.state.access.create_token("nobody", "logout", None).await.unwrap().1, f.state.access.create_token("admin", "logout", None).await.unwrap().1)
        } else {
            (f.nobody.clone(), f.admin.clone())
        };
        let (nobody, nobody_body) = call(&f.state, r.method, &path, Some(&nobody_token)).await;
        let (admin, admin_body) = call(&f.state, r.method, &path, Some(&admin_token)).await;
        // The route exists as declared: the admin reaches its handler
        // (the router's own 404 and 405 have empty bodies).
        assert!(admin != StatusCode::METHOD_NOT_ALLOWED && !(admin == StatusCode::NOT_FOUND && admin_body.is_empty()), "{} {} is in RULES but not routed ({admin})", r.method, r.path);
        assert_ne!(admin, StatusCode::FORBIDDEN, "{} {}: the admin holds every permission: {admin_body}", r.method, r.path);
        // A signed-out visitor of a console page is sent to sign in.
        let signed_out = if r.method == "GET" && !r.path.starts_with("/api/") { StatusCode::SEE_OTHER } else { StatusCode::UNAUTHORIZED };
        match r.need {
            Need::Perm(p) => {
                assert_eq!(anon, signed_out, "{} {} without credentials: {anon_body}", r.method, r.path);
                assert_eq!(bad, signed_out, "{} {} with an unknown token", r.method, r.path);
                assert_eq!(nobody, StatusCode::FORBIDDEN, "{} {} by a user without {p}: {nobody_body}", r.method, r.path);
                assert!(nobody_body.contains(p.as_str()), "the refusal names the permission: {nobody_body}");
            }
            Need::User => {
                assert_eq!(anon, signed_out, "{} {} without credentials", r.method, r.path);
                assert_ne!(nobody, StatusCode::FORBIDDEN, "{} {} is open to any signed-in user", r.method, r.path);
            }
            Need::Public | Need::Agent => {
                assert_ne!(anon, StatusCode::FORBIDDEN, "{} {} is public", r.method, r.path);
            }
        }
        checked += 1;
    }
    assert!(checked >= 40, "{checked} routes");

    // The viewer role reads, and nothing more.
    assert_eq!(call(&f.state, "GET", "/api/v1/images", Some(&f.viewer)).await.0, StatusCode::OK);
    assert_eq!(call(&f.state, "DELETE", "/api/v1/images/x", Some(&f.viewer)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(call(&f.state, "POST", "/api/v1/tasks", Some(&f.viewer)).await.0, StatusCode::FORBIDDEN);

    // Every refusal above is in the audit log, with who, what and why.
    let log = f.state.audit.list(&parc_access::AuditFilter { limit: Some(100_000), ..Default::default() }).await.unwrap();
    let denied = log.iter().filter(|e| e.entry.outcome == parc_access::Outcome::Denied).count();
    let expected = RULES.iter().filter(|r| matches!(r.need, Need::Perm(_))).count() * 3
        + RULES.iter().filter(|r| r.need == Need::User).count() * 2
        + 2;
    assert_eq!(denied, expected, "one audit row per denial");
    let viewer_denial = log.iter().rev().find(|e| e.entry.actor == "viewer").unwrap();
    assert_eq!((viewer_denial.entry.permission.as_deref(), viewer_denial.entry.status, viewer_denial.entry.source.as_str()), (Some("task.create"), 403, "127.0.0.1"));
}

/// The router's own table and RULES hold the same routes, each once.
#[test]
fn the_route_table_and_the_rules_agree() {
    use std::collections::BTreeSet;
    let table = parc_web::route_table();
    let routed: BTreeSet<(String, String)> = table.iter().map(|r| (r.method.clone(), r.path.clone())).collect();
    assert_eq!(routed.len(), table.len(), "a route added twice");
    let ruled: BTreeSet<(String, String)> = RULES.iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
    assert_eq!(ruled.len(), RULES.len(), "a rule listed twice");
    assert_eq!(routed.difference(&ruled).collect::<Vec<_>>(), Vec::<&(String, String)>::new(), "routed without a rule (refused to all)");
    assert_eq!(ruled.difference(&routed).collect::<Vec<_>>(), Vec::<&(String, String)>::new(), "a rule for no route");
}

/// The OpenAPI document, fetched as a client would, describes exactly the
/// routed table, each operation with the permission its rule names; and
/// Swagger UI is served from the binary.
#[tokio::test]
async fn the_openapi_document_describes_every_route_and_its_permission() {
    let f = fixture().await;
    let (status, body) = call(&f.state, "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    let mut described = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let rule = RULES.iter().find(|r| r.path == path && r.method.eq_ignore_ascii_case(method)).unwrap_or_else(|| panic!("{method} {path} is described but has no rule"));
            let want = match rule.need {
                Need::Public => "public".to_string(),
                Need::Agent => "agent".into(),
                Need::User => "user".into(),
                Need::Perm(p) => p.as_str().into(),
            };
            assert_eq!(op["x-permission"], want.as_str(), "{method} {path}");
            assert_eq!(op["summary"], rule.summary, "{method} {path}");
            let params: Vec<&str> = op["parameters"].as_array().map(|a| a.iter().map(|p| p["name"].as_str().unwrap()).collect()).unwrap_or_default();
            assert!(op["parameters"].as_array().is_none_or(|a| a.iter().all(|p| p["in"] == "path" && p["schema"]["type"] == "string")), "{method} {path}: {}", op["parameters"]);
            for seg in path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
                assert!(params.contains(&seg), "{method} {path} documents its {seg} parameter");
            }
            described += 1;
        }
    }
    let api_routes = parc_web::route_table().iter().filter(|r| r.path.starts_with("/api/v1/")).count();
    assert_eq!(described, api_routes, "every routed API route is described, once");
    let (status, page) = call(&f.state, "GET", "/api/docs/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("swagger-ui"), "{page}");
    let (status, config) = call(&f.state, "GET", "/api/docs/swagger-initializer.js", None).await;
    assert!(status == StatusCode::OK && config.contains("/api/v1/openapi.json"), "{status} {config}");
}

#[tokio::test]
async fn a_route_missing_from_the_table_is_refused_to_everyone() {
    let f = fixture().await;
    let app = axum::Router::new()
        .route("/api/v1/undeclared", axum::routing::get(|| async { "secret" }))
        .layer(axum::middleware::from_fn_with_state(f.state.clone(), parc_web::auth::guard))
        .with_state(f.state.clone());
    let req = Request::builder().uri("/api/v1/undeclared").header("authorization", format!("Bearer {}", f.admin)).body(Body::empty()).unwrap();
    let resp = app.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}
