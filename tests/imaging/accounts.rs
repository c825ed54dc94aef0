//! Accounts through the CLI, as an administrator meets them: the first
//! admin's token, password login, roles, token revocation, the last admin,
//! and an audit log that holds every action and every denial, in order.

use std::io::Write;
use std::process::Stdio;

use super::*;
use parc_testkit as kit;

/// parc as someone whose kept credentials live in `home` (no PARC_TOKEN),
/// with no terminal to ask on.
pub(crate) struct As<'a> {
    pub(crate) home: &'a Path,
    pub(crate) url: &'a str,
}

impl As<'_> {
    pub(crate) fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = Command::new(parc_bin());
        c.args(args).args(["--server", self.url]).env("XDG_CONFIG_HOME", self.home).env_remove("PARC_TOKEN").env("PARC_LOG", "warn");
        // A session of its own: no controlling terminal, as under CI.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut c, || {
                libc::setsid();
                Ok(())
            });
        }
        c.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(text) = stdin {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    pub(crate) fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(out.status.success(), "parc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn refused(&self, args: &[&str], why: &str) {
        let out = self.run(args, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(why), "parc {args:?} should fail with {why:?}: {err}");
    }
}

/// The token `parc login` kept in `home` (the one server there).
fn saved_token(home: &Path) -> String {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(home.join("parc/credentials.json")).unwrap()).unwrap();
    v["servers"].as_object().unwrap().values().next().unwrap()["token"].as_str().unwrap().to_string()
}

#[test]
fn accounts_roles_tokens_and_the_audit_log() {
    let dir = scratch();
    let data = dir.path().join("data");
    let server = kit::Server::start(&parc_bin(), &data).unwrap();
    let url = server.url.as_str();
    let (admin_home, tech_home, anon_home) = (dir.path().join("admin"), dir.path().join("tech"), dir.path().join("anon"));
    let admin = As { home: &admin_home, url };
    let tech = As { home: &tech_home, url };
    let anon = As { home: &anon_home, url };

    anon.refused(&["image", "list"], "sign in: `parc login --server URL`");
    anon.refused(&["host", "add", "--mac", "52:54:00:00:0a:01"], "sign in");

    // The first admin signs in with the token the first start wrote.
    let token_file = data.join("initial-admin-token");
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), kit::ADMIN_TOKEN);
    assert!(admin.ok(&["login", "--token-file", s(&token_file)], None).contains("signed in to"));
    let kept = admin_home.join("parc/credentials.json");
    assert_eq!(std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777, 0o600, "the kept token is the user's alone");
    assert!(admin.ok(&["whoami"], None).contains("admin"));
    admin.ok(&["user", "passwd", "admin", "--password-stdin"], Some("admin-pass-1\n"));
    admin.ok(&["user", "add", "tech", "--role", "technician", "--password-stdin"], Some("tech-pass-12\n"));

    // A technician signs in with a password and may do what the role allows.
    let wrong = tech.run(&["login", "--user", "tech", "--password-stdin"], Some("wrong-password\n"));
    assert!(!wrong.status.success() && String::from_utf8_lossy(&wrong.stderr).contains("wrong user name or password"));
    let out = tech.run(&["login", "--user", "tech", "--password-stdin"], Some("tech-pass-12\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tech.ok(&["host", "list"], None);
    tech.refused(&["host", "add", "--mac", "52:54:00:00:0a:02"], "tech lacks the permission host.edit");
    tech.refused(&["user", "list"], "lacks the permission user.admin");

    // A token for a script works until it is revoked, then not at the next request.
    let made: serde_json::Value = serde_json::from_str(&tech.ok(&["token", "create", "nightly", "--expires-days", "7", "--json"], None)).unwrap();
    let secret = made["token"].as_str().unwrap();
    let script = |args: &[&str]| Command::new(parc_bin()).args(args).args(["--server", url]).env("PARC_TOKEN", secret).env("XDG_CONFIG_HOME", &anon_home).output().unwrap();
    assert!(script(&["host", "list"]).status.success());
    tech.ok(&["token", "revoke", &made["id"].to_string()], None);
    let after = script(&["host", "list"]);
    assert!(!after.status.success() && String::from_utf8_lossy(&after.stderr).contains("revoked"), "{}", String::from_utf8_lossy(&after.stderr));
    let listed = tech.ok(&["token", "list"], None);
    assert!(listed.contains("nightly") && listed.contains("revoked") && !listed.contains(secret), "{listed}");

    // Locked out? Whoever can open the data directory sets a password (audited).
    let reset = Command::new(parc_bin()).args(["user", "passwd", "admin", "--password-stdin", "--store", s(&data)]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut reset = reset;
    reset.stdin.take().unwrap().write_all(b"recovered-pass\n").unwrap();
    assert!(reset.wait_with_output().unwrap().status.success());
    let back = As { home: &dir.path().join("recovered"), url };
    back.ok(&["login", "--user", "admin", "--password-stdin"], Some("recovered-pass\n"));
    let recovery = audit_rows(&admin).into_iter().find(|e| e["auth"] == "store").expect("the reset is in the log");
    assert_eq!((recovery["object"].as_str(), recovery["outcome"].as_str()), (Some("user admin"), Some("ok")));

    // The last administrator stays.
    admin.refused(&["user", "rm", "admin"], "last administrator");
    admin.refused(&["user", "revoke", "admin", "admin"], "last administrator");

    // An audit script: 20 allowed actions and 3 denied ones give 23 rows, in order.
    let mark = audit_rows(&admin).last().map(|e| e["id"].as_i64().unwrap()).unwrap_or(0);
    let mut expected = Vec::new();
    for n in 1..=5 {
        let mac = format!("52:54:00:00:0b:{n:02x}");
        admin.ok(&["host", "add", "--hostname", &format!("pc-{n}"), "--mac", &mac], None);
        expected.push(("admin", "POST /api/v1/hosts", "ok"));
    }
    for n in 1..=3 {
        admin.ok(&["host", "edit", &format!("pc-{n}"), "--group", "lab"], None);
        expected.push(("admin", "PATCH /api/v1/hosts/{key}", "ok"));
    }
    admin.ok(&["host", "rm", "pc-5"], None);
    expected.push(("admin", "DELETE /api/v1/hosts/{key}", "ok"));
    tech.refused(&["host", "rm", "pc-4"], "host.edit");
    expected.push(("tech", "DELETE /api/v1/hosts/{key}", "denied"));
    admin.ok(&["entity", "add", "/Ministry"], None);
    admin.ok(&["entity", "add", "/Ministry/Site A"], None);
    expected.extend([("admin", "POST /api/v1/entities", "ok"), ("admin", "POST /api/v1/entities", "ok")]);
    admin.ok(&["role", "add", "imager", "--permissions", "image.read,image.capture"], None);
    expected.push(("admin", "POST /api/v1/roles", "ok"));
    admin.ok(&["user", "add", "ops", "--no-password"], None);
    admin.ok(&["user", "grant", "ops", "imager@/Ministry/Site A"], None);
    admin.ok(&["user", "revoke", "ops", "imager@/Ministry/Site A"], None);
    expected.extend([("admin", "POST /api/v1/users", "ok"), ("admin", "POST /api/v1/users/{name}/grants", "ok"), ("admin", "DELETE /api/v1/users/{name}/grants", "ok")]);
    tech.refused(&["user", "rm", "ops"], "user.admin");
    expected.push(("tech", "DELETE /api/v1/users/{name}", "denied"));
    admin.ok(&["user", "rm", "ops"], None);
    expected.push(("admin", "DELETE /api/v1/users/{name}", "ok"));
    admin.ok(&["token", "create", "backup-job"], None);
    expected.push(("admin", "POST /api/v1/tokens", "ok"));
    tech.ok(&["user", "passwd", "tech", "--password-stdin"], Some("tech-pass-34\n"));
    expected.push(("tech", "PUT /api/v1/users/{name}/password", "ok"));
    admin.ok(&["host", "edit", "pc-4", "--clear-groups"], None);
    expected.push(("admin", "PATCH /api/v1/hosts/{key}", "ok"));
    admin.ok(&["entity", "add", "/Ministry/Site B"], None);
    expected.push(("admin", "POST /api/v1/entities", "ok"));
    let bad = tech.run(&["login", "--user", "tech", "--password-stdin"], Some("not-the-password\n"));
    assert!(!bad.status.success());
    expected.push(("tech", "POST /api/v1/login", "denied"));
    assert_eq!(expected.len(), 23);
    assert_eq!(expected.iter().filter(|e| e.2 == "denied").count(), 3);

    let rows: Vec<_> = audit_rows(&admin).into_iter().filter(|e| e["id"].as_i64().unwrap() > mark).collect();
    let got: Vec<(&str, &str, &str)> = rows.iter().map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
    assert_eq!(got, expected);
    let add = &rows[0];
    assert_eq!((add["auth"].as_str(), add["source"].as_str(), add["permission"].as_str(), add["status"].as_u64()), (Some("token"), Some("127.0.0.1"), Some("host.edit"), Some(201)));
    assert!(add["detail"].as_str().unwrap().contains("pc-1"), "the request's values: {add}");
    // A change records the object before and after it.
    let edit: serde_json::Value = serde_json::from_str(rows[5]["detail"].as_str().unwrap()).unwrap();
    assert_eq!((&edit["before"]["hostname"], &edit["before"]["groups"], &edit["after"]["groups"]), (&serde_json::json!("pc-1"), &serde_json::json!([]), &serde_json::json!(["lab"])), "{edit}");
    assert_eq!(edit["request"]["groups"], serde_json::json!(["lab"]));
    let removed: serde_json::Value = serde_json::from_str(rows[8]["detail"].as_str().unwrap()).unwrap();
    assert_eq!(removed["before"]["hostname"], "pc-5", "{removed}");
    let denied = &rows[9];
    assert_eq!((denied["object"].as_str(), denied["status"].as_u64()), (Some("/api/v1/hosts/pc-4"), Some(403)));
    let passwd = rows.iter().find(|e| e["action"] == "PUT /api/v1/users/{name}/password").unwrap();
    let detail = passwd["detail"].as_str().unwrap();
    assert!(detail.contains("[redacted]") && !detail.contains("tech-pass-34"), "secrets are redacted: {detail}");
    let login = rows.last().unwrap();
    assert!(!login["detail"].as_str().unwrap_or_default().contains("not-the-password"), "no password in the log: {login}");

    // Guessing is slowed down: after five failures in a row, even the right
    // password waits, and the refusals are in the log.
    for _ in 0..5 {
        assert!(!tech.run(&["login", "--user", "tech", "--password-stdin"], Some("guess-guess\n")).status.success());
    }
    let slowed = tech.run(&["login", "--user", "tech", "--password-stdin"], Some("tech-pass-34\n"));
    let err = String::from_utf8_lossy(&slowed.stderr);
    assert!(!slowed.status.success() && err.contains("too many failed logins"), "{err}");
    let last = audit_rows(&admin).pop().unwrap();
    assert_eq!((last["actor"].as_str(), last["outcome"].as_str(), last["status"].as_u64()), (Some("tech"), Some("denied"), Some(429)));

    // The CSV export holds the same rows.
    let csv = admin.ok(&["audit", "list", "--csv"], None);
    let from_csv = parc_access::audit::from_csv(&csv).unwrap();
    let json: Vec<parc_access::AuditEntry> = serde_json::from_str(&admin.ok(&["audit", "list", "--json"], None)).unwrap();
    assert_eq!(from_csv, json);
    // And the server's own export, byte for byte what the CLI wrote.
    let (st, body) = super::hostile::http(server.addr(), "GET", "/api/v1/audit?format=csv", &[], None);
    assert_eq!(st, 200);
    assert_eq!(parc_access::audit::from_csv(&String::from_utf8_lossy(&body)).unwrap(), json);
}

fn audit_rows(admin: &As) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(&admin.ok(&["audit", "list", "--json"], None)).unwrap().as_array().unwrap().clone()
}

use std::os::unix::fs::PermissionsExt;

/// Two sites, a technician each: neither sees, counts or touches the other's
/// hosts, images or tasks, by list, JSON export or direct name (404, as for
/// something that does not exist).
#[test]
fn a_technician_sees_only_their_entity() {
    let dir = scratch();
    let data = dir.path().join("data");
    let server = kit::Server::start(&parc_bin(), &data).unwrap();
    let url = server.url.as_str();
    let root = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--server", url]);
        let out = parc(&a);
        assert!(out.status.success(), "parc {a:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    root(&["entity", "add", "/Site A"]);
    root(&["entity", "add", "/Site B"]);
    root(&["host", "add", "--hostname", "pc-a", "--mac", "52:54:00:00:0c:01", "--group", "lab", "--entity", "/Site A"]);
    root(&["host", "add", "--hostname", "pc-b", "--mac", "52:54:00:00:0c:02", "--group", "lab", "--entity", "/Site B"]);
    let disk = dir.path().join("disk.raw");
    std::fs::write(&disk, kit::pseudo_random(1 << 20, 9)).unwrap();
    root(&["image", "capture", s(&disk), "--name", "img-a", "--raw", "--entity", "/Site A"]);
    root(&["image", "capture", s(&disk), "--name", "img-b", "--raw", "--entity", "/Site B"]);
    let (home_a, home_b) = (dir.path().join("ta"), dir.path().join("tb"));
    let (ta, tb) = (As { home: &home_a, url }, As { home: &home_b, url });
    for (who, site, u) in [("ta", "/Site A", &ta), ("tb", "/Site B", &tb)] {
        root(&["user", "add", who, "--role", &format!("technician@{site}"), "--no-password"]);
        let mut c = Command::new(parc_bin());
        c.args(["user", "passwd", who, "--password-stdin", "--server", url]).env("PARC_TOKEN", kit::ADMIN_TOKEN).stdin(Stdio::piped()).stdout(Stdio::null());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(format!("{who}-password\n").as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        u.ok(&["login", "--user", who, "--password-stdin"], Some(&format!("{who}-password\n")));
    }

    // ta may also edit hosts and delete images, in Site A only.
    root(&["role", "add", "editor", "--permissions", "host.edit,image.delete"]);
    root(&["user", "grant", "ta", "editor@/Site A"]);

    let names = |out: String, key: &str| -> Vec<String> {
        serde_json::from_str::<serde_json::Value>(&out).unwrap().as_array().unwrap().iter().map(|v| v[key].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(ta.ok(&["host", "list", "--json"], None), "hostname"), ["pc-a"]);
    assert_eq!(names(tb.ok(&["host", "list", "--json"], None), "hostname"), ["pc-b"]);
    assert_eq!(names(ta.ok(&["host", "list", "--group", "lab", "--json"], None), "hostname"), ["pc-a"]);
    assert_eq!(names(ta.ok(&["image", "list", "--json"], None), "name"), ["img-a"]);
    // Search and counts: another site's host matches nothing and counts for nothing.
    assert_eq!(names(ta.ok(&["host", "list", "--search", "pc", "--json"], None), "hostname"), ["pc-a"]);
    assert_eq!(ta.ok(&["host", "list", "--search", "pc"], None).lines().last(), Some("1 of 1 matching hosts"));
    assert_eq!(ta.ok(&["host", "list", "--search", "0c:02"], None).trim(), "no hosts\n0 of 0 matching hosts");
    assert_eq!(root(&["host", "list", "--search", "0C-02"]).lines().last(), Some("1 of 1 matching hosts"), "the root finds it by MAC fragment");
    assert_eq!(root(&["host", "list", "--search", "pc", "--limit", "1"]).lines().last(), Some("1 of 2 matching hosts"));
    let counted = Command::new("curl").args(["-sS", "-D", "-", "-o", "/dev/null", "-H"]).arg(format!("Authorization: Bearer {}", saved_token(&home_a))).arg(format!("{url}/api/v1/hosts?q=pc-b")).output().unwrap();
    let head = String::from_utf8_lossy(&counted.stdout).to_lowercase();
    assert!(head.contains("x-total-count: 0\r\n"), "{head}");
    ta.refused(&["host", "show", "pc-b"], "no host \"pc-b\"");
    ta.refused(&["host", "edit", "pc-b", "--ip", "198.18.5.5"], "no host \"pc-b\"");
    ta.refused(&["host", "rm", "pc-b"], "no host \"pc-b\"");
    ta.refused(&["image", "show", "img-b"], "img-b");
    ta.refused(&["image", "delete", "img-b"], "img-b");
    tb.refused(&["host", "edit", "pc-b", "--ip", "198.18.5.5"], "tb lacks the permission host.edit");
    let not_found = ta.run(&["image", "show", "img-b"], None);
    let missing = ta.run(&["image", "show", "no-such-image"], None);
    assert_eq!(
        String::from_utf8_lossy(&not_found.stderr).replace("img-b", "X"),
        String::from_utf8_lossy(&missing.stderr).replace("no-such-image", "X"),
        "another site's image looks exactly like one that does not exist"
    );

    // Tasks: only on their own hosts, from their own images.
    ta.refused(&["task", "restore", "pc-b", "--image", "img-a"], "no host \"pc-b\"");
    ta.refused(&["task", "restore", "pc-a", "--image", "img-b"], "image \"img-b\" does not exist");
    let made: serde_json::Value = serde_json::from_str(&ta.ok(&["task", "restore", "--group", "lab", "--image", "img-a", "--json"], None)).unwrap();
    assert_eq!(made.as_array().unwrap().len(), 1, "the group is their part of it: {made}");
    let id = made[0]["id"].to_string();
    assert_eq!(ta.ok(&["task", "list", "--json"], None).matches("\"id\"").count(), 1);
    assert_eq!(tb.ok(&["task", "list", "--json"], None).trim(), "[]");
    tb.refused(&["task", "show", &id], &format!("no task {id}"));
    tb.refused(&["task", "cancel", &id], &format!("no task {id}"));
    tb.refused(&["task", "list", "--host", "pc-a"], "no host \"pc-a\"");

    // What they add lands in their own entity; the root sees everything.
    ta.ok(&["host", "add", "--hostname", "pc-a2", "--mac", "52:54:00:00:0c:03"], None);
    assert_eq!(names(ta.ok(&["host", "list", "--json"], None), "hostname"), ["pc-a", "pc-a2"]);
    assert_eq!(names(tb.ok(&["host", "list", "--json"], None), "hostname"), ["pc-b"]);
    assert_eq!(names(root(&["host", "list", "--json"]), "hostname"), ["pc-a", "pc-b", "pc-a2"]);
    ta.refused(&["host", "add", "--hostname", "pc-x", "--mac", "52:54:00:00:0c:04", "--entity", "/Site B"], "no entity \"/Site B\"");
}
