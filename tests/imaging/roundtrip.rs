//! Byte-identical round trips through a server and through a local store.

use super::*;
use parc_testkit as kit;

fn round_trip(source: &Path, location: &[&str], name: &str) -> (serde_json::Value, serde_json::Value, PathBuf, tempfile::TempDir) {
    let work = scratch();
    let mut args = vec!["image", "capture", s(source), "--name", name];
    args.extend_from_slice(location);
    let cap = parc_json(&args);
    let size = std::fs::metadata(source).unwrap().len();
    // Filesystem-aware: only used blocks (and everything outside filesystems) are read.
    assert!(num(&cap, "bytes_read") <= size);
    assert_eq!(num(&cap, "source_size"), size);
    for k in ["bytes_sent", "bytes_received", "bytes_written", "chunks_total", "chunks_new"] {
        num(&cap, k);
    }
    assert!(cap["seconds"].as_f64().is_some());
    let target = work.path().join("restored.img");
    let mut args = vec!["image", "restore", name, s(&target)];
    args.extend_from_slice(location);
    let res = parc_json(&args);
    assert!(kit::same_content(source, &target), "{name}: restored image differs from its source");
    (cap, res, target, work)
}

#[test]
fn ext4_over_http_is_byte_identical() {
    let f = fixtures();
    let data = scratch();
    let server = kit::Server::start(&parc_bin(), data.path()).unwrap();
    let (cap, res, _, _w) = round_trip(&f.a, &["--server", &server.url], "ext4-http");
    assert_eq!(num(&res, "bytes_received"), num(&cap, "bytes_sent"));
    let listed = parc_json(&["image", "list", "--server", &server.url]);
    assert_eq!(listed[0]["name"], "ext4-http");
    // The same disk captured again under another name costs no chunk bytes.
    let again = parc_json(&["image", "capture", s(&f.a), "--name", "ext4-again", "--server", &server.url]);
    assert_eq!(num(&again, "bytes_sent"), 0, "{again}");
    assert_eq!(num(&again, "chunks_total"), num(&cap, "chunks_total"));
}

#[test]
fn ext4_through_a_local_store_is_byte_identical() {
    let f = fixtures();
    let store = scratch();
    let (cap, _res, target, _w) = round_trip(&f.a, &["--store", s(store.path())], "ext4-local");
    let read = num(&cap, "bytes_read");
    assert!(read >= f.file_bytes && read < GIB / 2, "read {read} bytes of a 1 GiB ext4 holding {} of files", f.file_bytes);
    assert_eq!(cap["layout"]["partitions"][0]["filesystem"], "ext4", "{cap}");
    assert!(num(&cap, "bytes_sent") < f.file_bytes, "compression and holes: sent {} for {} of files", num(&cap, "bytes_sent"), f.file_bytes);
    kit::run(Command::new("e2fsck").arg("-fn").arg(&target)).expect("restored filesystem is clean");
}

#[test]
fn random_data_and_zero_runs_round_trip_sparse() {
    let f = fixtures();
    let data = scratch();
    let server = kit::Server::start(&parc_bin(), data.path()).unwrap();
    let store = scratch();
    for (loc, name) in [(vec!["--server", server.url.as_str()], "mixed-http"), (vec!["--store", s(store.path())], "mixed-local")] {
        let (cap, res, target, _w) = round_trip(&f.mixed, &loc, name);
        assert!(num(&cap, "hole_bytes") >= 400 * MIB, "{cap}");
        // 96 MiB of data; the holes must not be written out.
        assert!(kit::allocated_bytes(&target) <= 100 * MIB, "restored file allocates {} bytes", kit::allocated_bytes(&target));
        assert_eq!(num(&res, "bytes_written"), 96 * MIB);
    }
}

#[test]
fn full_restore_rewrites_everything_and_delta_repairs_damage() {
    let f = fixtures();
    let store = scratch();
    let loc = ["--store", s(store.path())];
    let (_cap, _res, target, _w) = round_trip(&f.mixed, &loc, "mixed");
    // Damage the target in a data region and in a hole.
    let t = std::fs::OpenOptions::new().write(true).open(&target).unwrap();
    use std::os::unix::fs::FileExt;
    t.write_all_at(b"scribble", 5 * MIB).unwrap();
    t.write_all_at(b"scribble", 200 * MIB).unwrap();
    let delta = parc_json(&["image", "restore", "mixed", s(&target), "--store", s(store.path())]);
    assert!(kit::same_content(&f.mixed, &target));
    assert_eq!(num(&delta, "chunks_new"), 1, "{delta}");
    assert!(num(&delta, "bytes_written") <= 256 * 1024, "{delta}");
    let full = parc_json(&["image", "restore", "mixed", s(&target), "--full", "--store", s(store.path())]);
    assert!(kit::same_content(&f.mixed, &target));
    assert_eq!(num(&full, "bytes_written"), 96 * MIB);
    assert_eq!(num(&full, "bytes_read"), 0);
}
