//! The netboot environment parc boots machines into for tasks and
//! registration: Debian's kernel, and an initramfs holding static busybox,
//! the drivers real fleets need, the filesystem tools a restore uses (with
//! their shared libraries) and the `parc` binary as the agent. `parc env
//! build` makes it; `parc serve` serves it from `boot-assets/env/`.
//!
//! - [`cpio`]: newc archives, written reproducibly.
//! - [`modules`]: module files in load order from `modules.dep`.
//! - [`build`]: the build itself, from the [`Recipe`] in `boot-assets/env/`.
//! - [`local`]: the UEFI local-boot loader (a standalone GRUB).

pub mod build;
pub mod cpio;
pub mod local;
pub mod modules;

use std::path::{Path, PathBuf};

pub use build::{build, default_kernel_version, BuildOptions, Built, Compression};
pub use local::{build_local_loader, LOCAL_BOOT_EFI};

/// What goes into the environment besides the kernel, its modules and
/// parc: the files of `boot-assets/env/`, built into the binary so an
/// installed `parc` builds the environment on its own.
#[derive(Clone, Debug)]
pub struct Recipe {
    /// `/init`, PID 1.
    pub init: String,
    /// udhcpc's event script (`/etc/udhcpc.script`).
    pub udhcpc_script: String,
    /// Module names, one a line (`modules.txt`).
    pub modules: String,
    /// `TOOL PACKAGE [?]` lines (`tools.txt`).
    pub tools: String,
}

impl Recipe {
    /// The recipe this binary was built with.
    pub fn builtin() -> Self {
        Self {
            init: include_str!("../../../boot-assets/env/init").into(),
            udhcpc_script: include_str!("../../../boot-assets/env/udhcpc.script").into(),
            modules: include_str!("../../../boot-assets/env/modules.txt").into(),
            tools: include_str!("../../../boot-assets/env/tools.txt").into(),
        }
    }
}

/// The console line `/init` prints just before it runs the agent.
pub const STARTING_AGENT: &str = "PARC-ENV: starting agent";

/// Why the environment could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// Things the build needs from Debian packages that are not installed.
    #[error("{}", missing_message(.0))]
    Missing(Vec<Missing>),
    #[error("{}: {cause}{}", .path.display(), permission_hint(.cause))]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{cmd}: {detail}")]
    Command { cmd: String, detail: String },
    #[error("{what} is missing: apt-get install {package}")]
    MissingPackage { what: String, package: String },
    #[error("{0}")]
    Invalid(String),
}

/// A file or program the build needs, and the Debian package that has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub what: String,
    pub package: String,
}

impl EnvError {
    pub(crate) fn io(path: &Path, cause: std::io::Error) -> Self {
        EnvError::Io { path: path.to_path_buf(), cause }
    }
}

fn missing_message(m: &[Missing]) -> String {
    let what: Vec<String> = m.iter().map(|m| format!("{} ({})", m.what, m.package)).collect();
    let mut pkgs: Vec<&str> = m.iter().map(|m| m.package.as_str()).collect();
    pkgs.sort();
    pkgs.dedup();
    format!("missing {}: apt-get install {}", what.join(", "), pkgs.join(" "))
}

fn permission_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        " (Debian keeps kernels readable by root only: run as root)"
    } else {
        ""
    }
}
