//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// parc: network-boot imaging and fleet lifecycle.
///
/// Configuration comes from, in increasing priority: built-in defaults, the
/// TOML file (`--config`, default /etc/parc/parc.toml when it exists),
/// environment variables `PARC_<SECTION>__<KEY>` (e.g. PARC_SERVER__LISTEN),
/// and command-line flags. Logs go to stderr; PARC_LOG=debug for more.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "PARC_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log filter, e.g. `info`, `debug`, `parc_imaging=trace` (or PARC_LOG).
    #[arg(long, global = true)]
    pub log: Option<String>,
    /// Trust an HTTPS server whose certificate chains to this PEM file (a
    /// site CA, or the server's self-signed certificate) [config: client.ca].
    #[arg(long, global = true, env = "PARC_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Trust exactly the HTTPS certificate with this SHA-256 fingerprint, as
    /// `parc serve` prints it [config: client.fingerprint].
    #[arg(long, global = true, env = "PARC_FINGERPRINT", value_name = "SHA256")]
    pub fingerprint: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the parc server: HTTP API, image repository, and the boot services
    /// (proxyDHCP on the interfaces named with --pxe, TFTP, boot scripts).
    Serve(ServeArgs),
    /// Capture, restore and manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Maintain a chunk store: garbage collection and integrity checks.
    #[command(subcommand)]
    Store(StoreCommand),
    /// The host registry: list, add, edit, import, wake machines.
    #[command(subcommand)]
    Host(HostCommand),
    /// Capture or restore machines at their next network boot.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Run in the netboot environment: do the task the kernel command line names.
    Agent(AgentArgs),
    /// The netboot environment: kernel and initramfs with parc as the agent.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Sign in to a server: asks for user and password (or takes a token
    /// with --token-file) and keeps an API token for later commands.
    Login(LoginArgs),
    /// Forget the token kept for a server.
    Logout {
        #[command(flatten)]
        at: ServerArg,
    },
    /// Who the kept token (or PARC_TOKEN) signs in as, and what they may do.
    Whoami {
        #[command(flatten)]
        at: ServerArg,
        #[command(flatten)]
        out: Output,
    },
    /// Accounts: add, list, remove, set passwords, grant roles.
    #[command(subcommand)]
    User(UserCommand),
    /// Roles: named sets of permissions.
    #[command(subcommand)]
    Role(RoleCommand),
    /// The entity tree hosts, images and users' roles hang on.
    #[command(subcommand)]
    Entity(EntityCommand),
    /// Your API tokens, for scripts and CI.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit log: who did what, when, from where.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// Where to list from, and how.
#[derive(Args, Debug)]
pub struct Listing {
    #[command(flatten)]
    pub at: ServerArg,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// User name (asked when absent).
    #[arg(long)]
    pub user: Option<String>,
    /// Read the password from stdin (one line) instead of the terminal.
    #[arg(long)]
    pub password_stdin: bool,
    /// Keep this token (e.g. <data_dir>/initial-admin-token) instead of a password login.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["user", "password_stdin"])]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub at: ServerArg,
}

/// A role on an entity: `ROLE` (on /) or `ROLE@/entity/path`.
#[derive(Debug, Clone)]
pub struct GrantArg(pub parc_access::Grant);

impl std::str::FromStr for GrantArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (role, entity) = s.split_once('@').unwrap_or((s, "/"));
        if role.is_empty() || !entity.starts_with('/') {
            return Err(format!("{s:?}: give ROLE or ROLE@/entity/path"));
        }
        Ok(GrantArg(parc_access::Grant { role: role.to_string(), entity: entity.to_string() }))
    }
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user (asks for a password unless --no-password).
    Add {
        name: String,
        /// Roles to grant: ROLE (on /) or ROLE@/entity/path (repeatable).
        #[arg(long = "role", value_name = "ROLE[@ENTITY]")]
        roles: Vec<GrantArg>,
        /// Tokens only; no password login until `parc user passwd`.
        #[arg(long)]
        no_password: bool,
        /// Read the password from stdin (one line).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        at: ServerArg,
        #[command(flatten)]
        out: Output,
    },
    /// List users and their roles.
    List(Listing),
    /// Remove a user and their tokens (never the last administrator).
    Rm {
        name: String,
        #[command(flatten)]
        at: ServerArg,
    },
    /// Set a user's password (yours, or anyone's as an administrator).
    Passwd {
        name: String,
        /// Read the password from stdin (one line).
        #[arg(long)]
        password_stdin: bool,
        /// Set it in this data directory directly, without a server: the
        /// way back in when no administrator can sign in (audited).
        #[arg(long, value_name = "DIR", conflicts_with = "server")]
        store: Option<PathBuf>,
        #[command(flatten)]
        at: ServerArg,
    },
    /// Grant a role on an entity (and everything below it).
    Grant {
        name: String,
        /// ROLE or ROLE@/entity/path.
        grant: GrantArg,
        #[command(flatten)]
        at: ServerArg,
    },
    /// Take a grant back.
    Revoke {
        name: String,
        /// ROLE or ROLE@/entity/path.
        grant: GrantArg,
        #[command(flatten)]
        at: ServerArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// List roles and their permissions.
    List(Listing),
    /// Make a role from permissions (e.g. image.read,task.create).
    Add {
        name: String,
        #[arg(long, value_delimiter = ',', required = true)]
        permissions: Vec<parc_access::Permission>,
        #[command(flatten)]
        at: ServerArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum EntityCommand {
    /// List entities.
    List(Listing),
    /// Make an entity under an existing one, e.g. "/Ministry/Site A".
    Add {
        path: String,
        #[command(flatten)]
        at: ServerArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a token; its secret is printed once.
    Create {
        /// What it is for.
        name: String,
        /// Lifetime in days (default: no expiry).
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_days: Option<u32>,
        #[command(flatten)]
        at: ServerArg,
        #[command(flatten)]
        out: Output,
    },
    /// List your tokens (never their secrets).
    List(Listing),
    /// Revoke a token: refused from the next request on.
    Revoke {
        id: i64,
        #[command(flatten)]
        at: ServerArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// List entries, oldest first.
    List {
        /// Since this many hours ago.
        #[arg(long, value_name = "HOURS")]
        since_hours: Option<u32>,
        /// Only this actor's.
        #[arg(long)]
        actor: Option<String>,
        /// Only objects containing this text.
        #[arg(long)]
        object: Option<String>,
        /// At most this many (the newest).
        #[arg(long, default_value_t = 1000)]
        limit: i64,
        /// CSV (with a header line) instead of a table.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        #[command(flatten)]
        at: ServerArg,
        #[command(flatten)]
        out: Output,
    },
}

impl Command {
    /// Servers log what they do; client commands only warnings, since they draw progress bars.
    pub fn default_log(&self) -> &'static str {
        match self {
            Command::Serve(_) => "info",
            _ => "warn",
        }
    }
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address for the HTTP API [config: server.listen, default 127.0.0.1:7420].
    #[arg(long)]
    pub listen: Option<String>,
    /// Where the catalog (parc.db) and chunks live [config: server.data_dir,
    /// default /var/lib/parc as root, else ~/.local/share/parc].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Answer PXE clients on this interface (repeatable) [config: pxe.interfaces].
    #[arg(long = "pxe", value_name = "INTERFACE")]
    pub pxe_interfaces: Vec<String>,
    /// TFTP listen address, or `off` [config: pxe.tftp_listen, default 0.0.0.0:69].
    #[arg(long, value_name = "ADDR")]
    pub tftp: Option<String>,
    /// HTTPS for the API [config: server.tls; server.tls_cert and
    /// server.tls_key give your own certificate].
    #[arg(long, value_enum, value_name = "MODE")]
    pub tls: Option<crate::config::TlsMode>,
    /// With TLS: plain-HTTP address for boot scripts and files [config:
    /// server.boot_listen, default the listen address with the next port].
    #[arg(long, value_name = "ADDR")]
    pub boot_listen: Option<String>,
}

/// Where images are: a server, or a data directory opened directly.
#[derive(Args, Debug, Clone)]
pub struct Location {
    /// parc server URL [config: client.server, default http://127.0.0.1:7420].
    #[arg(long, global = true, conflicts_with = "store")]
    pub server: Option<String>,
    /// Work on a data directory directly instead of a server (the server's
    /// data_dir; a capture creates it when absent, other commands refuse).
    #[arg(long, global = true)]
    pub store: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct Output {
    /// Print one JSON object at the end instead of text and progress bars.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Tuning shared by capture and restore.
#[derive(Args, Debug, Clone)]
pub struct Transfer {
    /// Chunk transfers in flight at once [config: imaging.parallel, default 8].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub parallel: Option<u16>,
    /// Cap the rate, e.g. 50M (bytes per second): source reads for a
    /// capture, downloads for a restore.
    #[arg(long, value_parser = parc_imaging::units::parse_bytes)]
    pub limit_rate: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Capture a block device or raw disk-image file as an image.
    Capture {
        /// Block device or raw disk-image file to read.
        source: PathBuf,
        /// Name of the new image.
        #[arg(long)]
        name: String,
        /// Replace an existing image with the same name.
        #[arg(long)]
        replace: bool,
        /// Read every byte (zero runs still become holes), ignoring the
        /// partition table and filesystems. Restores are then byte-identical
        /// even onto a disk with other content; otherwise free space is left
        /// as it was by a delta restore.
        #[arg(long)]
        raw: bool,
        /// The entity a new image belongs to, e.g. "/Ministry/Site A" (default: yours; needs --server).
        #[arg(long)]
        entity: Option<String>,
        /// zstd level for new chunks (1-22) [config: imaging.level, default 3].
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=22))]
        level: Option<i32>,
        #[command(flatten)]
        transfer: Transfer,
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
    /// Restore an image onto a block device or raw disk-image file.
    ///
    /// By default only chunks that differ from what the target already holds
    /// are fetched and written, and filesystem free space is left as it is
    /// (delta restore); --full rewrites everything. A smaller disk is fitted
    /// by shrinking the last ext4/NTFS partition when its data fits.
    Restore {
        /// Image name.
        name: String,
        /// Block device or file to write (a missing file is created).
        target: PathBuf,
        /// Write every chunk, and zero holes and free space, without
        /// comparing with the target first.
        #[arg(long)]
        full: bool,
        /// On a larger disk, extend the last partition to the end and grow
        /// its filesystem (ext4: resize2fs, NTFS: ntfsresize; GPT or MBR).
        #[arg(long)]
        grow: bool,
        #[command(flatten)]
        transfer: Transfer,
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
    /// List images.
    List {
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
    /// Show one image: sizes, chunks, root hash, how it was made.
    Show {
        /// Image name.
        name: String,
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
    /// Delete an image (its chunks are freed by `parc store gc`).
    Delete {
        /// Image name.
        name: String,
        /// Cancel the unfinished tasks that need it (listed) instead of refusing.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        at: Location,        #[command(flatten)]
        out: Output,
    },
    /// Fetch and check every chunk of an image without writing anything.
    Verify {
        /// Image name.
        name: String,
        /// Chunk downloads in flight at once.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        parallel: Option<u16>,
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Args, Debug, Clone)]
pub struct StoreDir {
    /// The data directory [config: server.data_dir].
    #[arg(long, alias = "data-dir")]
    pub store: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Delete chunks no image references. Chunks an upload in flight may
    /// need, and chunks younger than --grace, are kept.
    Gc {
        #[command(flatten)]
        dir: StoreDir,
        /// Keep unreferenced chunks written within this many seconds.
        #[arg(long, default_value_t = 3600)]
        grace_secs: u64,
        #[command(flatten)]
        out: Output,
    },
    /// Read and verify every chunk; report bad or missing chunks with the
    /// images they affect. Exits non-zero when anything is wrong.
    Check {
        /// First drop the quarantined copies of chunks stored intact again.
        #[arg(long)]
        repair: bool,
        #[command(flatten)]
        dir: StoreDir,
        #[command(flatten)]
        out: Output,
    },
    /// List the captures in flight (each reserves its image name), or end one.
    Uploads {
        /// End this upload (its id, or a unique start of it): its capture
        /// fails, the name is free, its chunks go at the next GC.
        #[arg(long, value_name = "ID")]
        abort: Option<String>,
        #[command(flatten)]
        dir: StoreDir,
        #[command(flatten)]
        out: Output,
    },
}

/// The parc server a client command talks to.
#[derive(Args, Debug, Clone)]
pub struct ServerArg {
    /// parc server URL [config: client.server, default http://127.0.0.1:7420].
    #[arg(long, global = true)]
    pub server: Option<String>,
}

/// Host fields shared by `add` and `edit`.
#[derive(Args, Debug, Clone)]
pub struct HostFields {
    /// Hostname (unique).
    #[arg(long)]
    pub hostname: Option<String>,
    /// MAC address (repeat for several NICs; on edit, replaces the list).
    #[arg(long = "mac", value_name = "MAC")]
    pub macs: Vec<String>,
    /// SMBIOS system UUID.
    #[arg(long)]
    pub uuid: Option<String>,
    /// IPv4 address (Wake-on-LAN uses it to reach other subnets).
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Group (repeat for several; on edit, replaces the list).
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// Wake-on-LAN SecureOn password (six bytes, written like a MAC).
    #[arg(long)]
    pub secureon: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum HostCommand {
    /// List hosts, or find them.
    List {
        /// Only hosts in this group.
        #[arg(long)]
        group: Option<String>,
        /// Only hosts matching every word: hostname, MAC fragment, IP, UUID or serial.
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// Only hosts in this state (new, ready, retired).
        #[arg(long)]
        state: Option<parc_inventory::HostState>,
        /// At most this many (the total is still counted).
        #[arg(long)]
        limit: Option<u32>,
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
    /// Show one host (by id, hostname or MAC) with its recent events.
    Show {
        /// Host id, hostname or MAC.
        host: String,
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
    /// Add a host.
    Add {
        #[command(flatten)]
        fields: HostFields,
        /// The entity it belongs to, e.g. "/Ministry/Site A" (default: yours).
        #[arg(long)]
        entity: Option<String>,
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
    /// Change a host.
    Edit {
        /// Host id, hostname or MAC.
        host: String,
        #[command(flatten)]
        fields: HostFields,
        /// New state: new (registers again at next boot), ready, retired.
        #[arg(long)]
        state: Option<String>,
        /// Forget the host's IPv4 address.
        #[arg(long, conflicts_with = "ip")]
        clear_ip: bool,
        /// Take the host out of every group.
        #[arg(long, conflicts_with = "groups")]
        clear_groups: bool,
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
    /// Remove a host with its history. Refused while it has an unfinished
    /// task, unless --cancel-tasks.
    Rm {
        /// Host id, hostname or MAC.
        host: String,
        /// Cancel the host's unfinished task first.
        #[arg(long)]
        cancel_tasks: bool,
        #[command(flatten)]
        at: Location,        #[command(flatten)]
        out: Output,
    },
    /// Import hosts from CSV (header: mac,hostname,uuid,ip,groups,secureon;
    /// only mac is required; one row per host, several MACs or groups in one
    /// cell separated by ';'). Every bad row is reported; all rows or none.
    Import {
        /// The CSV file (`-` for stdin).
        file: PathBuf,
        /// The entity new hosts belong to (default: yours).
        #[arg(long)]
        entity: Option<String>,
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
    /// Send Wake-on-LAN magic packets (from the server's interfaces).
    Wake {
        /// Hosts (id, hostname or MAC).
        hosts: Vec<String>,
        /// Every host of this group.
        #[arg(long)]
        group: Option<String>,
        #[command(flatten)]
        at: ServerArg,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// Where the orders are (parc.server=, parc.action=, parc.token=).
    #[arg(long, default_value = "/proc/cmdline")]
    pub cmdline: PathBuf,
    /// Root of /sys and /proc for the hardware inventory.
    #[arg(long, default_value = "/")]
    pub sys_root: PathBuf,
    /// Where disk device nodes are.
    #[arg(long, default_value = "/dev")]
    pub dev_root: PathBuf,
    /// Exit instead of restarting the machine at the end.
    #[arg(long)]
    pub no_reboot: bool,
}

/// When a task may start, and how often it may be tried.
#[derive(Args, Debug, Clone)]
pub struct Schedule {
    /// Not before this time, in the server's time zone (as windows):
    /// `2026-11-27 22:30`, `22:30` (the next one), or RFC 3339 with its offset.
    #[arg(long)]
    pub at: Option<String>,
    /// Only inside this daily window (server's local time), e.g. 22:00-06:00.
    #[arg(long)]
    pub window: Option<String>,
    /// Boots that may try the task before it is marked failed [default 3].
    #[arg(long)]
    pub attempts: Option<u32>,
    /// Power off when done instead of rebooting.
    #[arg(long)]
    pub poweroff: bool,
    /// The disk to work on (default: the machine's first non-removable disk).
    #[arg(long)]
    pub disk: Option<String>,
    /// Cap the rate, e.g. 20M (bytes per second): disk reads for a capture,
    /// downloads for a restore.
    #[arg(long, value_parser = parc_imaging::units::parse_bytes)]
    pub limit_rate: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum TaskCommand {
    /// Capture a machine's disk as an image at its next network boot.
    Capture {
        /// Host id, hostname or MAC.
        host: String,
        /// Name of the image.
        #[arg(long)]
        image: String,
        /// Replace an existing image of that name.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        when: Schedule,
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
    /// Restore an image onto machines at their next network boot, then run
    /// post-install hooks.
    Restore {
        /// Hosts (id, hostname or MAC).
        hosts: Vec<String>,
        /// Every host of this group.
        #[arg(long)]
        group: Option<String>,
        /// Image name.
        #[arg(long)]
        image: String,
        /// Hooks, comma-separated: hostname=NAME, ssh-key[=USER] (parc's
        /// deployment key into USER's authorized_keys; root by default).
        #[arg(long, value_delimiter = ',')]
        hooks: Vec<String>,
        /// Drop a file on the restored disk: [PART:]/path=LOCAL_FILE
        /// (PART is the partition number; default the Linux root).
        #[arg(long = "file", value_name = "[PART:]/PATH=LOCAL")]
        files: Vec<String>,
        /// A script the installed system runs once at its first boot.
        #[arg(long, value_name = "FILE")]
        firstboot: Option<PathBuf>,
        /// A script run in the netboot environment with the restored root
        /// mounted at $PARC_TARGET; failing fails the task.
        #[arg(long, value_name = "FILE")]
        script: Option<PathBuf>,
        /// Rewrite everything instead of a delta restore.
        #[arg(long)]
        full: bool,
        /// Grow the last partition onto a larger disk.
        #[arg(long)]
        grow: bool,
        #[command(flatten)]
        when: Schedule,
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
    /// List tasks (unfinished ones unless --all).
    List {
        /// Only this host's.
        #[arg(long)]
        host: Option<String>,
        /// Include finished tasks.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
    /// Show a task: state, progress, error, and its history.
    Show {
        /// Task id.
        id: i64,
        #[command(flatten)]
        at: Location,
        #[command(flatten)]
        out: Output,
    },
    /// Cancel tasks: by id, or every unfinished task of hosts or a group.
    Cancel {
        /// Task ids.
        ids: Vec<i64>,
        /// Every unfinished task of this host (id, hostname or MAC; repeatable).
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// Every unfinished task of this group's hosts.
        #[arg(long)]
        group: Option<String>,
        #[command(flatten)]
        at: Location,        #[command(flatten)]
        out: Output,
    },
}

#[derive(Subcommand, Debug)]
pub enum EnvCommand {
    /// Build it from this machine's Debian packages (linux-image-amd64,
    /// busybox-static, e2fsprogs, dosfstools, ntfs-3g, fdisk, util-linux)
    /// and a parc binary; the same inputs give the same bytes. Writes
    /// vmlinuz, initrd.img and manifest.txt.
    Build {
        /// Output directory [default: <data_dir>/boot-assets/env, where
        /// `parc serve` serves it].
        #[arg(long)]
        out: Option<PathBuf>,
        /// The server's data directory [config: server.data_dir].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Kernel version in /boot and /lib/modules [default: the one
        /// linux-image-amd64 installs].
        #[arg(long)]
        kernel_version: Option<String>,
        /// The parc binary to include as the agent [default: this one].
        #[arg(long)]
        parc: Option<PathBuf>,
        /// Keep parc's symbols and debug info (larger download).
        #[arg(long)]
        no_strip: bool,
    },
}
