//! `parc login|logout|whoami|user|role|entity|token|audit`: accounts,
//! through the server's API with the kept token.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{bail, Context};
use parc_access::AuditEntry;
use parc_client::{Client, Fingerprint, Trust};

use super::host::when;
use super::print_json;
use crate::cli::{AuditCommand, EntityCommand, Listing, LoginArgs, RoleCommand, ServerArg, TokenCommand, UserCommand};
use crate::config::Config;
use crate::credentials;

fn url(cfg: &Config, at: &ServerArg) -> String {
    at.server.clone().unwrap_or_else(|| cfg.client.server.clone())
}

fn api(cfg: &Config, at: &ServerArg) -> anyhow::Result<Client> {
    super::host::client(cfg, at)
}

/// A password from stdin (one line) or the terminal, not echoed.
fn password(from_stdin: bool, prompt: &str) -> anyhow::Result<String> {
    let pw = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        rpassword::prompt_password(prompt).context("reading the password from the terminal (or use --password-stdin)")?
    };
    if pw.is_empty() {
        bail!("no password given");
    }
    Ok(pw)
}

fn machine() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "this machine".into())
}

/// How `parc login` will trust an HTTPS server: the CA given, else the
/// certificate's fingerprint — given, pinned before, or shown and
/// confirmed now. Nothing but a health check is sent before this is settled.
async fn settle_trust(cfg: &Config, server: &str) -> anyhow::Result<Trust> {
    if !server.starts_with("https://") {
        return Ok(Trust::System);
    }
    if let Some(ca) = &cfg.client.ca {
        return Ok(Trust::Ca(std::fs::canonicalize(ca).with_context(|| format!("--ca {}", ca.display()))?));
    }
    let seen = Client::probe_fingerprint(server).await?.context("the server presented no certificate")?;
    let given: Option<Fingerprint> = cfg.client.fingerprint.as_deref().map(str::parse).transpose().context("--fingerprint")?;
    let pinned: Option<Fingerprint> = credentials::saved(server).and_then(|s| s.fingerprint).and_then(|f| f.parse().ok());
    match (given, pinned) {
        (Some(given), _) if given != seen => {
            bail!("the server at {server} presents the certificate {seen}, not the {given} you gave: refused, nothing was sent")
        }
        (Some(given), _) => Ok(Trust::Pinned(given)),
        (None, Some(old)) if old == seen => Ok(Trust::Pinned(old)),
        (None, Some(old)) => bail!(
            "the server's certificate changed: pinned {old}, now {seen}. Refused, nothing was sent. If it was replaced on purpose, \
             check the new fingerprint with the server's operator (`parc serve` prints it), then run `parc login --server {server} --fingerprint NEW`"
        ),
        (None, None) => {
            confirm(&format!(
                "The server at {server} presents a certificate with SHA-256 fingerprint\n  {seen}\nCompare it with the one `parc serve` printed. Trust it? [y/N] "
            ))
            .with_context(|| format!("cannot ask whether to trust {seen} (no terminal): check it with the one `parc serve` printed and pass it with --fingerprint"))?;
            Ok(Trust::Pinned(seen))
        }
    }
}

/// Asks on the terminal itself (stdin may carry the password); an error
/// unless the answer is yes.
fn confirm(question: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    tty.write_all(question.as_bytes())?;
    let mut answer = String::new();
    std::io::BufReader::new(&tty).read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        bail!("not trusted: nothing was sent")
    }
}

/// `parc login`.
pub async fn login(cfg: Config, args: LoginArgs) -> anyhow::Result<ExitCode> {
    let server = url(&cfg, &args.at);
    let trust = settle_trust(&cfg, &server).await?;
    let (fingerprint, ca) = match &trust {
        Trust::Pinned(f) => (Some(f.to_string()), None),
        Trust::Ca(path) => (None, Some(path.clone())),
        Trust::System => (None, None),
    };
    let saved = match &args.token_file {
        Some(f) => {
            let token = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?.trim().to_string();
            let who = Client::with_trust(&server, &trust)?.bearer(&token).whoami().await.context("checking the token with the server")?;
            credentials::Saved { token, user: who.user.name, expires_at: None, fingerprint, ca }
        }
        None => {
            let user = match &args.user {
                Some(u) => u.clone(),
                None => {
                    eprint!("User: ");
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim().to_string()
                }
            };
            let pw = password(args.password_stdin, &format!("Password for {user} at {server}: "))?;
            let done = Client::with_trust(&server, &trust)?.login(&user, &pw, &format!("parc login on {}", machine())).await?;
            credentials::Saved { token: done.token, user: done.user, expires_at: done.expires_at, fingerprint, ca }
        }
    };
    let user = saved.user.clone();
    let until = saved.expires_at.map(|t| format!(" until {}", when(Some(t)))).unwrap_or_default();
    let pin = saved.fingerprint.clone();
    let path = credentials::save(&server, saved)?;
    println!("signed in to {server} as {user}{until}; the token is kept in {} (mode 0600)", path.display());
    if let Some(pin) = pin {
        println!("certificate pinned: {pin} (a different one will be refused)");
    }
    Ok(ExitCode::SUCCESS)
}

/// `parc logout`.
pub async fn logout(cfg: Config, at: ServerArg) -> anyhow::Result<ExitCode> {
    let server = url(&cfg, &at);
    if credentials::forget(&server)? {
        println!("forgot the token for {server} (it stays valid until it expires; `parc token revoke` ends it at once)");
    } else {
        println!("no token kept for {server}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `parc whoami`.
pub async fn whoami(cfg: Config, at: ServerArg, json: bool) -> anyhow::Result<ExitCode> {
    let w = api(&cfg, &at)?.whoami().await?;
    if json {
        print_json(&w);
    } else {
        println!("{} at {}", w.user.name, url(&cfg, &at));
        for g in &w.user.grants {
            println!("  role {} on {}", g.role, g.entity);
        }
        println!("  may: {}", w.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn grants(u: &parc_access::User) -> String {
    if u.grants.is_empty() {
        "-".into()
    } else {
        u.grants.iter().map(|g| if g.entity == "/" { g.role.clone() } else { format!("{}@{}", g.role, g.entity) }).collect::<Vec<_>>().join(", ")
    }
}

/// `parc user …`.
pub async fn user(cfg: Config, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Add { name, roles, no_password, password_stdin, at, out } => {
            let pw = if no_password { None } else { Some(password(password_stdin, &format!("Password for the new user {name}: "))?) };
            let wanted: Vec<_> = roles.into_iter().map(|g| g.0).collect();
            let u = api(&cfg, &at)?.add_user(&name, pw.as_deref(), &wanted).await?;
            if out.json {
                print_json(&u);
            } else {
                println!("user {} added (id {}; roles: {})", u.name, u.id, grants(&u));
            }
        }
        UserCommand::List(Listing { at, out }) => {
            let users = api(&cfg, &at)?.users().await?;
            if out.json {
                print_json(&users);
            } else {
                println!("{:>4}  {:<24} {:<9} {:<26}  ROLES", "ID", "NAME", "PASSWORD", "CREATED");
                for u in &users {
                    println!("{:>4}  {:<24} {:<9} {:<26}  {}", u.id, u.name, if u.has_password { "set" } else { "-" }, when(Some(u.created_at)), grants(u));
                }
            }
        }
        UserCommand::Rm { name, at } => {
            let u = api(&cfg, &at)?.remove_user(&name).await?;
            println!("user {} removed, with their tokens", u.name);
        }
        UserCommand::Passwd { name, password_stdin, store, at } => {
            let pw = password(password_stdin, &format!("New password for {name}: "))?;
            match store {
                Some(dir) => {
                    let d = crate::data::open(&dir, crate::data::Mode::Existing).await?;
                    let done = d.access.set_password(&name, &pw).await;
                    // Whoever can open the data directory may do this; the log says who did.
                    let actor = format!("local:{}", std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "root".into()));
                    let entry = parc_access::NewEntry {
                        actor,
                        auth: "store".into(),
                        source: machine(),
                        action: "parc user passwd --store".into(),
                        permission: Some("user.admin".into()),
                        entity: Some("/".into()),
                        object: format!("user {name}"),
                        outcome: if done.is_ok() { parc_access::Outcome::Ok } else { parc_access::Outcome::Failed },
                        status: if done.is_ok() { 200 } else { 400 },
                        detail: done.as_ref().err().map(|e| e.to_string()),
                    };
                    d.audit.append(&entry).await?;
                    done?;
                }
                None => api(&cfg, &at)?.set_password(&name, &pw).await?,
            }
            println!("password of {name} set");
        }
        UserCommand::Grant { name, grant, at } => {
            let u = api(&cfg, &at)?.grant(&name, &grant.0).await?;
            println!("{} now holds: {}", u.name, grants(&u));
        }
        UserCommand::Revoke { name, grant, at } => {
            let u = api(&cfg, &at)?.revoke_grant(&name, &grant.0).await?;
            println!("{} now holds: {}", u.name, grants(&u));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `parc role …`.
pub async fn role(cfg: Config, cmd: RoleCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RoleCommand::List(Listing { at, out }) => {
            let roles = api(&cfg, &at)?.roles().await?;
            if out.json {
                print_json(&roles);
            } else {
                for r in &roles {
                    println!("{:<16} {:<9} {}", r.name, if r.builtin { "built-in" } else { "custom" }, r.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" "));
                }
            }
        }
        RoleCommand::Add { name, permissions, at } => {
            let r = api(&cfg, &at)?.add_role(&name, &permissions).await?;
            println!("role {} made: {}", r.name, r.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `parc entity …`.
pub async fn entity(cfg: Config, cmd: EntityCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EntityCommand::List(Listing { at, out }) => {
            let all = api(&cfg, &at)?.entities().await?;
            if out.json {
                print_json(&all);
            } else {
                for e in &all {
                    println!("{:>4}  {}", e.id, e.path);
                }
            }
        }
        EntityCommand::Add { path, at } => {
            let e = api(&cfg, &at)?.add_entity(&path).await?;
            println!("entity {} made (id {})", e.path, e.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `parc token …`.
pub async fn token(cfg: Config, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Create { name, expires_days, at, out } => {
            let expires = expires_days.map(|d| parc_db::unix_now() + i64::from(d) * 86400);
            let t = api(&cfg, &at)?.create_token(&name, expires).await?;
            if out.json {
                print_json(&t);
            } else {
                println!("{}", t.token);
                eprintln!("token {} ({:?}) made{}; the secret above is shown only now (PARC_TOKEN=… for scripts)", t.info.id, t.info.name, t.info.expires_at.map(|e| format!(", expires {}", when(Some(e)))).unwrap_or_default());
            }
        }
        TokenCommand::List(Listing { at, out }) => {
            let all = api(&cfg, &at)?.tokens().await?;
            if out.json {
                print_json(&all);
            } else {
                println!("{:>4}  {:<32} {:<26}  {:<26}  {:<26}  STATE", "ID", "NAME", "CREATED", "EXPIRES", "LAST USED");
                let now = parc_db::unix_now();
                for t in &all {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else if t.expires_at.is_some_and(|e| e <= now) {
                        "expired"
                    } else {
                        "valid"
                    };
                    println!("{:>4}  {:<32} {:<26}  {:<26}  {:<26}  {state}", t.id, t.name, when(Some(t.created_at)), when(t.expires_at), when(t.last_used));
                }
            }
        }
        TokenCommand::Revoke { id, at } => {
            let t = api(&cfg, &at)?.revoke_token(id).await?;
            println!("token {} ({:?}) revoked", t.id, t.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `parc audit …`.
pub async fn audit(cfg: Config, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::List { since_hours, actor, object, limit, csv, at, out } => {
            let since = since_hours.map(|h| parc_db::unix_now() - i64::from(h) * 3600);
            let rows = api(&cfg, &at)?.audit(since, actor.as_deref(), object.as_deref(), Some(limit)).await?;
            if csv {
                print!("{}", parc_access::audit::to_csv(&rows));
            } else if out.json {
                print_json(&rows);
            } else {
                println!("{:>6}  {:<26}  {:<16} {:<8} {:<15} {:<7} {:>3}  OBJECT [PERMISSION]", "ID", "TIME", "ACTOR", "AUTH", "SOURCE", "OUTCOME", "ST");
                for AuditEntry { id, at, entry: e } in &rows {
                    println!(
                        "{:>6}  {:<26}  {:<16} {:<8} {:<15} {:<7} {:>3}  {}{}",
                        id,
                        when(Some(*at)),
                        e.actor,
                        e.auth,
                        e.source,
                        format!("{:?}", e.outcome).to_lowercase(),
                        e.status,
                        e.object,
                        e.permission.as_deref().map(|p| format!(" [{p}]")).unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
