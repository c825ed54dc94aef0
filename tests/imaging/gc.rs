//! Garbage collection frees what no image needs and nothing else.

use super::*;
use parc_testkit as kit;

#[test]
fn gc_keeps_shared_and_in_flight_chunks() {
    let work = scratch();
    let (x, y) = (work.path().join("x.img"), work.path().join("y.img"));
    let common = kit::pseudo_random(8 * MIB as usize, 10);
    std::fs::write(&x, [common.as_slice(), &kit::pseudo_random(4 * MIB as usize, 11)].concat()).unwrap();
    std::fs::write(&y, [common.as_slice(), &kit::pseudo_random(4 * MIB as usize, 12)].concat()).unwrap();
    let data = scratch();
    let dir = s(data.path());
    let server = kit::Server::start(&parc_bin(), data.path()).unwrap();
    let url = server.url.as_str();
    parc_json(&["image", "capture", s(&x), "--name", "x", "--server", url]);
    parc_json(&["image", "capture", s(&y), "--name", "y", "--server", url]);

    // An upload in flight that has sent one chunk but not committed. (GC
    // protects from a second before the upload's start, floored to the
    // second: start it more than two seconds after x's chunks.)
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (st, body) = hostile::http(server.addr(), "POST", "/api/v1/uploads", &[("content-type", "application/json")], Some(br#"{"name":"pending"}"#));
    assert_eq!(st, 201);
    let up = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["upload"].as_str().unwrap().to_string();
    let (id, z) = parc_imaging::codec::encode(b"in flight", 3);
    assert_eq!(hostile::http(server.addr(), "PUT", &format!("/api/v1/uploads/{up}/chunks/{id}"), &[], Some(&z)).0, 201);

    // A temp file left by a writer killed mid-write, an hour ago.
    let stale = data.path().join("chunks/.tmp/deadbeef.1234.0");
    let f = std::fs::File::create(&stale).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600)).unwrap();
    drop(f);

    let before = kit::list_files(&data.path().join("chunks")).len() - 1;
    let out = parc(&["image", "delete", "x", "--server", url]);
    assert!(out.status.success());
    let gc = parc_json(&["store", "gc", "--store", dir, "--grace-secs", "0"]);
    // x's own 4 MiB of random data (incompressible) is freed.
    assert!(num(&gc, "removed_bytes") >= 4 * MIB, "x's own chunks should go: {gc}");
    assert_eq!(num(&gc, "protected"), 1, "the in-flight chunk is kept: {gc}");
    assert_eq!(num(&gc, "temporary_removed"), 1, "{gc}");
    assert!(!stale.exists());
    assert_eq!(kit::list_files(&data.path().join("chunks")).len(), before - num(&gc, "removed") as usize);

    // y, which shared x's first half, is intact.
    let target = work.path().join("t.img");
    parc_json(&["image", "restore", "y", s(&target), "--server", url]);
    assert!(kit::same_content(&y, &target));
    let out = parc(&["store", "check", "--store", dir]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    // Once the upload is abandoned, its chunk goes too.
    assert_eq!(hostile::http(server.addr(), "DELETE", &format!("/api/v1/uploads/{up}"), &[], None).0, 204);
    let gc = parc_json(&["store", "gc", "--store", dir, "--grace-secs", "0"]);
    assert_eq!((num(&gc, "removed"), num(&gc, "protected")), (1, 0), "{gc}");
}
