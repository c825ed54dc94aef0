//! The HTTP client for a parc server's image API (`/api/v1/…`).
//!
//! Requests that fail on the network or with a 5xx are retried a bounded
//! number of times with backoff; a 4xx is the server's considered answer
//! and is returned at once with its message.

use std::time::Duration;

use serde::Deserialize;

use super::{Fetched, Remote};
use crate::catalog::ImageRecord;
use crate::error::{Error, Result};
use crate::id::ChunkId;

const ATTEMPTS: u32 = 4;

/// A parc server reached over HTTP.
#[derive(Clone, Debug)]
pub struct HttpRemote {
    base: String,
    client: reqwest::Client,
    token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

#[derive(Deserialize)]
struct UploadStarted {
    upload: String,
}

#[derive(Deserialize)]
struct Missing {
    missing: Vec<ChunkId>,
}

impl HttpRemote {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:7420`);
    /// HTTPS trusts the usual web roots.
    pub fn new(base: &str) -> Result<Self> {
        Self::with_trust(base, &parc_tls::Trust::System)
    }

    /// The same, for a server whose certificate `trust` vouches for.
    pub fn with_trust(base: &str, trust: &parc_tls::Trust) -> Result<Self> {
        // Refused at once: retrying a URL without a scheme cannot help.
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Server { url: base.into(), status: None, message: "not a server URL: give one such as http://parc.example:7420".into() });
        }
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).timeout(Duration::from_secs(300)).pool_max_idle_per_host(32);
        if let Some(tls) = parc_tls::client::config(trust).map_err(|e| Error::Server { url: base.into(), status: None, message: e.to_string() })? {
            builder = builder.use_preconfigured_tls(tls);
        }
        let client = builder
            .build()
            .map_err(|e| Error::Server { url: base.into(), status: None, message: e.to_string() })?;
        Ok(Self { base: base.trim_end_matches('/').to_string(), client, token: None })
    }

    /// The same client presenting `token` (an API token, or the netboot
    /// environment's task token) on every request.
    pub fn bearer(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_string);
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.base)
    }

    /// Sends a request built by `make`, retrying transient failures.
    async fn send(&self, path: &str, make: impl Fn(&reqwest::Client, String) -> reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let url = self.url(path);
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
            }
            let mut req = make(&self.client, url.clone());
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status();
                    let message = match resp.bytes().await {
                        Ok(b) => serde_json::from_slice::<ErrorBody>(&b)
                            .map(|e| e.error)
                            .unwrap_or_else(|_| String::from_utf8_lossy(&b).chars().take(300).collect()),
                        Err(e) => e.to_string(),
                    };
                    if status.is_client_error() {
                        return Err(Error::Server { url, status: Some(status.as_u16()), message });
                    }
                    last = format!("{status}: {message}");
                }
                Err(e) => {
                    // Trying again cannot change a certificate.
                    if let Some(why) = parc_tls::client::explain(&e) {
                        return Err(Error::Server { url: self.base.clone(), status: None, message: why });
                    }
                    last = describe_reqwest(&e);
                    if e.is_connect() {
                        last.push_str(" (is `parc serve` running there? set --server or client.server)");
                    }
                }
            }
            // The final error says it all; each retry only with --log debug.
            tracing::debug!(%url, attempt, error = %last, "request failed; retrying");
        }
        Err(Error::Server { url, status: None, message: format!("gave up after {ATTEMPTS} attempts: {last}") })
    }

    async fn json<T: for<'de> Deserialize<'de>>(&self, resp: reqwest::Response) -> Result<T> {
        let url = resp.url().to_string();
        let bytes = resp.bytes().await.map_err(|e| Error::Server { url: url.clone(), status: None, message: describe_reqwest(&e) })?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Server { url, status: None, message: format!("unexpected answer: {e}") })
    }

    /// The server's transfer counters (`GET /api/v1/stats`).
    pub async fn stats(&self) -> Result<crate::repo::TransferStats> {
        let resp = self.send("stats", |c, u| c.get(u)).await?;
        self.json(resp).await
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn body_err(url: &str, e: reqwest::Error) -> Error {
    Error::Server { url: url.to_string(), status: None, message: describe_reqwest(&e) }
}

impl Remote for HttpRemote {
    async fn begin_upload(&self, name: &str, replace: bool, origin: &str, entity: Option<&str>) -> Result<String> {
        let body = serde_json::json!({ "name": name, "replace": replace, "origin": origin, "entity": entity });
        let resp = self.send("uploads", |c, u| c.post(u).json(&body)).await?;
        Ok(self.json::<UploadStarted>(resp).await?.upload)
    }

    async fn missing(&self, upload: &str, ids: Vec<ChunkId>) -> Result<Vec<ChunkId>> {
        let body = serde_json::json!({ "chunks": ids });
        let resp = self.send(&format!("uploads/{upload}/missing"), |c, u| c.post(u).json(&body)).await?;
        Ok(self.json::<Missing>(resp).await?.missing)
    }

    async fn put_chunk(&self, upload: &str, id: ChunkId, compressed: bytes::Bytes) -> Result<()> {
        self.send(&format!("uploads/{upload}/chunks/{id}"), |c, u| {
            c.put(u).header("content-type", "application/zstd").body(compressed.clone())
        })
        .await
        .map(|_| ())
    }

    async fn commit(&self, upload: &str, manifest: Vec<u8>) -> Result<ImageRecord> {
        let body = bytes::Bytes::from(manifest);
        let resp = self
            .send(&format!("uploads/{upload}/commit"), |c, u| {
                c.post(u).header("content-type", "application/json").body(body.clone())
            })
            .await?;
        self.json(resp).await
    }

    async fn manifest(&self, name: &str) -> Result<(ImageRecord, Vec<u8>)> {
        let resp = self.send(&format!("images/{name}"), |c, u| c.get(u)).await.map_err(|e| not_found(e, name))?;
        let rec: ImageRecord = self.json(resp).await?;
        let url = self.url(&format!("images/{name}/manifest"));
        let resp = self.send(&format!("images/{name}/manifest"), |c, u| c.get(u)).await?;
        let bytes = resp.bytes().await.map_err(|e| body_err(&url, e))?;
        Ok((rec, bytes.to_vec()))
    }

    async fn fetch(&self, id: ChunkId) -> Result<Fetched> {
        let url = self.url(&format!("chunks/{id}"));
        let resp = self.send(&format!("chunks/{id}"), |c, u| c.get(u)).await?;
        let z = resp.bytes().await.map_err(|e| body_err(&url, e))?;
        let wire_bytes = z.len() as u64;
        let data = tokio::task::spawn_blocking(move || crate::codec::decode(&id, &z)).await.expect("decode task")?;
        Ok(Fetched { wire_bytes, data })
    }

    async fn list(&self) -> Result<Vec<ImageRecord>> {
        let resp = self.send("images", |c, u| c.get(u)).await?;
        self.json(resp).await
    }

    fn describe(&self) -> String {
        format!("server {}", self.base)
    }
}

fn not_found(e: Error, name: &str) -> Error {
    match e {
        Error::Server { status: Some(404), .. } => Error::NoSuchImage(name.to_string()),
        e => e,
    }
}
