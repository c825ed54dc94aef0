//! What people see in a browser: a real headless Chromium (Debian's
//! `chromium` and `chromium-driver`, over WebDriver) against a real
//! `parc serve`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use parc_testkit as kit;
use parc_testkit::browser::{Browser, Locator};

fn parc_bin() -> PathBuf {
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
    let routed: BTreeSet<(String, String)> = parc_web::route_table().into_iter().map(|r| (r.method, r.path)).collect();
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
