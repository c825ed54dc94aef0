//! `parc serve`: the HTTP API over the data directory's stores, the
//! scheduler, plus the boot services (proxyDHCP, TFTP) where configured.
//!
//! A boot service that cannot start (a port it may not bind, a missing
//! interface) is reported on stdout and in the log; the others run on.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use parc_inventory::{Inventory, Mac, Sighting};
use parc_pxe::proxy::{Ports, Proxy, ProxyInterface};
use parc_pxe::script::Templates;
use parc_pxe::site::{BootSite, SecureApi};
use parc_tls::server::CertFiles;
use parc_pxe::wol::WolSite;
use parc_pxe::{BootConfig, ClientInfo};
use parc_web::AppState;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::config::{Config, PxeConfig, TlsMode};

pub async fn run(mut cfg: Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(l) = args.listen {
        cfg.server.listen = l;
    }
    if let Some(d) = args.data_dir {
        cfg.server.data_dir = d;
    }
    if !args.pxe_interfaces.is_empty() {
        cfg.pxe.interfaces = args.pxe_interfaces;
    }
    if let Some(t) = args.tftp {
        cfg.pxe.tftp_listen = if t == "off" { String::new() } else { t };
    }
    if let Some(t) = args.tls {
        cfg.server.tls = t;
    }
    if args.boot_listen.is_some() {
        cfg.server.boot_listen = args.boot_listen;
    }
    let dir = cfg.server.data_dir.clone();
    // Migrated before any service starts, so none writes to a table that is still changing.
    let data = crate::data::open(&dir, crate::data::Mode::Create).await.context("set server.data_dir or --data-dir")?;
    let _lock = crate::data::lock_for_serving(&dir)?;
    let crate::data::Data { db, repo, inventory, tasks, access, audit } = data;
    let first_token = bootstrap(&access, &dir).await?;
    let assets_dir = cfg.pxe.assets_dir.clone().unwrap_or_else(|| dir.join("boot-assets"));
    std::fs::create_dir_all(&assets_dir).with_context(|| format!("creating the boot-assets directory {}", assets_dir.display()))?;
    let templates = Templates::load(Some(&assets_dir.join("templates"))).context("loading the boot script templates")?;
    // Made before anything announces itself ready: whoever waits for the
    // first line may read the key at once.
    let ssh_key = crate::sshkey::deployment_key(&dir);
    let listener = tokio::net::TcpListener::bind(&cfg.server.listen)
        .await
        .with_context(|| format!("cannot listen on {} (set server.listen or --listen)", cfg.server.listen))?;
    let addr = listener.local_addr()?;
    // One at a time: a missing interface turns off only its own boot
    // services (reported below, once the server has said where it is).
    let mut interfaces = Vec::new();
    let mut missing = Vec::new();
    for name in &cfg.pxe.interfaces {
        match parc_pxe::net::interfaces(std::slice::from_ref(name)) {
            Ok(i) => interfaces.extend(i),
            Err(e) => missing.push(e),
        }
    }
    let tls = tls_setup(&cfg.server, &dir, addr, &interfaces)?;
    // With TLS, firmware gets its plain-HTTP port of its own.
    let boot_listener = match &tls {
        None => None,
        Some(_) => {
            let at = cfg.server.boot_listen.clone().unwrap_or_else(|| SocketAddr::new(addr.ip(), addr.port().checked_add(1).filter(|_| addr.port() != 0).unwrap_or(0)).to_string());
            let l = tokio::net::TcpListener::bind(&at).await.with_context(|| format!("cannot listen on {at} for boot files (set server.boot_listen or --boot-listen)"))?;
            Some(l)
        }
    };
    let boot_addr = match &boot_listener {
        Some(l) => l.local_addr()?,
        None => addr,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    // The first stdout line names the bound address, so scripts and tests can
    // pass port 0 and still find the server.
    println!("parc listening on {scheme}://{addr} (data in {})", dir.display());
    tracing::info!(%addr, data_dir = %dir.display(), "parc serving");
    let mut login_tail = String::new();
    if let Some(t) = &tls {
        report(&format!("tls: certificate {} ({}), SHA-256 fingerprint {}", t.files.cert.display(), t.origin, t.loaded.fingerprint));
        report(&format!("boot: iPXE scripts and boot files over http://{boot_addr} (firmware cannot check certificates; the API is HTTPS only)"));
        login_tail = format!(" --fingerprint {}", t.loaded.fingerprint);
    }
    for e in missing {
        report(&format!("proxyDHCP and Wake-on-LAN: OFF: {e}"));
    }
    if let Some(path) = &first_token {
        report(&format!(
            "first start: made the account `admin`; its API token is in {} (mode 0600). Sign in with `parc login --server {scheme}://{addr} --token-file {}{login_tail}`, then set a password with `parc user passwd admin`",
            path.display(),
            path.display()
        ));
    }
    let ssh_public_key = match ssh_key {
        Ok(k) => Some(k),
        Err(e) => {
            report(&format!("ssh-key hook: unavailable: {e:#}"));
            None
        }
    };

    let shutdown = CancellationToken::new();
    let mut services = JoinSet::new();
    if cfg.pxe.interfaces.is_empty() {
        report("proxyDHCP: off (name the interfaces to answer PXE clients on: --pxe IFACE or pxe.interfaces)");
    } else if boot_addr.ip().is_loopback() {
        report(&format!(
            "proxyDHCP: warning: boot files are served on {boot_addr} only; PXE clients cannot fetch their scripts (set --listen 0.0.0.0:{})",
            addr.port()
        ));
    }
    start_tftp(&cfg.pxe, &assets_dir, &mut services, &shutdown).await;
    let (seen_tx, seen_rx) = tokio::sync::mpsc::channel::<ClientInfo>(8192);
    for iface in &interfaces {
        let boot = BootConfig {
            http_base: format!("http://{}:{}", iface.addr, cfg.pxe.http_port.unwrap_or(boot_addr.port())),
            bios_file: cfg.pxe.bios_file.clone(),
            efi_x64_file: cfg.pxe.efi_x64_file.clone(),
            efi_arm64_file: cfg.pxe.efi_arm64_file.clone(),
        };
        let ports = Ports { dhcp: cfg.pxe.dhcp_port, pxe: cfg.pxe.pxe_port, client: cfg.pxe.client_port };
        match Proxy::bind(ProxyInterface { name: iface.name.clone(), addr: iface.addr, boot }, ports) {
            Ok(proxy) => {
                report(&format!("proxyDHCP: answering PXE clients on {} ({}), ports {} and {}", iface.name, iface.addr, ports.dhcp, ports.pxe));
                services.spawn(proxy.run(Some(seen_tx.clone()), shutdown.clone()));
            }
            Err(e) => report(&format!("proxyDHCP: OFF: {e}")),
        }
    }
    drop(seen_tx);
    services.spawn(record_sightings(inventory.clone(), seen_rx));

    let wol = Arc::new(WolSite { interfaces, directed_prefix: cfg.pxe.wol_prefix });
    services.spawn(parc_deploy::scheduler::run(tasks.clone(), inventory.clone(), wol.clone(), shutdown.clone()));
    let state = AppState {
        repo,
        live: parc_web::console::live::Hub::new(tasks.clone()),
        tasks,
        ssh_public_key: Arc::new(ssh_public_key),
        inventory,
        boot: Arc::new(BootSite {
            assets_dir,
            ipxe_dir: cfg.pxe.ipxe_dir.clone(),
            templates,
            env_args: cfg.pxe.env_args.clone(),
            secure_api: tls.as_ref().map(|t| SecureApi { port: addr.port(), fingerprint: hex_digits(&t.loaded.fingerprint) }),
        }),
        wol,
        access,
        audit,
        secure_cookies: tls.is_some(),
    };
    let stop = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stop.cancel();
    });
    let app = parc_web::router(state.clone());
    match (tls, boot_listener) {
        (Some(t), Some(boot)) => {
            let api_url = format!("https://{addr}/api/v1");
            let boot_app = parc_web::boot_router(state, api_url);
            tokio::try_join!(
                parc_web::serve_tls(listener, Arc::new(t.loaded), app, shutdown.clone().cancelled_owned()),
                parc_web::serve(boot, boot_app, shutdown.clone().cancelled_owned()),
            )?;
        }
        _ => parc_web::serve(listener, app, shutdown.clone().cancelled_owned()).await?,
    }
    shutdown.cancel();
    // Boot services stop at once; give them a moment, then leave anyway.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async { while services.join_next().await.is_some() {} }).await;
    db.close().await;
    tracing::info!("parc stopped");
    Ok(ExitCode::SUCCESS)
}

/// The server's certificate, ready to serve.
struct Tls {
    files: CertFiles,
    loaded: parc_tls::server::Loaded,
    origin: &'static str,
}

/// The certificate `server.tls*` asks for, if any. A self-signed one
/// names this machine, loopback, the listen address and the PXE
/// interfaces' addresses: where clients and netboot machines reach it.
fn tls_setup(server: &crate::config::ServerConfig, dir: &std::path::Path, addr: SocketAddr, interfaces: &[parc_pxe::net::NetInterface]) -> anyhow::Result<Option<Tls>> {
    let (files, origin) = match (&server.tls_cert, &server.tls_key, server.tls) {
        (Some(cert), Some(key), TlsMode::Off) => (CertFiles { cert: cert.clone(), key: key.clone() }, "given in server.tls_cert"),
        (Some(_), Some(_), TlsMode::SelfSigned) => anyhow::bail!("server.tls = \"self-signed\" and server.tls_cert are both set: choose one"),
        (Some(_), None, _) | (None, Some(_), _) => anyhow::bail!("server.tls_cert and server.tls_key go together: set both"),
        (None, None, TlsMode::Off) => return Ok(None),
        (None, None, TlsMode::SelfSigned) => {
            let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default();
            let mut names: Vec<String> = [hostname.as_str(), "localhost", "127.0.0.1", "::1"].iter().filter(|n| !n.is_empty()).map(|n| n.to_string()).collect();
            if !addr.ip().is_unspecified() && !names.contains(&addr.ip().to_string()) {
                names.push(addr.ip().to_string());
            }
            for n in interfaces.iter().map(|i| i.addr.to_string()) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            let made = parc_tls::server::self_signed(&dir.join("tls"), &names).context("making the self-signed certificate")?;
            (made.files, if made.made { "self-signed, made at first start and kept for later starts" } else { "self-signed, made at an earlier start" })
        }
    };
    let loaded = parc_tls::server::load(&files).context("loading the TLS certificate (server.tls_cert, server.tls_key)")?;
    Ok(Some(Tls { files, loaded, origin }))
}

/// A fingerprint as 64 hex digits: short enough for a kernel command line.
fn hex_digits(f: &parc_tls::Fingerprint) -> String {
    f.0.iter().map(|b| format!("{b:02x}")).collect()
}

/// Environment variable that provides the first admin token instead of a
/// random one (provisioning, tests); at least 32 characters.
const INITIAL_TOKEN_ENV: &str = "PARC_INITIAL_ADMIN_TOKEN";

/// On an empty database, makes the `admin` account and writes its first
/// API token to `<dir>/initial-admin-token` (mode 0600); returns that path.
async fn bootstrap(access: &parc_access::Access, dir: &std::path::Path) -> anyhow::Result<Option<std::path::PathBuf>> {
    let given = std::env::var(INITIAL_TOKEN_ENV).ok().filter(|t| !t.trim().is_empty());
    let Some(token) = access.bootstrap(given.as_deref()).await.with_context(|| format!("making the first account ({INITIAL_TOKEN_ENV})"))? else {
        return Ok(None);
    };
    let path = dir.join("initial-admin-token");
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path).with_context(|| format!("writing {}", path.display()))?;
    writeln!(f, "{token}").with_context(|| format!("writing {}", path.display()))?;
    Ok(Some(path))
}

/// A start-up fact the operator must see: stdout and the log.
fn report(line: &str) {
    // Whoever started us may have stopped reading stdout (`parc serve | head
    // -1`): a closed pipe must not take the server down.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
    tracing::info!("{line}");
}

async fn start_tftp(pxe: &PxeConfig, assets_dir: &std::path::Path, services: &mut JoinSet<()>, shutdown: &CancellationToken) {
    if pxe.tftp_listen.is_empty() {
        report("tftp: off");
        return;
    }
    let at: SocketAddr = match pxe.tftp_listen.parse() {
        Ok(a) => a,
        Err(_) => return report(&format!("tftp: OFF: pxe.tftp_listen {:?} is not an address such as 0.0.0.0:69", pxe.tftp_listen)),
    };
    let roots: Vec<&std::path::Path> = [assets_dir, pxe.ipxe_dir.as_path()].into_iter().filter(|p| p.is_dir()).collect();
    if !pxe.ipxe_dir.is_dir() {
        report(&format!("tftp: warning: no iPXE binaries in {} (install Debian's `ipxe` package or set pxe.ipxe_dir)", pxe.ipxe_dir.display()));
    }
    let files = match parc_pxe::tftp::Files::new(roots) {
        Ok(f) => f,
        Err(e) => return report(&format!("tftp: OFF: {e}")),
    };
    match tokio::net::UdpSocket::bind(at).await {
        Ok(sock) => {
            report(&format!("tftp: serving {} and {} on {at}", assets_dir.display(), pxe.ipxe_dir.display()));
            let stop = shutdown.clone();
            services.spawn(async move {
                if let Err(e) = parc_pxe::tftp::serve(sock, files, Default::default(), stop).await {
                    tracing::error!(error = %e, "tftp stopped");
                }
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => report(&format!(
            "tftp: OFF: cannot listen on UDP {at}: {e} (ports below 1024 need root or CAP_NET_BIND_SERVICE: \
             `setcap cap_net_bind_service,cap_net_raw+ep $(which parc)`, or set pxe.tftp_listen)"
        )),
        Err(e) => report(&format!("tftp: OFF: cannot listen on UDP {at}: {e} (another TFTP server? set pxe.tftp_listen or --tftp off)")),
    }
}

/// Registers every machine the proxy answered, without ever slowing it.
async fn record_sightings(inventory: Inventory, mut rx: tokio::sync::mpsc::Receiver<ClientInfo>) {
    while let Some(c) = rx.recv().await {
        let uuid = c.uuid.map(|u| u.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let s = Sighting { mac: Mac(c.mac), uuid, arch: Some(c.arch.name()) };
        match inventory.seen(&s).await {
            Ok(seen) if seen.created => tracing::info!(mac = %s.mac, arch = ?s.arch, "new machine registered"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, mac = %s.mac, "could not record a PXE client"),
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
