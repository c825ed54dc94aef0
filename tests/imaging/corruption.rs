//! A corrupted chunk in the store is found and named; a restore over it fails
//! loudly; a later capture holding the same bytes repairs it.

use super::*;
use parc_testkit as kit;

fn corrupt_one_chunk(chunks: &Path) -> String {
    let victim = kit::list_files(chunks)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "zst") && !p.strip_prefix(chunks).unwrap().to_string_lossy().starts_with('.'))
        .expect("a chunk file");
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&victim, bytes).unwrap();
    victim.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn corrupt_chunk_is_named_and_restore_fails() {
    let work = scratch();
    let source = work.path().join("disk.img");
    std::fs::write(&source, kit::pseudo_random(24 * MIB as usize, 5)).unwrap();
    let data = scratch();
    let server = kit::Server::start(&parc_bin(), data.path()).unwrap();
    let url = server.url.as_str();
    parc_json(&["image", "capture", s(&source), "--name", "precious", "--server", url]);
    let chunk = corrupt_one_chunk(&data.path().join("chunks"));

    // Over HTTP: non-zero exit, the image and the chunk named.
    let target = work.path().join("t.img");
    let out = parc(&["image", "restore", "precious", s(&target), "--server", url]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "restore reported success over a corrupt chunk");
    assert!(err.contains("precious") && err.contains(&chunk), "message must name image and chunk: {err}");
    assert!(!kit::same_content(&source, &target));

    // The check names it too: corrupt (not "missing"), what was expected,
    // what the bytes hold, and where they were put.
    let out = parc(&["store", "check", "--store", s(data.path())]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains(&chunk) && text.contains("precious"), "{text}");
    assert!(text.contains(&format!("chunk {chunk} is corrupt")) && text.contains("quarantined in") && !text.contains("missing"), "{text}");
    let out = parc(&["image", "verify", "precious", "--server", url]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&chunk) && text.contains("corrupt"), "verify says corrupt, not missing: {text}");

    // Capturing the same disk again puts the good bytes back.
    let again = parc_json(&["image", "capture", s(&source), "--name", "precious-2", "--server", url]);
    assert_eq!(num(&again, "chunks_new"), 1, "{again}");
    parc_json(&["image", "restore", "precious", s(&target), "--server", url]);
    assert!(kit::same_content(&source, &target));
    let out = parc(&["store", "check", "--store", s(data.path())]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    // The evidence stays until asked: --repair drops what is stored again.
    let quarantine = data.path().join("chunks/.quarantine");
    assert_eq!(std::fs::read_dir(&quarantine).unwrap().count(), 1);
    let out = parc(&["store", "check", "--repair", "--store", s(data.path())]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(&format!("chunk {chunk}: stored intact again")), "{text}");
    assert_eq!(std::fs::read_dir(&quarantine).unwrap().count(), 0);
}

#[test]
fn corrupt_chunk_in_a_local_store_is_named_by_check_and_restore() {
    let work = scratch();
    let source = work.path().join("disk.img");
    std::fs::write(&source, kit::pseudo_random(4 * MIB as usize, 6)).unwrap();
    let store = scratch();
    parc_json(&["image", "capture", s(&source), "--name", "local", "--store", s(store.path())]);
    let chunk = corrupt_one_chunk(&store.path().join("chunks"));
    let out = parc(&["store", "check", "--store", s(store.path())]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains(&chunk) && text.contains("corrupt") && text.contains("local"), "{text}");
    let out = parc(&["image", "restore", "local", s(&work.path().join("t")), "--store", s(store.path())]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&chunk) && err.contains("local"), "{err}");
    // The check above quarantined it; the restore still says corrupt.
    assert!(err.contains(&format!("chunk {chunk} is corrupt")), "{err}");
    assert_eq!(err.matches(&format!("chunk {chunk}")).count(), 1, "the cause is said once: {err}");
}
