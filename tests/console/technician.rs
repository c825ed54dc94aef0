//! A technician of one site: finds a host as they type, selects it and
//! orders its reimage from the keyboard alone with the focus visible; sees
//! none of another site's hosts or tasks in pages, search or the event
//! stream, which resumes from `Last-Event-ID` without a gap or a repeat.

use std::process::{Command, Stdio};
use std::time::Duration;

use parc_testkit as kit;
use parc_testkit::browser::{Browser, Locator};

use super::{admin, assert_accessible, boot_server, expect_text, expect_text_where, http, sign_in, text_of, token_for, Agent};

/// The `task` events of an SSE body: (id, data).
fn events(body: &str) -> Vec<(i64, serde_json::Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut data = None;
            let mut task = false;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str(v.trim()).ok();
                } else if line.trim() == "event: task" || line.trim() == "event:task" {
                    task = true;
                }
            }
            task.then_some(())?;
            Some((id?, data?))
        })
        .collect()
}

/// The event stream as `cookie`'s user sees it, for `secs` seconds.
fn listen(url: &str, cookie: &str, last_event: Option<i64>, secs: u32) -> std::process::Child {
    let mut c = Command::new("curl");
    c.args(["-sN", "--max-time", &secs.to_string(), "-H", &format!("Cookie: parc_session={cookie}")]);
    if let Some(id) = last_event {
        c.args(["-H", &format!("Last-Event-ID: {id}")]);
    }
    c.arg(format!("{url}/events")).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap()
}

#[test]
fn a_technician_works_from_the_keyboard_and_sees_nothing_of_another_site() {
    if !kit::prerequisite("browser tests", kit::browser::available()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = boot_server(dir.path());
    let img = dir.path().join("golden.raw");
    std::fs::write(&img, kit::pseudo_random(2 << 20, 3)).unwrap();
    admin(&server, &["entity", "add", "/Site A"], "");
    // Site A's image: its technician may restore it.
    admin(&server, &["image", "capture", img.to_str().unwrap(), "--name", "golden", "--raw", "--entity", "/Site A"], "");
    admin(&server, &["entity", "add", "/Site B"], "");
    for (name, mac, entity) in [("a-01", "52:54:00:00:e0:01", "/Site A"), ("a-02", "52:54:00:00:e0:02", "/Site A"), ("b-01", "52:54:00:00:e0:b1", "/Site B")] {
        admin(&server, &["host", "add", "--hostname", name, "--mac", mac, "--entity", entity], "");
    }
    admin(&server, &["user", "add", "tech", "--role", "technician@/Site A", "--password-stdin"], "tech-pass-1\n");
    let tech = token_for(&server, "tech", "tech-pass-1");

    // While the technician listens, both sites' machines work.
    let stream = listen(&server.url, &tech, None, 6);
    std::thread::sleep(Duration::from_millis(500));
    admin(&server, &["task", "restore", "a-02", "--image", "golden"], "");
    admin(&server, &["task", "restore", "b-01", "--image", "golden"], "");
    for mac in ["52-54-00-00-e0-02", "52-54-00-00-e0-b1"] {
        let a = Agent::boot(&server, mac);
        a.progress("restore:write", Some(1 << 20), Some(2 << 20), Some(1e6), "half");
        a.done(true, "restored");
    }
    let body = String::from_utf8(stream.wait_with_output().unwrap().stdout).unwrap();
    let seen = events(&body);
    let hosts: std::collections::BTreeSet<&str> = seen.iter().map(|(_, e)| e["host"].as_str().unwrap()).collect();
    assert_eq!(hosts.into_iter().collect::<Vec<_>>(), ["a-02"], "only Site A's host reaches the technician: {body}");
    let phases: Vec<&str> = seen.iter().map(|(_, e)| e["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["created", "boot", "restore:write", "done"], "{body}");
    assert!(!body.contains("b-01"), "nothing of Site B, not even a name: {body}");
    let ids: Vec<i64> = seen.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "event ids increase: {ids:?}");

    // Resumed after the first event: the rest, nothing twice, nothing missed.
    let again = listen(&server.url, &tech, Some(ids[0]), 2);
    let resumed: Vec<i64> = events(&String::from_utf8(again.wait_with_output().unwrap().stdout).unwrap()).into_iter().map(|(id, _)| id).collect();
    assert_eq!(resumed, ids[1..], "Last-Event-ID resumes the stream");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = Browser::start().await.unwrap();
        let c = &b.client;
        let go = |path: &str| format!("{}{path}", server.url);
        c.goto(&go("/hosts")).await.unwrap();
        sign_in(&b, "tech", "tech-pass-1").await;
        expect_text(&b, ".count", "2 hosts").await;

        // From the keyboard: "/" to find, typing narrows the list as it goes
        // (and the URL follows), j to the row, x to select, r to reimage.
        let key = |k: &'static str| async move { c.active_element().await.unwrap().send_keys(k).await.unwrap() };
        c.execute("document.activeElement.blur()", vec![]).await.unwrap();
        key("/").await;
        assert_eq!(c.active_element().await.unwrap().attr("id").await.unwrap().as_deref(), Some("q"), "/ focuses the search");
        key("a-01").await;
        expect_text(&b, ".count", "1 host").await;
        b.wait_for(Duration::from_secs(5), |c| async move { c.current_url().await.ok()?.query()?.contains("q=a-01").then_some(()) }).await.expect("the URL holds the search");
        key("\u{e00c}").await; // Escape
        key("j").await;
        let focused = c.active_element().await.unwrap();
        assert!(focused.attr("data-host").await.unwrap().is_some(), "j focuses the first row");
        let outline = c.execute("return getComputedStyle(document.activeElement).outlineStyle", vec![]).await.unwrap();
        assert_ne!(outline, "none", "the focused row is visibly marked");
        key("x").await;
        assert_eq!(c.find(Locator::Css("tbody input[type=checkbox]")).await.unwrap().prop("checked").await.unwrap().as_deref(), Some("true"));
        key("r").await;
        expect_text(&b, "[data-count=selected]", "1").await;
        assert_eq!(text_of(&b, ".names").await, "a-01");
        c.find(Locator::Id("image")).await.unwrap().send_keys("golden\u{e007}").await.unwrap(); // Enter submits
        expect_text_where(&b, "#scheduled", "1 task scheduled", |t| t.starts_with("1 task scheduled")).await;
        assert_accessible(&b, "the technician's tasks").await;

        // Pages, search and direct addresses: Site B does not exist here.
        c.goto(&go("/hosts?q=b-01")).await.unwrap();
        expect_text(&b, ".count", "0 hosts").await;
        c.goto(&go("/tasks")).await.unwrap();
        let list = text_of(&b, "main").await;
        assert!(list.contains("a-02") && !list.contains("b-01"), "{list}");
        let b01 = serde_json::from_str::<serde_json::Value>(&admin(&server, &["host", "show", "b-01", "--json"], "")).unwrap()["id"].as_i64().unwrap();
        let session = c.get_named_cookie("parc_session").await.unwrap().value().to_string();
        let (code, page) = http("GET", &go(&format!("/hosts/{b01}")), None, Some(&session), None);
        assert_eq!(code, 404, "{page}");
        let (code, _) = http("GET", &go("/hosts/999999"), None, Some(&session), None);
        assert_eq!(code, 404, "the same answer as a host that does not exist");
        c.goto(&go("/admin")).await.unwrap();
        expect_text_where(&b, "main", "refused", |t| t.contains("lacks the permission user.admin") || t.contains("user.admin")).await;
        b.close().await;
    });
}
