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
