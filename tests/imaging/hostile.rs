//! Hostile and broken input to the server: each gets a 4xx with a clear
//! message, stores nothing, and the server keeps serving.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use super::*;
use parc_imaging::codec;
use parc_testkit as kit;

/// One HTTP/1.1 exchange over a fresh connection. `declared_len` lets a test
/// announce more body than it sends (a truncated upload).
pub fn http_raw(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8], declared_len: usize) -> (u16, Vec<u8>) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {declared_len}\r\n");
    // As the first admin, unless the caller says who it is.
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
        req.push_str(&format!("Authorization: Bearer {}\r\n", kit::ADMIN_TOKEN));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    c.write_all(req.as_bytes()).unwrap();
    c.write_all(body).unwrap();
    if declared_len > body.len() {
        c.shutdown(Shutdown::Write).unwrap();
    }
    let mut resp = Vec::new();
    let _ = c.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = match resp.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => resp[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (status, body)
}

/// A complete request.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> (u16, Vec<u8>) {
    let b = body.unwrap_or(&[]);
    http_raw(addr, method, path, headers, b, b.len())
}

fn begin_upload(addr: &str, name: &str) -> String {
    let (st, body) = http(addr, "POST", "/api/v1/uploads", &[("content-type", "application/json")], Some(format!(r#"{{"name":"{name}"}}"#).as_bytes()));
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice::<serde_json::Value>(&body).unwrap()["upload"].as_str().unwrap().to_string()
}

fn message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body).map(|v| v["error"].as_str().unwrap_or_default().to_string()).unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned())
}

#[test]
fn hostile_uploads_are_refused_and_store_nothing() {
    let data = scratch();
    let server = kit::Server::start(&parc_bin(), data.path()).unwrap();
    let addr = server.addr().to_string();
    let chunks = data.path().join("chunks");
    let up = begin_upload(&addr, "victim");

    // Bytes that do not hash to the id they are sent under.
    let (_, good) = codec::encode(b"the real content", 3);
    let wrong_id = parc_imaging::ChunkId::of(b"something else");
    let (st, body) = http(&addr, "PUT", &format!("/api/v1/uploads/{up}/chunks/{wrong_id}"), &[], Some(&good));
    assert_eq!(st, 400, "{}", message(&body));
    assert!(message(&body).contains(&wrong_id.to_hex()) && message(&body).contains("corrupt"), "{}", message(&body));

    // A truncated body: announced 1 MiB, sent 1000 bytes, then hung up.
    let (id, z) = codec::encode(&kit::pseudo_random(512 << 10, 9), 3);
    let (st, _) = http_raw(&addr, "PUT", &format!("/api/v1/uploads/{up}/chunks/{id}"), &[], &z[..1000], z.len());
    assert!(st == 400 || st == 0, "truncated body got {st}");
    // A complete body that is only part of a zstd frame.
    let (st, body) = http(&addr, "PUT", &format!("/api/v1/uploads/{up}/chunks/{id}"), &[], Some(&z[..z.len() / 2]));
    assert_eq!(st, 400, "{}", message(&body));
    assert!(message(&body).contains("cannot be decoded"), "{}", message(&body));

    // A decompression bomb: a tiny frame that expands past the chunk limit.
    let bomb = zstd::bulk::compress(&vec![7u8; 64 << 20], 19).unwrap();
    let bomb_id = parc_imaging::ChunkId::of(&vec![7u8; 64 << 20]);
    let (st, _) = http(&addr, "PUT", &format!("/api/v1/uploads/{up}/chunks/{bomb_id}"), &[], Some(&bomb));
    assert_eq!(st, 400);

    // Not a chunk id; not an upload.
    let (st, _) = http(&addr, "PUT", &format!("/api/v1/uploads/{up}/chunks/xyz"), &[], Some(&good));
    assert_eq!(st, 400);
    let (st, _) = http(&addr, "PUT", &format!("/api/v1/uploads/nope/chunks/{id}"), &[], Some(&z));
    assert_eq!(st, 404);

    // Garbage manifests.
    for garbage in [&b"not json at all"[..], b"{\"version\":1}", b"\xff\xfe\x00", b"[]"] {
        let (st, body) = http(&addr, "POST", &format!("/api/v1/uploads/{up}/commit"), &[], Some(garbage));
        assert_eq!(st, 400, "{}", message(&body));
        assert!(message(&body).contains("invalid manifest"), "{}", message(&body));
    }
    // A well-formed manifest naming chunks the store never received.
    let absent = parc_imaging::ChunkId::of(b"never uploaded");
    let manifest = format!(
        r#"{{"version":1,"source_size":65536,"chunking":{{"algorithm":"fastcdc-2020","min":16384,"avg":65536,"max":262144,"min_hole":65536}},"compression":{{"algorithm":"zstd","level":3}},"created":{{"unix_time":0,"host":"h","source":"s","tool":"t","chunker_crate":"c"}},"extents":[[65536,"{absent}"]]}}"#
    );
    let (st, body) = http(&addr, "POST", &format!("/api/v1/uploads/{up}/commit"), &[], Some(manifest.as_bytes()));
    assert_eq!(st, 409, "{}", message(&body));
    assert!(message(&body).contains(&absent.to_hex()), "{}", message(&body));

    // Nothing was stored, no image appeared, and the server still serves.
    assert_eq!(kit::dir_bytes(&chunks), 0, "refused uploads left chunks behind");
    let (st, body) = http(&addr, "GET", "/api/v1/images", &[], None);
    assert_eq!((st, body.as_slice()), (200, &b"[]"[..]));
    let (st, body) = http(&addr, "GET", "/api/v1/images/victim/manifest", &[], None);
    assert_eq!(st, 404, "{}", message(&body));

    // The same upload still works for honest input.
    let (st, _) = http(&addr, "PUT", &format!("/api/v1/uploads/{up}/chunks/{id}"), &[], Some(&z));
    assert_eq!(st, 201);
    assert!(kit::dir_bytes(&chunks) > 0);
}

#[test]
fn bad_image_names_and_unknown_images_get_clear_errors() {
    let store = scratch();
    let out = parc(&["image", "capture", "/dev/null", "--name", "../etc", "--store", s(store.path())]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid image name"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = parc(&["image", "restore", "ghost", s(&store.path().join("t")), "--store", s(store.path())]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(said.matches("no image named \"ghost\"").count(), 1, "each cause once: {said}");
    for args in [&["image", "verify", "ghost"][..], &["image", "show", "ghost"], &["image", "delete", "ghost"]] {
        let out = parc(&[args, &["--store", s(store.path())]].concat());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && said.matches("ghost").count() == 1, "{args:?}: each cause once: {said}");
    }
    // Values that cannot work are refused before anything is read or sent.
    let empty = store.path().join("empty.raw");
    std::fs::write(&empty, b"").unwrap();
    for (args, why) in [
        (vec!["image", "capture", s(&empty), "--name", "e", "--store", s(store.path())], "is empty (0 bytes)"),
        (vec!["image", "capture", s(&empty), "--name", "e", "--level", "23", "--store", s(store.path())], "23 is not in 1..=22"),
        (vec!["image", "capture", s(&empty), "--name", "e", "--parallel", "0", "--store", s(store.path())], "0 is not in 1..=1024"),
        (vec!["image", "list", "--server", "parc.example:7420"], "not a server URL"),
    ] {
        let out = parc(&args);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && said.contains(why), "{args:?}: {said}");
    }
    let out = parc(&["image", "list", "--server", "http://127.0.0.1:9"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("127.0.0.1:9") && said.contains("gave up after"), "{said}");
    assert_eq!(said.lines().count(), 1, "one clear line, no colours, no line per retry: {said}");
    assert!(!said.contains('\u{1b}'), "{said}");
}

#[test]
fn read_only_commands_refuse_a_missing_data_directory_and_create_nothing() {
    let scratch = scratch();
    let typo = scratch.path().join("typo");
    for args in [&["store", "check"][..], &["store", "gc"], &["image", "list"], &["image", "show", "x"], &["image", "verify", "x"], &["image", "delete", "x"]] {
        let out = parc(&[args, &["--store", s(&typo)]].concat());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded on a missing data directory");
        assert!(said.contains(&format!("no parc data directory at {}", typo.display())), "{args:?}: {said}");
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
    }
    // A capture is what makes one.
    let src = scratch.path().join("disk.raw");
    std::fs::write(&src, kit::pseudo_random(1 << 20, 3)).unwrap();
    assert!(parc(&["image", "capture", s(&src), "--name", "d", "--raw", "--store", s(&typo)]).status.success());
    assert!(parc(&["store", "check", "--store", s(&typo)]).status.success());
}

#[test]
fn a_second_server_on_one_data_directory_is_refused_with_the_first_ones_pid() {
    let data = scratch();
    let first = kit::Server::start(&parc_bin(), data.path()).unwrap();
    let out = kit::parc_command(parc_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--tftp", "off", "--data-dir", s(data.path())])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second server started");
    assert!(said.contains(&format!("another parc serve (PID {}) already uses the data directory", first.pid())), "{said}");
    drop(first);
    // Once the first is gone, the directory is free again.
    let again = kit::Server::start(&parc_bin(), data.path()).unwrap();
    assert!(again.url.starts_with("http://127.0.0.1:"));
}

#[test]
fn host_and_task_commands_work_on_a_data_directory_too() {
    let scratch = scratch();
    let dir = scratch.path().join("data");
    let src = scratch.path().join("disk.raw");
    std::fs::write(&src, kit::pseudo_random(1 << 20, 4)).unwrap();
    assert!(parc(&["image", "capture", s(&src), "--name", "d", "--raw", "--store", s(&dir)]).status.success());
    let st = s(&dir);
    assert!(parc(&["host", "add", "--hostname", "pc-1", "--mac", "52:54:00:00:09:01", "--store", st]).status.success());
    let csv = scratch.path().join("hosts.csv");
    std::fs::write(&csv, "mac,hostname,groups\n52:54:00:00:09:02,pc-2,lab\n").unwrap();
    assert!(parc(&["host", "import", s(&csv), "--store", st]).status.success());
    let hosts = parc_json(&["host", "list", "--store", st]);
    let names: Vec<&str> = hosts.as_array().unwrap().iter().map(|h| h["hostname"].as_str().unwrap()).collect();
    assert_eq!(names, ["pc-1", "pc-2"]);
    assert_eq!(parc_json(&["host", "show", "pc-2", "--store", st])["groups"], serde_json::json!(["lab"]));

    // Tasks too: created, listed, shown and cancelled without a server, under the same rules.
    let created = parc_json(&["task", "restore", "pc-1", "pc-2", "--image", "d", "--hooks", "hostname", "--store", st]);
    let ids: Vec<i64> = created.as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{created}");
    let refused = parc(&["task", "restore", "pc-1", "--image", "nosuch", "--store", st]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("image \"nosuch\" does not exist"), "{}", String::from_utf8_lossy(&refused.stderr));
    assert_eq!(parc_json(&["task", "list", "--store", st]).as_array().unwrap().len(), 2);
    let shown = parc(&["task", "show", &ids[1].to_string(), "--store", st]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("restore d on pc-2") && shown.contains("hook      hostname pc-2"), "{shown}");
    let cancelled = parc_json(&["task", "cancel", "--group", "lab", "--host", "pc-1", "--store", st]);
    let states: Vec<_> = cancelled.as_array().unwrap().iter().map(|t| (t["id"].as_i64().unwrap(), t["state"].as_str().unwrap())).collect();
    assert_eq!(states, [(ids[0], "cancelled"), (ids[1], "cancelled")]);
    assert!(parc_json(&["task", "list", "--store", st]).as_array().unwrap().is_empty());

    assert!(parc(&["host", "edit", "pc-2", "--clear-groups", "--store", st]).status.success());
    let removed = parc_json(&["host", "rm", "pc-1", "--store", st]);
    assert_eq!((removed["hostname"].as_str(), removed["cancelled_tasks"].as_array().map(Vec::len)), (Some("pc-1"), Some(0)), "{removed}");
    assert_eq!(parc_json(&["host", "list", "--store", st]).as_array().unwrap().len(), 1);
    let task = parc_json(&["task", "restore", "pc-2", "--image", "d", "--store", st]);
    let deleted = parc_json(&["image", "delete", "d", "--force", "--store", st]);
    assert_eq!(deleted["cancelled_tasks"], serde_json::json!([task[0]["id"]]), "{deleted}");
    let none = parc(&["task", "cancel", "--host", "pc-2", "--json", "--store", st]);
    assert!(!none.status.success() && String::from_utf8_lossy(&none.stderr).contains("nothing to cancel"));
}
