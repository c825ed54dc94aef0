//! HTTPS as an operator meets it: `parc serve --tls self-signed` prints the
//! certificate's fingerprint; curl trusts it with `--cacert` and refuses
//! another CA; `parc login` pins it (refusing a wrong one, and asking when
//! it cannot); images move over HTTPS; boot files stay on plain HTTP and the
//! scripts hand the agent the HTTPS address and the fingerprint; a replaced
//! certificate is refused by name.

use super::accounts::As;
use super::*;
use parc_testkit as kit;

/// `parc login` run on a terminal of its own (util-linux `script` makes a
/// pty), answering its question with `answer`.
fn login_on_a_terminal(home: &Path, url: &str, token: &Path, answer: &str) -> Output {
    use std::io::Write;
    let cmd = format!("{} login --server {url} --token-file {}", parc_bin().display(), token.display());
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("XDG_CONFIG_HOME", home)
        .env_remove("PARC_TOKEN")
        .env("PARC_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl").args(["-sS", "--max-time", "10"]).args(args).output().expect("curl (Debian package curl)")
}

#[test]
fn https_with_a_self_signed_certificate_pinned_at_login() {
    let dir = scratch();
    let data = dir.path().join("data");
    // A task's boot script needs an environment to boot; these stand in for it.
    let env = data.join("boot-assets/env");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(env.join("vmlinuz"), b"kernel").unwrap();
    std::fs::write(env.join("initrd.img"), b"initrd").unwrap();
    let mut server = kit::Server::start_with(&parc_bin(), &data, &["--tls", "self-signed"]).unwrap();
    let url = server.url.clone();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let tls_line = server.said("tls: ").expect("parc serve names its certificate");
    let fp = tls_line.rsplit(' ').next().unwrap().to_string();
    assert_eq!(fp.len(), 95, "{tls_line}");
    let cert = data.join("tls/cert.pem");
    assert!(tls_line.contains(s(&cert)) && tls_line.contains("made at first start"), "{tls_line}");
    let first = server.said("first start:").unwrap();
    assert!(first.contains(&format!("--fingerprint {fp}")) && first.contains(&url), "the login hint pins the certificate: {first}");

    // curl: the certificate as CA works; another CA is refused.
    let ok = curl(&["--cacert", s(&cert), &format!("{url}/healthz")]);
    assert_eq!((ok.status.success(), String::from_utf8_lossy(&ok.stdout).as_ref()), (true, "ok"), "{}", String::from_utf8_lossy(&ok.stderr));
    let other = parc_tls::server::self_signed(&dir.path().join("other"), &["127.0.0.1".into()]).unwrap().files.cert;
    let bad = curl(&["--cacert", s(&other), &format!("{url}/healthz")]);
    assert_eq!(bad.status.code(), Some(60), "curl refuses a certificate its CA did not sign: {}", String::from_utf8_lossy(&bad.stderr));
    let plain = curl(&[&format!("{}/healthz", url.replace("https://", "http://"))]);
    assert!(!plain.status.success() || !String::from_utf8_lossy(&plain.stdout).contains("ok"), "plain HTTP on the API port");

    // parc login: a wrong fingerprint, or none without a terminal to confirm on, sends nothing.
    let home = dir.path().join("op");
    let op = As { home: &home, url: &url };
    let token = data.join("initial-admin-token");
    let wrong = format!("00{}", &fp[2..]);
    op.refused(&["login", "--token-file", s(&token), "--fingerprint", &wrong], &format!("presents the certificate {fp}, not the"));
    op.refused(&["login", "--token-file", s(&token)], "no terminal");
    assert!(!home.join("parc/credentials.json").exists(), "nothing kept after a refusal");
    // Without a pin or a CA, the certificate is not trusted, and the error says what to do.
    op.refused(&["image", "list"], "not signed by a CA this client trusts: give the CA");
    // On a terminal, login shows the fingerprint and asks; no is no.
    let no = login_on_a_terminal(&home, &url, &token, "n\n");
    let said = String::from_utf8_lossy(&no.stdout);
    assert!(!no.status.success() && said.contains(&format!("SHA-256 fingerprint\r\n  {fp}")) && said.contains("not trusted: nothing was sent"), "{said}");
    assert!(!home.join("parc/credentials.json").exists());
    let yes = login_on_a_terminal(&home, &url, &token, "y\n");
    assert!(yes.status.success() && String::from_utf8_lossy(&yes.stdout).contains(&format!("certificate pinned: {fp}")), "{}", String::from_utf8_lossy(&yes.stdout));
    // Given on the command line (any usual spelling), the same pin.
    let said = op.ok(&["login", "--token-file", s(&token), "--fingerprint", &fp.to_lowercase().replace(':', "")], None);
    assert!(said.contains(&format!("certificate pinned: {fp}")), "{said}");

    // Images over HTTPS: capture, list, restore byte for byte.
    let disk = dir.path().join("disk.raw");
    std::fs::write(&disk, kit::pseudo_random(3 << 20, 11)).unwrap();
    let cap: serde_json::Value = serde_json::from_str(&op.ok(&["image", "capture", s(&disk), "--name", "over-tls", "--raw", "--json"], None)).unwrap();
    assert_eq!((cap["image"].as_str(), cap["bytes_read"].as_u64()), (Some("over-tls"), Some(3 << 20)), "{cap}");
    let back = dir.path().join("back.raw");
    op.ok(&["image", "restore", "over-tls", s(&back)], None);
    assert!(std::fs::read(&back).unwrap() == std::fs::read(&disk).unwrap(), "restored over HTTPS byte for byte");
    // A script holding no credentials trusts the server with --ca.
    let with_ca = kit::parc_command(parc_bin()).args(["image", "list", "--server", &url, "--ca", s(&cert)]).env("PARC_TOKEN", kit::ADMIN_TOKEN).env("XDG_CONFIG_HOME", dir.path().join("nobody")).output().unwrap();
    assert!(with_ca.status.success() && String::from_utf8_lossy(&with_ca.stdout).contains("over-tls"), "{}", String::from_utf8_lossy(&with_ca.stderr));

    // Boot files over plain HTTP beside it; the script hands the agent HTTPS and the pin.
    let boot_line = server.said("boot: ").unwrap();
    let boot = boot_line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_string();
    op.ok(&["host", "add", "--hostname", "pc-tls", "--mac", "52:54:00:00:7e:01"], None);
    op.ok(&["task", "capture", "pc-tls", "--image", "pc-tls-img"], None);
    let script = curl(&[&format!("{boot}/boot/52-54-00-00-7e-01.ipxe")]);
    let script = String::from_utf8_lossy(&script.stdout);
    let hex = fp.replace(':', "").to_lowercase();
    assert!(script.contains(&format!("parc.server={url} parc.fp={hex} ")), "{script}");
    assert!(script.contains(&format!("kernel --name vmlinuz {boot}/boot/assets/env/vmlinuz")), "{script}");
    let api_on_boot = curl(&["-i", &format!("{boot}/api/v1/hosts")]);
    let api_on_boot = String::from_utf8_lossy(&api_on_boot.stdout);
    assert!(api_on_boot.starts_with("HTTP/1.1 404") && api_on_boot.contains(&format!("the API is at {url}/api/v1")), "{api_on_boot}");

    // A replaced certificate: every command refuses it, and so does login.
    server.kill();
    std::fs::remove_dir_all(data.join("tls")).unwrap();
    let server = kit::Server::start_with(&parc_bin(), &data, &["--tls", "self-signed", "--listen", server.addr()]).unwrap();
    let new_fp = server.said("tls: ").unwrap().rsplit(' ').next().unwrap().to_string();
    assert_ne!(new_fp, fp);
    op.refused(&["image", "list"], &format!("has SHA-256 fingerprint {new_fp}, not the pinned {fp}"));
    op.refused(&["login", "--token-file", s(&token)], &format!("the server's certificate changed: pinned {fp}, now {new_fp}"));
    // Once the operator has checked the new one, login pins it.
    op.ok(&["login", "--token-file", s(&token), "--fingerprint", &new_fp], None);
    assert!(op.ok(&["image", "list"], None).contains("over-tls"));
}
