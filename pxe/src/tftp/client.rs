//! A small blocking TFTP read client with RFC 7440 windows, for tests and
//! `parc bench tftp` (the same client against every server). Every wait is
//! bounded by `timeout` × `retries`.

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::packet::{ErrorCode, Mode, Packet, Request, DEFAULT_BLKSIZE};

/// What to ask for and how patiently.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Options sent in the RRQ as given (name, value), e.g. ("blksize", "1468").
    pub options: Vec<(String, String)>,
    pub timeout: Duration,
    pub retries: u32,
    /// Send ERROR 0 after receiving this many blocks (to test aborts).
    pub abort_after_blocks: Option<u64>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self { options: Vec::new(), timeout: Duration::from_secs(1), retries: 5, abort_after_blocks: None }
    }
}

impl ClientOptions {
    pub fn option(mut self, name: &str, value: impl ToString) -> Self {
        self.options.push((name.into(), value.to_string()));
        self
    }
}

/// How a fetch went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: u64,
    /// The server's OACK, if it sent one.
    pub oack: Option<Vec<(String, String)>>,
    pub blksize: u16,
    pub windowsize: u16,
    pub elapsed: Duration,
    /// Times the client timed out waiting and asked again.
    pub timeouts: u32,
    /// Gaps seen (a block out of order), each answered with one ACK.
    pub gaps: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("server error {code}: {message}")]
    Server { code: ErrorCode, message: String },
    #[error("no answer from the server")]
    Timeout,
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("aborted by request after {0} blocks")]
    Aborted(u64),
}

fn ack(block: u16) -> [u8; 4] {
    let b = block.to_be_bytes();
    [0, 4, b[0], b[1]]
}

/// Reads `name` from `server` into `sink`.
pub fn fetch(server: SocketAddr, name: &str, opts: &ClientOptions, sink: &mut dyn Write) -> Result<Fetched, ClientError> {
    let started = Instant::now();
    let local: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal");
    let sock = UdpSocket::bind(local)?;
    sock.set_read_timeout(Some(opts.timeout))?;
    let rrq = Packet::Rrq(Request { filename: name.into(), mode: Mode::Octet, options: opts.options.clone() }).encode();
    let mut buf = vec![0u8; 65536 + 4];
    let mut peer: Option<SocketAddr> = None;
    let mut oack = None;
    let (mut blksize, mut windowsize) = (DEFAULT_BLKSIZE, 1u16);
    let mut expected: u64 = 1; // next block wanted (absolute)
    let mut in_window = 0u16;
    let mut gap_acked_for = None;
    let mut retries = 0;
    let (mut timeouts, mut gaps) = (0u32, 0u32);
    let mut bytes = 0u64;
    sock.send_to(&rrq, server)?;
    loop {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                retries += 1;
                timeouts += 1;
                if retries > opts.retries {
                    return Err(ClientError::Timeout);
                }
                match peer {
                    None => sock.send_to(&rrq, server)?,
                    Some(p) => sock.send_to(&ack((expected - 1) as u16), p)?,
                };
                in_window = 0;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if from.ip() != server.ip() || peer.is_some_and(|p| p != from) {
            let _ = sock.send_to(&super::packet::error_packet(ErrorCode::UnknownTransferId, "unknown transfer id"), from);
            continue;
        }
        let first = peer.is_none();
        peer = Some(from);
        match Packet::parse(&buf[..n]) {
            Ok(Packet::Oack(o)) if expected == 1 => {
                if first {
                    for (k, v) in &o {
                        let v: Option<u16> = v.parse().ok();
                        match (k.as_str(), v) {
                            ("blksize", Some(v)) => blksize = v,
                            ("windowsize", Some(v)) => windowsize = v.max(1),
                            _ => {}
                        }
                    }
                    oack = Some(o);
                }
                sock.send_to(&ack(0), from)?;
            }
            Ok(Packet::Data { block, data }) => {
                if block == expected as u16 {
                    sink.write_all(data)?;
                    bytes += data.len() as u64;
                    retries = 0;
                    expected += 1;
                    in_window += 1;
                    if opts.abort_after_blocks.is_some_and(|a| expected > a) {
                        sock.send_to(&super::packet::error_packet(ErrorCode::NotDefined, "client gave up"), from)?;
                        return Err(ClientError::Aborted(expected - 1));
                    }
                    if data.len() < blksize as usize {
                        sock.send_to(&ack(block), from)?;
                        break;
                    }
                    if in_window >= windowsize {
                        sock.send_to(&ack(block), from)?;
                        in_window = 0;
                    }
                } else if gap_acked_for != Some(expected) {
                    // Out of order or repeated: acknowledge what we have, once per gap.
                    gap_acked_for = Some(expected);
                    gaps += 1;
                    sock.send_to(&ack((expected - 1) as u16), from)?;
                    in_window = 0;
                }
            }
            Ok(Packet::Error { code, message }) => return Err(ClientError::Server { code, message }),
            Ok(_) => {}
            Err(e) => return Err(ClientError::Protocol(e.to_string())),
        }
    }
    sink.flush()?;
    Ok(Fetched { bytes, oack, blksize, windowsize, elapsed: started.elapsed(), timeouts, gaps })
}
