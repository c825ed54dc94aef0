//! The typed client of a parc server's host, task and agent APIs
//! (`/api/v1/…`), shared by the CLI and the netboot agent. The image and
//! chunk API has its own client in `parc_imaging::transport`.
//!
//! Every call is bounded: a connection that cannot be made, a gateway
//! error (502, 503, 504) and, for requests that are safe to repeat, any
//! transport failure are retried a fixed number of times with backoff. A
//! 4xx is the server's considered answer, returned at once with its message.

mod accounts;

pub use accounts::{LoggedIn, TokenMade, WhoAmI};

use std::time::Duration;

use parc_deploy::api::{AgentDone, AgentTask, CreateTasks, HostRemoved, ImageDeleted, TaskDetail, TaskSummary};
use parc_deploy::{Progress, Task};
use parc_inventory::hardware::Hardware;
use parc_inventory::registry::ImportReport;
use parc_inventory::{Host, HostDetail, HostEdit, HostPage, HostQuery, HostSort, HostSpec};
use parc_pxe::wol::{WakeReport, WakeRequest};
pub use parc_tls::{Fingerprint, Trust};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not be reached, after every attempt.
    #[error("cannot reach the parc server at {base} after {attempts} attempt(s): {cause} (is `parc serve` running there? --server)")]
    Unreachable {
        /// The server.
        base: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        cause: String,
    },
    /// The server answered with an error status.
    #[error("{message}")]
    Refused {
        /// The status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// The server's answer is not what this client understands.
    #[error("unexpected answer from {url}: {cause}")]
    Answer {
        /// The request's URL.
        url: String,
        /// What is wrong with it.
        cause: String,
    },
    /// The TLS handshake failed: an untrusted or changed certificate.
    #[error("{base}: {why}")]
    Tls {
        /// The server.
        base: String,
        /// What it means and what to do.
        why: String,
    },
    /// The server address is not an http(s) URL.
    #[error("{0:?} is not a server URL such as http://parc.example:7420")]
    BadUrl(String),
}

/// Client results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A parc server.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    attempts: u32,
    token: Option<String>,
    trust: Trust,
}

/// An error and its causes, as one line (reqwest's own message leaves
/// out why a connection failed).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(c) = next {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        next = c.source();
    }
    out
}

/// `key` as a URL path segment (MACs keep their colons, which are legal).
fn seg(key: &str) -> String {
    key.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._:".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

impl Client {
    /// A client of the server at `base` (`http://host:7420`), trying each
    /// call up to 3 times; HTTPS trusts the usual web roots.
    pub fn new(base: &str) -> Result<Self> {
        Self::with_trust(base, &Trust::System)
    }

    /// The same, for a server whose certificate `trust` vouches for.
    pub fn with_trust(base: &str, trust: &Trust) -> Result<Self> {
        let base = base.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() < 8 {
            return Err(Error::BadUrl(base.to_string()));
        }
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).timeout(Duration::from_secs(120));
        if let Some(tls) = parc_tls::client::config(trust).map_err(|e| Error::Tls { base: base.into(), why: e.to_string() })? {
            builder = builder.use_preconfigured_tls(tls);
        }
        let http = builder.build().map_err(|e| Error::BadUrl(format!("{base}: {e}")))?;
        Ok(Self { base: base.to_string(), http, attempts: 3, token: None, trust: trust.clone() })
    }

    /// The SHA-256 fingerprint of the certificate an HTTPS server presents,
    /// trusting nothing: for a person to compare before pinning it. `None`
    /// for plain HTTP.
    pub async fn probe_fingerprint(base: &str) -> Result<Option<Fingerprint>> {
        let base = base.trim_end_matches('/');
        if !base.starts_with("https://") {
            return Ok(None);
        }
        let (tls, seen) = parc_tls::client::probe().map_err(|e| Error::Tls { base: base.into(), why: e.to_string() })?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .use_preconfigured_tls(tls)
            .build()
            .map_err(|e| Error::BadUrl(format!("{base}: {e}")))?;
        // Only the handshake matters; nothing is sent but a health check.
        if let Err(e) = http.get(format!("{base}/healthz")).send().await {
            if seen.get().is_none() {
                return Err(Error::Unreachable { base: base.into(), attempts: 1, cause: chain(&e) });
            }
        }
        Ok(seen.get())
    }

    /// The same client trying each call up to `n` times (at least once).
    pub fn attempts(mut self, n: u32) -> Self {
        self.attempts = n.max(1);
        self
    }

    /// The same client presenting `token` as a bearer token.
    pub fn bearer(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    /// How this client trusts the server's certificate.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// One call: `body` as JSON (or raw bytes), the answer as `T` (an empty
    /// answer reads as JSON `null`).
    async fn call<T: DeserializeOwned>(&self, method: Method, path: &str, body: Body<'_>) -> Result<T> {
        Ok(self.call_with_headers(method, path, body).await?.0)
    }

    /// [`call`](Self::call), with the answer's headers.
    async fn call_with_headers<T: DeserializeOwned>(&self, method: Method, path: &str, body: Body<'_>) -> Result<(T, reqwest::header::HeaderMap)> {
        let url = self.url(path);
        let repeatable = matches!(method, Method::GET | Method::PUT | Method::DELETE);
        let mut last = String::new();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << (attempt - 1).min(4))).await;
            }
            let mut req = self.http.request(method.clone(), &url);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            req = match &body {
                Body::None => req,
                Body::Json(v) => req.json(v),
                Body::Raw(bytes, kind) => req.header(reqwest::header::CONTENT_TYPE, *kind).body(bytes.to_vec()),
            };
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    // Trying again cannot change a certificate.
                    if let Some(why) = parc_tls::client::explain(&e) {
                        return Err(Error::Tls { base: self.base.clone(), why });
                    }
                    last = chain(&e);
                    tracing::debug!(%url, attempt, error = %e, "request failed");
                    if e.is_connect() || repeatable {
                        continue;
                    }
                    return Err(Error::Unreachable { base: self.base.clone(), attempts: attempt + 1, cause: last });
                }
            };
            let status = resp.status();
            let headers = resp.headers().clone();
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    last = e.to_string();
                    if repeatable {
                        continue;
                    }
                    return Err(Error::Unreachable { base: self.base.clone(), attempts: attempt + 1, cause: last });
                }
            };
            if status.is_success() {
                let bytes = if bytes.is_empty() { &b"null"[..] } else { &bytes[..] };
                return serde_json::from_slice(bytes).map(|v| (v, headers)).map_err(|e| Error::Answer { url, cause: e.to_string() });
            }
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_else(|| format!("{status}: {}", String::from_utf8_lossy(&bytes).trim()));
            if matches!(status, StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT) {
                last = message;
                continue;
            }
            return Err(Error::Refused { status: status.as_u16(), message });
        }
        Err(Error::Unreachable { base: self.base.clone(), attempts: self.attempts, cause: last })
    }

    // Hosts.

    /// Every host, or a group's.
    pub async fn hosts(&self, group: Option<&str>) -> Result<Vec<Host>> {
        let q = group.map(|g| format!("?group={}", seg(g))).unwrap_or_default();
        self.call(Method::GET, &format!("/hosts{q}"), Body::None).await
    }

    /// The hosts `q` selects (its `entities` are the server's to decide),
    /// and how many match in all.
    pub async fn search_hosts(&self, q: &HostQuery) -> Result<HostPage> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(t) = &q.text {
            params.push(("q", t.clone()));
        }
        if let Some(g) = &q.group {
            params.push(("group", g.clone()));
        }
        if let Some(st) = q.state {
            params.push(("state", st.as_str().to_string()));
        }
        if q.sort != HostSort::default() {
            params.push(("sort", serde_json::to_value(q.sort).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()));
        }
        if q.desc {
            params.push(("desc", "true".into()));
        }
        if let Some(a) = q.after {
            params.push(("after", a.to_string()));
        }
        if q.skip > 0 {
            params.push(("skip", q.skip.to_string()));
        }
        if let Some(l) = q.limit {
            params.push(("limit", l.to_string()));
        }
        let query = params.iter().map(|(k, v)| format!("{k}={}", seg(v))).collect::<Vec<_>>().join("&");
        let (hosts, headers): (Vec<Host>, _) = self.call_with_headers(Method::GET, &format!("/hosts?{query}"), Body::None).await?;
        let total = headers.get("x-total-count").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(hosts.len() as u64);
        Ok(HostPage { hosts, total })
    }

    /// One host (id, hostname or MAC) with its recent events.
    pub async fn host(&self, key: &str) -> Result<HostDetail> {
        self.call(Method::GET, &format!("/hosts/{}", seg(key)), Body::None).await
    }

    /// Registers a host, in entity `entity` (a path) or the caller's default.
    pub async fn add_host(&self, spec: &HostSpec, entity: Option<&str>) -> Result<Host> {
        let q = entity.map(|e| format!("?entity={}", seg(e))).unwrap_or_default();
        self.call(Method::POST, &format!("/hosts{q}"), Body::json(spec)).await
    }

    /// Changes a host.
    pub async fn edit_host(&self, key: &str, edit: &HostEdit) -> Result<Host> {
        self.call(Method::PATCH, &format!("/hosts/{}", seg(key)), Body::json(edit)).await
    }

    /// Removes a host; `cancel_tasks` cancels its unfinished task first.
    pub async fn remove_host(&self, key: &str, cancel_tasks: bool) -> Result<HostRemoved> {
        self.call(Method::DELETE, &format!("/hosts/{}?cancel_tasks={cancel_tasks}", seg(key)), Body::None).await
    }

    /// Imports hosts from CSV, all rows or none.
    /// New hosts go into `entity` (a path) or the caller's default.
    pub async fn import_hosts(&self, csv: &[u8], entity: Option<&str>) -> Result<ImportReport> {
        let q = entity.map(|e| format!("?entity={}", seg(e))).unwrap_or_default();
        self.call(Method::POST, &format!("/hosts/import{q}"), Body::Raw(csv, "text/csv")).await
    }

    /// Sends Wake-on-LAN to hosts.
    pub async fn wake(&self, req: &WakeRequest) -> Result<WakeReport> {
        self.call(Method::POST, "/hosts/wake", Body::json(req)).await
    }

    /// The registration environment's check-in with its hardware.
    pub async fn check_in(&self, mac: &str, hw: &Hardware) -> Result<Host> {
        self.call(Method::POST, &format!("/hosts/{}/checkin", seg(mac)), Body::json(hw)).await
    }

    // Images (the platform's side; the image data goes through `parc_imaging::transport`).

    /// Deletes an image; `force` cancels the unfinished tasks that need it.
    pub async fn delete_image(&self, name: &str, force: bool) -> Result<ImageDeleted> {
        self.call(Method::DELETE, &format!("/images/{}?force={force}", seg(name)), Body::None).await
    }

    // Tasks.

    /// Creates tasks.
    pub async fn create_tasks(&self, req: &CreateTasks) -> Result<Vec<Task>> {
        self.call(Method::POST, "/tasks", Body::json(req)).await
    }

    /// Tasks, newest first: of one host when given; unfinished only unless `all`.
    pub async fn tasks(&self, host: Option<&str>, all: bool) -> Result<Vec<TaskSummary>> {
        let mut q = format!("?unfinished={}", !all);
        if let Some(h) = host {
            q += &format!("&host={}", seg(h));
        }
        self.call(Method::GET, &format!("/tasks{q}"), Body::None).await
    }

    /// One task with its history.
    pub async fn task(&self, id: i64) -> Result<TaskDetail> {
        self.call(Method::GET, &format!("/tasks/{id}"), Body::None).await
    }

    /// Cancels a task.
    pub async fn cancel_task(&self, id: i64) -> Result<Task> {
        self.call(Method::POST, &format!("/tasks/{id}/cancel"), Body::None).await
    }

    // The netboot agent (with the task's bearer token).

    /// The task this environment was booted for.
    pub async fn agent_task(&self) -> Result<AgentTask> {
        self.call(Method::GET, "/agent/task", Body::None).await
    }

    /// Sends the hardware inventory.
    pub async fn agent_inventory(&self, hw: &Hardware) -> Result<()> {
        self.call(Method::POST, "/agent/inventory", Body::json(hw)).await
    }

    /// Sends progress.
    pub async fn agent_progress(&self, p: &Progress) -> Result<()> {
        self.call(Method::POST, "/agent/progress", Body::json(p)).await
    }

    /// Reports the outcome.
    pub async fn agent_done(&self, d: &AgentDone) -> Result<Task> {
        self.call(Method::POST, "/agent/done", Body::json(d)).await
    }
}

enum Body<'a> {
    None,
    Json(serde_json::Value),
    Raw(&'a [u8], &'static str),
}

impl Body<'_> {
    fn json(v: &impl Serialize) -> Self {
        Body::Json(serde_json::to_value(v).expect("API bodies serialise"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unreachable_servers_fail_after_bounded_attempts() {
        // A port nothing listens on: each attempt is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let c = Client::new(&format!("http://127.0.0.1:{port}")).unwrap().attempts(2);
        let e = c.hosts(None).await.unwrap_err();
        assert!(matches!(e, Error::Unreachable { attempts: 2, .. }), "{e:?}");
        assert!(e.to_string().contains("is `parc serve` running"), "{e}");
    }

    #[test]
    fn server_urls_need_a_scheme() {
        assert!(matches!(Client::new("parc.example:7420"), Err(Error::BadUrl(_))));
        assert_eq!(Client::new("http://198.18.0.2:7420/").unwrap().base(), "http://198.18.0.2:7420");
        assert_eq!(seg("52:54:00:aa:bb:cc"), "52:54:00:aa:bb:cc");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }
}
