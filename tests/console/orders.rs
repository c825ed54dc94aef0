//! An administrator's day in the console: a group restore ordered through
//! "all matching", refused with 409 when a host joins the group while the
//! confirmation is open, then confirmed; the live board following a
//! simulated agent on the real agent API phase by phase to 100 % and off
//! the board; the host page's timeline; a cancel; the audit log; and the
//! images screen's sharing, verify and delete. axe-core checks the pages.

use std::time::Duration;

use parc_testkit as kit;
use parc_testkit::browser::{Browser, Locator};

use super::{admin, assert_accessible, boot_server, expect_text, expect_text_where, http, screenshot, sign_in, text_of, Agent};

/// Every task of the registry, as the CLI lists them.
fn tasks(server: &kit::Server) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(&admin(server, &["task", "list", "--json"], "")).unwrap().as_array().unwrap().clone()
}

fn task_of(server: &kit::Server, host: &str) -> i64 {
    tasks(server).iter().find(|t| t["host"] == host).and_then(|t| t["id"].as_i64()).unwrap_or_else(|| panic!("no task for {host}"))
}

#[test]
fn an_admin_orders_a_group_restore_confirms_it_and_watches_it_live() {
    if !kit::prerequisite("browser tests", kit::browser::available()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = boot_server(dir.path());
    let img = dir.path().join("golden.raw");
    std::fs::write(&img, kit::pseudo_random(4 << 20, 11)).unwrap();
    admin(&server, &["image", "capture", img.to_str().unwrap(), "--name", "golden", "--raw"], "");
    admin(&server, &["entity", "add", "/Site A"], "");
    admin(&server, &["entity", "add", "/Site B"], "");
    for (i, entity) in [(1, "/Site A"), (2, "/Site A"), (3, "/Site A"), (4, "/Site A")] {
        admin(&server, &["host", "add", "--hostname", &format!("lab-0{i}"), "--mac", &format!("52:54:00:00:d0:0{i}"), "--group", "lab", "--entity", entity], "");
    }
    admin(&server, &["host", "add", "--hostname", "b-01", "--mac", "52:54:00:00:d0:b1", "--group", "lab", "--entity", "/Site B"], "");
    admin(&server, &["host", "add", "--hostname", "other", "--mac", "52:54:00:00:d0:ff"], "");
    admin(&server, &["user", "passwd", "admin", "--password-stdin"], "admin-pass-1\n");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = Browser::start().await.unwrap();
        let c = &b.client;
        let go = |path: &str| format!("{}{path}", server.url);

        // An empty filter never offers "all matching".
        c.goto(&go("/hosts")).await.unwrap();
        sign_in(&b, "admin", "admin-pass-1").await;
        expect_text(&b, ".count", "6 hosts").await;
        assert!(c.find(Locator::Id("reimage-all")).await.is_err(), "no 'all matching' without a filter");
        let (code, body) = http("GET", &go("/tasks/new?all=1"), Some(kit::ADMIN_TOKEN), None, None);
        assert_eq!(code, 303, "the console takes sessions, not bearer tokens: it sends the caller to sign in: {body}");

        // The group, all matching, confirmed with the exact count and the first names.
        c.goto(&go("/hosts?group=lab")).await.unwrap();
        expect_text(&b, ".count", "5 hosts").await;
        assert_accessible(&b, "hosts").await;
        c.find(Locator::Id("reimage-all")).await.unwrap().click().await.unwrap();
        expect_text(&b, "[data-count=selected]", "5").await;
        let names = text_of(&b, ".names").await;
        assert_eq!(names.lines().collect::<Vec<_>>(), ["b-01", "lab-01", "lab-02", "lab-03", "lab-04"]);
        assert_accessible(&b, "the confirmation").await;
        screenshot(&b, "confirmation").await;

        // Another session adds a matching host while this one is open: 409, nothing scheduled.
        admin(&server, &["host", "add", "--hostname", "lab-05", "--mac", "52:54:00:00:d0:05", "--group", "lab", "--entity", "/Site A"], "");
        c.find(Locator::Id("image")).await.unwrap().send_keys("golden").await.unwrap();
        c.find(Locator::Id("confirm")).await.unwrap().click().await.unwrap();
        let refused = text_of(&b, "#order-error").await;
        assert!(refused.contains("you confirmed 5, now 6 match") && refused.contains("Nothing was scheduled"), "{refused}");
        let (code, _) = http("POST", &go("/tasks"), None, None, None);
        assert_eq!(code, 403, "a form post without an origin is refused");
        assert!(tasks(&server).is_empty(), "nothing was scheduled");
        expect_text(&b, "[data-count=selected]", "6").await;
        assert!(text_of(&b, ".names").await.contains("lab-05"));
        // Confirmed again, as it now is.
        assert_eq!(c.find(Locator::Id("image")).await.unwrap().prop("value").await.unwrap().as_deref(), Some("golden"), "the form keeps what was typed");
        c.find(Locator::Id("confirm")).await.unwrap().click().await.unwrap();
        expect_text_where(&b, "#scheduled", "6 tasks scheduled", |t| t.starts_with("6 tasks scheduled")).await;
        assert_eq!(tasks(&server).len(), 6);

        // The live board follows the agent, phase by phase.
        c.goto(&go("/board")).await.unwrap();
        expect_text(&b, "#link-state", "live").await;
        expect_text(&b, "#running", "0").await;
        let a = Agent::boot(&server, "52-54-00-00-d0-01");
        let row = format!("tr[data-task=\"{}\"]", a.task);
        let cell = |c: &str| format!("{row} .{c}");
        expect_text(&b, &cell("phase"), "boot").await;
        expect_text(&b, "#running", "1").await;
        a.progress("inventory", None, None, None, "hardware reported");
        expect_text(&b, &cell("phase"), "inventory").await;
        let mib = 1u64 << 20;
        a.progress("restore:write", Some(mib), Some(4 * mib), Some(mib as f64), "writing");
        expect_text(&b, &cell("phase"), "restore:write").await;
        expect_text(&b, &cell("pct"), "25 %").await;
        expect_text(&b, &cell("rate"), "1.0 MB/s").await;
        expect_text(&b, &cell("eta"), "3 s").await;
        assert_accessible(&b, "the live board").await;
        a.progress("restore:write", Some(4 * mib), Some(4 * mib), Some(2e6), "written");
        expect_text(&b, &cell("pct"), "100 %").await;
        screenshot(&b, "board").await;
        a.done(true, "restored golden");
        expect_text(&b, &cell("phase"), "succeeded").await;
        // Then it leaves the board.
        b.wait_for(Duration::from_secs(5), |c| {
            let row = row.clone();
            async move { c.find(Locator::Css(&row)).await.is_err().then_some(()) }
        })
        .await
        .expect("a finished task leaves the board");
        expect_text(&b, "#running", "0").await;

        // Another host's attempt fails in its write phase.
        let f = Agent::boot(&server, "52-54-00-00-d0-b1");
        f.progress("restore:write", Some(mib), Some(4 * mib), Some(mib as f64), "writing");
        f.done(false, "disk /dev/sda vanished");

        // The host page: identity, and the timeline's phases with rates, durations and errors in place.
        c.goto(&go("/hosts?q=lab-01")).await.unwrap();
        c.find(Locator::LinkText("lab-01")).await.unwrap().click().await.unwrap();
        expect_text_where(&b, "h1", "lab-01", |t| t.starts_with("lab-01")).await;
        let timeline = text_of(&b, &format!("li.task[data-task=\"{}\"]", a.task)).await;
        assert!(timeline.contains("succeeded") && timeline.contains("2.0 MB/s") && timeline.contains("4.00 MiB of 4.00 MiB"), "{timeline}");
        let phases: Vec<String> = {
            let mut v = Vec::new();
            for r in c.find_all(Locator::Css(&format!("li.task[data-task=\"{}\"] tr.phase", a.task))).await.unwrap() {
                v.push(r.attr("data-phase").await.unwrap().unwrap_or_default());
            }
            v
        };
        assert_eq!(phases, ["created", "boot", "inventory", "restore:write", "done"]);
        assert_accessible(&b, "the host page").await;
        screenshot(&b, "host").await;
        let b01 = serde_json::from_str::<serde_json::Value>(&admin(&server, &["host", "show", "b-01", "--json"], "")).unwrap()["id"].as_i64().unwrap();
        c.goto(&go(&format!("/hosts/{b01}"))).await.unwrap();
        let pinned = c.execute("const e = document.querySelector('tr.error-row'); return e ? [e.previousElementSibling.dataset.phase || e.previousElementSibling.previousElementSibling.dataset.phase, e.textContent] : null", vec![]).await.unwrap();
        assert_eq!(pinned[0], "restore:write", "the error sits under the phase it ended: {pinned}");
        assert!(pinned[1].as_str().unwrap().contains("disk /dev/sda vanished"), "{pinned}");

        // Cancel lab-02's pending task from the tasks screen.
        let t2 = task_of(&server, "lab-02");
        c.goto(&go("/tasks?state=pending")).await.unwrap();
        c.find(Locator::Css(&format!("tr[data-task=\"{t2}\"] button"))).await.unwrap().click().await.unwrap();
        b.wait_for(Duration::from_secs(10), |c| async move { (c.current_url().await.ok()?.query() == Some("state=open")).then_some(()) }).await.expect("back to the open tasks");
        assert!(c.find(Locator::Css(&format!("tr[data-task=\"{t2}\"]"))).await.is_err(), "a cancelled task is not open");
        c.goto(&go("/tasks?host=lab-02")).await.unwrap();
        expect_text(&b, &format!("tr[data-task=\"{t2}\"] .state"), "cancelled").await;

        // The audit page shows what was done, the refusal too; its CSV export holds the same.
        c.goto(&go("/audit?actor=admin")).await.unwrap();
        let log = text_of(&b, "table.audit").await;
        assert!(log.contains(&format!("POST /tasks/{t2}/cancel")) || log.contains("POST /tasks/{id}/cancel"), "{log}");
        assert!(log.contains("failed (409)") && log.contains("ok (303)"), "the refused and the accepted order: {log}");
        let csv_url = c.find(Locator::Id("csv")).await.unwrap().attr("href").await.unwrap().unwrap();
        let session = c.get_named_cookie("parc_session").await.unwrap().value().to_string();
        let (code, csv) = http("GET", &go(&csv_url), None, Some(&session), None);
        assert_eq!(code, 200);
        assert!(csv.lines().filter(|l| l.contains("POST /tasks")).count() >= 3, "{csv}");
        b.close().await;
    });
}

#[test]
fn images_show_what_they_share_verify_and_delete_only_when_confirmed() {
    if !kit::prerequisite("browser tests", kit::browser::available()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = boot_server(dir.path());
    let mut data = kit::pseudo_random(8 << 20, 5);
    let img = dir.path().join("a.raw");
    std::fs::write(&img, &data).unwrap();
    admin(&server, &["image", "capture", img.to_str().unwrap(), "--name", "base", "--raw"], "");
    // The second differs in its last MiB only.
    data.truncate(7 << 20);
    data.extend(kit::pseudo_random(1 << 20, 6));
    std::fs::write(&img, &data).unwrap();
    admin(&server, &["image", "capture", img.to_str().unwrap(), "--name", "base-v2", "--raw"], "");
    admin(&server, &["user", "passwd", "admin", "--password-stdin"], "admin-pass-1\n");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = Browser::start().await.unwrap();
        let c = &b.client;
        let go = |path: &str| format!("{}{path}", server.url);
        c.goto(&go("/images")).await.unwrap();
        sign_in(&b, "admin", "admin-pass-1").await;
        let shared = text_of(&b, "tr[data-image=\"base-v2\"] td:nth-child(5)").await;
        let pct: f64 = shared.trim_end_matches(" %").parse().unwrap();
        assert!((50.0..100.0).contains(&pct), "most of base-v2 is shared with base: {shared}");
        let saved = text_of(&b, ".count").await;
        assert!(saved.contains("deduplication and compression save"), "{saved}");
        c.goto(&go("/")).await.unwrap();
        let saves = text_of(&b, "[data-count=saved]").await;
        assert!(saves.trim_end_matches(" %").parse::<f64>().unwrap() > 30.0, "two near-identical images take little more than one: {saves}");

        c.goto(&go("/images/base-v2")).await.unwrap();
        c.find(Locator::Id("verify")).await.unwrap().click().await.unwrap();
        expect_text_where(&b, "#verdict", "verified", |t| t.starts_with("Verified: every one of its")).await;
        screenshot(&b, "image").await;

        // Delete asks for the name; a wrong one deletes nothing.
        c.find(Locator::Id("delete")).await.unwrap().click().await.unwrap();
        assert_accessible(&b, "the delete confirmation").await;
        c.find(Locator::Id("confirm-name")).await.unwrap().send_keys("base").await.unwrap();
        c.find(Locator::Id("delete-confirm")).await.unwrap().click().await.unwrap();
        b.wait_for(Duration::from_secs(10), |c| async move { c.find(Locator::Id("confirm-name")).await.ok() }).await.expect("asked again");
        assert!(admin(&server, &["image", "list"], "").contains("base-v2"), "a wrong name deletes nothing");
        c.find(Locator::Id("confirm-name")).await.unwrap().send_keys("base-v2").await.unwrap();
        c.find(Locator::Id("delete-confirm")).await.unwrap().click().await.unwrap();
        b.wait_for(Duration::from_secs(10), |c| async move { (c.current_url().await.ok()?.path() == "/images").then_some(()) }).await.expect("back to the images");
        assert!(c.find(Locator::Css("tr[data-image=\"base-v2\"]")).await.is_err());
        assert!(!admin(&server, &["image", "list"], "").contains("base-v2"));
        b.close().await;
    });
}
