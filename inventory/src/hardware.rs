//! The hardware inventory the netboot agent reports (it reads it from
//! /sys and /proc): what the server stores on the host.

use serde::{Deserialize, Serialize};

/// A machine's hardware.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hardware {
    /// SMBIOS system and firmware facts.
    pub dmi: Dmi,
    /// CPU model, and logical processors.
    pub cpu_model: Option<String>,
    /// Logical processors.
    pub cpus: u32,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Block devices (not loop, RAM, optical or zram).
    pub disks: Vec<Disk>,
    /// Network interfaces (not loopback).
    pub nics: Vec<Nic>,
}

/// SMBIOS fields, as the kernel exposes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dmi {
    /// System manufacturer.
    pub sys_vendor: Option<String>,
    /// System product name.
    pub product_name: Option<String>,
    /// System serial number.
    pub product_serial: Option<String>,
    /// System UUID.
    pub product_uuid: Option<String>,
    /// Board manufacturer.
    pub board_vendor: Option<String>,
    /// Board name.
    pub board_name: Option<String>,
    /// Firmware vendor.
    pub bios_vendor: Option<String>,
    /// Firmware version.
    pub bios_version: Option<String>,
}

/// A disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    /// Kernel name (`sda`, `nvme0n1`, `vda`).
    pub name: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Model, when the device reports one.
    pub model: Option<String>,
    /// Serial number, when the device reports one.
    pub serial: Option<String>,
    /// Removable media (USB sticks, card readers).
    pub removable: bool,
    /// Spinning disk.
    pub rotational: bool,
}

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    /// Interface name.
    pub name: String,
    /// MAC address.
    pub mac: String,
    /// Kernel driver (`e1000`, `virtio_net`).
    pub driver: Option<String>,
}

impl Hardware {
    /// A few lines for people: vendor and model, serial, CPU, memory, disks, NICs.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        let gib = |b: u64| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64);
        let or_dash = |v: Option<&str>| v.unwrap_or("-").to_string();
        let mut out = vec![
            ("system", format!("{} {}", or_dash(self.dmi.sys_vendor.as_deref()), or_dash(self.dmi.product_name.as_deref()))),
            ("serial", or_dash(self.dmi.product_serial.as_deref())),
            ("firmware", format!("{} {}", or_dash(self.dmi.bios_vendor.as_deref()), or_dash(self.dmi.bios_version.as_deref()))),
            ("cpu", format!("{} x {}", self.cpus, or_dash(self.cpu_model.as_deref()))),
            ("memory", gib(self.memory_bytes)),
        ];
        for d in &self.disks {
            let mut line = format!("{} {}", d.name, gib(d.size_bytes));
            for extra in [d.model.as_deref(), d.serial.as_deref().map(|s| s.trim())].into_iter().flatten() {
                line += &format!(" {extra}");
            }
            if d.removable {
                line += " (removable)";
            }
            out.push(("disk", line));
        }
        for n in &self.nics {
            out.push(("nic", format!("{} {}{}", n.name, n.mac, n.driver.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_the_machine() {
        let hw = Hardware {
            dmi: Dmi { sys_vendor: Some("QEMU".into()), product_name: Some("Standard PC".into()), product_serial: Some("SN-1".into()), ..Default::default() },
            cpu_model: Some("QEMU Virtual CPU".into()),
            cpus: 2,
            memory_bytes: 512 << 20,
            disks: vec![Disk { name: "vda".into(), size_bytes: 1 << 30, model: None, serial: Some("golden-a".into()), removable: false, rotational: false }],
            nics: vec![Nic { name: "eth0".into(), mac: "52:54:00:18:01:01".into(), driver: Some("e1000".into()) }],
        };
        let lines: Vec<String> = hw.summary().into_iter().map(|(k, v)| format!("{k} {v}")).collect();
        assert_eq!(
            lines,
            ["system QEMU Standard PC", "serial SN-1", "firmware - -", "cpu 2 x QEMU Virtual CPU", "memory 0.5 GiB", "disk vda 1.0 GiB golden-a", "nic eth0 52:54:00:18:01:01 (e1000)"]
        );
    }
}
