//! `parc host …`: the host registry, through the server's API.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{bail, Context};
use parc_client::Client;
use parc_inventory::{Host, HostEdit, HostSpec, Mac};
use parc_pxe::wol::WakeRequest;

use super::print_json;
use crate::cli::{HostCommand, HostFields, Location, ServerArg};
use crate::data::{Data, Mode};
use crate::config::Config;

/// The typed client of the server `--server` (or the configuration) names.
pub(crate) fn client(cfg: &Config, at: &ServerArg) -> anyhow::Result<Client> {
    server(cfg, at.server.as_deref())
}

/// The typed client of `server`, else the configured one, presenting the
/// token `parc login` kept for it (or `PARC_TOKEN`).
pub(crate) fn server(cfg: &Config, server: Option<&str>) -> anyhow::Result<Client> {
    let url = server.unwrap_or(&cfg.client.server);
    let client = Client::with_trust(url, &crate::credentials::trust_for(cfg, url)?)?;
    Ok(match crate::credentials::token_for(url) {
        Some(t) => client.bearer(&t),
        None => client,
    })
}

/// Where `host …` and `task …` work: a server, or a data directory
/// (`--store`; a server running on it picks task changes up at its next
/// tick). Each command's module adds the calls it makes.
pub(crate) enum Place {
    Server(Client),
    Local(Box<Data>),
}

impl Place {
    pub(crate) async fn open(cfg: &Config, at: &Location) -> anyhow::Result<Self> {
        Ok(match &at.store {
            Some(dir) => Place::Local(Box::new(crate::data::open(dir, Mode::Existing).await?)),
            None => Place::Server(server(cfg, at.server.as_deref())?),
        })
    }

    pub(crate) async fn list(&self, group: Option<&str>) -> anyhow::Result<Vec<Host>> {
        Ok(match self {
            Place::Server(c) => c.hosts(group).await?,
            Place::Local(d) => d.inventory.list(group).await?,
        })
    }

    /// The hosts `q` finds, and how many match in all.
    pub(crate) async fn search(&self, q: &parc_inventory::HostQuery) -> anyhow::Result<parc_inventory::HostPage> {
        Ok(match self {
            Place::Server(c) => c.search_hosts(q).await?,
            Place::Local(d) => d.inventory.search(q).await?,
        })
    }

    async fn detail(&self, key: &str) -> anyhow::Result<parc_inventory::HostDetail> {
        Ok(match self {
            Place::Server(c) => c.host(key).await?,
            Place::Local(d) => d.inventory.detail(key).await?,
        })
    }

    async fn add(&self, mut spec: HostSpec, entity: Option<&str>) -> anyhow::Result<Host> {
        Ok(match self {
            Place::Server(c) => c.add_host(&spec, entity).await?,
            Place::Local(d) => {
                spec.entity_id = Some(local_entity(d, entity).await?);
                d.inventory.add(spec).await?
            }
        })
    }

    async fn edit(&self, key: &str, edit: HostEdit) -> anyhow::Result<Host> {
        Ok(match self {
            Place::Server(c) => c.edit_host(key, &edit).await?,
            Place::Local(d) => d.inventory.edit(key, edit).await?,
        })
    }

    async fn remove(&self, key: &str, cancel_tasks: bool) -> anyhow::Result<parc_deploy::api::HostRemoved> {
        Ok(match self {
            Place::Server(c) => c.remove_host(key, cancel_tasks).await?,
            Place::Local(d) => parc_deploy::orders::remove_host(&d.tasks, &d.inventory, key, cancel_tasks).await?,
        })
    }

    async fn import(&self, csv: &[u8], entity: Option<&str>) -> anyhow::Result<parc_inventory::registry::ImportReport> {
        Ok(match self {
            Place::Server(c) => c.import_hosts(csv, entity).await?,
            Place::Local(d) => d.inventory.import_csv_into(csv, Some(local_entity(d, entity).await?), &|_| true).await?,
        })
    }
}

/// On a data directory (whoever can open it is its administrator): the
/// entity named, else the root.
async fn local_entity(d: &Data, path: Option<&str>) -> anyhow::Result<i64> {
    Ok(match path {
        Some(p) => d.access.entity_by_path(p).await?.id,
        None => parc_access::ROOT_ENTITY,
    })
}

fn macs(list: &[String]) -> anyhow::Result<Vec<Mac>> {
    list.iter().map(|m| m.parse::<Mac>().map_err(anyhow::Error::from)).collect()
}

fn secureon(s: &Option<String>) -> anyhow::Result<Option<Mac>> {
    s.as_deref().map(|p| p.parse::<Mac>().context("--secureon takes six bytes written like a MAC")).transpose()
}

/// A time as this machine's local time with its offset (`2026-12-01 22:30:00 +01:00`).
pub(crate) fn when(t: Option<i64>) -> String {
    t.map_or_else(|| "never".into(), parc_deploy::window::local_time)
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
        HostCommand::List { group, search, state, limit, at, out } => {
            let narrowed = search.is_some() || state.is_some() || limit.is_some();
            let q = parc_inventory::HostQuery { text: search, group, state, limit, ..Default::default() };
            let page = Place::open(&cfg, &at).await?.search(&q).await?;
            let hosts = page.hosts;
            if out.json {
                print_json(&hosts);
            } else if hosts.is_empty() {
                println!("no hosts");
            } else {
                println!("{:>5}  {:<20} {:<17} {:<8} {:<13} GROUPS", "ID", "HOSTNAME", "MAC", "STATE", "ARCH");
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
            if narrowed && !out.json {
                println!("{} of {} matching hosts", hosts.len(), page.total);
            }
        }
        HostCommand::Show { host, at, out } => {
            let d = Place::open(&cfg, &at).await?.detail(&host).await?;
            if out.json {
                print_json(&d);
            } else {
                print_host(&d.host);
                match &d.host.hardware {
                    Some(hw) => match serde_json::from_value::<parc_inventory::hardware::Hardware>(hw.clone()) {
                        Ok(hw) => {
                            println!("  hardware    (reported {})", when(d.host.hardware_at));
                            for (k, v) in hw.summary() {
                                println!("    {k:<9} {v}");
                            }
                        }
                        Err(_) => println!("  hardware    (reported {}, in a form this parc does not read; --json shows it)", when(d.host.hardware_at)),
                    },
                    None => println!("  hardware    - (reported when the machine boots parc's environment)"),
                }
                println!("  events:");
                for e in &d.events {
                    println!("    {}  {:<10} {}", when(Some(e.at)), e.kind, e.detail);
                }
            }
        }
        HostCommand::Add { fields, entity, at, out } => {
            let HostFields { hostname, macs: m, uuid, ip, groups, secureon: pw } = fields;
            if m.is_empty() {
                bail!("a host needs at least one --mac");
            }
            let spec = HostSpec { hostname, macs: macs(&m)?, uuid, ip, groups, secureon: secureon(&pw)?, entity_id: None };
            let h = Place::open(&cfg, &at).await?.add(spec, entity.as_deref()).await?;
            if out.json {
                print_json(&h);
            } else {
                println!("added host {} ({})", h.id, h.label());
            }
        }
        HostCommand::Edit { host, fields, state, clear_ip, clear_groups, at, out } => {
            let HostFields { hostname, macs: m, uuid, ip, groups, secureon: pw } = fields;
            let edit = HostEdit {
                hostname,
                macs: if m.is_empty() { None } else { Some(macs(&m)?) },
                uuid,
                ip,
                groups: if clear_groups { Some(Vec::new()) } else if groups.is_empty() { None } else { Some(groups) },
                state: state.as_deref().map(str::parse).transpose()?,
                secureon: secureon(&pw)?,
                clear_ip,
            };
            if edit == HostEdit::default() {
                bail!("nothing to change (see `parc host edit --help`)");
            }
            let h = Place::open(&cfg, &at).await?.edit(&host, edit).await?;
            if out.json {
                print_json(&h);
            } else {
                print_host(&h);
            }
        }
        HostCommand::Rm { host, cancel_tasks, at, out } => {
            let r = Place::open(&cfg, &at).await?.remove(&host, cancel_tasks).await?;
            if out.json {
                print_json(&r);
                return Ok(ExitCode::SUCCESS);
            }
            for id in &r.cancelled_tasks {
                println!("cancelled task {id}");
            }
            println!("removed host {} ({})", r.host.id, r.host.label());
        }
        HostCommand::Import { file, entity, at, out } => {
            let mut csv = Vec::new();
            if file.as_os_str() == "-" {
                std::io::stdin().read_to_end(&mut csv)?;
            } else {
                csv = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            }
            let r = Place::open(&cfg, &at).await?.import(&csv, entity.as_deref()).await?;
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
            let r = client(&cfg, &at)?.wake(&WakeRequest { hosts, group }).await?;
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
