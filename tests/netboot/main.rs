//! End-to-end network-boot tests: real firmware (SeaBIOS, OVMF, iPXE) in QEMU,
//! parc as the only PXE server (dnsmasq hands out addresses only),
//! on a private bridge inside network namespaces, booting a probe Linux that
//! reports back over HTTP. Needs root and the Debian packages named in
//! `parc_testkit::{netlab, vm, initramfs}`; without them each test prints
//! `NOT RUN` (or fails under `CI=true`).

mod disk;
mod env;
mod pxe;

use std::path::Path;

use parc_testkit::vm::Firmware;
use parc_testkit::{initramfs, netlab, vm};

/// Everything a boot test with `firmwares` needs on this machine.
pub fn prerequisites(firmwares: &[Firmware]) -> Result<(), String> {
    netlab::check_prerequisites()?;
    initramfs::check_prerequisites()?;
    for fw in firmwares {
        vm::check_prerequisites(*fw)?;
    }
    Ok(())
}

/// Where built probe images are cached between runs.
pub fn cache_dir() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// Firmwares to boot: all, or those named in `PARC_NETBOOT_FIRMWARE`
/// (comma-separated `bios`, `uefi`, `uefi-pxe`).
pub fn selected_firmwares() -> Vec<Firmware> {
    use Firmware::*;
    match std::env::var("PARC_NETBOOT_FIRMWARE") {
        Ok(s) if !s.is_empty() => s
            .split(',')
            .map(|f| match f.trim() {
                "bios" => BiosIpxeRom,
                "uefi" => UefiIpxeRom,
                "uefi-pxe" => UefiOwnPxe,
                other => panic!("PARC_NETBOOT_FIRMWARE: unknown {other:?} (bios, uefi, uefi-pxe)"),
            })
            .collect(),
        _ => Firmware::ALL.to_vec(),
    }
}
