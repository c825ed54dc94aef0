//! Post-install hooks, applied by the netboot environment to a restored
//! filesystem mounted at `root`.

use std::io::Write;
use std::os::unix::fs::{chown, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use parc_deploy::Hook;

/// A hook that failed, with what it printed.
#[derive(Debug, thiserror::Error)]
#[error("hook {hook}: {message}")]
pub struct HookError {
    /// Which hook (`hostname`, `ssh-key`, …).
    pub hook: String,
    /// Why, including a script's output.
    pub message: String,
}

fn fail(hook: &str, message: impl Into<String>) -> HookError {
    HookError { hook: hook.to_string(), message: message.into() }
}

/// `root` joined with an absolute path from inside it.
fn inside(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn write(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(path)?;
    f.write_all(content)?;
    f.sync_all()?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// The account's home, uid and gid from the target's /etc/passwd.
fn account(root: &Path, user: &str) -> Option<(PathBuf, u32, u32)> {
    let passwd = std::fs::read_to_string(inside(root, "/etc/passwd")).ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[0] == user).then(|| Some((inside(root, f[5]), f[2].parse().ok()?, f[3].parse().ok()?))).flatten()
    })
}

/// Applies one hook; `ssh_key` is parc's deployment public key. Returns a
/// line for the task log.
pub fn apply(root: &Path, hook: &Hook, ssh_key: Option<&str>) -> Result<String, HookError> {
    match hook {
        Hook::Hostname { name } => {
            let io = |e: std::io::Error| fail("hostname", e.to_string());
            write(&inside(root, "/etc/hostname"), format!("{name}\n").as_bytes(), 0o644).map_err(io)?;
            let hosts_path = inside(root, "/etc/hosts");
            let hosts = std::fs::read_to_string(&hosts_path).unwrap_or_else(|_| "127.0.0.1\tlocalhost\n".into());
            let mut lines: Vec<String> = hosts.lines().filter(|l| !l.trim_start().starts_with("127.0.1.1")).map(str::to_string).collect();
            let at = lines.iter().position(|l| l.trim_start().starts_with("127.0.0.1")).map_or(0, |i| i + 1);
            lines.insert(at, format!("127.0.1.1\t{name}"));
            write(&hosts_path, (lines.join("\n") + "\n").as_bytes(), 0o644).map_err(io)?;
            Ok(format!("hostname set to {name}"))
        }
        Hook::SshKey { user } => {
            let key = ssh_key.ok_or_else(|| fail("ssh-key", "the server has no deployment key (is ssh-keygen installed on the server?)"))?;
            let (home, uid, gid) = account(root, user).ok_or_else(|| fail("ssh-key", format!("no user {user:?} in the target's /etc/passwd")))?;
            let io = |e: std::io::Error| fail("ssh-key", e.to_string());
            let dir = home.join(".ssh");
            std::fs::create_dir_all(&dir).map_err(io)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
            let file = dir.join("authorized_keys");
            let existing = std::fs::read_to_string(&file).unwrap_or_default();
            if !existing.lines().any(|l| l.trim() == key.trim()) {
                let mut content = existing;
                if !content.is_empty() && !content.ends_with('\n') {
                    content.push('\n');
                }
                content.push_str(key.trim());
                content.push('\n');
                write(&file, content.as_bytes(), 0o600).map_err(io)?;
            }
            chown(&dir, Some(uid), Some(gid)).map_err(io)?;
            chown(&file, Some(uid), Some(gid)).map_err(io)?;
            Ok(format!("parc's deployment key installed for {user}"))
        }
        Hook::File { path, content, mode, .. } => {
            write(&inside(root, path), content.as_bytes(), mode.unwrap_or(0o644)).map_err(|e| fail("file", format!("{path}: {e}")))?;
            Ok(format!("wrote {path} ({} bytes)", content.len()))
        }
        Hook::FirstBoot { script } => {
            let io = |e: std::io::Error| fail("firstboot", e.to_string());
            write(&inside(root, "/usr/local/sbin/parc-firstboot"), script.as_bytes(), 0o755).map_err(io)?;
            // A oneshot unit that removes its own trigger, so the script runs once.
            let unit = "[Unit]\nDescription=parc first-boot script\nAfter=network-online.target\nWants=network-online.target\nConditionPathExists=/usr/local/sbin/parc-firstboot\n\n\
                        [Service]\nType=oneshot\nExecStart=/usr/local/sbin/parc-firstboot\nExecStartPost=/bin/rm -f /usr/local/sbin/parc-firstboot\n\n\
                        [Install]\nWantedBy=multi-user.target\n";
            write(&inside(root, "/etc/systemd/system/parc-firstboot.service"), unit.as_bytes(), 0o644).map_err(io)?;
            let wants = inside(root, "/etc/systemd/system/multi-user.target.wants");
            std::fs::create_dir_all(&wants).map_err(io)?;
            let link = wants.join("parc-firstboot.service");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink("/etc/systemd/system/parc-firstboot.service", &link).map_err(io)?;
            Ok("first-boot script installed (systemd unit parc-firstboot.service)".into())
        }
        Hook::Script { script } => {
            let out = Command::new("/bin/sh")
                .arg("-c")
                .arg(script)
                .env("PARC_TARGET", root)
                .current_dir(root)
                .output()
                .map_err(|e| fail("script", format!("cannot run /bin/sh: {e}")))?;
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            let text: String = text.chars().rev().take(4000).collect::<Vec<_>>().into_iter().rev().collect();
            if !out.status.success() {
                return Err(fail("script", format!("exited with {}; output:\n{}", out.status, text.trim_end())));
            }
            Ok(format!("script ran: {}", text.trim_end()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::create_dir_all(d.path().join("home/parc")).unwrap();
        std::fs::write(d.path().join("etc/hosts"), "127.0.0.1\tlocalhost\n127.0.1.1\tgolden\n::1\tlocalhost\n").unwrap();
        let (uid, gid) = (own_uid(), 0);
        std::fs::write(d.path().join("etc/passwd"), format!("root:x:0:0:root:/root:/bin/sh\nparc:x:{uid}:{gid}::/home/parc:/bin/sh\n")).unwrap();
        d
    }

    /// The test may not run as root: the account gets the test's own uid so
    /// chown succeeds either way.
    fn own_uid() -> u32 {
        std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(0)
    }

    #[test]
    fn hostname_and_key_land_where_the_os_reads_them() {
        let d = target();
        apply(d.path(), &Hook::Hostname { name: "lab-b".into() }, None).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("etc/hostname")).unwrap(), "lab-b\n");
        assert_eq!(std::fs::read_to_string(d.path().join("etc/hosts")).unwrap(), "127.0.0.1\tlocalhost\n127.0.1.1\tlab-b\n::1\tlocalhost\n");
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample parc-deploy";
        apply(d.path(), &Hook::SshKey { user: "parc".into() }, Some(key)).unwrap();
        apply(d.path(), &Hook::SshKey { user: "parc".into() }, Some(key)).unwrap();
        let ak = d.path().join("home/parc/.ssh/authorized_keys");
        assert_eq!(std::fs::read_to_string(&ak).unwrap(), format!("{key}\n"), "installed once");
        assert_eq!(std::fs::metadata(&ak).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(apply(d.path(), &Hook::SshKey { user: "nobody".into() }, Some(key)).is_err());
        assert!(apply(d.path(), &Hook::SshKey { user: "parc".into() }, None).is_err());
    }

    #[test]
    fn files_firstboot_and_scripts() {
        let d = target();
        apply(d.path(), &Hook::File { partition: None, path: "/etc/motd".into(), content: "hello\n".into(), mode: Some(0o600) }, None).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("etc/motd")).unwrap(), "hello\n");
        apply(d.path(), &Hook::FirstBoot { script: "#!/bin/sh\necho hi\n".into() }, None).unwrap();
        assert!(d.path().join("etc/systemd/system/multi-user.target.wants/parc-firstboot.service").symlink_metadata().is_ok());
        let ok = apply(d.path(), &Hook::Script { script: "echo touched > \"$PARC_TARGET/etc/touched\"; echo done".into() }, None).unwrap();
        assert!(ok.contains("done"));
        assert_eq!(std::fs::read_to_string(d.path().join("etc/touched")).unwrap(), "touched\n");
        let err = apply(d.path(), &Hook::Script { script: "echo oops >&2; exit 3".into() }, None).unwrap_err();
        assert!(err.message.contains("oops") && err.message.contains('3'), "{err}");
    }
}
