//! A tiny HTTP/1.0-style server for network-boot tests: GET serves files from
//! a directory, POST bodies are recorded. It can listen inside any network
//! namespace (the listening socket is made by a thread that entered it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::netlab::enter_netns;

/// One POST received.
#[derive(Clone, Debug)]
pub struct Report {
    /// Request path with query, e.g. `/report?x=1`.
    pub path: String,
    pub body: String,
    pub peer: SocketAddr,
}

impl Report {
    /// Value of `key` in a `k=v&k2=v2` body (no URL decoding).
    pub fn field(&self, key: &str) -> Option<&str> {
        self.body.trim().split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }
}

#[derive(Default)]
struct Shared {
    reports: Mutex<Vec<Report>>,
    log: Mutex<Vec<String>>,
    changed: Condvar,
}

/// Serves `root` over HTTP and records POSTs; stopped on drop.
pub struct ReportServer {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ReportServer {
    /// Listens on `addr` inside network namespace `ns` (`None`: this one).
    /// Port 0 picks a free port (see `addr`).
    pub fn start(ns: Option<&str>, addr: SocketAddr, root: &Path) -> Result<Self, String> {
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (ns, root, sh, st) = (ns.map(str::to_string), root.to_path_buf(), shared.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("report-server".into())
            .spawn(move || {
                let bound = (|| {
                    if let Some(ns) = &ns {
                        enter_netns(ns).map_err(|e| format!("entering {ns}: {e}"))?;
                    }
                    let l = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
                    l.set_nonblocking(true).map_err(|e| e.to_string())?;
                    Ok::<_, String>(l)
                })();
                match bound {
                    Ok(l) => {
                        let _ = tx.send(l.local_addr().map_err(|e| e.to_string()));
                        accept_loop(l, root, sh, st);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        let addr = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| Err("report server did not start".into()));
        let mut me = Self { addr: SocketAddr::from(([0, 0, 0, 0], 0)), shared, stop, thread: Some(thread) };
        me.addr = addr?;
        Ok(me)
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// All POSTs so far.
    pub fn reports(&self) -> Vec<Report> {
        self.shared.reports.lock().unwrap().clone()
    }

    /// One line per request served (`GET /path 200 1234`), for failure messages.
    pub fn requests(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Waits until a POST matches `pred`, or `timeout`.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Report) -> bool) -> Option<Report> {
        let deadline = Instant::now() + timeout;
        let mut reports = self.shared.reports.lock().unwrap();
        loop {
            if let Some(r) = reports.iter().find(|r| pred(r)) {
                return Some(r.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            reports = self.shared.changed.wait_timeout(reports, left.min(Duration::from_millis(200))).unwrap().0;
        }
    }
}

impl Drop for ReportServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(l: TcpListener, root: PathBuf, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match l.accept() {
            Ok((s, peer)) => {
                let (root, shared) = (root.clone(), shared.clone());
                workers.retain(|w| !w.is_finished());
                if workers.len() < 32 {
                    workers.push(std::thread::spawn(move || {
                        let _ = handle(s, peer, &root, &shared);
                    }));
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    // Workers end by themselves: every socket has 10 s timeouts.
    drop(l);
    for w in workers {
        let _ = w.join();
    }
}

fn handle(s: TcpStream, peer: SocketAddr, root: &Path, shared: &Shared) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut w = s;
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("/").to_string());
    let mut len = 0usize;
    for _ in 0..100 {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let log = |status: u16, n: usize| shared.log.lock().unwrap().push(format!("{method} {path} {status} {n}"));
    match method.as_str() {
        "POST" | "PUT" => {
            let mut body = vec![0u8; len.min(1 << 20)];
            r.read_exact(&mut body)?;
            log(200, body.len());
            shared.reports.lock().unwrap().push(Report { path: path.clone(), body: String::from_utf8_lossy(&body).into_owned(), peer });
            shared.changed.notify_all();
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
        }
        "GET" | "HEAD" => {
            let rel = Path::new(path.split('?').next().unwrap_or("").trim_start_matches('/'));
            let safe = rel.components().all(|c| matches!(c, Component::Normal(_)));
            match std::fs::read(root.join(rel)).ok().filter(|_| safe) {
                Some(data) => {
                    log(200, data.len());
                    write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n", data.len())?;
                    if method == "GET" {
                        w.write_all(&data)?;
                    }
                    Ok(())
                }
                None => {
                    log(404, 0);
                    w.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                }
            }
        }
        _ => {
            log(405, 0);
            w.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        }
    }
}
