//! Builds the environment into a directory: `vmlinuz`, `initrd.img` and
//! `manifest.txt` (every file with its size and blake3, the kernel version,
//! the Debian package versions). The same packages and parc binary give
//! the same bytes: entries sorted, metadata fixed, compression
//! single-threaded at a fixed level.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cpio::{Node, Tree};
use super::modules::{self, ModuleIndex};
use super::{EnvError, Missing, Recipe};

/// zstd level: 19 saves ~10% more and takes ~10 times as long.
const ZSTD_LEVEL: i32 = 15;

/// Packages whose versions the manifest records (when installed).
const PACKAGES: &[&str] = &["linux-image-amd64", "busybox-static", "e2fsprogs", "dosfstools", "ntfs-3g", "fdisk", "util-linux", "gdisk", "parted"];

/// Where programs are looked for, in order.
const BIN_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n";
const GROUP: &str = "root:x:0:\ntty:x:5:\ndisk:x:6:\n";
const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost\n";
const NSSWITCH: &str = "passwd: files\ngroup: files\nhosts: files dns\n";

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Output directory (created).
    pub out: PathBuf,
    /// Kernel version; default [`default_kernel_version`].
    pub kernel_version: Option<String>,
    /// The parc binary to include as the agent.
    pub parc: PathBuf,
    /// Strip parc's symbols and debug info (binutils' `strip`) when available.
    pub strip: bool,
    pub recipe: Recipe,
}

impl BuildOptions {
    pub fn new(out: PathBuf, parc: PathBuf) -> Self {
        Self { out, kernel_version: None, parc, strip: true, recipe: Recipe::builtin() }
    }
}

/// How the initramfs is compressed (what the kernel's config supports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Zstd,
    Gzip,
    None,
}

impl Compression {
    pub fn name(self) -> String {
        match self {
            Compression::Zstd => format!("zstd-{ZSTD_LEVEL}"),
            Compression::Gzip => "gzip-9".into(),
            Compression::None => "none".into(),
        }
    }

    /// The best one a kernel config (`/boot/config-V`) supports.
    pub fn for_kernel_config(config: Option<&str>) -> Self {
        let has = |opt: &str| config.is_some_and(|c| c.lines().any(|l| l.trim() == format!("{opt}=y")));
        match config {
            Some(_) if has("CONFIG_RD_ZSTD") => Compression::Zstd,
            Some(_) if has("CONFIG_RD_GZIP") => Compression::Gzip,
            Some(_) => Compression::None,
            // No config to ask: gzip is what every kernel unpacks.
            None => Compression::Gzip,
        }
    }
}

/// What was built.
#[derive(Clone, Debug)]
pub struct Built {
    pub out: PathBuf,
    pub kernel_version: String,
    pub kernel_bytes: u64,
    pub initrd_bytes: u64,
    pub initrd_uncompressed: u64,
    pub compression: Compression,
    /// Entries in the initramfs.
    pub entries: usize,
    /// Module files included (dependencies counted).
    pub modules: usize,
    /// Names in modules.txt this kernel does not have.
    pub missing_modules: Vec<String>,
    /// Optional tools left out, as `tool (package)`.
    pub skipped_tools: Vec<String>,
    /// parc's size in the initramfs, and whether it was stripped.
    pub parc_bytes: u64,
    pub parc_stripped: bool,
}

/// The kernel Debian's linux-image-amd64 installs, else the newest
/// `/boot/vmlinuz-*` that has `/lib/modules/<version>`.
pub fn default_kernel_version() -> Result<String, EnvError> {
    if let Ok(out) = Command::new("dpkg-query").args(["-W", "-f=${Depends}", "linux-image-amd64"]).output() {
        if let Some(v) = kernel_from_depends(&String::from_utf8_lossy(&out.stdout)) {
            if Path::new("/lib/modules").join(&v).is_dir() {
                return Ok(v);
            }
        }
    }
    let mut vs: Vec<String> = fs::read_dir("/boot")
        .map_err(|e| EnvError::io(Path::new("/boot"), e))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("vmlinuz-").map(str::to_string))
        .filter(|v| Path::new("/lib/modules").join(v).is_dir())
        .collect();
    vs.sort();
    vs.pop().ok_or_else(|| EnvError::MissingPackage { what: "a kernel in /boot with its modules".into(), package: "linux-image-amd64".into() })
}

/// `linux-image-6.1.0-56-amd64 (= 6.1.192-2)` -> `6.1.0-56-amd64`.
fn kernel_from_depends(depends: &str) -> Option<String> {
    depends.split([',', '|', ' ']).find_map(|w| w.trim().strip_prefix("linux-image-")).map(str::to_string)
}

/// Whether an ELF file is dynamically linked (has a PT_INTERP program
/// header); `None` when it is not a 64-bit little-endian ELF file.
pub fn elf_is_dynamic(b: &[u8]) -> Option<bool> {
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().ok()?) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    Some((0..phnum).any(|i| {
        let o = phoff.saturating_add(i * phentsize);
        b.get(o..o + 4).is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap()) == 3)
    }))
}

/// The libraries (and the dynamic loader) in `ldd` output; `Err` names
/// the ones ldd could not find.
pub fn parse_ldd(out: &str) -> Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for l in out.lines() {
        let l = l.trim();
        let target = match l.split_once("=>") {
            Some((name, rest)) if rest.trim().starts_with("not found") => return Err(name.trim().to_string()),
            Some((_, rest)) => rest.split_whitespace().next(),
            None => l.split_whitespace().next(),
        };
        if let Some(t) = target.filter(|t| t.starts_with('/')) {
            libs.push(PathBuf::from(t));
        }
    }
    Ok(libs)
}

/// One line of tools.txt.
#[derive(Debug, PartialEq, Eq)]
pub struct ToolLine<'a> {
    /// A program name, or an absolute path for a data file.
    pub name: &'a str,
    pub package: &'a str,
    pub optional: bool,
}

pub fn parse_tools(text: &str) -> Result<Vec<ToolLine<'_>>, EnvError> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let w: Vec<&str> = l.split('#').next().unwrap_or("").split_whitespace().collect();
        match w.as_slice() {
            [] => {}
            [name, package] => out.push(ToolLine { name, package, optional: false }),
            [name, package, "?"] => out.push(ToolLine { name, package, optional: true }),
            _ => return Err(EnvError::Invalid(format!("tools.txt line {}: {l:?}: expected `TOOL PACKAGE [?]`", i + 1))),
        }
    }
    Ok(out)
}

fn find_program(name: &str) -> Option<PathBuf> {
    BIN_DIRS.iter().map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

fn read(p: &Path) -> Result<Vec<u8>, EnvError> {
    fs::read(p).map_err(|e| EnvError::io(p, e))
}

fn run(cmd: &mut Command) -> Result<String, EnvError> {
    let name = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| EnvError::Command { cmd: name.clone(), detail: e.to_string() })?;
    if !out.status.success() {
        return Err(EnvError::Command { cmd: name, detail: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()) });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Shared libraries of a dynamic ELF program, by ldd.
fn shared_libraries(program: &Path, libs: &mut BTreeSet<PathBuf>) -> Result<(), EnvError> {
    let out = run(Command::new("ldd").arg(program))?;
    let found = parse_ldd(&out)
        .map_err(|lib| EnvError::Invalid(format!("{}: shared library {lib} not found (ldd)", program.display())))?;
    libs.extend(found);
    Ok(())
}

/// parc's bytes as they go into the initramfs: stripped when asked and
/// binutils' `strip` is there.
fn parc_bytes(parc: &Path, strip: bool, scratch: &Path) -> Result<(Vec<u8>, bool), EnvError> {
    if strip {
        let tmp = scratch.join(format!(".parc-strip.{}", std::process::id()));
        let ok = Command::new("strip").arg("--strip-all").arg("-o").arg(&tmp).arg(parc).output().is_ok_and(|o| o.status.success());
        if ok {
            let b = read(&tmp);
            let _ = fs::remove_file(&tmp);
            return Ok((b?, true));
        }
        let _ = fs::remove_file(&tmp);
    }
    Ok((read(parc)?, false))
}

fn package_versions(kernel_version: &str) -> Vec<(String, String)> {
    let kpkg = format!("linux-image-{kernel_version}");
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${Version} ${db:Status-Abbrev}\n"])
        .args(PACKAGES)
        .arg(&kpkg)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut v: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() >= 3 && w[2].starts_with("ii")).then(|| (w[0].to_string(), w[1].to_string()))
        })
        .collect();
    v.sort();
    v
}

fn compress(data: &[u8], c: Compression) -> Result<Vec<u8>, EnvError> {
    match c {
        Compression::None => Ok(data.to_vec()),
        Compression::Zstd => zstd::stream::encode_all(data, ZSTD_LEVEL).map_err(|e| EnvError::Invalid(format!("zstd: {e}"))),
        Compression::Gzip => {
            use std::io::Write;
            // -n: no name or timestamp in the header, so the bytes repeat.
            let mut child = Command::new("gzip")
                .args(["-9", "-n", "-c"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .map_err(|_| EnvError::MissingPackage { what: "gzip".into(), package: "gzip".into() })?;
            let mut stdin = child.stdin.take().expect("piped");
            let input = data.to_vec();
            let writer = std::thread::spawn(move || stdin.write_all(&input));
            let out = child.wait_with_output().map_err(|e| EnvError::Invalid(format!("gzip: {e}")))?;
            writer.join().expect("gzip writer").map_err(|e| EnvError::Invalid(format!("gzip: {e}")))?;
            Ok(out.stdout)
        }
    }
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<(), EnvError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    fs::write(&tmp, data).map_err(|e| EnvError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| EnvError::io(path, e))
}

/// Builds the environment into `opts.out`.
pub fn build(opts: &BuildOptions) -> Result<Built, EnvError> {
    let version = match &opts.kernel_version {
        Some(v) => v.clone(),
        None => default_kernel_version()?,
    };
    let kernel_path = PathBuf::from(format!("/boot/vmlinuz-{version}"));
    let moddir = PathBuf::from(format!("/lib/modules/{version}"));
    let kernel_pkg = format!("linux-image-{version}");

    // Everything missing at once, each with its package.
    let mut missing = Vec::new();
    let mut need = |what: String, package: &str| missing.push(Missing { what, package: package.to_string() });
    if !kernel_path.is_file() {
        need(kernel_path.display().to_string(), &kernel_pkg);
    }
    if !moddir.join("modules.dep").is_file() {
        need(moddir.join("modules.dep").display().to_string(), &kernel_pkg);
    }
    let busybox = ["/usr/bin/busybox", "/bin/busybox"].iter().map(PathBuf::from).find(|p| p.is_file());
    if busybox.is_none() {
        need("busybox".into(), "busybox-static");
    }
    let tools = parse_tools(&opts.recipe.tools)?;
    let mut programs = Vec::new();
    let mut data_files = Vec::new();
    let mut skipped_tools = Vec::new();
    for t in &tools {
        let found = if t.name.starts_with('/') { Some(PathBuf::from(t.name)).filter(|p| p.is_file()) } else { find_program(t.name) };
        match found {
            Some(p) if t.name.starts_with('/') => data_files.push(p),
            Some(p) => programs.push((t.name, p)),
            None if t.optional => skipped_tools.push(format!("{} ({})", t.name, t.package)),
            None => need(t.name.to_string(), t.package),
        }
    }
    if !missing.is_empty() {
        return Err(EnvError::Missing(missing));
    }
    fs::metadata(&opts.parc).map_err(|e| EnvError::io(&opts.parc, e))?;
    let busybox = busybox.expect("checked");

    let kernel = read(&kernel_path)?;
    let config = fs::read_to_string(format!("/boot/config-{version}")).ok();
    let compression = Compression::for_kernel_config(config.as_deref());

    let mut t = Tree::default();
    for d in ["dev", "proc", "sys", "tmp", "run", "root", "mnt", "var/tmp", "etc/parc"] {
        t.dir(d);
    }
    t.insert("dev/console", Node::Device { mode: 0o020600, major: 5, minor: 1 });
    t.file("init", 0o755, opts.recipe.init.as_bytes());
    t.file("etc/udhcpc.script", 0o755, opts.recipe.udhcpc_script.as_bytes());
    t.file("etc/passwd", 0o644, PASSWD);
    t.file("etc/group", 0o644, GROUP);
    t.file("etc/hosts", 0o644, HOSTS);
    t.file("etc/nsswitch.conf", 0o644, NSSWITCH);
    t.symlink("etc/mtab", "/proc/mounts");

    // busybox and its applets; a real tool of the same name wins.
    let bb = read(&busybox)?;
    if elf_is_dynamic(&bb) != Some(false) {
        return Err(EnvError::MissingPackage {
            what: format!("a statically linked busybox ({} is not)", busybox.display()),
            package: "busybox-static".into(),
        });
    }
    t.file("bin/busybox", 0o755, bb);
    let tool_names: BTreeSet<&str> = programs.iter().map(|(n, _)| *n).collect();
    for applet in run(Command::new(&busybox).arg("--list"))?.lines().map(str::trim) {
        if !applet.is_empty() && applet != "busybox" && !applet.contains('/') && !tool_names.contains(applet) {
            t.symlink(&format!("bin/{applet}"), "busybox");
        }
    }

    // Tools and parc, with their shared libraries.
    let mut libs = BTreeSet::new();
    for (name, path) in &programs {
        let b = read(path)?;
        if elf_is_dynamic(&b) == Some(true) {
            shared_libraries(path, &mut libs)?;
        }
        t.file(&format!("sbin/{name}"), 0o755, b);
    }
    for f in &data_files {
        t.file(&f.to_string_lossy(), 0o644, read(f)?);
    }
    let parc_source = read(&opts.parc)?;
    if elf_is_dynamic(&parc_source) == Some(true) {
        shared_libraries(&opts.parc, &mut libs)?;
    }
    fs::create_dir_all(&opts.out).map_err(|e| EnvError::io(&opts.out, e))?;
    let (parc, parc_stripped) = parc_bytes(&opts.parc, opts.strip, &opts.out)?;
    let parc_len = parc.len() as u64;
    t.file("bin/parc", 0o755, parc);
    for lib in &libs {
        t.file(&lib.to_string_lossy(), 0o755, read(lib)?);
    }

    // Modules, decompressed (the kernel loads them faster, and the whole
    // archive compresses better), with a modules.dep for modprobe.
    let index = ModuleIndex::load(&moddir)?;
    let wanted = modules::parse_list(&opts.recipe.modules);
    let resolved = index.resolve(&wanted);
    let mut order = String::new();
    let mut dep = String::new();
    for rel in &resolved.files {
        let plain = modules::uncompressed_path(rel);
        t.file(&format!("lib/modules/{version}/{plain}"), 0o644, modules::read_module(&moddir.join(rel))?);
        writeln!(order, "{plain}").unwrap();
        writeln!(dep, "{}", index.dep_line(rel).unwrap_or_else(|| format!("{plain}:"))).unwrap();
    }
    t.file("etc/parc/modules.order", 0o644, order);
    t.file(&format!("lib/modules/{version}/modules.dep"), 0o644, dep);
    for f in ["modules.builtin", "modules.order"] {
        if let Ok(b) = fs::read(moddir.join(f)) {
            t.file(&format!("lib/modules/{version}/{f}"), 0o644, b);
        }
    }

    let cpio = t.to_cpio();
    let initrd = compress(&cpio, compression)?;

    let mut manifest = String::new();
    writeln!(manifest, "# parc netboot environment (parc env build): the same packages and parc binary give the same bytes.").unwrap();
    writeln!(manifest, "kernel {version}").unwrap();
    writeln!(manifest, "compression {}", compression.name()).unwrap();
    for (p, v) in package_versions(&version) {
        writeln!(manifest, "package {p} {v}").unwrap();
    }
    writeln!(manifest, "parc-binary {} {} {}", parc_source.len(), blake3::hash(&parc_source), if parc_stripped { "stripped" } else { "as-is" }).unwrap();
    for (name, b) in [("initrd.img", &initrd), ("vmlinuz", &kernel)] {
        writeln!(manifest, "file {name} {} {}", b.len(), blake3::hash(b)).unwrap();
    }
    writeln!(manifest, "file initrd.img.cpio {} {}", cpio.len(), blake3::hash(&cpio)).unwrap();
    for (path, node) in t.iter() {
        match node {
            Node::File { data, .. } => writeln!(manifest, "initrd /{path} {} {}", data.len(), blake3::hash(data)).unwrap(),
            Node::Symlink(to) => writeln!(manifest, "initrd /{path} -> {to}").unwrap(),
            Node::Dir | Node::Device { .. } => {}
        }
    }

    write_atomically(&opts.out.join("vmlinuz"), &kernel)?;
    write_atomically(&opts.out.join("initrd.img"), &initrd)?;
    write_atomically(&opts.out.join("manifest.txt"), manifest.as_bytes())?;
    Ok(Built {
        out: opts.out.clone(),
        kernel_version: version,
        kernel_bytes: kernel.len() as u64,
        initrd_bytes: initrd.len() as u64,
        initrd_uncompressed: cpio.len() as u64,
        compression,
        entries: t.iter().count(),
        modules: resolved.files.len(),
        missing_modules: resolved.missing,
        skipped_tools,
        parc_bytes: parc_len,
        parc_stripped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_parses() {
        let r = Recipe::builtin();
        let tools = parse_tools(&r.tools).unwrap();
        assert!(tools.iter().any(|t| t.name == "mkfs.ext4" && t.package == "e2fsprogs" && !t.optional));
        assert!(tools.iter().any(|t| t.name == "partprobe" && t.optional));
        let mods = modules::parse_list(&r.modules);
        for m in ["e1000", "e1000e", "igb", "ixgbe", "r8169", "virtio_net", "nvme", "ahci", "usb_storage", "ext4", "vfat", "fuse"] {
            assert!(mods.contains(&m), "{m} in modules.txt");
        }
        assert!(r.init.starts_with("#!/bin/sh\n"));
        assert!(r.init.contains(crate::netenv::STARTING_AGENT));
        assert!(parse_tools("mkfs.ext4\n").is_err());
    }

    #[test]
    fn ldd_output() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibntfs-3g.so.89 => /lib/x86_64-linux-gnu/libntfs-3g.so.89 (0x00007f76)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f76a9c05000)\n";
        assert_eq!(
            parse_ldd(out).unwrap(),
            ["/lib/x86_64-linux-gnu/libntfs-3g.so.89", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"].map(PathBuf::from)
        );
        assert_eq!(parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err(), "libfoo.so.1");
    }

    #[test]
    fn kernel_version_from_the_metapackage() {
        assert_eq!(kernel_from_depends("linux-image-6.1.0-56-amd64 (= 6.1.192-2)").as_deref(), Some("6.1.0-56-amd64"));
        assert_eq!(kernel_from_depends(""), None);
    }

    #[test]
    fn compression_follows_the_kernel_config() {
        assert_eq!(Compression::for_kernel_config(Some("CONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n")), Compression::Zstd);
        assert_eq!(Compression::for_kernel_config(Some("CONFIG_RD_GZIP=y\n# CONFIG_RD_ZSTD is not set\n")), Compression::Gzip);
        assert_eq!(Compression::for_kernel_config(Some("")), Compression::None);
        assert_eq!(Compression::for_kernel_config(None), Compression::Gzip);
    }

    #[test]
    fn elf_headers() {
        let sh = fs::read("/bin/sh").unwrap();
        assert_eq!(elf_is_dynamic(&sh), Some(true), "Debian's dash is dynamic");
        assert_eq!(elf_is_dynamic(b"#!/bin/sh\n"), None);
        if let Ok(bb) = fs::read("/bin/busybox") {
            // busybox-static, as the environment needs, or Debian's dynamic busybox.
            assert!(elf_is_dynamic(&bb).is_some());
        }
    }

    #[test]
    fn errors_name_the_packages() {
        let e = EnvError::Missing(vec![
            Missing { what: "mkntfs".into(), package: "ntfs-3g".into() },
            Missing { what: "ntfsresize".into(), package: "ntfs-3g".into() },
            Missing { what: "busybox".into(), package: "busybox-static".into() },
        ]);
        assert_eq!(e.to_string(), "missing mkntfs (ntfs-3g), ntfsresize (ntfs-3g), busybox (busybox-static): apt-get install busybox-static ntfs-3g");
    }
}
