//! A QEMU guest on a [`Lab`]'s bridge, network-booting with real firmware
//! (software emulation only: nested KVM on these hosts does not work).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::netlab::{ns_command, Lab, NsChild};
use crate::require_tool;

const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
const BIOS_ROM: &str = "/usr/lib/ipxe/qemu/pxe-e1000.rom";
const EFI_ROM: &str = "/usr/lib/ipxe/qemu/efi-e1000.rom";

/// Which firmware network-boots the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS, e1000 with QEMU's iPXE ROM (DHCP arch 0, user class `iPXE`).
    BiosIpxeRom,
    /// OVMF, e1000 with QEMU's iPXE EFI ROM (arch 7, user class `iPXE`).
    UefiIpxeRom,
    /// OVMF's own PXE on virtio-net, no option ROM (arch 7, TFTP only).
    UefiOwnPxe,
}

impl Firmware {
    pub const ALL: [Firmware; 3] = [Firmware::BiosIpxeRom, Firmware::UefiIpxeRom, Firmware::UefiOwnPxe];

    pub fn is_uefi(self) -> bool {
        self != Firmware::BiosIpxeRom
    }
}

/// What to start.
#[derive(Clone, Debug)]
pub struct VmConfig {
    pub firmware: Firmware,
    /// `52:54:00:xx:xx:xx`.
    pub mac: String,
    /// SMBIOS system UUID (`-uuid`).
    pub uuid: String,
    /// A raw disk on virtio-blk, after the NIC in boot order.
    pub disk: Option<PathBuf>,
    pub memory_mib: u32,
    /// Boot straight from `disk`: the NIC stays (same model and MAC, for the
    /// booted OS) but gets no option ROM and no boot index.
    pub boot_from_disk_only: bool,
}

impl VmConfig {
    pub fn new(firmware: Firmware, mac: &str, uuid: &str) -> Self {
        Self { firmware, mac: mac.into(), uuid: uuid.into(), disk: None, memory_mib: 512, boot_from_disk_only: false }
    }

    /// With `disk` attached (after the NIC in boot order).
    pub fn with_disk(mut self, disk: &Path) -> Self {
        self.disk = Some(disk.to_path_buf());
        self
    }
}

/// Checks QEMU and the firmware files `fw` needs.
pub fn check_prerequisites(fw: Firmware) -> Result<(), String> {
    require_tool("qemu-system-x86_64", "qemu-system-x86")?;
    let files: &[(&str, &str)] = match fw {
        Firmware::BiosIpxeRom => &[(BIOS_ROM, "ipxe-qemu")],
        Firmware::UefiIpxeRom => &[(EFI_ROM, "ipxe-qemu"), (OVMF_CODE, "ovmf"), (OVMF_VARS, "ovmf")],
        Firmware::UefiOwnPxe => &[(OVMF_CODE, "ovmf"), (OVMF_VARS, "ovmf")],
    };
    for (f, pkg) in files {
        if !Path::new(f).is_file() {
            return Err(format!("{f} missing: apt-get install {pkg}"));
        }
    }
    Ok(())
}

/// A running guest; QEMU is killed and its tap removed on drop.
pub struct Vm {
    child: NsChild,
    serial: PathBuf,
    /// Its tap on the lab bridge.
    pub tap: String,
    lab_ns: String,
    pub config: VmConfig,
    started: Instant,
}

impl Vm {
    /// Starts QEMU in the lab namespace; `dir` (private to this VM) receives
    /// `serial.log`, `vars.fd` (UEFI) and `sercon.bin`.
    pub fn start(lab: &Lab, config: &VmConfig, dir: &Path) -> Result<Self, String> {
        check_prerequisites(config.firmware)?;
        if config.boot_from_disk_only && config.disk.is_none() {
            return Err("boot_from_disk_only without a disk".into());
        }
        fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let serial = dir.join("serial.log");
        let _ = fs::remove_file(&serial);
        let tap = lab.add_tap()?;
        let mut cmd = ns_command(&lab.lab_ns, "qemu-system-x86_64");
        cmd.args(["-accel", "tcg", "-m", &config.memory_mib.to_string(), "-smp", "1"])
            .args(["-nodefaults", "-display", "none", "-vga", "none", "-no-reboot", "-no-user-config"])
            .args(["-uuid", &config.uuid])
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .args(["-netdev", &format!("tap,id=n0,ifname={tap},script=no,downscript=no")]);
        let nic = match (config.firmware, config.boot_from_disk_only) {
            (Firmware::BiosIpxeRom, false) => format!("e1000,netdev=n0,mac={},romfile={BIOS_ROM},bootindex=1", config.mac),
            (Firmware::UefiIpxeRom, false) => format!("e1000,netdev=n0,mac={},romfile={EFI_ROM},bootindex=1", config.mac),
            (Firmware::UefiOwnPxe, false) => format!("virtio-net-pci,netdev=n0,mac={},romfile=,bootindex=1", config.mac),
            (Firmware::BiosIpxeRom | Firmware::UefiIpxeRom, true) => format!("e1000,netdev=n0,mac={},romfile=", config.mac),
            (Firmware::UefiOwnPxe, true) => format!("virtio-net-pci,netdev=n0,mac={},romfile=", config.mac),
        };
        cmd.args(["-device", &nic]);
        if config.firmware.is_uefi() {
            let vars = dir.join("vars.fd");
            fs::copy(OVMF_VARS, &vars).map_err(|e| format!("copying {OVMF_VARS}: {e}"))?;
            cmd.args(["-drive", &format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}")])
                .args(["-drive", &format!("if=pflash,format=raw,file={}", vars.display())]);
            if config.firmware == Firmware::UefiIpxeRom {
                // iPXE's own boot option is the network boot. Without this,
                // OVMF adds its PXEv4/v6 and HTTPv4/v6 boot options on iPXE's
                // SNP after it, and an iPXE `exit` (local boot) waits through
                // each of their DHCP timeouts before reaching the disk.
                for knob in ["IPv4Support", "IPv6Support", "IPv4PXESupport", "IPv6PXESupport"] {
                    cmd.args(["-fw_cfg", &format!("name=opt/org.tianocore/{knob},string=no")]);
                }
            }
        } else {
            // SeaBIOS and iPXE print to the serial port only when told where it is.
            let sercon = dir.join("sercon.bin");
            fs::write(&sercon, [0xf8u8, 0x03]).map_err(|e| e.to_string())?;
            cmd.args(["-fw_cfg", &format!("name=etc/sercon-port,file={}", sercon.display())]);
        }
        if let Some(disk) = &config.disk {
            cmd.args(["-drive", &format!("file={},if=none,id=d0,format=raw", disk.display())])
                .args(["-device", &format!("virtio-blk-pci,drive=d0,bootindex={}", if config.boot_from_disk_only { 1 } else { 2 })]);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(fs::File::create(dir.join("qemu.stderr")).map_err(|e| e.to_string())?);
        let child = match NsChild::spawn(&mut cmd) {
            Ok(c) => c,
            Err(e) => {
                lab.del_tap(&tap);
                return Err(e);
            }
        };
        Ok(Self { child, serial, tap, lab_ns: lab.lab_ns.clone(), config: config.clone(), started: Instant::now() })
    }

    /// The serial console so far.
    pub fn serial_log(&self) -> String {
        fs::read(&self.serial).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// The last `n` lines of the serial console, for failure messages.
    pub fn serial_tail(&self, n: usize) -> String {
        let log = self.serial_log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Time since QEMU was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Exit status once QEMU has ended (a guest reboot ends it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait()
    }

    /// Waits until the serial log contains `needle`. Fails, quoting the end
    /// of the log, when QEMU exits first or `timeout` passes.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.serial_log().contains(needle) {
                return Ok(());
            }
            if let Some(st) = self.try_wait() {
                if self.serial_log().contains(needle) {
                    return Ok(());
                }
                return Err(format!("{:?} VM exited ({st}) before {needle:?}; serial log ends:\n{}", self.config.firmware, self.serial_tail(40)));
            }
            if Instant::now() >= deadline {
                return Err(format!("{:?} VM: no {needle:?} within {timeout:?}; serial log ends:\n{}", self.config.firmware, self.serial_tail(40)));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until QEMU exits (e.g. the guest rebooted), or `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_wait() {
                return Ok(st);
            }
            if Instant::now() >= deadline {
                return Err(format!("{:?} VM still running after {timeout:?}; serial log ends:\n{}", self.config.firmware, self.serial_tail(40)));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn kill(&mut self) {
        self.child.kill();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.child.kill();
        let _ = std::process::Command::new("ip").args(["-n", &self.lab_ns, "link", "del", &self.tap]).stderr(Stdio::null()).status();
    }
}
