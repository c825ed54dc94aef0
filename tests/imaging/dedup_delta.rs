//! Dedup across images and delta restore, on two real ext4 images that differ
//! in ~1 % of their files.

use super::*;
use parc_testkit as kit;

#[test]
fn recapture_after_small_change_sends_little_and_delta_restore_fetches_little() {
    let f = fixtures();
    let data = scratch();
    let server = kit::Server::start(&parc_bin(), data.path()).unwrap();
    let url = server.url.as_str();
    let chunks = data.path().join("chunks");

    let a = parc_json(&["image", "capture", s(&f.a), "--name", "A", "--server", url]);
    let stored_a = kit::dir_bytes(&chunks);
    let b = parc_json(&["image", "capture", s(&f.b), "--name", "B", "--server", url]);
    let stored_b = kit::dir_bytes(&chunks);
    let (sent_a, sent_b) = (num(&a, "bytes_sent"), num(&b, "bytes_sent"));
    eprintln!("dedup: A sent {sent_a}, B sent {sent_b} ({:.2} %), store {stored_a} -> {stored_b}", 100.0 * sent_b as f64 / sent_a as f64);
    assert!(sent_b * 100 <= sent_a * 5, "B sent {sent_b} bytes, more than 5 % of A's {sent_a}");
    assert!((stored_b - stored_a) * 100 <= stored_a * 10, "store grew {} bytes, more than 10 % of {stored_a}", stored_b - stored_a);
    assert!(num(&b, "chunks_new") * 20 < num(&b, "chunks_total"));

    let work = scratch();
    let full_target = work.path().join("full.img");
    let full = parc_json(&["image", "restore", "B", s(&full_target), "--server", url]);
    assert!(kit::same_content(&f.b, &full_target));

    let target = work.path().join("was-a.img");
    std::fs::copy(&f.a, &target).unwrap();
    let delta = parc_json(&["image", "restore", "B", s(&target), "--server", url]);
    let (rf, rd) = (num(&full, "bytes_received"), num(&delta, "bytes_received"));
    eprintln!("delta: full restore received {rf}, delta {rd} ({:.2} %)", 100.0 * rd as f64 / rf as f64);
    assert!(rd * 100 <= rf * 5, "delta restore received {rd} bytes, more than 5 % of a full restore's {rf}");
    assert!(kit::same_content(&f.b, &target), "delta-restored B differs from B's source");
}

/// The drift check: an unchanged disk captured again (elsewhere, later, at
/// another compression level) has a new root but the same content root,
/// and parc names the image it matches; a changed disk does not match.
#[test]
fn recapturing_an_unchanged_disk_gives_the_same_content_root() {
    let f = fixtures();
    let data = scratch();
    let store = s(data.path());
    // Another path to the same bytes: the manifest records the source path.
    let again = data.path().join("pc-07-disk.img");
    std::fs::hard_link(&f.a, &again).unwrap();

    let golden = parc_json(&["image", "capture", s(&f.a), "--name", "golden", "--store", store]);
    assert_eq!(golden["same_content"], serde_json::json!([]));
    let pc07 = parc_json(&["image", "capture", s(&again), "--name", "pc-07", "--level", "9", "--store", store]);
    assert_ne!(golden["root"], pc07["root"], "the root covers capture time and source");
    assert_eq!(golden["content"], pc07["content"], "an unchanged disk has the same content root");
    assert_eq!(pc07["same_content"], serde_json::json!(["golden"]));
    let changed = parc_json(&["image", "capture", s(&f.b), "--name", "pc-08", "--store", store]);
    assert_ne!(changed["content"], golden["content"], "a changed disk has another content root");
    assert_eq!(changed["same_content"], serde_json::json!([]));

    let show = parc(&["image", "show", "pc-07", "--store", store]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains(&format!("content      {}", golden["content"].as_str().unwrap())), "{text}");
    assert!(text.contains("same content \"golden\""), "{text}");
    let list = parc_json(&["image", "list", "--store", store]);
    let contents: Vec<_> = list.as_array().unwrap().iter().map(|i| (i["name"].as_str().unwrap(), i["content"].as_str().unwrap())).collect();
    assert_eq!(contents[0], ("golden", golden["content"].as_str().unwrap()));

    // Images stored before content roots existed (the column emptied, as
    // in a data directory from then) get theirs at the next open.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = parc_db::Db::open_sqlite(&data.path().join("parc.db"), false).await.unwrap();
        sqlx::query("UPDATE images SET content = NULL").execute(db.sqlite()).await.unwrap();
        db.close().await;
    });
    let list = parc_json(&["image", "list", "--store", store]);
    assert_eq!(list[0]["content"], golden["content"], "filled in again from the manifest");
}

