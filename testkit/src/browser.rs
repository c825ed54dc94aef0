//! A real headless Chromium, driven over W3C WebDriver: Debian's `chromium`
//! and `chromium-driver`, with fantoccini. Nothing is downloaded: a machine
//! without them lacks a prerequisite.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use fantoccini::{Client, Locator};

/// Debian's Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether this machine can run browser tests.
pub fn available() -> Result<(), String> {
    crate::require_tool("chromedriver", "chromium-driver")?;
    crate::require_tool("chromium", "chromium")?;
    Ok(())
}

/// chromedriver and the one browser session it runs; both end on drop.
pub struct Browser {
    driver: Child,
    /// The WebDriver session.
    pub client: Client,
    _profile: tempfile::TempDir,
}

/// Ends a process group (chromedriver and the browsers it started).
fn end_group(child: &mut Child) {
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.wait();
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless
    /// session with a fresh profile, waiting up to 20 s for each.
    pub async fn start() -> Result<Self, String> {
        available()?;
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        // A process group of its own, so that drop ends the browser it starts too.
        let mut driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting chromedriver: {e}"))?;
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if t0.elapsed() > Duration::from_secs(20) {
                end_group(&mut driver);
                return Err("chromedriver did not listen within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        // Headless, as root, and silent towards the network: without the
        // background-networking flags it keeps calling home.
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1280,1000".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = serde_json::json!({ "goog:chromeOptions": { "binary": CHROMIUM, "args": args } });
        let caps = caps.as_object().cloned().unwrap_or_default();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let session = tokio::time::timeout(Duration::from_secs(20), fantoccini::ClientBuilder::new(connector).capabilities(caps).connect(&format!("http://127.0.0.1:{port}"))).await;
        match session {
            Ok(Ok(client)) => Ok(Self { driver, client, _profile: profile }),
            Ok(Err(e)) => {
                end_group(&mut driver);
                Err(format!("opening a Chromium session: {e}"))
            }
            Err(_) => {
                end_group(&mut driver);
                Err("Chromium did not start within 20 s".into())
            }
        }
    }

    /// Waits up to `limit` for `probe` to return `Some`, polling every 100 ms.
    pub async fn wait_for<T, F, Fut>(&self, limit: Duration, mut probe: F) -> Option<T>
    where
        F: FnMut(Client) -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Some(v) = probe(self.client.clone()).await {
                return Some(v);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// The serious and critical accessibility violations axe-core finds on
    /// the page (`axe` is axe-core's `axe.min.js`), one line each, and how
    /// many of its rules the page passed (none would mean it did not run).
    pub async fn accessibility_problems(&self, axe: &str) -> Result<(Vec<String>, usize), String> {
        self.client.execute(axe, vec![]).await.map_err(|e| format!("loading axe-core: {e}"))?;
        let script = r#"
            const done = arguments[arguments.length - 1];
            axe.run(document).then(
                (r) => done({ passed: r.passes.length, bad: r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
                    .map((v) => v.impact + " " + v.id + ": " + v.help + " at " + v.nodes.map((n) => n.target.join(" ")).join(", ")) }),
                (e) => done({ passed: 0, bad: ["axe failed: " + e] }));
        "#;
        let found = self.client.execute_async(script, vec![]).await.map_err(|e| format!("running axe-core: {e}"))?;
        let bad = found["bad"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default();
        Ok((bad, found["passed"].as_u64().unwrap_or(0) as usize))
    }

    /// Closes the session, then chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        end_group(&mut self.driver);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        end_group(&mut self.driver);
    }
}
