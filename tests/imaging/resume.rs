//! kill -9 mid-capture and mid-restore, then rerun: identical results, and
//! the bytes moved over both runs stay close to one uninterrupted run.

use std::time::{Duration, Instant};

use super::*;
use parc_testkit as kit;

/// Waits until `cond` holds (bounded), then SIGKILLs `child`; asserts it was still running.
fn kill_when(child: &mut std::process::Child, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(child.try_wait().unwrap().is_none(), "{what} finished before it could be interrupted");
        assert!(Instant::now() < deadline, "{what} made no progress in 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.try_wait().unwrap().is_none(), "{what} finished before it could be interrupted");
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
}

fn spawn(args: &[&str]) -> std::process::Child {
    kit::parc_command(parc_bin())
        .args(args)
        .arg("--json")
        .env("PARC_LOG", "error")
        .env("PARC_TOKEN", kit::ADMIN_TOKEN)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn killed_capture_and_restore_resume() {
    let f = fixtures();
    // One uninterrupted run, as the yardstick.
    let reference_store = scratch();
    let uninterrupted = parc_json(&["image", "capture", s(&f.a), "--name", "ref", "--store", s(reference_store.path())]);
    let one_run = num(&uninterrupted, "bytes_sent");

    let data = scratch();
    let server = kit::Server::start(&parc_bin(), data.path()).unwrap();
    let url = server.url.clone();

    let mut child = spawn(&["image", "capture", s(&f.a), "--name", "A", "--server", &url, "--limit-rate", "60M"]);
    kill_when(&mut child, "capture", || server_stats(&server).0 >= one_run * 3 / 10);
    // The server is consistent and keeps serving: no half image is listed.
    let listed = parc_json(&["image", "list", "--server", &url]);
    assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");
    let rerun = parc_json(&["image", "capture", s(&f.a), "--name", "A", "--server", &url]);
    let moved = server_stats(&server).0;
    eprintln!("capture resume: {moved} bytes over both runs, {one_run} for one run");
    assert!(num(&rerun, "bytes_sent") < one_run);
    assert!(moved as f64 <= 1.15 * one_run as f64, "{moved} bytes moved over both runs, one run takes {one_run}");
    assert_eq!(num(&rerun, "chunks_total"), num(&uninterrupted, "chunks_total"), "resumed capture differs from an uninterrupted one");

    let work = scratch();
    let target = work.path().join("restored.img");
    let mut child = spawn(&["image", "restore", "A", s(&target), "--server", &url, "--limit-rate", "60M"]);
    kill_when(&mut child, "restore", || server_stats(&server).1 >= one_run * 3 / 10);
    let rerun = parc_json(&["image", "restore", "A", s(&target), "--server", &url]);
    let moved = server_stats(&server).1;
    eprintln!("restore resume: {moved} bytes over both runs, {one_run} for one run; rerun {rerun}");
    assert!(moved as f64 <= 1.15 * one_run as f64, "{moved} bytes moved over both runs, one run takes {one_run}");
    assert!(num(&rerun, "chunks_unchanged") > 0);
    assert!(kit::same_content(&f.a, &target), "resumed restore is not byte-identical");
}
