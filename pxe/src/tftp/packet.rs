//! TFTP packets: RFC 1350, options (RFC 2347) and the option values parc
//! understands (blksize RFC 2348, timeout and tsize RFC 2349, windowsize
//! RFC 7440). Parsing is total: any bytes give a `Result`, never a panic.

use std::fmt;

/// Bounds of the option values a client may ask for (inclusive).
pub const BLKSIZE_RANGE: std::ops::RangeInclusive<u64> = 8..=65464;
pub const WINDOWSIZE_RANGE: std::ops::RangeInclusive<u64> = 1..=65535;
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=255;
/// Block size when no `blksize` option is agreed.
pub const DEFAULT_BLKSIZE: u16 = 512;

const OP_RRQ: u16 = 1;
const OP_WRQ: u16 = 2;
const OP_DATA: u16 = 3;
const OP_ACK: u16 = 4;
const OP_ERROR: u16 = 5;
const OP_OACK: u16 = 6;

/// TFTP error codes (RFC 1350, 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    NotDefined,
    FileNotFound,
    AccessViolation,
    DiskFull,
    IllegalOperation,
    UnknownTransferId,
    FileExists,
    NoSuchUser,
    OptionRefused,
    Other(u16),
}

impl ErrorCode {
    pub fn to_u16(self) -> u16 {
        match self {
            Self::NotDefined => 0,
            Self::FileNotFound => 1,
            Self::AccessViolation => 2,
            Self::DiskFull => 3,
            Self::IllegalOperation => 4,
            Self::UnknownTransferId => 5,
            Self::FileExists => 6,
            Self::NoSuchUser => 7,
            Self::OptionRefused => 8,
            Self::Other(n) => n,
        }
    }

    pub fn from_u16(n: u16) -> Self {
        match n {
            0 => Self::NotDefined,
            1 => Self::FileNotFound,
            2 => Self::AccessViolation,
            3 => Self::DiskFull,
            4 => Self::IllegalOperation,
            5 => Self::UnknownTransferId,
            6 => Self::FileExists,
            7 => Self::NoSuchUser,
            8 => Self::OptionRefused,
            n => Self::Other(n),
        }
    }
}

/// Transfer mode of a request. parc serves `netascii` as `octet` (no
/// CR/LF translation): boot files are binary and every PXE client asks octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Octet,
    Netascii,
    Mail,
}

/// A read or write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub filename: String,
    pub mode: Mode,
    /// Options as sent, names lower-cased, in order (RFC 2347).
    pub options: Vec<(String, String)>,
}

/// One TFTP packet; `Data` borrows its payload from the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    Rrq(Request),
    Wrq(Request),
    Data { block: u16, data: &'a [u8] },
    Ack(u16),
    Error { code: ErrorCode, message: String },
    Oack(Vec<(String, String)>),
}

/// Why a datagram is not a TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("datagram too short")]
    Truncated,
    #[error("unknown opcode {0}")]
    UnknownOpcode(u16),
    #[error("string field not NUL-terminated")]
    Unterminated,
    #[error("string field is not UTF-8")]
    NotUtf8,
    #[error("unknown transfer mode {0:?}")]
    UnknownMode(String),
    #[error("empty file name")]
    EmptyFilename,
}

/// Splits off one NUL-terminated string.
fn take_str(b: &[u8]) -> Result<(&str, &[u8]), ParseError> {
    let end = b.iter().position(|&c| c == 0).ok_or(ParseError::Unterminated)?;
    let s = std::str::from_utf8(&b[..end]).map_err(|_| ParseError::NotUtf8)?;
    Ok((s, &b[end + 1..]))
}

/// Name/value pairs; an unfinished last pair is ignored, as some clients pad.
fn parse_options(mut b: &[u8]) -> Result<Vec<(String, String)>, ParseError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let Ok((name, rest)) = take_str(b) else { break };
        let Ok((value, rest)) = take_str(rest) else { break };
        if !name.is_empty() {
            out.push((name.to_ascii_lowercase(), value.to_owned()));
        }
        b = rest;
    }
    Ok(out)
}

fn parse_request(b: &[u8]) -> Result<Request, ParseError> {
    let (filename, rest) = take_str(b)?;
    let (mode, rest) = take_str(rest)?;
    if filename.is_empty() {
        return Err(ParseError::EmptyFilename);
    }
    let mode = match mode.to_ascii_lowercase().as_str() {
        "octet" => Mode::Octet,
        "netascii" => Mode::Netascii,
        "mail" => Mode::Mail,
        _ => return Err(ParseError::UnknownMode(mode.to_owned())),
    };
    Ok(Request { filename: filename.to_owned(), mode, options: parse_options(rest)? })
}

impl<'a> Packet<'a> {
    /// Parses one datagram.
    pub fn parse(b: &'a [u8]) -> Result<Self, ParseError> {
        if b.len() < 2 {
            return Err(ParseError::Truncated);
        }
        let op = u16::from_be_bytes([b[0], b[1]]);
        let rest = &b[2..];
        let word = || rest.get(..2).map(|w| u16::from_be_bytes([w[0], w[1]])).ok_or(ParseError::Truncated);
        Ok(match op {
            OP_RRQ => Packet::Rrq(parse_request(rest)?),
            OP_WRQ => Packet::Wrq(parse_request(rest)?),
            OP_DATA => Packet::Data { block: word()?, data: &rest[2..] },
            OP_ACK => Packet::Ack(word()?),
            OP_ERROR => {
                let code = ErrorCode::from_u16(word()?);
                // Lenient: a missing NUL or bad UTF-8 in the message still counts as an ERROR.
                let msg = &rest[2..];
                let msg = &msg[..msg.iter().position(|&c| c == 0).unwrap_or(msg.len())];
                Packet::Error { code, message: String::from_utf8_lossy(msg).into_owned() }
            }
            OP_OACK => Packet::Oack(parse_options(rest)?),
            op => return Err(ParseError::UnknownOpcode(op)),
        })
    }

    /// Encodes into `out` (cleared first).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.clear();
        let put_str = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        };
        let put_request = |out: &mut Vec<u8>, op: u16, r: &Request| {
            out.extend_from_slice(&op.to_be_bytes());
            put_str(out, &r.filename);
            put_str(out, match r.mode {
                Mode::Octet => "octet",
                Mode::Netascii => "netascii",
                Mode::Mail => "mail",
            });
            for (k, v) in &r.options {
                put_str(out, k);
                put_str(out, v);
            }
        };
        match self {
            Packet::Rrq(r) => put_request(out, OP_RRQ, r),
            Packet::Wrq(r) => put_request(out, OP_WRQ, r),
            Packet::Data { block, data } => encode_data(*block, data, out),
            Packet::Ack(block) => {
                out.extend_from_slice(&OP_ACK.to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
            }
            Packet::Error { code, message } => {
                out.extend_from_slice(&OP_ERROR.to_be_bytes());
                out.extend_from_slice(&code.to_u16().to_be_bytes());
                put_str(out, &message.replace('\0', ""));
            }
            Packet::Oack(opts) => {
                out.extend_from_slice(&OP_OACK.to_be_bytes());
                for (k, v) in opts {
                    put_str(out, k);
                    put_str(out, v);
                }
            }
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }
}

/// Encodes a DATA packet into `out` (cleared first), the server's hot path.
pub fn encode_data(block: u16, data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(4 + data.len());
    out.extend_from_slice(&OP_DATA.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
    out.extend_from_slice(data);
}

/// An ERROR packet.
pub fn error_packet(code: ErrorCode, message: &str) -> Vec<u8> {
    Packet::Error { code, message: message.to_owned() }.encode()
}

/// The options parc understands, as a client asked for them. A value that is
/// not a number or out of its RFC range counts as not asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AskedOptions {
    pub blksize: Option<u16>,
    pub timeout: Option<u8>,
    /// The client asked for the transfer size (its value in an RRQ is 0).
    pub tsize: bool,
    pub windowsize: Option<u16>,
}

impl AskedOptions {
    /// Reads known options (names already lower-cased); the first of duplicates wins.
    pub fn from_request(options: &[(String, String)]) -> Self {
        let num = |name: &str, range: &std::ops::RangeInclusive<u64>| {
            let (_, v) = options.iter().find(|(k, _)| k == name)?;
            v.trim().parse::<u64>().ok().filter(|n| range.contains(n))
        };
        Self {
            blksize: num("blksize", &BLKSIZE_RANGE).map(|n| n as u16),
            timeout: num("timeout", &TIMEOUT_RANGE).map(|n| n as u8),
            tsize: num("tsize", &(0..=u64::MAX)).is_some(),
            windowsize: num("windowsize", &WINDOWSIZE_RANGE).map(|n| n as u16),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({})", self, self.to_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrq(name: &str, mode: &str, opts: &[(&str, &str)]) -> Vec<u8> {
        let mut v = vec![0, 1];
        for s in [name, mode].into_iter().chain(opts.iter().flat_map(|(k, v)| [*k, *v])) {
            v.extend_from_slice(s.as_bytes());
            v.push(0);
        }
        v
    }

    #[test]
    fn parses_requests_with_options_case_insensitively() {
        let b = rrq("pxelinux.0", "OCTET", &[("BlkSize", "1468"), ("tsize", "0"), ("x-weird", "1")]);
        let Packet::Rrq(r) = Packet::parse(&b).unwrap() else { panic!() };
        assert_eq!(r.filename, "pxelinux.0");
        assert_eq!(r.mode, Mode::Octet);
        let o = AskedOptions::from_request(&r.options);
        assert_eq!(o, AskedOptions { blksize: Some(1468), timeout: None, tsize: true, windowsize: None });
    }

    #[test]
    fn out_of_range_values_are_not_asked() {
        for (name, bad) in [("blksize", "7"), ("blksize", "65465"), ("windowsize", "0"), ("windowsize", "65536"),
            ("timeout", "0"), ("timeout", "256"), ("blksize", "-1"), ("blksize", "abc"), ("tsize", "x")]
        {
            let o = AskedOptions::from_request(&[(name.into(), bad.into())]);
            assert_eq!(o, AskedOptions::default(), "{name}={bad}");
        }
        let o = AskedOptions::from_request(&[("blksize".into(), "8".into()), ("windowsize".into(), "65535".into())]);
        assert_eq!((o.blksize, o.windowsize), (Some(8), Some(65535)));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(Packet::parse(&[]), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(&[0, 4, 1]), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(&[0, 9]), Err(ParseError::UnknownOpcode(9)));
        assert_eq!(Packet::parse(&[0, 1, b'a', 0, b'o']), Err(ParseError::Unterminated));
        assert_eq!(Packet::parse(&rrq("", "octet", &[])), Err(ParseError::EmptyFilename));
        assert!(matches!(Packet::parse(&rrq("a", "binary", &[])), Err(ParseError::UnknownMode(_))));
    }

    #[test]
    fn round_trips() {
        let pkts = [
            Packet::Rrq(Request { filename: "a/b".into(), mode: Mode::Netascii, options: vec![("blksize".into(), "9".into())] }),
            Packet::Wrq(Request { filename: "x".into(), mode: Mode::Octet, options: vec![] }),
            Packet::Data { block: 65535, data: b"hello" },
            Packet::Ack(0),
            Packet::Error { code: ErrorCode::OptionRefused, message: "no".into() },
            Packet::Oack(vec![("tsize".into(), "123".into())]),
        ];
        for p in pkts {
            assert_eq!(Packet::parse(&p.encode()).unwrap(), p);
        }
    }

    #[test]
    fn error_without_nul_is_still_an_error() {
        let p = Packet::parse(&[0, 5, 0, 8, b'h', b'i']).unwrap();
        assert_eq!(p, Packet::Error { code: ErrorCode::OptionRefused, message: "hi".into() });
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            if let Ok(Packet::Rrq(r)) = Packet::parse(&b) {
                let _ = AskedOptions::from_request(&r.options);
            }
        }

        #[test]
        fn parse_never_panics_on_requestish(
            op in 0u16..8,
            fields in proptest::collection::vec("[a-zA-Z0-9./\\\\-]{0,12}", 0..8),
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..8),
        ) {
            let mut b = op.to_be_bytes().to_vec();
            for f in fields { b.extend_from_slice(f.as_bytes()); b.push(0); }
            b.extend_from_slice(&tail);
            if let Ok(Packet::Rrq(r)) = Packet::parse(&b) {
                let _ = AskedOptions::from_request(&r.options);
            }
        }
    }
}
