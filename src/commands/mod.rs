//! One module per top-level command.

mod accounts;
mod agent;
mod env;
mod host;
mod image;
mod serve;
mod store;
mod task;

use std::process::ExitCode;

use anyhow::Context;
use parc_imaging::{AnyRemote, HttpRemote};

use crate::cli::{Cli, Command, Location};
use crate::config::Config;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut cfg = Config::load(cli.config.as_deref())?;
    if cli.ca.is_some() {
        cfg.client.ca = cli.ca;
    }
    if cli.fingerprint.is_some() {
        cfg.client.fingerprint = cli.fingerprint;
    }
    match cli.command {
        Command::Serve(args) => serve::run(cfg, args).await,
        Command::Image(cmd) => image::run(cfg, cmd).await,
        Command::Store(cmd) => store::run(cfg, cmd).await,
        Command::Host(cmd) => host::run(cfg, cmd).await,
        Command::Task(cmd) => task::run(cfg, cmd).await,
        Command::Agent(args) => agent::run(cfg, args).await,
        Command::Env(cmd) => env::run(cfg, cmd).await,
        Command::Login(args) => accounts::login(cfg, args).await,
        Command::Logout { at } => accounts::logout(cfg, at).await,
        Command::Whoami { at, out } => accounts::whoami(cfg, at, out.json).await,
        Command::User(cmd) => accounts::user(cfg, cmd).await,
        Command::Role(cmd) => accounts::role(cfg, cmd).await,
        Command::Entity(cmd) => accounts::entity(cfg, cmd).await,
        Command::Token(cmd) => accounts::token(cfg, cmd).await,
        Command::Audit(cmd) => accounts::audit(cfg, cmd).await,
    }
}

/// Opens what `--server`/`--store` (or the configuration) point at; only a
/// capture (`mode` Create) may make a new data directory.
pub async fn open_location(cfg: &Config, at: &Location, mode: crate::data::Mode) -> anyhow::Result<AnyRemote> {
    Ok(match (&at.store, &at.server) {
        (Some(dir), _) => AnyRemote::Local(crate::data::open(dir, mode).await.with_context(|| format!("opening the store in {}", dir.display()))?.repo),
        (None, server) => {
            let url = server.as_deref().unwrap_or(&cfg.client.server);
            AnyRemote::Http(HttpRemote::with_trust(url, &crate::credentials::trust_for(cfg, url)?)?.bearer(crate::credentials::token_for(url).as_deref()))
        }
    })
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(value).expect("serialisable"));
}
