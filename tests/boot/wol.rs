//! Wake-on-LAN: `parc host wake` makes the server send magic packets, and a
//! machine on the segment (or behind a router) receives exactly those bytes.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use crate::*;

/// Six 0xFF, the MAC sixteen times, then the SecureOn password if any.
fn magic(mac: [u8; 6], secureon: Option<[u8; 6]>) -> Vec<u8> {
    let mut p = vec![0xff; 6];
    (0..16).for_each(|_| p.extend_from_slice(&mac));
    p.extend(secureon.into_iter().flatten());
    p
}

fn colon(b: [u8; 6]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

/// Every datagram arriving on `sock` within `limit`.
fn drain(sock: &UdpSocket, limit: Duration) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    recv_matching(sock, limit, |b, _| {
        got.push(b.to_vec());
        None::<()>
    });
    got
}

/// Wakes `host` and returns the report's one `sent` entry.
fn wake(ns: &str, host: &str) -> serde_json::Value {
    let r = parc_json_in(ns, &["host", "wake", host]);
    assert_eq!(r["sent"].as_array().map(Vec::len), Some(1), "wake {host}: {r}");
    r["sent"][0].clone()
}

#[test]
fn wake_sends_the_magic_packet_to_the_segment_and_to_remote_subnets() {
    let Some(pair) = pair("wol") else { return };
    let mut srv = Served::start(&pair.srv_ns, &[], &["--pxe", IFACE, "--tftp", "off"]);
    srv.wait_proxy_ready();
    let cli = &pair.cli_ns;
    let plain = [0x52, 0x54, 0x00, 0x0a, 0x0b, 0x01];
    let secure = [0x52, 0x54, 0x00, 0x0a, 0x0b, 0x02];
    let password = [0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6];
    let remote = [0x52, 0x54, 0x00, 0x0a, 0x0b, 0x03];
    for args in [
        vec!["host", "add", "--hostname", "plain", "--mac", &colon(plain)],
        vec!["host", "add", "--hostname", "secure", "--mac", &colon(secure), "--secureon", &colon(password)],
        vec!["host", "add", "--hostname", "remote", "--mac", &colon(remote), "--ip", "198.19.5.9"],
    ] {
        parc_json_in(cli, &args);
    }
    // A machine on the segment listens on port 9 for the segment's broadcast.
    let segment = udp_in(cli, SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 255), 9), Some(IFACE));

    let sent = wake(cli, "plain");
    assert_eq!(sent["targets"], serde_json::json!(["eth0 198.18.0.255"]));
    assert_eq!(sent["packets"], 1);
    assert_eq!(drain(&segment, Duration::from_millis(700)), [magic(plain, None)], "one 102-byte magic packet");

    let sent = wake(cli, "secure");
    assert_eq!(sent["packets"], 1);
    let got = drain(&segment, Duration::from_millis(700));
    assert_eq!(got, [magic(secure, Some(password))], "108 bytes, the SecureOn password last");
    assert_eq!(got[0].len(), 108);

    // The remote host's subnet is on no interface of the server: a directed
    // broadcast, through the client namespace acting as its router.
    pair.ip(cli, &["addr", "add", "198.19.5.1/24", "brd", "+", "dev", IFACE]).unwrap();
    pair.ip(&pair.srv_ns, &["route", "add", "198.19.5.0/24", "via", &CLI.to_string()]).unwrap();
    let directed = udp_in(cli, SocketAddrV4::new(Ipv4Addr::new(198, 19, 5, 255), 9), None);
    let sent = wake(cli, "remote");
    assert_eq!(sent["targets"], serde_json::json!(["eth0 198.18.0.255", "directed 198.19.5.255"]));
    assert_eq!(sent["packets"], 2);
    assert_eq!(drain(&segment, Duration::from_millis(500)), [magic(remote, None)], "the segment broadcast");
    assert_eq!(drain(&directed, Duration::from_millis(500)), [magic(remote, None)], "the directed broadcast");
    assert!(srv.running());
}

#[test]
fn an_unreachable_directed_broadcast_is_not_reported_as_sent() {
    let Some(pair) = pair("wolnr") else { return };
    let mut srv = Served::start(&pair.srv_ns, &[], &["--pxe", IFACE, "--tftp", "off"]);
    srv.wait_proxy_ready();
    let cli = &pair.cli_ns;
    let mac = [0x52, 0x54, 0x00, 0x0a, 0x0c, 0x01];
    parc_json_in(cli, &["host", "add", "--hostname", "far", "--mac", &colon(mac), "--ip", "198.19.7.9"]);
    let segment = udp_in(cli, SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 255), 9), Some(IFACE));
    // No route to 198.19.7.0/24 from the server: only the segment broadcast can go.
    let sent = wake(cli, "far");
    assert_eq!(sent["packets"], 1);
    assert_eq!(drain(&segment, Duration::from_millis(500)), [magic(mac, None)]);
    let targets: Vec<String> = sent["targets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    assert_eq!(targets[0], "eth0 198.18.0.255");
    assert!(
        targets[1..].iter().all(|t| t.starts_with("directed 198.19.7.255") && t.contains("failed")),
        "a destination the packet never reached must not read as sent: {targets:?}"
    );
}
