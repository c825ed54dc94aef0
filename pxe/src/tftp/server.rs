//! The TFTP service on tokio: one listening socket takes requests; each
//! transfer runs as its own task on its own ephemeral socket, bound to the
//! local address the client sent its request to.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

use super::files::{FileError, Files, Source};
use super::packet::{self, encode_data, error_packet, AskedOptions, ErrorCode, Packet, Request};

/// Limits and timings of the TFTP service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TftpConfig {
    /// Largest block size granted; bigger requests get this value in the OACK.
    pub max_blksize: u16,
    /// Largest window (RFC 7440) granted.
    pub max_windowsize: u16,
    /// Retransmission timeout when the client does not ask for one.
    pub timeout: Duration,
    /// Retransmissions of one window before the transfer is given up.
    pub retries: u32,
    /// Transfers at once; requests beyond get ERROR 0 "busy".
    pub max_transfers: usize,
    /// Bytes read from a file at a time.
    pub read_chunk: usize,
    /// How long shutdown waits for transfers to stop.
    pub drain_deadline: Duration,
}

impl TftpConfig {
    pub const DEFAULT_MAX_BLKSIZE: u16 = 65464;
    pub const DEFAULT_MAX_WINDOWSIZE: u16 = 64;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
    pub const DEFAULT_RETRIES: u32 = 5;
    pub const DEFAULT_MAX_TRANSFERS: usize = 512;
    pub const DEFAULT_READ_CHUNK: usize = 1 << 20;
}

impl Default for TftpConfig {
    fn default() -> Self {
        Self {
            max_blksize: Self::DEFAULT_MAX_BLKSIZE,
            max_windowsize: Self::DEFAULT_MAX_WINDOWSIZE,
            timeout: Self::DEFAULT_TIMEOUT,
            retries: Self::DEFAULT_RETRIES,
            max_transfers: Self::DEFAULT_MAX_TRANSFERS,
            read_chunk: Self::DEFAULT_READ_CHUNK,
            drain_deadline: Duration::from_secs(2),
        }
    }
}

/// Counters since the server was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TftpStats {
    pub active: usize,
    pub completed: u64,
    /// Ended early: client ERROR, timeout, read error or shutdown.
    pub failed: u64,
}

#[derive(Debug, Default)]
struct Shared {
    /// Peers with a transfer in flight.
    active: Mutex<HashSet<SocketAddr>>,
    completed: AtomicU64,
    failed: AtomicU64,
}

/// A TFTP server: files, limits and counters. Clones share counters.
#[derive(Clone, Debug)]
pub struct TftpServer {
    files: Files,
    config: Arc<TftpConfig>,
    shared: Arc<Shared>,
}

/// Serves `files` on `socket` until `shutdown` is cancelled.
pub async fn serve(socket: UdpSocket, files: Files, config: TftpConfig, shutdown: CancellationToken) -> io::Result<()> {
    TftpServer::new(files, config).serve(socket, shutdown).await
}

/// What the options negotiation agreed, and the OACK to send (empty: none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub blksize: u16,
    pub windowsize: u16,
    pub timeout: Duration,
    pub oack: Vec<(String, String)>,
}

/// Answers the options a client asked for, within `cfg`; a pure function.
/// Only options asked (and in range) are acknowledged; blksize and
/// windowsize above our limits are lowered, as RFC 2348/7440 allow.
pub fn negotiate(asked: &AskedOptions, cfg: &TftpConfig, file_len: u64) -> Negotiated {
    let mut n = Negotiated { blksize: packet::DEFAULT_BLKSIZE, windowsize: 1, timeout: cfg.timeout, oack: Vec::new() };
    if let Some(b) = asked.blksize {
        n.blksize = b.min(cfg.max_blksize.max(8));
        n.oack.push(("blksize".into(), n.blksize.to_string()));
    }
    if let Some(t) = asked.timeout {
        n.timeout = Duration::from_secs(t.into());
        n.oack.push(("timeout".into(), t.to_string()));
    }
    if asked.tsize {
        n.oack.push(("tsize".into(), file_len.to_string()));
    }
    if let Some(w) = asked.windowsize {
        n.windowsize = w.min(cfg.max_windowsize.max(1));
        n.oack.push(("windowsize".into(), n.windowsize.to_string()));
    }
    n
}

/// Removes the peer from the active set however the transfer ends.
struct Slot {
    shared: Arc<Shared>,
    peer: SocketAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.active.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.peer);
    }
}

impl TftpServer {
    pub fn new(files: Files, config: TftpConfig) -> Self {
        Self { files, config: Arc::new(config), shared: Default::default() }
    }

    /// The served files; generated ones can be replaced while serving.
    pub fn files(&self) -> &Files {
        &self.files
    }

    pub fn active_transfers(&self) -> usize {
        self.shared.active.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn stats(&self) -> TftpStats {
        TftpStats {
            active: self.active_transfers(),
            completed: self.shared.completed.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
        }
    }

    /// Takes requests on `socket` until `shutdown`, then stops the transfers
    /// (waiting at most `drain_deadline`).
    pub async fn serve(&self, socket: UdpSocket, shutdown: CancellationToken) -> io::Result<()> {
        let local = socket.local_addr()?;
        let want_pktinfo = local.ip().is_unspecified();
        if want_pktinfo {
            enable_pktinfo(&socket, local.is_ipv6())?;
        }
        info!(%local, roots = ?self.files.roots().collect::<Vec<_>>(), "TFTP server listening");
        let mut tasks = JoinSet::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let got = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
                got = socket.async_io(Interest::READABLE, || recv_with_dst(&socket, &mut buf)) => got,
            };
            let (n, peer, dst) = match got {
                Ok(x) => x,
                Err(e) => {
                    warn!("TFTP receive: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let local_ip = if want_pktinfo { dst.unwrap_or(local.ip()) } else { local.ip() };
            let peer = canonical_peer(peer, local_ip);
            self.on_request(&buf[..n], peer, local_ip, &mut tasks, &shutdown);
        }
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(self.config.drain_deadline, drain).await.is_err() {
            warn!("TFTP transfers still running at the drain deadline: aborted");
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        Ok(())
    }

    fn on_request(&self, datagram: &[u8], peer: SocketAddr, local_ip: IpAddr, tasks: &mut JoinSet<()>, shutdown: &CancellationToken) {
        let req = match Packet::parse(datagram) {
            Ok(Packet::Rrq(req)) => req,
            Ok(Packet::Wrq(req)) => {
                info!(%peer, file = %req.filename, "TFTP write refused");
                send_error_from(local_ip, peer, ErrorCode::AccessViolation, "read-only server");
                return;
            }
            Err(e) if matches!(datagram.get(..2), Some([0, 1 | 2])) => {
                debug!(%peer, "bad TFTP request: {e}");
                send_error_from(local_ip, peer, ErrorCode::IllegalOperation, &e.to_string());
                return;
            }
            other => {
                debug!(%peer, "not a TFTP request, ignored: {other:?}");
                return;
            }
        };
        let slot = {
            let mut active = self.shared.active.lock().unwrap_or_else(|e| e.into_inner());
            if active.contains(&peer) {
                debug!(%peer, file = %req.filename, "duplicate request while its transfer runs: ignored");
                return;
            }
            if active.len() >= self.config.max_transfers {
                drop(active);
                warn!(%peer, file = %req.filename, "TFTP busy: {} transfers", self.config.max_transfers);
                send_error_from(local_ip, peer, ErrorCode::NotDefined, "busy, try again later");
                return;
            }
            active.insert(peer);
            Slot { shared: self.shared.clone(), peer }
        };
        let span = tracing::info_span!("tftp", %peer, file = %req.filename);
        let (files, config, cancel) = (self.files.clone(), self.config.clone(), shutdown.clone());
        tasks.spawn(
            async move {
                let shared = slot.shared.clone();
                let ok = match transfer(req, peer, local_ip, files, &config, cancel).await {
                    Ok(ok) => ok,
                    Err(e) => {
                        warn!("TFTP transfer: {e}");
                        false
                    }
                };
                let counter = if ok { &shared.completed } else { &shared.failed };
                counter.fetch_add(1, Ordering::Relaxed);
                drop(slot);
            }
            .instrument(span),
        );
    }
}

/// A v4-mapped peer on a dual-stack socket, answered from an IPv4 address,
/// is addressed as IPv4.
fn canonical_peer(peer: SocketAddr, local_ip: IpAddr) -> SocketAddr {
    match (peer, local_ip) {
        (SocketAddr::V6(p), IpAddr::V4(_)) => match p.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), p.port()),
            None => peer,
        },
        _ => peer,
    }
}

fn bind_ephemeral(local_ip: IpAddr) -> io::Result<std::net::UdpSocket> {
    let s = std::net::UdpSocket::bind(SocketAddr::new(local_ip, 0))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Sends one ERROR from a fresh socket (a new transfer id, as a transfer
/// would); best effort, never blocks.
fn send_error_from(local_ip: IpAddr, peer: SocketAddr, code: ErrorCode, msg: &str) {
    if let Err(e) = bind_ephemeral(local_ip).and_then(|s| s.send_to(&error_packet(code, msg), peer)) {
        debug!(%peer, "cannot send TFTP error: {e}");
    }
}

/// Reads blocks from a file in large sequential chunks.
struct Blocks {
    source: Source,
    len: u64,
    blksize: u64,
    chunk_size: usize,
    chunk: Bytes,
    chunk_at: u64,
}

impl Blocks {
    /// Number of the last block (absolute, from 1); a file whose size is a
    /// multiple of blksize ends with an empty block.
    fn last(&self) -> u64 {
        self.len / self.blksize + 1
    }

    /// The payload of absolute block `n` (1-based).
    async fn get(&mut self, n: u64) -> io::Result<Bytes> {
        let at = (n - 1) * self.blksize;
        let want = self.blksize.min(self.len - at) as usize;
        if let Source::Memory(b) = &self.source {
            return Ok(b.slice(at as usize..at as usize + want));
        }
        let end = self.chunk_at + self.chunk.len() as u64;
        if at < self.chunk_at || at + want as u64 > end {
            self.fill(at, want).await?;
        }
        let from = (at - self.chunk_at) as usize;
        Ok(self.chunk.slice(from..from + want))
    }

    async fn fill(&mut self, at: u64, want: usize) -> io::Result<()> {
        let Source::File { file, .. } = &self.source else { unreachable!("memory sources are sliced") };
        let size = (self.len - at).min(self.chunk_size.max(want) as u64) as usize;
        let file = file.try_clone()?;
        let chunk = tokio::task::spawn_blocking(move || -> io::Result<Bytes> {
            use std::os::unix::fs::FileExt;
            let mut buf = BytesMut::zeroed(size);
            let mut got = 0;
            while got < size {
                match file.read_at(&mut buf[got..], at + got as u64) {
                    Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being served")),
                    Ok(k) => got += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(buf.freeze())
        })
        .await
        .map_err(io::Error::other)??;
        self.chunk = chunk;
        self.chunk_at = at;
        Ok(())
    }
}

/// What came back while waiting for an ACK.
enum Reply {
    Ack(u16),
    Error(ErrorCode, String),
    Timeout,
    Shutdown,
}

/// One transfer's socket and its peer.
struct Link {
    sock: UdpSocket,
    peer: SocketAddr,
    out: Vec<u8>,
    inbuf: Vec<u8>,
}

impl Link {
    async fn send(&mut self) -> io::Result<()> {
        self.sock.send_to(&self.out, self.peer).await.map(|_| ())
    }

    async fn send_error(&mut self, code: ErrorCode, msg: &str) {
        self.out = error_packet(code, msg);
        let _ = self.send().await;
    }

    /// Waits for an ACK or ERROR from the peer until `deadline`. Strangers
    /// get ERROR 5; anything else from the peer is ignored.
    async fn wait(&mut self, deadline: tokio::time::Instant, cancel: &CancellationToken) -> io::Result<Reply> {
        loop {
            let (n, from) = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(Reply::Shutdown),
                _ = tokio::time::sleep_until(deadline) => return Ok(Reply::Timeout),
                r = self.sock.recv_from(&mut self.inbuf) => r?,
            };
            if from != self.peer {
                debug!(stranger = %from, "packet for another transfer id");
                let _ = self.sock.try_send_to(&error_packet(ErrorCode::UnknownTransferId, "unknown transfer id"), from);
                continue;
            }
            match Packet::parse(&self.inbuf[..n]) {
                Ok(Packet::Ack(b)) => return Ok(Reply::Ack(b)),
                Ok(Packet::Error { code, message }) => return Ok(Reply::Error(code, message)),
                other => debug!("ignored from peer: {other:?}"),
            }
        }
    }
}

/// Runs one read transfer. `Ok(true)` when the client got the whole file.
async fn transfer(
    req: Request,
    peer: SocketAddr,
    local_ip: IpAddr,
    files: Files,
    cfg: &TftpConfig,
    cancel: CancellationToken,
) -> io::Result<bool> {
    let started = Instant::now();
    let sock = UdpSocket::from_std(bind_ephemeral(local_ip)?)?;
    let mut link = Link { sock, peer, out: Vec::with_capacity(65536), inbuf: vec![0u8; 65536] };
    let name = req.filename.clone();
    let opened = tokio::task::spawn_blocking(move || files.open(&name)).await.map_err(io::Error::other)?;
    let source = match opened {
        Ok(s) => s,
        Err(e) => {
            let code = match e {
                FileError::NotFound => ErrorCode::FileNotFound,
                FileError::AccessViolation(_) => ErrorCode::AccessViolation,
            };
            info!(mode = ?req.mode, "TFTP request refused: {e}");
            link.send_error(code, &e.to_string()).await;
            return Ok(false);
        }
    };
    let len = source.len();
    let neg = negotiate(&AskedOptions::from_request(&req.options), cfg, len);
    debug!(?neg, asked = ?req.options, "TFTP request");
    let mut blocks =
        Blocks { source, len, blksize: neg.blksize.into(), chunk_size: cfg.read_chunk, chunk: Bytes::new(), chunk_at: 0 };
    let last = blocks.last();
    let window = u64::from(neg.windowsize);

    let mut oack_pending = !neg.oack.is_empty();
    let mut acked: u64 = 0;
    let mut retries = 0u32;
    let mut fast_resent_for: Option<u64> = None;
    loop {
        // Send the OACK, or the window after the last acknowledged block.
        let sent_hi = if oack_pending {
            Packet::Oack(neg.oack.clone()).encode_into(&mut link.out);
            link.send().await?;
            0
        } else {
            let hi = last.min(acked + window);
            for n in acked + 1..=hi {
                let data = match blocks.get(n).await {
                    Ok(d) => d,
                    Err(e) => {
                        link.send_error(ErrorCode::NotDefined, "read error").await;
                        return Err(e);
                    }
                };
                encode_data(n as u16, &data, &mut link.out);
                link.send().await?;
            }
            hi
        };
        let deadline = tokio::time::Instant::now() + neg.timeout;
        loop {
            match link.wait(deadline, &cancel).await? {
                Reply::Shutdown => {
                    link.send_error(ErrorCode::NotDefined, "server shutting down").await;
                    return Ok(false);
                }
                Reply::Error(code, msg) => {
                    info!(%code, "client aborted the transfer after {acked} blocks: {msg}");
                    return Ok(false);
                }
                Reply::Timeout => {
                    retries += 1;
                    if retries > cfg.retries {
                        info!("TFTP transfer timed out after {acked} blocks");
                        return Ok(false);
                    }
                    debug!(retries, "timeout: resending from block {}", acked + 1);
                    break;
                }
                Reply::Ack(b) => {
                    // Block numbers wrap at 65536; the ACK is for acked..=sent_hi.
                    let abs = acked + u64::from(b.wrapping_sub(acked as u16));
                    if abs > sent_hi {
                        continue; // older than anything outstanding
                    }
                    if abs == acked {
                        if oack_pending {
                            oack_pending = false;
                            retries = 0;
                            break;
                        }
                        // A duplicate: resend at once, but once per block (no sorcerer's apprentice).
                        if fast_resent_for == Some(acked) {
                            continue;
                        }
                        fast_resent_for = Some(acked);
                        break;
                    }
                    acked = abs;
                    retries = 0;
                    fast_resent_for = None;
                    if acked == last {
                        let secs = started.elapsed().as_secs_f64();
                        info!(
                            bytes = len,
                            blksize = neg.blksize,
                            windowsize = neg.windowsize,
                            ms = (secs * 1000.0).round() as u64,
                            mib_s = format!("{:.1}", len as f64 / (1 << 20) as f64 / secs.max(1e-9)),
                            "TFTP transfer complete"
                        );
                        return Ok(true);
                    }
                    break;
                }
            }
        }
    }
}

/// Asks the kernel for each datagram's destination address.
fn enable_pktinfo(socket: &UdpSocket, v6: bool) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let one: libc::c_int = 1;
    let set = |level, name| {
        // SAFETY: fd is a valid socket; the option value is a c_int that lives across the call.
        let r = unsafe {
            libc::setsockopt(fd, level, name, (&one as *const libc::c_int).cast(), size_of::<libc::c_int>() as u32)
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    if v6 {
        set(libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)?;
        let _ = set(libc::IPPROTO_IP, libc::IP_PKTINFO); // IPv4 on a dual-stack socket
        Ok(())
    } else {
        set(libc::IPPROTO_IP, libc::IP_PKTINFO)
    }
}

/// `recvmsg` returning (length, sender, destination address if known).
fn recv_with_dst(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    // SAFETY: every pointer in msghdr points to a live local buffer of the
    // stated length; the kernel fills at most those lengths; cmsgs are read
    // with the libc CMSG macros and read_unaligned.
    unsafe {
        let mut name: libc::sockaddr_storage = std::mem::zeroed();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut control = [0u64; 16];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control) as _;
        let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut dst = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let (level, kind) = ((*c).cmsg_level, (*c).cmsg_type);
            if level == libc::IPPROTO_IP && kind == libc::IP_PKTINFO {
                let info: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr))));
            } else if level == libc::IPPROTO_IPV6 && kind == libc::IPV6_PKTINFO {
                let info: libc::in6_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                let ip = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                dst = Some(ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        let peer = match name.ss_family as libc::c_int {
            libc::AF_INET => {
                let sin: libc::sockaddr_in = std::ptr::read_unaligned((&name as *const libc::sockaddr_storage).cast());
                SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)), u16::from_be(sin.sin_port)))
            }
            libc::AF_INET6 => {
                let sin6: libc::sockaddr_in6 = std::ptr::read_unaligned((&name as *const libc::sockaddr_storage).cast());
                SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                ))
            }
            f => return Err(io::Error::other(format!("datagram from address family {f}"))),
        };
        Ok((n as usize, peer, dst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(blksize: Option<u16>, timeout: Option<u8>, tsize: bool, windowsize: Option<u16>) -> AskedOptions {
        AskedOptions { blksize, timeout, tsize, windowsize }
    }

    #[test]
    fn negotiation_acknowledges_only_what_was_asked() {
        let cfg = TftpConfig::default();
        let n = negotiate(&AskedOptions::default(), &cfg, 10);
        assert_eq!((n.blksize, n.windowsize, n.timeout, n.oack.len()), (512, 1, cfg.timeout, 0));
        let n = negotiate(&asked(Some(1468), Some(3), true, Some(16)), &cfg, 1234);
        assert_eq!(n.blksize, 1468);
        assert_eq!(n.windowsize, 16);
        assert_eq!(n.timeout, Duration::from_secs(3));
        let kv: Vec<_> = n.oack.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(kv, ["blksize=1468", "timeout=3", "tsize=1234", "windowsize=16"]);
    }

    #[test]
    fn negotiation_lowers_to_limits() {
        let cfg = TftpConfig { max_blksize: 1468, max_windowsize: 8, ..Default::default() };
        let n = negotiate(&asked(Some(65464), None, false, Some(1000)), &cfg, 0);
        assert_eq!((n.blksize, n.windowsize), (1468, 8));
        assert_eq!(n.oack, [("blksize".to_string(), "1468".to_string()), ("windowsize".into(), "8".into())]);
    }

    #[test]
    fn block_count_includes_final_short_or_empty_block() {
        let b = |len| Blocks { source: Source::Memory(Bytes::new()), len, blksize: 512, chunk_size: 1, chunk: Bytes::new(), chunk_at: 0 };
        assert_eq!(b(0).last(), 1);
        assert_eq!(b(511).last(), 1);
        assert_eq!(b(512).last(), 2);
        assert_eq!(b(513).last(), 2);
    }

    #[tokio::test]
    async fn file_blocks_come_from_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(dir.path().join("f"), &data).unwrap();
        let source = Files::new([dir.path()]).unwrap().open("f").unwrap();
        let mut b = Blocks { source, len: data.len() as u64, blksize: 512, chunk_size: 1500, chunk: Bytes::new(), chunk_at: 0 };
        let mut all = Vec::new();
        for n in 1..=b.last() {
            all.extend_from_slice(&b.get(n).await.unwrap());
        }
        assert_eq!(all, data);
        assert_eq!(&b.get(3).await.unwrap()[..], &data[1024..1536], "going back re-reads");
    }
}
