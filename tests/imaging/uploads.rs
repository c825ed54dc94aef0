//! A capture reserves its image name while it runs: a second capture of the
//! name from elsewhere is refused at once, `parc store uploads` shows and
//! ends uploads, and an upload idle past its stale time frees the name.
//! (A re-run from the same origin taking over is `resume.rs`.)

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::*;
use parc_testkit as kit;

fn spawn_capture(source: &Path, name: &str, url: &str) -> Child {
    kit::parc_command(parc_bin())
        .args(["image", "capture", s(source), "--name", name, "--server", url, "--limit-rate", "20M", "--json"])
        .env("PARC_LOG", "error")
        .env("PARC_TOKEN", kit::ADMIN_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The open uploads, as `parc store uploads --json` lists them.
fn uploads(store: &str) -> Vec<serde_json::Value> {
    parc_json(&["store", "uploads", "--store", store]).as_array().unwrap().clone()
}

/// Waits (bounded) until an upload of `name` is open; returns it.
fn wait_for_upload(store: &str, name: &str, child: &mut Child) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(u) = uploads(store).into_iter().find(|u| u["name"] == name) {
            return u;
        }
        assert!(child.try_wait().unwrap().is_none(), "the capture ended before its upload was seen");
        assert!(Instant::now() < deadline, "no upload of {name} appeared in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_running_capture_reserves_its_name_until_it_ends_or_goes_stale() {
    let f = fixtures();
    let data = scratch();
    let store = s(data.path());
    let server = kit::Server::start(&parc_bin(), data.path()).unwrap();
    let url = server.url.as_str();

    // A slow capture of "lab" is running.
    let mut first = spawn_capture(&f.a, "lab", url);
    let up = wait_for_upload(store, "lab", &mut first);
    let id = up["id"].as_str().unwrap().to_string();
    assert!(up["origin"].as_str().unwrap().ends_with(&format!(":{}", f.a.display())), "origin names host and source: {up}");

    // Another capture of the name is refused when it starts, with who holds it and how to end it.
    let second = parc(&["image", "capture", s(&f.mixed), "--name", "lab", "--server", url]);
    assert!(!second.status.success());
    let err = stderr(&second);
    assert!(err.contains("image \"lab\" is being captured by") && err.contains(&f.a.display().to_string()), "{err}");
    assert!(err.contains(&format!("parc store uploads --abort {id}")), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    let replace = parc(&["image", "capture", s(&f.mixed), "--name", "lab", "--replace", "--server", url]);
    assert!(!replace.status.success() && stderr(&replace).contains("is being captured"), "--replace does not take a running capture's name");

    // The listing shows it; --abort with the start of its id ends it, and the capture says why it failed.
    let text = parc(&["store", "uploads", "--store", store]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&id) && text.contains("lab") && text.contains("active"), "{text}");
    let aborted = parc(&["store", "uploads", "--abort", &id[..8], "--store", store]);
    assert!(aborted.status.success(), "{}", stderr(&aborted));
    assert!(String::from_utf8_lossy(&aborted.stdout).contains(&format!("aborted upload {id}")));
    let out = first.wait_with_output().unwrap();
    assert!(!out.status.success(), "an aborted capture fails");
    assert!(stderr(&out).contains("no open upload"), "{}", stderr(&out));
    assert!(uploads(store).is_empty());
    let again = parc(&["store", "uploads", "--abort", &id, "--store", store]);
    assert!(!again.status.success() && stderr(&again).contains("no upload in flight"), "{}", stderr(&again));

    // The name is free: another capture takes it and completes.
    let done = parc_json(&["image", "capture", s(&f.mixed), "--name", "lab", "--server", url]);
    assert_eq!(done["image"], "lab");

    // A capture killed mid-way keeps its name only until it goes stale.
    let mut killed = spawn_capture(&f.a, "lab2", url);
    let up = wait_for_upload(store, "lab2", &mut killed);
    killed.kill().unwrap();
    killed.wait().unwrap();
    let refused = parc(&["image", "capture", s(&f.mixed), "--name", "lab2", "--server", url]);
    assert!(stderr(&refused).contains("is being captured"), "{}", stderr(&refused));
    // Twenty minutes of silence, as the clock would make them.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = parc_db::Db::open_sqlite(&data.path().join("parc.db"), false).await.unwrap();
        sqlx::query("UPDATE uploads SET last_seen = last_seen - 1200 WHERE id = ?").bind(up["id"].as_str()).execute(db.sqlite()).await.unwrap();
        db.close().await;
    });
    let text = parc(&["store", "uploads", "--store", store]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("stale"), "{}", String::from_utf8_lossy(&text.stdout));
    let taken = parc_json(&["image", "capture", s(&f.mixed), "--name", "lab2", "--server", url]);
    assert_eq!(taken["image"], "lab2", "a stale upload no longer holds its name");
    assert!(uploads(store).is_empty(), "the stale upload is closed");
}
