//! Running the filesystem tools (e2fsck, resize2fs, ntfsresize) on a
//! partition inside a disk image or device, through a loop device.

use std::path::Path;
use std::process::Command;

/// Runs a tool; exit codes in `ok_codes` are success. Returns its stdout.
pub fn run(cmd: &mut Command, ok_codes: &[i32]) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    match out.status.code() {
        Some(c) if ok_codes.contains(&c) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => Err(format!("{cmd:?} failed ({}): {}{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))),
    }
}

/// Runs a tool with `input` on its standard input.
pub fn run_with_input(cmd: &mut Command, input: &str) -> Result<String, String> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    child.stdin.take().expect("piped stdin").write_all(input.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A loop device over part of a file or device, detached on drop.
pub struct Loop(pub String);

impl Loop {
    /// Attaches `size` bytes of `path` from `offset`.
    pub fn attach(path: &Path, offset: u64, size: u64) -> Result<Self, String> {
        let dev = run(
            Command::new("losetup").args(["--find", "--show", "--offset", &offset.to_string(), "--sizelimit", &size.to_string()]).arg(path),
            &[0],
        )?;
        Ok(Self(dev.trim().to_string()))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}

