//! What people see in a browser: a real headless Chromium (Debian's
//! `chromium` and `chromium-driver`, over WebDriver) against a real
//! `parc serve`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use parc_testkit as kit;
use parc_testkit::browser::{Browser, Locator};

mod orders;
mod technician;

pub(crate) fn parc_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_parc"))
}

/// The API's browsable description lists every routed API operation, and
/// an opened operation shows the permission it needs.
#[test]
fn swagger_ui_lists_every_api_route_with_the_permission_it_needs() {
    if !kit::prerequisite("browser tests", kit::browser::available()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = kit::Server::start(&parc_bin(), &dir.path().join("data")).unwrap();
    let routed: BTreeSet<(String, String)> = parc_web::route_table().into_iter().filter(|r| r.path.starts_with("/api/v1/")).map(|r| (r.method, r.path)).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = Browser::start().await.unwrap();
        b.client.goto(&format!("{}/api/docs/", server.url)).await.unwrap();
        let n = routed.len();
        let ops = b
            .wait_for(Duration::from_secs(30), |c| async move {
                let ops = c.find_all(Locator::Css(".opblock")).await.ok()?;
                (ops.len() == n).then_some(ops)
            })
            .await
            .unwrap_or_else(|| panic!("Swagger UI never listed {n} operations"));
        let mut shown = BTreeSet::new();
        for op in &ops {
            let method = op.find(Locator::Css(".opblock-summary-method")).await.unwrap().text().await.unwrap();
            let path = op.find(Locator::Css(".opblock-summary-path")).await.unwrap().attr("data-path").await.unwrap().unwrap_or_default();
            shown.insert((method.to_uppercase(), path));
        }
        assert_eq!(shown, routed, "the page shows exactly the routed operations");

        // Opened, an operation shows what it needs.
        let edit = b.client.find(Locator::Css("#operations-hosts-patch_hosts__key_ .opblock-summary-control")).await.unwrap();
        edit.click().await.unwrap();
        let text = b
            .wait_for(Duration::from_secs(10), |c| async move {
                let t = c.find(Locator::Css("#operations-hosts-patch_hosts__key_")).await.ok()?.text().await.ok()?;
                t.contains("x-permission").then_some(t)
            })
            .await
            .expect("the opened operation lists its extensions");
        assert!(text.contains("host.edit"), "{text}");
        b.close().await;
    });
}

/// `parc ARGS --server URL` as the first admin, with `stdin`; its stdout.
pub(crate) fn admin(server: &kit::Server, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut c = kit::parc_command(parc_bin())
        .args(args)
        .args(["--server", &server.url])
        .env("PARC_TOKEN", kit::ADMIN_TOKEN)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "parc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of the first element `css` selects, waiting up to 10 s for it.
pub(crate) async fn text_of(b: &Browser, css: &str) -> String {
    b.wait_for(Duration::from_secs(10), |c| async move { c.find(Locator::Css(css)).await.ok()?.text().await.ok() }).await.unwrap_or_else(|| panic!("no {css} on the page"))
}

/// Waits up to 10 s for the first element `css` selects to read `want`
/// (a click's navigation finishes when it does); fails with what it read.
pub(crate) async fn expect_text(b: &Browser, css: &str, want: &str) {
    let t0 = std::time::Instant::now();
    let mut last = None;
    while t0.elapsed() < Duration::from_secs(10) {
        last = match b.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.ok(),
            Err(_) => None,
        };
        if last.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = b.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
    panic!("{css}: wanted {want:?}, the page shows {last:?} at {url}");
}

/// Signs in through the form.
pub(crate) async fn sign_in(b: &Browser, user: &str, password: &str) {
    let c = &b.client;
    let u = c.find(Locator::Id("user")).await.unwrap();
    u.clear().await.unwrap();
    u.send_keys(user).await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys(password).await.unwrap();
    c.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
}

/// Signs out through the button, waiting for the sign-in page: a page
/// opened before that would race the sign-out's own redirect.
pub(crate) async fn sign_out(b: &Browser) {
    b.client.find(Locator::Css(".who button")).await.unwrap().click().await.unwrap();
    b.wait_for(Duration::from_secs(10), |c| async move { (c.current_url().await.ok()?.path() == "/login").then_some(()) }).await.expect("signed out to the sign-in page");
}

/// A technician signs in through the console: a signed-out visit is sent
/// to the sign-in page, a wrong password is told so, the dashboard counts
/// only the technician's entity, the session cookie is HttpOnly and
/// SameSite=Strict, a cross-site form post is refused, and signing out
/// ends the session on the server.
#[test]
fn a_technician_signs_in_sees_only_their_entity_and_signs_out() {
    if !kit::prerequisite("browser tests", kit::browser::available()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = kit::Server::start(&parc_bin(), &dir.path().join("data")).unwrap();
    admin(&server, &["entity", "add", "/Site A"], "");
    admin(&server, &["entity", "add", "/Site B"], "");
    for (name, mac, entity) in [("a-1", "52:54:00:00:c0:01", "/Site A"), ("a-2", "52:54:00:00:c0:02", "/Site A"), ("b-1", "52:54:00:00:c0:03", "/Site B")] {
        admin(&server, &["host", "add", "--hostname", name, "--mac", mac, "--entity", entity], "");
    }
    admin(&server, &["user", "add", "tech", "--role", "technician@/Site A", "--password-stdin"], "tech-pass-1\n");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = Browser::start().await.unwrap();
        let c = &b.client;
        c.goto(&format!("{}/", server.url)).await.unwrap();
        let url = c.current_url().await.unwrap();
        assert_eq!((url.path(), url.query()), ("/login", Some("next=/")), "a signed-out visit goes to the sign-in page");

        sign_in(&b, "tech", "wrong").await;
        assert!(text_of(&b, ".error").await.contains("wrong user name or password"));
        sign_in(&b, "tech", "tech-pass-1").await;
        expect_text(&b, "[data-count=hosts]", "2").await;
        assert_eq!(c.current_url().await.unwrap().path(), "/");
        assert!(text_of(&b, ".who").await.contains("tech"));
        let png = c.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-dashboard.png"), png).unwrap();

        let cookie = c.get_named_cookie("parc_session").await.unwrap();
        assert_eq!((cookie.http_only(), format!("{:?}", cookie.same_site())), (Some(true), "Some(Strict)".to_string()));
        let token = cookie.value().to_string();

        // A form posted from another site is refused, and the session lives on.
        let forged = std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Origin: http://elsewhere.example", "-H"])
            .arg(format!("Cookie: parc_session={token}"))
            .arg(format!("{}/logout", server.url))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&forged.stdout), "403");
        c.refresh().await.unwrap();
        expect_text(&b, "[data-count=hosts]", "2").await;

        sign_out(&b).await;
        // The token is revoked on the server, not just forgotten by the browser.
        let replay = std::process::Command::new("curl").args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H"]).arg(format!("Authorization: Bearer {token}")).arg(format!("{}/api/v1/whoami", server.url)).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&replay.stdout), "401");
        b.close().await;
    });
    let audit = admin(&server, &["audit", "list", "--json"], "");
    let rows: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let actions: Vec<(String, String, String)> = rows.as_array().unwrap().iter().filter(|r| r["actor"] == "tech").map(|r| (r["action"].as_str().unwrap().to_string(), r["auth"].as_str().unwrap().to_string(), r["outcome"].as_str().unwrap().to_string())).collect();
    let expect = |a: &str, auth: &str, o: &str| (a.to_string(), auth.to_string(), o.to_string());
    assert_eq!(
        actions,
        vec![expect("POST /login", "password", "denied"), expect("POST /login", "password", "ok"), expect("POST /logout", "session", "denied"), expect("POST /logout", "session", "ok")],
        "{audit}"
    );
}

/// The hosts screen: 120 hosts in pages of 50 with the exact count, a MAC
/// fragment finds its host, the URL keeps the filter across a reload,
/// sorting flips, a jump lands on the page asked for; a technician of one
/// site finds none of another's.
#[test]
fn the_hosts_screen_finds_sorts_and_pages_within_the_users_entities() {
    if !kit::prerequisite("browser tests", kit::browser::available()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = kit::Server::start(&parc_bin(), &dir.path().join("data")).unwrap();
    let csv = dir.path().join("hosts.csv");
    let mut rows = String::from("hostname,mac,groups\n");
    for i in 0..120 {
        rows.push_str(&format!("lab-{i:03},52:54:00:00:{:02x}:{:02x},lab\n", i / 256, i % 256));
    }
    std::fs::write(&csv, rows).unwrap();
    admin(&server, &["host", "import", csv.to_str().unwrap()], "");
    admin(&server, &["entity", "add", "/Other"], "");
    admin(&server, &["host", "add", "--hostname", "elsewhere", "--mac", "52:54:00:00:ee:01", "--entity", "/Other"], "");
    admin(&server, &["user", "passwd", "admin", "--password-stdin"], "admin-pass-1\n");
    admin(&server, &["user", "add", "labtech", "--role", "technician@/Other", "--password-stdin"], "labtech-pass-1\n");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = Browser::start().await.unwrap();
        let c = &b.client;
        c.goto(&format!("{}/hosts", server.url)).await.unwrap();
        sign_in(&b, "admin", "admin-pass-1").await;
        expect_text(&b, ".count", "121 hosts, page 1 of 3").await;
        assert_eq!(c.current_url().await.unwrap().path(), "/hosts", "signing in returns to the page asked for");
        assert_eq!(c.find_all(Locator::Css("tbody tr")).await.unwrap().len(), 50);

        // A MAC fragment, typed as a person would, finds its one host.
        let q = c.find(Locator::Id("q")).await.unwrap();
        // Typing alone searches (htmx), and the URL follows.
        q.send_keys("00:4B").await.unwrap();
        expect_text(&b, ".count", "1 host").await;
        expect_text(&b, "tbody tr td:nth-child(2)", "lab-075").await;
        c.refresh().await.unwrap();
        expect_text(&b, ".count", "1 host").await;
        assert_eq!(c.find(Locator::Id("q")).await.unwrap().prop("value").await.unwrap().as_deref(), Some("00:4B"));
        c.back().await.unwrap();
        expect_text(&b, ".count", "121 hosts, page 1 of 3").await;

        // Sorting by name flips to descending; Next follows the page's last
        // host (keyset); a jump to page 3 holds the last 21.
        c.find(Locator::LinkText("Hostname ▲")).await.unwrap().click().await.unwrap();
        expect_text(&b, "tbody tr td:nth-child(2)", "lab-119").await;
        c.find(Locator::Css("a[rel=next]")).await.unwrap().click().await.unwrap();
        expect_text(&b, ".count", "121 hosts, page 2 of 3").await;
        expect_text(&b, "tbody tr td:nth-child(2)", "lab-069").await;
        let url = c.current_url().await.unwrap();
        assert!(url.query().unwrap_or_default().contains("after="), "Next pages by keyset: {url}");
        let page = c.find(Locator::Id("page")).await.unwrap();
        page.clear().await.unwrap();
        page.send_keys("3").await.unwrap();
        c.find(Locator::Css(".pages form button")).await.unwrap().click().await.unwrap();
        expect_text(&b, ".count", "121 hosts, page 3 of 3").await;
        let last: Vec<String> = {
            let mut v = Vec::new();
            for r in c.find_all(Locator::Css("tbody tr td:nth-child(2)")).await.unwrap() {
                v.push(r.text().await.unwrap());
            }
            v
        };
        assert_eq!((last.len(), last.first().map(String::as_str), last.last().map(String::as_str)), (21, Some("lab-019"), Some("elsewhere")));
        let png = c.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-hosts.png"), png).unwrap();

        // Another site's technician: their one host, and none of the lab's, even by MAC.
        sign_out(&b).await;
        c.goto(&format!("{}/hosts?q=00:4b", server.url)).await.unwrap();
        sign_in(&b, "labtech", "labtech-pass-1").await;
        expect_text(&b, ".count", "0 hosts").await;
        c.goto(&format!("{}/hosts", server.url)).await.unwrap();
        expect_text(&b, ".count", "1 host").await;
        expect_text(&b, "tbody tr td:nth-child(2)", "elsewhere").await;
        b.close().await;
    });
}

/// Waits up to 10 s for the text of the first element `css` selects to
/// satisfy `ok`; fails with what it read.
pub(crate) async fn expect_text_where(b: &Browser, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let t0 = std::time::Instant::now();
    let mut last = None;
    while t0.elapsed() < Duration::from_secs(10) {
        last = match b.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.ok(),
            Err(_) => None,
        };
        if let Some(t) = last.as_deref().filter(|t| ok(t)) {
            return t.to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = b.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
    let main = match b.client.find(Locator::Css("main")).await {
        Ok(m) => m.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    panic!("{css}: wanted {what}, the page shows {last:?}; at {url}:\n{main}");
}

/// Fails unless axe-core finds no serious or critical problem on the page.
pub(crate) async fn assert_accessible(b: &Browser, page: &str) {
    let (problems, passed) = b.accessibility_problems(include_str!("vendor/axe.min.js")).await.unwrap();
    assert!(passed > 10, "{page}: axe-core checked only {passed} rules");
    assert!(problems.is_empty(), "{page}: axe-core finds {} serious or critical problem(s):\n{}", problems.len(), problems.join("\n"));
}

/// Saves a screenshot under the target's test directory, to look at.
pub(crate) async fn screenshot(b: &Browser, name: &str) {
    let png = b.client.screenshot().await.unwrap();
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("console-{name}.png")), png).unwrap();
}

pub(crate) use parc_testkit::http;

/// A server whose netboot environment is present (the files only need to
/// exist for it to hand tasks out at boot).
pub(crate) fn boot_server(dir: &std::path::Path) -> kit::Server {
    let env = dir.join("data/boot-assets/env");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(env.join("vmlinuz"), b"kernel").unwrap();
    std::fs::write(env.join("initrd.img"), b"initrd").unwrap();
    kit::Server::start(&parc_bin(), &dir.join("data")).unwrap()
}

/// A simulated netboot agent: it boots (fetching its iPXE script, which
/// hands it the task and a token) and talks to the real agent API.
pub(crate) struct Agent {
    url: String,
    token: String,
    /// The task it runs.
    pub task: i64,
}

impl Agent {
    /// The machine with this MAC (dashes) boots and takes its task.
    pub(crate) fn boot(server: &kit::Server, mac_dashes: &str) -> Agent {
        let (code, script) = http("GET", &format!("{}/boot/{mac_dashes}.ipxe?arch=bios", server.url), None, None, None);
        assert_eq!(code, 200, "{script}");
        let word = |k: &str| script.split_whitespace().find_map(|w| w.strip_prefix(k)).unwrap_or_else(|| panic!("no {k} in:\n{script}")).to_string();
        Agent { url: server.url.clone(), token: word("parc.token="), task: word("parc.task=").parse().unwrap() }
    }

    /// Reports progress.
    pub(crate) fn progress(&self, phase: &str, done: Option<u64>, total: Option<u64>, rate: Option<f64>, message: &str) {
        let p = serde_json::json!({"phase": phase, "bytes_done": done, "bytes_total": total, "rate": rate, "message": message});
        let (code, body) = http("POST", &format!("{}/api/v1/agent/progress", self.url), Some(&self.token), None, Some(&p));
        assert_eq!(code, 204, "{body}");
    }

    /// Reports the outcome.
    pub(crate) fn done(&self, ok: bool, message: &str) {
        let d = serde_json::json!({"ok": ok, "message": message});
        let (code, body) = http("POST", &format!("{}/api/v1/agent/done", self.url), Some(&self.token), None, Some(&d));
        assert_eq!(code, 200, "{body}");
    }
}

/// A user's API token from their password (what a session cookie holds).
pub(crate) fn token_for(server: &kit::Server, user: &str, password: &str) -> String {
    let (code, body) = http("POST", &format!("{}/api/v1/login", server.url), None, None, Some(&serde_json::json!({"user": user, "password": password})));
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["token"].as_str().unwrap_or_else(|| panic!("no token in {body}")).to_string()
}
