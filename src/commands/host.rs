//! `parc host …`: the host registry, through the server's API.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{bail, Context};
use parc_inventory::registry::ImportReport;
use parc_inventory::{Host, HostEdit, HostSpec, Mac};
use parc_web::hosts::{HostDetail, WakeReport, WakeRequest};
use serde::de::DeserializeOwned;

use super::print_json;
use crate::cli::{HostCommand, HostFields, ServerArg};
use crate::config::Config;

/// A small JSON client for the host API.
pub(crate) struct Api {
    base: String,
    pub(crate) http: reqwest::Client,
}

impl Api {
    pub(crate) fn new(cfg: &Config, at: &ServerArg) -> Self {
        let base = at.server.clone().unwrap_or_else(|| cfg.client.server.clone());
        Self { base: base.trim_end_matches('/').to_string(), http: reqwest::Client::new() }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    pub(crate) async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> anyhow::Result<T> {
        let resp = req.send().await.with_context(|| format!("cannot reach the parc server at {} (is `parc serve` running? --server)", self.base))?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            bail!("{msg}");
        }
        serde_json::from_slice(&body).context("unexpected answer from the server")
    }
}

/// `host` as a URL path segment (MACs keep their colons, which are legal).
pub(crate) fn seg(key: &str) -> String {
    key.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._:".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn macs(list: &[String]) -> anyhow::Result<Vec<Mac>> {
    list.iter().map(|m| m.parse::<Mac>().map_err(anyhow::Error::from)).collect()
}

fn secureon(s: &Option<String>) -> anyhow::Result<Option<Mac>> {
    s.as_deref().map(|p| p.parse::<Mac>().context("--secureon takes six bytes written like a MAC")).transpose()
}

pub(crate) fn when(t: Option<i64>) -> String {
    t.map_or_else(|| "never".into(), |t| humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64)).to_string())
}

fn print_host(h: &Host) {
    println!("host {}  {}", h.id, h.hostname.as_deref().unwrap_or("(no hostname)"));
    println!("  state       {}", h.state);
    println!("  macs        {}", h.macs.iter().map(Mac::to_string).collect::<Vec<_>>().join(", "));
    println!("  uuid        {}", h.uuid.as_deref().unwrap_or("-"));
    println!("  arch        {}", h.arch.as_deref().unwrap_or("-"));
    println!("  ip          {}", h.ip.map_or("-".into(), |i| i.to_string()));
    println!("  groups      {}", if h.groups.is_empty() { "-".into() } else { h.groups.join(", ") });
    println!("  first seen  {}  last seen {}", when(h.first_seen), when(h.last_seen));
}

pub async fn run(cfg: Config, cmd: HostCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        HostCommand::List { group, at, out } => {
            let api = Api::new(&cfg, &at);
            let mut req = api.http.get(api.url("/hosts"));
            if let Some(g) = &group {
                req = req.query(&[("group", g)]);
            }
            let hosts: Vec<Host> = api.send(req).await?;
            if out.json {
                print_json(&hosts);
            } else if hosts.is_empty() {
                println!("no hosts");
            } else {
                println!("{:>5}  {:<20} {:<17} {:<8} {:<13} {}", "ID", "HOSTNAME", "MAC", "STATE", "ARCH", "GROUPS");
                for h in &hosts {
                    println!(
                        "{:>5}  {:<20} {:<17} {:<8} {:<13} {}",
                        h.id,
                        h.hostname.as_deref().unwrap_or("-"),
                        h.macs.first().map_or("-".into(), Mac::to_string),
                        h.state.as_str(),
                        h.arch.as_deref().unwrap_or("-"),
                        h.groups.join(",")
                    );
                }
            }
        }
        HostCommand::Show { host, at, out } => {
            let api = Api::new(&cfg, &at);
            let d: HostDetail = api.send(api.http.get(api.url(&format!("/hosts/{}", seg(&host))))).await?;
            if out.json {
                print_json(&d);
            } else {
                print_host(&d.host);
                println!("  events:");
                for e in &d.events {
                    println!("    {}  {:<10} {}", when(Some(e.at)), e.kind, e.detail);
                }
            }
        }
        HostCommand::Add { fields, at, out } => {
            let HostFields { hostname, macs: m, uuid, ip, groups, secureon: pw } = fields;
            if m.is_empty() {
                bail!("a host needs at least one --mac");
            }
            let spec = HostSpec { hostname, macs: macs(&m)?, uuid, ip, groups, secureon: secureon(&pw)? };
            let api = Api::new(&cfg, &at);
            let h: Host = api.send(api.http.post(api.url("/hosts")).json(&spec)).await?;
            if out.json {
                print_json(&h);
            } else {
                println!("added host {} ({})", h.id, h.label());
            }
        }
        HostCommand::Edit { host, fields, state, at, out } => {
            let HostFields { hostname, macs: m, uuid, ip, groups, secureon: pw } = fields;
            let edit = HostEdit {
                hostname,
                macs: if m.is_empty() { None } else { Some(macs(&m)?) },
                uuid,
                ip,
                groups: if groups.is_empty() { None } else { Some(groups) },
                state: state.as_deref().map(str::parse).transpose()?,
                secureon: secureon(&pw)?,
            };
            if edit == HostEdit::default() {
                bail!("nothing to change (see `parc host edit --help`)");
            }
            let api = Api::new(&cfg, &at);
            let h: Host = api.send(api.http.patch(api.url(&format!("/hosts/{}", seg(&host)))).json(&edit)).await?;
            if out.json {
                print_json(&h);
            } else {
                print_host(&h);
            }
        }
        HostCommand::Rm { host, at } => {
            let api = Api::new(&cfg, &at);
            let h: Host = api.send(api.http.delete(api.url(&format!("/hosts/{}", seg(&host))))).await?;
            println!("removed host {} ({})", h.id, h.label());
        }
        HostCommand::Import { file, at, out } => {
            let mut csv = Vec::new();
            if file.as_os_str() == "-" {
                std::io::stdin().read_to_end(&mut csv)?;
            } else {
                csv = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            }
            let api = Api::new(&cfg, &at);
            let r: ImportReport = api.send(api.http.post(api.url("/hosts/import")).header("content-type", "text/csv").body(csv)).await?;
            if out.json {
                print_json(&r);
            } else {
                println!("imported: {} created, {} updated", r.created, r.updated);
            }
        }
        HostCommand::Wake { hosts, group, at, out } => {
            if hosts.is_empty() && group.is_none() {
                bail!("name hosts to wake, or --group");
            }
            let api = Api::new(&cfg, &at);
            let r: WakeReport = api.send(api.http.post(api.url("/hosts/wake")).json(&WakeRequest { hosts, group })).await?;
            if out.json {
                print_json(&r);
            } else {
                for s in &r.sent {
                    println!("woke {}: {} packets to {}", s.host, s.packets, s.targets.join(", "));
                }
                for (h, why) in &r.skipped {
                    println!("not woken {h}: {why}");
                }
            }
            if r.sent.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
