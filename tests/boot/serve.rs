//! `parc serve` started without what the boot services need says what is
//! missing and how to get it, and keeps the HTTP API running; run as an
//! unprivileged user with the two capabilities (as the shipped systemd unit
//! does), everything answers.

use std::time::Duration;

use crate::*;

/// CAP_NET_BIND_SERVICE's bit in /proc/PID/status `CapEff`.
const CAP_NET_BIND_SERVICE: u32 = 10;

/// The effective capability mask of `pid`.
fn cap_eff(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:")).expect("CapEff line").trim();
    u64::from_str_radix(hex, 16).unwrap()
}

fn assert_http_up(ns: &str) {
    let r = healthz_from(ns).unwrap_or_else(|e| panic!("HTTP API unreachable: {e}"));
    assert!(r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200"), "healthz: {r}");
    assert!(r.ends_with("ok"), "healthz body: {r}");
}

#[test]
fn without_bind_privileges_the_boot_services_say_why_and_http_runs() {
    if !kit::prerequisite("dropping capabilities", kit::require_tool("setpriv", "util-linux").map(|_| ())) {
        return;
    }
    let Some(pair) = pair("nocap") else { return };
    // Root, but CAP_NET_BIND_SERVICE and CAP_NET_RAW gone from the bounding
    // and inheritable sets: after exec they are not in parc's effective set.
    let wrapper = ["setpriv", "--bounding-set=-net_bind_service,-net_raw", "--inh-caps=-all", "--"];
    // TFTP stays at its default, 0.0.0.0:69.
    let mut srv = Served::start(&pair.srv_ns, &wrapper, &["--pxe", IFACE]);
    assert_eq!(cap_eff(srv.pid()) & (1 << CAP_NET_BIND_SERVICE), 0, "the test must run parc without CAP_NET_BIND_SERVICE");

    let proxy = srv.wait_line(|l| l.starts_with("proxyDHCP: "), Duration::from_secs(10)).unwrap_or_else(|| panic!("no proxyDHCP line: {:?}", srv.seen));
    assert!(proxy.starts_with("proxyDHCP: OFF: "), "{proxy}");
    assert!(proxy.contains("port 67") && proxy.contains("CAP_NET_BIND_SERVICE") && proxy.contains(IFACE), "names the port, the interface and the capability: {proxy}");
    let tftp = srv.wait_line(|l| l.starts_with("tftp: OFF") || l.starts_with("tftp: serving"), Duration::from_secs(10)).unwrap_or_else(|| panic!("no tftp line: {:?}", srv.seen));
    assert!(tftp.starts_with("tftp: OFF: "), "{tftp}");
    assert!(tftp.contains(":69") && tftp.contains("CAP_NET_BIND_SERVICE"), "names the port and the capability: {tftp}");

    assert_http_up(&pair.cli_ns);
    assert!(srv.running(), "parc serve exited: {:?}", srv.seen);
}

#[test]
fn a_missing_pxe_interface_is_reported_and_http_runs() {
    let Some(pair) = pair("noif") else { return };
    let mut srv = Served::start(&pair.srv_ns, &[], &["--pxe", "nosuch0", "--tftp", "off"]);
    let line = srv.wait_line(|l| l.starts_with("proxyDHCP"), Duration::from_secs(10)).unwrap_or_else(|| panic!("no proxyDHCP line: {:?}", srv.seen));
    assert!(line.contains("OFF") && line.contains("nosuch0"), "names the missing interface: {line}");
    assert_http_up(&pair.cli_ns);
    assert!(srv.running(), "parc serve exited: {:?}", srv.seen);
}

#[test]
fn a_missing_pxe_interface_leaves_the_others_answering() {
    let Some(pair) = pair("someif") else { return };
    let mut srv = Served::start(&pair.srv_ns, &[], &["--pxe", "nosuch0", "--pxe", IFACE, "--tftp", "off"]);
    let line = srv.wait_line(|l| l.contains("nosuch0"), Duration::from_secs(10)).unwrap_or_else(|| panic!("nosuch0 not reported: {:?}", srv.seen));
    assert!(line.contains("OFF"), "{line}");
    srv.wait_proxy_ready();
    assert!(crate::proxy::firmware_gets_an_offer(&pair), "PXE clients on {IFACE} are still answered");
    assert_http_up(&pair.cli_ns);
}

/// The real, effective, saved and filesystem uids of `pid`.
fn uids(pid: u32) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status.lines().find_map(|l| l.strip_prefix("Uid:")).expect("Uid line").split_whitespace().map(|n| n.parse().unwrap()).collect()
}

#[test]
fn as_an_unprivileged_user_with_two_capabilities_every_service_answers() {
    let tools = kit::require_tool("setpriv", "util-linux").and_then(|_| kit::require_tool("systemd-analyze", "systemd"));
    if !kit::prerequisite("running as an unprivileged user", tools.map(|_| ())) {
        return;
    }
    // The shipped unit is valid as systemd reads it (pointed at this build).
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dist/parc.service")).unwrap();
    assert!(unit.contains("User=parc") && unit.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW") && unit.contains("NoNewPrivileges=yes"));
    std::fs::write(dir.path().join("parc.service"), unit.replace("/usr/local/bin/parc", parc_bin().to_str().unwrap())).unwrap();
    let verify = std::process::Command::new("systemd-analyze").arg("verify").arg(dir.path().join("parc.service")).output().unwrap();
    assert!(verify.status.success() && verify.stderr.is_empty(), "systemd-analyze verify: {}", String::from_utf8_lossy(&verify.stderr));

    // What the unit does, done by setpriv: user nobody, only the two capabilities.
    let Some(pair) = pair("unpriv") else { return };
    let wrapper = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all,+net_bind_service,+net_raw",
        "--ambient-caps=-all,+net_bind_service,+net_raw",
        "--bounding-set=-all,+net_bind_service,+net_raw",
        "--",
    ];
    let mut srv = Served::start_owned(&pair.srv_ns, &wrapper, &["--pxe", IFACE], Some((65534, 65534)));
    assert_eq!(uids(srv.pid()), [65534; 4], "parc runs as nobody");
    srv.wait_proxy_ready();
    let tftp = srv.wait_line(|l| l.starts_with("tftp: "), Duration::from_secs(10)).unwrap_or_else(|| panic!("no tftp line: {:?}", srv.seen));
    assert!(tftp.starts_with("tftp: serving") && tftp.contains(":69"), "{tftp}");
    assert!(crate::proxy::firmware_gets_an_offer(&pair), "proxyDHCP answers on port 67 without root");
    assert_http_up(&pair.cli_ns);
    assert!(srv.running(), "parc serve exited: {:?}", srv.seen);
}
