//! The proxyDHCP answer to a PXE client, as a pure function.
//!
//! A proxy offer carries no address (`yiaddr` is 0): the site's own DHCP
//! server hands those out. It only names the boot server and file.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode};

use crate::boot::BootFile;
use crate::client::ClientInfo;

/// Which of the two proxyDHCP ports a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// 67: broadcast DISCOVERs (and relayed requests).
    Dhcp,
    /// 4011: the PXE boot-server REQUEST that firmware like OVMF sends.
    Pxe,
}

/// Why a request gets no answer (logged at debug level; other servers on
/// the segment may well answer it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Silent {
    /// A message type this port does not answer (e.g. a REQUEST on 67 is for
    /// the address-giving server).
    NotForUs(MessageType, Port),
    /// No boot file for this client's architecture.
    NoBootFile,
}

/// The largest boot file name the fixed `file` field holds (with its NUL).
const FILE_FIELD: usize = 127;

/// Builds the reply: an OFFER to a DISCOVER on 67, an ACK to a REQUEST or
/// INFORM on 4011.
pub fn build(req: &Message, client: &ClientInfo, boot: &BootFile, port: Port, server: Ipv4Addr) -> Result<Message, Silent> {
    let reply_type = match (client.message_type, port) {
        (MessageType::Discover, Port::Dhcp) => MessageType::Offer,
        (MessageType::Request | MessageType::Inform, Port::Pxe) => MessageType::Ack,
        (t, p) => return Err(Silent::NotForUs(t, p)),
    };
    let file = match boot {
        BootFile::Tftp(f) | BootFile::Http(f) => f,
        BootFile::None => return Err(Silent::NoBootFile),
    };
    let mut m = Message::new(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, server, req.giaddr(), &client.mac);
    m.set_opcode(Opcode::BootReply).set_xid(req.xid()).set_flags(req.flags()).set_htype(req.htype());
    if port == Port::Pxe {
        m.set_ciaddr(req.ciaddr());
    }
    // iPXE ignores a proxy offer's file when siaddr is 0, even for an HTTP
    // URL (netboot-testing.md, pitfall 1): `server` is always set above.
    if file.len() <= FILE_FIELD {
        m.set_fname_str(file);
    }
    let o = m.opts_mut();
    o.insert(DhcpOption::MessageType(reply_type));
    o.insert(DhcpOption::ServerIdentifier(server));
    let class: &[u8] = if client.http_boot { b"HTTPClient" } else { b"PXEClient" };
    o.insert(DhcpOption::ClassIdentifier(class.to_vec()));
    if file.len() > FILE_FIELD {
        o.insert(DhcpOption::BootfileName(file.as_bytes().to_vec()));
    }
    if !client.http_boot {
        // PXE vendor options: discovery control = 8, "boot the file named in
        // this packet" (no boot-server discovery, no menu).
        o.insert(DhcpOption::VendorExtensions(vec![6, 1, 8, 255]));
    }
    if let Some(u) = client.uuid {
        // Some PXE ROMs drop replies that do not echo their machine id.
        let mut wire = u;
        wire[0..4].reverse();
        wire[4..6].reverse();
        wire[6..8].reverse();
        let mut v = vec![0];
        v.extend_from_slice(&wire);
        o.insert(DhcpOption::ClientMachineIdentifier(v));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Arch;
    use dhcproto::v4::{Architecture, Flags};
    use dhcproto::{Decodable, Encodable};

    fn request(t: MessageType, arch: u16, giaddr: Ipv4Addr) -> Message {
        let mut m = Message::new(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, giaddr, &[0x52, 0x54, 0, 1, 2, 3]);
        m.set_opcode(Opcode::BootRequest).set_xid(7).set_flags(Flags::default().set_broadcast());
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(t));
        o.insert(DhcpOption::ClassIdentifier(b"PXEClient:Arch:00007:UNDI:003000".to_vec()));
        o.insert(DhcpOption::ClientSystemArchitecture(Architecture::from(arch)));
        let mut u = vec![0];
        u.extend_from_slice(&[0x0e, 0x5b, 0x7c, 0x8d, 0x2a, 0x1f, 0x3b, 0x4c, 0x9d, 0x8e, 1, 0x23, 0x45, 0x67, 0x89, 0xab]);
        o.insert(DhcpOption::ClientMachineIdentifier(u));
        m
    }

    fn roundtrip(m: &Message) -> Message {
        Message::from_bytes(&m.to_vec().unwrap()).unwrap()
    }

    #[test]
    fn offer_names_server_and_file_but_no_address() {
        let server: Ipv4Addr = "198.18.0.2".parse().unwrap();
        let req = request(MessageType::Discover, 7, Ipv4Addr::UNSPECIFIED);
        let c = ClientInfo::from_message(&req).unwrap();
        let r = roundtrip(&build(&req, &c, &BootFile::Tftp("snponly.efi".into()), Port::Dhcp, server).unwrap());
        assert_eq!(r.opcode(), Opcode::BootReply);
        assert_eq!((r.xid(), r.yiaddr(), r.siaddr()), (7, Ipv4Addr::UNSPECIFIED, server));
        // dhcproto keeps the terminating NUL when decoding.
        assert_eq!(r.fname_str().unwrap().unwrap().trim_end_matches('\0'), "snponly.efi");
        assert!(r.flags().broadcast());
        assert_eq!(r.opts().get(dhcproto::v4::OptionCode::MessageType), Some(&DhcpOption::MessageType(MessageType::Offer)));
        assert_eq!(r.opts().get(dhcproto::v4::OptionCode::ServerIdentifier), Some(&DhcpOption::ServerIdentifier(server)));
        assert!(matches!(r.opts().get(dhcproto::v4::OptionCode::ClassIdentifier), Some(DhcpOption::ClassIdentifier(v)) if v == b"PXEClient"));
        // The echoed option 97 parses back to the same UUID.
        assert_eq!(ClientInfo::from_message(&{
            let mut x = r.clone();
            x.opts_mut().insert(DhcpOption::MessageType(MessageType::Discover));
            x
        }).unwrap().uuid, c.uuid);
        assert_eq!(c.arch, Arch::EfiX64);
    }

    #[test]
    fn ports_answer_their_own_message_types() {
        let server: Ipv4Addr = "198.18.0.2".parse().unwrap();
        let file = BootFile::Tftp("snponly.efi".into());
        let req = request(MessageType::Request, 7, Ipv4Addr::UNSPECIFIED);
        let c = ClientInfo::from_message(&req).unwrap();
        assert_eq!(build(&req, &c, &file, Port::Dhcp, server), Err(Silent::NotForUs(MessageType::Request, Port::Dhcp)));
        let ack = build(&req, &c, &file, Port::Pxe, server).unwrap();
        assert_eq!(ack.opts().get(dhcproto::v4::OptionCode::MessageType), Some(&DhcpOption::MessageType(MessageType::Ack)));
        assert_eq!(build(&req, &c, &BootFile::None, Port::Pxe, server), Err(Silent::NoBootFile));
    }

    #[test]
    fn relayed_requests_keep_giaddr_and_long_urls_use_option_67() {
        let server: Ipv4Addr = "198.18.0.2".parse().unwrap();
        let relay: Ipv4Addr = "198.18.1.1".parse().unwrap();
        let req = request(MessageType::Discover, 0, relay);
        let c = ClientInfo::from_message(&req).unwrap();
        let long = format!("http://198.18.0.2:7420/boot/{}.ipxe", "x".repeat(120));
        let r = roundtrip(&build(&req, &c, &BootFile::Http(long.clone()), Port::Dhcp, server).unwrap());
        assert_eq!(r.giaddr(), relay);
        assert!(matches!(r.opts().get(dhcproto::v4::OptionCode::BootfileName), Some(DhcpOption::BootfileName(v)) if v == long.as_bytes()));
    }
}
