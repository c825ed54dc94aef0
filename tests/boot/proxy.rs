//! proxyDHCP as PXE firmware, iPXE and relays see it: what comes back, to
//! where, who is ignored, what the registry learns, and that garbage on the
//! wire costs nothing.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use dhcproto::v4::{Architecture, DhcpOption, Flags, Message, MessageType, Opcode, OptionCode, UnknownOption};
use dhcproto::{Decodable, Encodable};

use crate::*;

/// `-uuid 8d7c5b0e-1f2a-4c3b-9d8e-0123456789ab` as firmware sends it in option 97.
const UUID_WIRE: [u8; 17] = [0x00, 0x0e, 0x5b, 0x7c, 0x8d, 0x2a, 0x1f, 0x3b, 0x4c, 0x9d, 0x8e, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab];
const UUID: &str = "8d7c5b0e-1f2a-4c3b-9d8e-0123456789ab";

/// What a client puts in its request.
#[derive(Clone)]
struct Req {
    mac: [u8; 6],
    xid: u32,
    kind: MessageType,
    class: &'static str,
    arch: Option<u16>,
    user_class_ipxe: bool,
    opt175: bool,
    uuid: Option<[u8; 17]>,
    giaddr: Ipv4Addr,
    ciaddr: Ipv4Addr,
}

impl Req {
    fn firmware(last: u8, xid: u32, arch: u16) -> Self {
        Req {
            mac: [0x52, 0x54, 0x00, 0xb0, 0x07, last],
            xid,
            kind: MessageType::Discover,
            class: if arch == 0 { "PXEClient:Arch:00000:UNDI:002001" } else { "PXEClient:Arch:00007:UNDI:003016" },
            arch: Some(arch),
            user_class_ipxe: false,
            opt175: false,
            uuid: Some(UUID_WIRE),
            giaddr: Ipv4Addr::UNSPECIFIED,
            ciaddr: Ipv4Addr::UNSPECIFIED,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut m = Message::new(self.ciaddr, Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, self.giaddr, &self.mac);
        m.set_opcode(Opcode::BootRequest).set_xid(self.xid).set_flags(Flags::default().set_broadcast());
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(self.kind));
        o.insert(DhcpOption::ClassIdentifier(self.class.as_bytes().to_vec()));
        if let Some(a) = self.arch {
            o.insert(DhcpOption::ClientSystemArchitecture(Architecture::from(a)));
        }
        if self.user_class_ipxe {
            o.insert(DhcpOption::UserClass(b"iPXE".to_vec()));
        }
        if self.opt175 {
            // iPXE's feature list (here: "HTTP supported").
            o.insert(DhcpOption::Unknown(UnknownOption::new(OptionCode::Unknown(175), vec![19, 1, 1])));
        }
        if let Some(u) = self.uuid {
            o.insert(DhcpOption::ClientMachineIdentifier(u.to_vec()));
        }
        m.to_vec().unwrap()
    }

    fn mac_str(&self) -> String {
        self.mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
    }
}

/// The client side: one socket on 0.0.0.0:68 bound to eth0, as firmware has.
fn client_socket(pair: &Pair) -> UdpSocket {
    udp_in(&pair.cli_ns, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68), Some(IFACE))
}

fn broadcast_67() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::BROADCAST, 67)
}

/// The reply to `xid` arriving on `sock` within `limit`, decoded, with its source.
fn reply_to(sock: &UdpSocket, xid: u32, limit: Duration) -> Option<(Message, SocketAddr)> {
    recv_matching(sock, limit, |b, from| {
        let m = Message::from_bytes(b).ok()?;
        (m.opcode() == Opcode::BootReply && m.xid() == xid).then_some((m, from))
    })
}

fn file(m: &Message) -> String {
    m.fname_str().and_then(Result::ok).unwrap_or("").trim_end_matches('\0').to_string()
}

fn opt(m: &Message, code: OptionCode) -> Option<&DhcpOption> {
    m.opts().get(code)
}

/// Checks the parts of a proxy answer that never vary, for a request `r`.
fn assert_proxy_answer(m: &Message, r: &Req, kind: MessageType) {
    assert_eq!(m.opcode(), Opcode::BootReply);
    assert_eq!(m.chaddr(), &r.mac[..], "chaddr is the client's MAC");
    assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED, "a proxy never hands out an address");
    assert_eq!(m.siaddr(), SRV, "siaddr (next server) is the interface's address");
    assert_eq!(opt(m, OptionCode::MessageType), Some(&DhcpOption::MessageType(kind)));
    assert_eq!(opt(m, OptionCode::ServerIdentifier), Some(&DhcpOption::ServerIdentifier(SRV)));
    assert_eq!(opt(m, OptionCode::ClassIdentifier), Some(&DhcpOption::ClassIdentifier(b"PXEClient".to_vec())));
    match r.uuid {
        Some(u) => assert_eq!(opt(m, OptionCode::ClientMachineIdentifier), Some(&DhcpOption::ClientMachineIdentifier(u.to_vec())), "option 97 echoed as sent"),
        None => assert_eq!(opt(m, OptionCode::ClientMachineIdentifier), None),
    }
}

/// True when a BIOS firmware DISCOVER from the client namespace gets an OFFER.
pub(crate) fn firmware_gets_an_offer(pair: &Pair) -> bool {
    let sock = client_socket(pair);
    let r = Req::firmware(0xee, 0xee01, 0);
    sock.send_to(&r.bytes(), broadcast_67()).unwrap();
    reply_to(&sock, r.xid, Duration::from_secs(5)).is_some_and(|(m, _)| file(&m) == "undionly.kpxe")
}

fn start(tag: &str) -> Option<(Pair, Served)> {
    let pair = pair(tag)?;
    let mut srv = Served::start(&pair.srv_ns, &[], &["--pxe", IFACE, "--tftp", "off"]);
    srv.wait_proxy_ready();
    Some((pair, srv))
}

#[test]
fn firmware_and_ipxe_clients_are_offered_their_boot_file() {
    let Some((pair, _srv)) = start("pxoff") else { return };
    let sock = client_socket(&pair);
    let script = |r: &Req, arch: &str| format!("http://{SRV}:{HTTP_PORT}/boot/{}.ipxe?arch={arch}", r.mac_str().replace(':', "-"));
    let bios = Req::firmware(1, 0x1001, 0);
    let uefi7 = Req::firmware(2, 0x1002, 7);
    let uefi9 = Req { uuid: None, ..Req::firmware(3, 0x1003, 9) };
    let ipxe_bios = Req { user_class_ipxe: true, ..Req::firmware(4, 0x1004, 0) };
    let ipxe_uefi_175 = Req { opt175: true, ..Req::firmware(5, 0x1005, 7) };
    let cases = [
        (&bios, "undionly.kpxe".to_string()),
        (&uefi7, "snponly.efi".to_string()),
        (&uefi9, "snponly.efi".to_string()),
        (&ipxe_bios, script(&ipxe_bios, "bios")),
        (&ipxe_uefi_175, script(&ipxe_uefi_175, "efi-x64")),
    ];
    for (r, want) in &cases {
        sock.send_to(&r.bytes(), broadcast_67()).unwrap();
        let (m, from) = reply_to(&sock, r.xid, Duration::from_secs(5)).unwrap_or_else(|| panic!("no OFFER for {} (arch {:?})", r.mac_str(), r.arch));
        assert_eq!(from, SocketAddr::from((SRV, 67)), "the OFFER comes from the server's port 67");
        assert_proxy_answer(&m, r, MessageType::Offer);
        assert_eq!(&file(&m), want, "boot file for arch {:?} (iPXE: {})", r.arch, r.user_class_ipxe || r.opt175);
        assert_eq!(m.giaddr(), Ipv4Addr::UNSPECIFIED);
        assert!(m.flags().broadcast());
    }
}

#[test]
fn pxe_request_on_4011_is_acked_to_the_sender() {
    let Some((pair, _srv)) = start("px4011") else { return };
    // Firmware asks the boot server directly once it has an address.
    let sock = udp_in(&pair.cli_ns, SocketAddrV4::new(CLI, 0), Some(IFACE));
    let r = Req { kind: MessageType::Request, ciaddr: CLI, ..Req::firmware(6, 0x4011, 7) };
    sock.send_to(&r.bytes(), SocketAddrV4::new(SRV, 4011)).unwrap();
    let (m, from) = reply_to(&sock, r.xid, Duration::from_secs(5)).expect("an ACK from port 4011, unicast to the sender");
    assert_eq!(from, SocketAddr::from((SRV, 4011)));
    assert_proxy_answer(&m, &r, MessageType::Ack);
    assert_eq!(file(&m), "snponly.efi");
    assert_eq!(m.ciaddr(), CLI, "ciaddr echoed");
}

#[test]
fn non_pxe_clients_get_no_answer() {
    let Some((pair, _srv)) = start("pxmsft") else { return };
    let sock = client_socket(&pair);
    let windows = Req { class: "MSFT 5.0", arch: None, uuid: None, ..Req::firmware(7, 0x5001, 0) };
    let no_class = Req { class: "", arch: None, uuid: None, ..Req::firmware(8, 0x5002, 0) };
    let pxe = Req::firmware(9, 0x5003, 0);
    for r in [&windows, &no_class, &pxe] {
        sock.send_to(&r.bytes(), broadcast_67()).unwrap();
    }
    // The proxy handles one datagram at a time, in order: once the PXE
    // client's OFFER is here, an answer to the others would have come first.
    let mut got = Vec::new();
    let offer = recv_matching(&sock, Duration::from_secs(5), |b, _| {
        let m = Message::from_bytes(b).ok()?;
        got.push(m.xid());
        (m.xid() == pxe.xid).then_some(m)
    });
    assert!(offer.is_some(), "the PXE client was answered");
    assert!(reply_to(&sock, windows.xid, Duration::from_millis(500)).is_none() && reply_to(&sock, no_class.xid, Duration::from_millis(200)).is_none());
    assert_eq!(got, [pxe.xid], "only the PXE client got an answer");
}

#[test]
fn relayed_discover_is_answered_to_the_relay() {
    let Some((pair, _srv)) = start("pxrel") else { return };
    let relay = udp_in(&pair.cli_ns, SocketAddrV4::new(CLI, 67), Some(IFACE));
    let client = client_socket(&pair);
    let r = Req { giaddr: CLI, ..Req::firmware(10, 0x6001, 0) };
    relay.send_to(&r.bytes(), SocketAddrV4::new(SRV, 67)).unwrap();
    let (m, from) = reply_to(&relay, r.xid, Duration::from_secs(5)).expect("the OFFER goes back to the relay's port 67");
    assert_eq!(from, SocketAddr::from((SRV, 67)));
    assert_proxy_answer(&m, &r, MessageType::Offer);
    assert_eq!(m.giaddr(), CLI, "giaddr kept so the relay can forward it");
    assert_eq!(file(&m), "undionly.kpxe");
    assert!(reply_to(&client, r.xid, Duration::from_millis(300)).is_none(), "a relayed request is not answered by broadcast");
}

#[test]
fn answered_clients_are_registered() {
    let Some((pair, _srv)) = start("pxreg") else { return };
    let sock = client_socket(&pair);
    let r = Req::firmware(11, 0x7001, 0);
    sock.send_to(&r.bytes(), broadcast_67()).unwrap();
    assert!(reply_to(&sock, r.xid, Duration::from_secs(5)).is_some(), "no OFFER");
    // Recording is asynchronous: poll, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    let host = loop {
        let out = parc_in(&pair.cli_ns, &["host", "show", &r.mac_str(), "--json"]);
        if out.status.success() {
            break serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("host show --json");
        }
        assert!(Instant::now() < deadline, "{} never appeared in the registry: {}", r.mac_str(), String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(host["macs"], serde_json::json!([r.mac_str()]));
    assert_eq!(host["uuid"], UUID, "the SMBIOS UUID, first three fields swapped back from the wire order");
    assert_eq!(host["arch"], "bios");
    assert_eq!(host["state"], "new");
}

/// Seeded xorshift.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Offset of the first option (after the 236-byte header and the magic cookie).
const OPTIONS: usize = 240;

/// One hostile datagram, built from a valid DISCOVER.
fn hostile(rng: &mut Rng, valid: &[u8], i: usize) -> Vec<u8> {
    let mut b = valid.to_vec();
    match i % 9 {
        0 => b.truncate(rng.below(b.len())),
        1 => b[2] = 255, // hlen
        2 => {
            // An option whose length runs far past the end.
            let at = OPTIONS + rng.below(b.len() - OPTIONS - 1);
            b[at] = (rng.next() % 254 + 1) as u8;
            b[at + 1] = 255;
            b.truncate(at + 2 + rng.below(8));
        }
        3 => b.clear(),
        4 => b = kit::pseudo_random(1500, rng.next()),
        5 => {
            for _ in 0..1 + rng.below(20) {
                let at = rng.below(b.len());
                b[at] = rng.next() as u8;
            }
        }
        6 => {
            // Option overload (52) pointing into empty file/sname fields, then junk.
            b.truncate(b.len() - 1);
            b.extend_from_slice(&[52, 1, 3, 255]);
            b[44..236].iter_mut().for_each(|x| *x = rng.next() as u8);
        }
        7 => b = kit::pseudo_random(rng.below(600), rng.next()),
        _ => {
            // Options region replaced with random bytes, cookie kept.
            let n = rng.below(1200);
            b.truncate(OPTIONS);
            b.extend_from_slice(&kit::pseudo_random(n, rng.next()));
        }
    }
    b
}

#[test]
fn hostile_datagrams_do_not_stop_the_service() {
    let Some((pair, mut srv)) = start("pxbad") else { return };
    let sock = client_socket(&pair);
    let valid = Req::firmware(12, 0x8001, 7).bytes();
    let mut rng = Rng(0x5eed_0b00_7ba5_e5ed);
    let started = Instant::now();
    for i in 0..4000 {
        let pkt = hostile(&mut rng, &valid, i);
        let to = match i % 3 {
            0 => broadcast_67(),
            1 => SocketAddrV4::new(SRV, 67),
            _ => SocketAddrV4::new(SRV, 4011),
        };
        let _ = sock.send_to(&pkt, to);
        if i % 200 == 199 {
            // Let the receiver keep up rather than measure the socket buffer.
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(started.elapsed() < Duration::from_secs(20), "sending took too long");
    }
    // The flood may overrun the server's socket buffer, and UDP drops what
    // does not fit: retransmit as firmware does, with a bound.
    let r = Req::firmware(13, 0x8002, 0);
    let answer = (0..10).find_map(|_| {
        sock.send_to(&r.bytes(), broadcast_67()).unwrap();
        reply_to(&sock, r.xid, Duration::from_secs(1))
    });
    let (m, _) = answer.expect("a valid DISCOVER after the flood is still answered (10 tries, 1 s apart)");
    assert_eq!(file(&m), "undionly.kpxe");
    assert!(srv.running(), "parc serve died: {:?}", srv.seen);
    assert!(healthz_from(&pair.cli_ns).is_ok_and(|r| r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200")), "HTTP API still answers");
}
