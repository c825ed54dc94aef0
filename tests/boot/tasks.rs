//! Tasks as the server and the agent live them, on loopback without a VM:
//! the boot script carries a task and its token, the agent API takes the
//! token, failures are retried with their error kept, success ends in local
//! boot; a missing image fails at boot; a window keeps a task waiting; and
//! the real `parc agent` restores an image onto a disk file.

use std::path::Path;

use parc_testkit as kit;
use serde_json::{json, Value};

fn parc(server: &kit::Server, args: &[&str]) -> String {
    let out = kit::parc_command(env!("CARGO_BIN_EXE_parc")).args(args).args(["--server", &server.url]).env("PARC_TOKEN", kit::ADMIN_TOKEN).output().unwrap();
    assert!(out.status.success(), "parc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn parc_json(server: &kit::Server, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&parc(server, &a)).unwrap()
}

/// `curl` with an optional bearer token and JSON body: (status, body).
fn http(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> (u16, String) {
    kit::http(method, url, token, None, body)
}

fn script(server: &kit::Server, mac_dashes: &str) -> String {
    let (code, body) = http("GET", &format!("{}/boot/{mac_dashes}.ipxe?arch=bios", server.url), None, None);
    assert_eq!(code, 200, "{body}");
    body
}

fn token_of(script: &str) -> String {
    script.split_whitespace().find_map(|w| w.strip_prefix("parc.token=")).unwrap_or_else(|| panic!("no token in:\n{script}")).to_string()
}

/// A data directory whose netboot environment is present (the files only
/// need to exist for the server to offer it).
fn server(dir: &Path) -> kit::Server {
    let env = dir.join("data/boot-assets/env");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(env.join("vmlinuz"), b"kernel").unwrap();
    std::fs::write(env.join("initrd.img"), b"initrd").unwrap();
    kit::Server::start(Path::new(env!("CARGO_BIN_EXE_parc")), &dir.join("data")).unwrap()
}

fn prerequisites() -> bool {
    kit::prerequisite("task tests", kit::require_tool("curl", "curl").map(|_| ()))
}

#[test]
fn boot_script_carries_the_task_and_its_token_until_it_succeeds() {
    if !prerequisites() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path());
    let img = tmp.path().join("small.raw");
    std::fs::write(&img, kit::pseudo_random(4 << 20, 7)).unwrap();
    parc(&s, &["image", "capture", img.to_str().unwrap(), "--name", "golden", "--raw"]);
    parc(&s, &["host", "add", "--hostname", "lab-b", "--mac", "52:54:00:00:00:0b"]);

    let created = parc_json(&s, &["task", "restore", "lab-b", "--image", "golden", "--hooks", "hostname=lab-b,ssh-key=parc", "--attempts", "2"]);
    let id = created[0]["id"].as_i64().unwrap();
    assert_eq!(created[0]["state"], "pending");

    // First boot: the task's entry, with a token.
    let first = script(&s, "52-54-00-00-00-0b");
    assert!(first.contains(&format!("parc.action=restore parc.task={id} parc.token=")), "{first}");
    let token = token_of(&first);
    let (code, body) = http("GET", &format!("{}/api/v1/agent/task", s.url), Some(&token), None);
    assert_eq!(code, 200, "{body}");
    let at: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(at["task"]["hooks"], json!([{"hook": "hostname", "name": "lab-b"}, {"hook": "ssh-key", "user": "parc"}]));
    assert!(at["ssh_public_key"].as_str().is_some_and(|k| k.starts_with("ssh-ed25519 ")), "{at}");
    let pubkey = std::fs::read_to_string(tmp.path().join("data/ssh/parc_ed25519.pub")).unwrap();
    assert_eq!(at["ssh_public_key"].as_str().unwrap(), pubkey.trim());
    assert_eq!(http("GET", &format!("{}/api/v1/agent/task", s.url), Some("forged"), None).0, 401);
    assert_eq!(http("GET", &format!("{}/api/v1/agent/task", s.url), None, None).0, 401);

    let p = json!({"phase": "restore:write", "bytes_done": 1048576, "bytes_total": 4194304, "rate": 524288.0, "message": "25 %"});
    assert_eq!(http("POST", &format!("{}/api/v1/agent/progress", s.url), Some(&token), Some(&p)).0, 204);
    let shown = parc_json(&s, &["task", "show", &id.to_string()]);
    assert_eq!((shown["state"].as_str(), shown["progress"]["bytes_done"].as_u64()), (Some("running"), Some(1 << 20)));

    // The attempt fails: the error is kept, the next boot retries with a new token.
    let fail = json!({"ok": false, "message": "hook ssh-key: no user \"parc\""});
    assert_eq!(http("POST", &format!("{}/api/v1/agent/done", s.url), Some(&token), Some(&fail)).0, 200);
    let shown = parc_json(&s, &["task", "show", &id.to_string()]);
    assert_eq!((shown["state"].as_str(), shown["error"].as_str()), (Some("pending"), Some("hook ssh-key: no user \"parc\"")));
    let second = script(&s, "52-54-00-00-00-0b");
    let token2 = token_of(&second);
    assert_ne!(token, token2);
    assert_eq!(http("GET", &format!("{}/api/v1/agent/task", s.url), Some(&token), None).0, 401, "the old token is dead");
    let ok = json!({"ok": true, "message": "restored golden"});
    assert_eq!(http("POST", &format!("{}/api/v1/agent/done", s.url), Some(&token2), Some(&ok)).0, 200);

    // Done: the machine boots its disk from now on.
    let after = script(&s, "52-54-00-00-00-0b");
    assert!(after.contains("sanboot") && !after.contains("parc.token"), "{after}");
    let shown = parc_json(&s, &["task", "show", &id.to_string()]);
    assert_eq!((shown["state"].as_str(), shown["attempts"].as_u64()), (Some("succeeded"), Some(2)));
    let phases: Vec<&str> = shown["log"].as_array().unwrap().iter().map(|l| l["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["created", "boot", "restore:write", "error", "boot", "done"], "{shown:#}");
    let text = parc(&s, &["task", "show", &id.to_string()]);
    assert!(text.contains("succeeded (attempt 2 of 2)"), "{text}");
    assert!(text.contains("  hook      hostname lab-b\n") && text.contains("  hook      ssh-key for parc\n"), "hooks in text form: {text}");
}

#[test]
fn bad_orders_are_refused_when_given_and_a_window_keeps_a_task_waiting() {
    if !prerequisites() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path());
    parc(&s, &["host", "add", "--hostname", "lab-c", "--mac", "52:54:00:00:00:0c"]);
    parc(&s, &["host", "add", "--hostname", "lab-f", "--mac", "52:54:00:00:00:0f"]);
    parc(&s, &["host", "add", "--hostname", "lab-old", "--mac", "52:54:00:00:00:1f"]);
    parc(&s, &["host", "edit", "lab-old", "--state", "retired"]);
    let img = tmp.path().join("golden.raw");
    std::fs::write(&img, kit::pseudo_random(2 << 20, 5)).unwrap();
    parc(&s, &["image", "capture", img.to_str().unwrap(), "--name", "nosuch-yet", "--raw"]);
    let motd = tmp.path().join("motd");
    std::fs::write(&motd, "hello\n").unwrap();
    let file_hook = format!("9:/etc/motd={}", motd.display());
    let refused = |args: &[&str], why: &str| {
        let out = kit::parc_command(env!("CARGO_BIN_EXE_parc")).args(args).args(["--server", &s.url]).output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && said.contains(why), "parc {args:?} should be refused with {why:?}: {said}");
    };
    refused(&["task", "restore", "lab-c", "--image", "nosuch"], "image \"nosuch\" does not exist");
    refused(&["task", "restore", "lab-c", "--image", "../etc"], "invalid image name");
    refused(&["task", "restore", "lab-c", "--image", "nosuch-yet", "--file", &file_hook], "has no partition 9");
    refused(&["task", "restore", "lab-old", "--image", "nosuch-yet"], "lab-old is retired");
    refused(&["task", "restore", "lab-c", "--image", "nosuch-yet", "--at", "2020-01-01 10:00"], "is in the past");
    refused(&["task", "restore", "lab-c", "--image", "nosuch-yet", "--window", "25:00-26:00"], "");
    refused(&["task", "capture", "lab-c", "--image", "nosuch-yet"], "already exists: capture with --replace");
    let t = parc_json(&s, &["task", "capture", "lab-c", "--image", "fresh"]);
    let cap = t[0]["id"].as_i64().unwrap();
    refused(&["task", "capture", "lab-f", "--image", "fresh"], &format!("task {cap} already captures into \"fresh\""));
    parc(&s, &["task", "cancel", &cap.to_string()]);
    assert!(parc_json(&s, &["task", "list"]).as_array().unwrap().is_empty(), "refused orders left no task behind");

    // An image that a pending restore needs is deleted only with --force,
    // which cancels (and lists) those tasks.
    let t = parc_json(&s, &["task", "restore", "lab-f", "--image", "nosuch-yet"]);
    let r = t[0]["id"].as_i64().unwrap();
    refused(&["image", "delete", "nosuch-yet"], "--force cancels it");
    let out = parc(&s, &["image", "delete", "nosuch-yet", "--force"]);
    assert!(out.contains(&format!("cancelled task {r}")) && out.contains("deleted \"nosuch-yet\""), "{out}");
    assert_eq!(parc_json(&s, &["task", "show", &r.to_string()])["state"], "cancelled");
    parc(&s, &["image", "capture", img.to_str().unwrap(), "--name", "nosuch", "--raw"]);

    // A window that starts in two hours: nothing starts now.
    let now = chrono::Local::now();
    let from = (now + chrono::Duration::hours(2)).format("%H:%M").to_string();
    let to = (now + chrono::Duration::hours(3)).format("%H:%M").to_string();
    let t = parc_json(&s, &["task", "restore", "lab-c", "--image", "nosuch", "--window", &format!("{from}-{to}")]);
    let id = t[0]["id"].as_i64().unwrap();
    let sc = script(&s, "52-54-00-00-00-0c");
    assert!(!sc.contains("parc.token"), "{sc}");
    let shown = parc_json(&s, &["task", "show", &id.to_string()]);
    assert_eq!(shown["state"], "pending", "outside its window the task waits: {shown:#}");
    assert!(shown["woken_at"].is_null());
    let text = parc(&s, &["task", "show", &id.to_string()]);
    assert!(text.contains(&format!("window    {from}-{to} (the server's time, UTC")), "{text}");
    let list = parc(&s, &["task", "list"]);
    assert!(list.contains("NOT BEFORE") && list.contains(&format!("{from}-{to}")), "{list}");
    // --at is read in the server's time zone, like the window, and shown with its offset.
    let at = (now + chrono::Duration::hours(5)).format("%Y-%m-%d %H:%M").to_string();
    parc(&s, &["host", "add", "--hostname", "lab-g", "--mac", "52:54:00:00:00:1a"]);
    let t = parc_json(&s, &["task", "restore", "lab-g", "--image", "nosuch", "--at", &at]);
    let nb = t[0]["not_before"].as_i64().unwrap();
    assert_eq!(nb, chrono::NaiveDateTime::parse_from_str(&at, "%Y-%m-%d %H:%M").unwrap().and_local_timezone(chrono::Local).unwrap().timestamp());
    let text = parc(&s, &["task", "show", &t[0]["id"].as_i64().unwrap().to_string()]);
    assert!(text.contains(&format!("not before {at}:00 ")), "{text}");
    let other = kit::parc_command(env!("CARGO_BIN_EXE_parc")).args(["task", "restore", "lab-c", "--image", "nosuch", "--server", &s.url]).output().unwrap();
    assert!(!other.status.success() && String::from_utf8_lossy(&other.stderr).contains(&format!("already has task {id} unfinished")));

    // A host with an unfinished task stays; once it is finished, the host
    // goes with its task history, and its id never comes back.
    let rm = kit::parc_command(env!("CARGO_BIN_EXE_parc")).args(["host", "rm", "lab-c", "--server", &s.url]).output().unwrap();
    let said = String::from_utf8_lossy(&rm.stderr);
    assert!(!rm.status.success() && said.contains("lab-c has an unfinished task: cancel it first"), "{said}");
    assert_eq!(parc_json(&s, &["host", "show", "lab-c"])["hostname"], "lab-c");
    let out = parc(&s, &["host", "rm", "lab-c", "--cancel-tasks"]);
    assert!(out.contains(&format!("cancelled task {id}")) && out.contains("removed host"), "{out}");
    let gone = kit::parc_command(env!("CARGO_BIN_EXE_parc")).args(["task", "show", &id.to_string(), "--server", &s.url]).output().unwrap();
    assert!(!gone.status.success() && String::from_utf8_lossy(&gone.stderr).contains(&format!("no task {id}")), "the task went with its host");
    parc(&s, &["host", "add", "--hostname", "lab-e", "--mac", "52:54:00:00:00:0e"]);
    let t = parc_json(&s, &["task", "capture", "lab-e", "--image", "e"]);
    assert!(t[0]["id"].as_i64().unwrap() > id, "task ids are never reused");
    assert!(parc_json(&s, &["task", "list", "--host", "lab-e"]).as_array().unwrap().len() == 1, "lab-e inherits nothing");
}

#[test]
fn the_agent_restores_onto_a_disk_and_reports() {
    if !prerequisites() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path());
    let img = tmp.path().join("golden.raw");
    std::fs::write(&img, kit::pseudo_random(6 << 20, 11)).unwrap();
    parc(&s, &["image", "capture", img.to_str().unwrap(), "--name", "golden", "--raw"]);
    parc(&s, &["host", "add", "--hostname", "lab-d", "--mac", "52:54:00:00:00:0d"]);
    let target = tmp.path().join("disk.raw");
    std::fs::write(&target, vec![0u8; 8 << 20]).unwrap();
    let t = parc_json(&s, &["task", "restore", "lab-d", "--image", "golden", "--disk", target.to_str().unwrap()]);
    let id = t[0]["id"].as_i64().unwrap();
    let del = kit::parc_command(env!("CARGO_BIN_EXE_parc")).args(["image", "delete", "golden", "--server", &s.url]).output().unwrap();
    let said = String::from_utf8_lossy(&del.stderr);
    assert!(!del.status.success() && said.contains("needed by an unfinished task"), "an image a pending restore needs stays: {said}");
    let sc = script(&s, "52-54-00-00-00-0d");
    // What iPXE would put on the kernel command line.
    let cmdline = sc.lines().find(|l| l.starts_with("kernel ")).unwrap().to_string();
    let cmdfile = tmp.path().join("cmdline");
    std::fs::write(&cmdfile, &cmdline).unwrap();
    let out = kit::parc_command(env!("CARGO_BIN_EXE_parc")).args(["agent", "--no-reboot", "--cmdline"]).arg(&cmdfile).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "agent failed:\n{said}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains(&format!("parc agent: task {id}: restore golden")), "{said}");
    assert!(kit::same_content(&img, &{
        let cut = tmp.path().join("cut.raw");
        let mut b = std::fs::read(&target).unwrap();
        b.truncate(6 << 20);
        std::fs::write(&cut, b).unwrap();
        cut
    }), "the disk holds the image");
    let shown = parc_json(&s, &["task", "show", &id.to_string()]);
    assert_eq!(shown["state"], "succeeded", "{shown:#}");
    assert!(shown["log"].as_array().unwrap().iter().any(|l| l["message"].as_str().unwrap().contains("restored golden: received")), "{shown:#}");
    let host = parc_json(&s, &["host", "show", "lab-d"]);
    assert!(host["hardware"]["cpus"].as_u64().unwrap() >= 1, "the agent's inventory is stored: {host:#}");
    assert!(host["hardware"]["memory_bytes"].as_u64().unwrap() > 0);
    // People read it too: `host show` prints a hardware summary.
    let text = parc(&s, &["host", "show", "lab-d"]);
    let cpus = host["hardware"]["cpus"].as_u64().unwrap();
    assert!(text.contains("  hardware    (reported ") && text.contains(&format!("    cpu       {cpus} x ")) && text.contains("    memory    "), "{text}");
    assert!(text.contains("    system    ") && text.contains("    serial    "), "{text}");
}

#[test]
fn group_restores_name_each_host_from_the_registry_or_a_template() {
    if !prerequisites() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path());
    let img = tmp.path().join("golden.raw");
    std::fs::write(&img, kit::pseudo_random(1 << 20, 9)).unwrap();
    parc(&s, &["image", "capture", img.to_str().unwrap(), "--name", "golden", "--raw"]);
    parc(&s, &["host", "add", "--hostname", "pc-a", "--mac", "52:54:00:00:01:01", "--group", "lab"]);
    parc(&s, &["host", "add", "--hostname", "pc-b", "--mac", "52:54:00:00:01:02", "--group", "lab"]);
    let names = |tasks: &Value| -> Vec<String> { tasks.as_array().unwrap().iter().map(|t| t["hooks"][0]["name"].as_str().unwrap().to_string()).collect() };
    let t = parc_json(&s, &["task", "restore", "--group", "lab", "--image", "golden", "--hooks", "hostname"]);
    assert_eq!(names(&t), ["pc-a", "pc-b"]);
    for t in t.as_array().unwrap() {
        parc(&s, &["task", "cancel", &t["id"].as_i64().unwrap().to_string()]);
    }
    let t = parc_json(&s, &["task", "restore", "--group", "lab", "--image", "golden", "--hooks", "hostname=lab-{{ n }}"]);
    assert_eq!(names(&t), ["lab-1", "lab-2"]);
    for t in t.as_array().unwrap() {
        parc(&s, &["task", "cancel", &t["id"].as_i64().unwrap().to_string()]);
    }
    // Several at once: every unfinished task of a group.
    parc_json(&s, &["task", "restore", "--group", "lab", "--image", "golden"]);
    let out = parc(&s, &["task", "cancel", "--group", "lab"]);
    assert_eq!(out.lines().filter(|l| l.ends_with(" cancelled")).count(), 2, "{out}");
    let out = kit::parc_command(env!("CARGO_BIN_EXE_parc")).args(["task", "restore", "--group", "lab", "--image", "golden", "--hooks", "hostname=pc-01", "--server", &s.url]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("would name all 2 hosts pc-01"), "{said}");
    assert!(parc_json(&s, &["task", "list"]).as_array().unwrap().is_empty());
    // Fields can be emptied again.
    parc(&s, &["host", "edit", "pc-a", "--ip", "198.18.7.7"]);
    let h = parc_json(&s, &["host", "edit", "pc-a", "--clear-ip", "--clear-groups"]);
    assert!(h["ip"].is_null() && h["groups"].as_array().unwrap().is_empty(), "{h:#}");
}
