//! The UEFI local-boot loader: a standalone GRUB (Debian's
//! `grub-efi-amd64-bin`) whose built-in configuration
//! (`boot-assets/local/grub.cfg`) finds the installed system's EFI loader
//! on the disks and starts it. iPXE chains it for a UEFI machine with
//! nothing to do, so a machine whose boot order puts the network first
//! reaches its system without the firmware's detour through its other
//! boot entries.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{EnvError, Missing};

/// Where the loader goes, relative to the boot-assets directory.
pub const LOCAL_BOOT_EFI: &str = "local/bootx64.efi";

/// The configuration built into the loader.
pub const GRUB_CFG: &str = include_str!("../../../boot-assets/local/grub.cfg");

/// GRUB modules loaded at start (the script reader, `exit`, device
/// wildcards, GPT and MBR disks, FAT ESPs, chain-loading). Every other
/// module stays in the image (1.7 MiB, xz): probing a disk autoloads the
/// filesystem modules, and each one missing would print an error.
const MODULES: &str = "normal configfile minicmd regexp part_gpt part_msdos fat chain echo test sleep";

/// Builds the loader into `assets/local/bootx64.efi`.
pub fn build_local_loader(assets: &Path) -> Result<PathBuf, EnvError> {
    let mut missing = Vec::new();
    if Command::new("grub-mkstandalone").arg("--version").output().is_err() {
        missing.push(Missing { what: "grub-mkstandalone".into(), package: "grub-common".into() });
    }
    if !Path::new("/usr/lib/grub/x86_64-efi/chain.mod").is_file() {
        missing.push(Missing { what: "/usr/lib/grub/x86_64-efi".into(), package: "grub-efi-amd64-bin".into() });
    }
    if !missing.is_empty() {
        return Err(EnvError::Missing(missing));
    }
    let out = assets.join(LOCAL_BOOT_EFI);
    let dir = out.parent().expect("has a parent");
    fs::create_dir_all(dir).map_err(|e| EnvError::io(dir, e))?;
    let cfg = dir.join("grub.cfg");
    fs::write(&cfg, GRUB_CFG).map_err(|e| EnvError::io(&cfg, e))?;
    let tmp = dir.join("bootx64.efi.tmp");
    let result = Command::new("grub-mkstandalone")
        .args(["-O", "x86_64-efi", "--compress=xz", "--locales=", "--fonts=", "--themes="])
        .arg(format!("--modules={MODULES}"))
        // Same bytes for the same packages: the memdisk's file times.
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg("-o")
        .arg(&tmp)
        .arg(format!("boot/grub/grub.cfg={}", cfg.display()))
        .output()
        .map_err(|e| EnvError::io(Path::new("grub-mkstandalone"), e))?;
    if !result.status.success() {
        let _ = fs::remove_file(&tmp);
        return Err(EnvError::Invalid(format!("grub-mkstandalone: {}", String::from_utf8_lossy(&result.stderr).trim())));
    }
    fs::rename(&tmp, &out).map_err(|e| EnvError::io(&out, e))?;
    Ok(out)
}
