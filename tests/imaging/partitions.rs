//! Partitioned disks made by the real tools: GPT with FAT32 ESP, ext4, NTFS
//! and swap; MBR with a logical partition. Capture reads the filesystems'
//! used blocks; restore gives clean filesystems with identical files.

use super::*;
use parc_testkit as kit;

/// A GPT disk: 1 ESP (FAT32, files via mtools), 2 ext4 (`mkfs.ext4 -d`,
/// about 20 % full), 3 NTFS (a file via ntfscp), 4 swap.
struct GptDisk {
    disk: PathBuf,
    tree: PathBuf,
    parts: Vec<(u64, u64)>,
}

fn tool(t: &str, pkg: &str) {
    kit::require_tool(t, pkg).unwrap();
}

fn make_gpt_disk(dir: &Path) -> GptDisk {
    for (t, p) in [("sgdisk", "gdisk"), ("mkfs.vfat", "dosfstools"), ("mcopy", "mtools"), ("mkntfs", "ntfs-3g"), ("ntfscp", "ntfs-3g"), ("mkswap", "util-linux")] {
        tool(t, p);
    }
    let disk = dir.join("gpt.img");
    std::fs::File::create(&disk).unwrap().set_len(1024 * MIB).unwrap();
    kit::run(Command::new("sgdisk").args(["-n", "1:2048:+64M", "-t", "1:ef00", "-c", "1:ESP", "-n", "2:0:+512M", "-t", "2:8300", "-c", "2:root", "-n", "3:0:+256M", "-t", "3:0700", "-c", "3:data", "-n", "4:0:+64M", "-t", "4:8200"]).arg(&disk)).unwrap();
    let parts: Vec<(u64, u64)> = (1..=4).map(|n| kit::gpt_partition(&disk, n).unwrap()).collect();

    let tree = dir.join("tree");
    kit::copy_files(&[Path::new("/usr/share/doc")], &tree, 100 * MIB).unwrap();
    let fs = |name: &str, size: u64| {
        let p = dir.join(name);
        std::fs::File::create(&p).unwrap().set_len(size).unwrap();
        p
    };
    let esp = fs("esp", parts[0].1);
    kit::run(Command::new("mkfs.vfat").args(["-F", "32", "-n", "ESP"]).arg(&esp)).unwrap();
    std::fs::write(dir.join("bootx64.efi"), kit::pseudo_random(300_000, 3)).unwrap();
    kit::run(Command::new("mmd").arg("-i").arg(&esp).args(["::/EFI", "::/EFI/BOOT"])).unwrap();
    kit::run(Command::new("mcopy").arg("-i").arg(&esp).arg(dir.join("bootx64.efi")).arg("::/EFI/BOOT/BOOTX64.EFI")).unwrap();
    kit::write_into(&disk, parts[0].0, &esp).unwrap();

    let root = dir.join("root");
    kit::mkfs_ext4(&tree, &root, parts[1].1).unwrap();
    kit::write_into(&disk, parts[1].0, &root).unwrap();

    let ntfs = fs("ntfs", parts[2].1);
    kit::run(Command::new("mkntfs").args(["-F", "-Q", "-q", "-L", "data"]).arg(&ntfs)).unwrap();
    std::fs::write(dir.join("data.bin"), kit::pseudo_random(2_000_000, 4)).unwrap();
    kit::run(Command::new("ntfscp").arg(&ntfs).arg(dir.join("data.bin")).arg("data.bin")).unwrap();
    kit::write_into(&disk, parts[2].0, &ntfs).unwrap();

    let swap = fs("swap", parts[3].1);
    kit::run(Command::new("mkswap").arg(&swap)).unwrap();
    kit::write_into(&disk, parts[3].0, &swap).unwrap();
    for f in [esp, root, ntfs, swap] {
        std::fs::remove_file(f).unwrap();
    }
    GptDisk { disk, tree, parts }
}

/// Fails unless every filesystem on `disk` is clean and holds the test's files.
fn check_filesystems(g: &GptDisk, disk: &Path, work: &Path) {
    kit::run(Command::new("sgdisk").arg("-v").arg(disk)).expect("sgdisk -v");
    let verify = kit::run(Command::new("sgdisk").arg("-v").arg(disk)).unwrap();
    assert!(verify.contains("No problems found"), "{verify}");

    let esp = work.join("esp.out");
    kit::extract(disk, g.parts[0].0, g.parts[0].1, &esp).unwrap();
    kit::run(Command::new("fsck.vfat").arg("-n").arg(&esp)).expect("fsck.vfat -n clean");
    let efi = work.join("BOOTX64.EFI");
    kit::run(Command::new("mcopy").arg("-n").arg("-i").arg(&esp).arg("::/EFI/BOOT/BOOTX64.EFI").arg(&efi)).unwrap();
    assert!(std::fs::read(&efi).unwrap() == kit::pseudo_random(300_000, 3), "ESP file differs");

    let root = work.join("root.out");
    kit::extract(disk, g.parts[1].0, g.parts[1].1, &root).unwrap();
    kit::run(Command::new("e2fsck").arg("-fn").arg(&root)).expect("e2fsck -fn clean");
    let dump = work.join("dump");
    std::fs::create_dir_all(&dump).unwrap();
    kit::run(Command::new("debugfs").arg("-R").arg(format!("rdump / {}", dump.display())).arg(&root)).unwrap();
    kit::run(Command::new("diff").arg("-r").arg("--no-dereference").arg(g.tree.join("doc")).arg(dump.join("doc"))).expect("ext4 files identical to the source tree");

    let ntfs = work.join("ntfs.out");
    kit::extract(disk, g.parts[2].0, g.parts[2].1, &ntfs).unwrap();
    kit::run(Command::new("ntfsfix").arg("-n").arg(&ntfs)).expect("ntfsfix -n clean");
    let out = Command::new("ntfscat").arg(&ntfs).arg("data.bin").output().unwrap();
    assert!(out.status.success() && out.stdout == kit::pseudo_random(2_000_000, 4), "NTFS file differs");
}

#[test]
fn gpt_disk_with_four_filesystems_round_trips() {
    let work = scratch();
    let g = make_gpt_disk(work.path());
    let store = scratch();
    let st = s(store.path());
    let cap = parc_json(&["image", "capture", s(&g.disk), "--name", "gpt", "--store", st]);
    let parts = cap["layout"]["partitions"].as_array().unwrap();
    assert_eq!(cap["layout"]["table"], "gpt");
    let fss: Vec<_> = parts.iter().map(|p| p["filesystem"].as_str().unwrap()).collect();
    assert_eq!(fss, ["vfat", "ext4", "ntfs", "swap"], "{cap}");
    assert_eq!(parts[1]["name"], "root");
    assert!(parts[1]["used_bytes"].as_u64().unwrap() > 0);
    // FAT, ext4 and NTFS are read through their allocation maps; swap is
    // imaged raw, and the warning says so, naming the partition.
    for p in &parts[..3] {
        assert!(p["used_bytes"].as_u64().unwrap() < p["size"].as_u64().unwrap(), "{p}");
    }
    let warnings = cap["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{cap}");
    assert!(warnings[0].as_str().unwrap().starts_with("partition 4") && warnings[0].as_str().unwrap().contains("swap"), "{cap}");
    // Free space of the three filesystems is not read.
    let free: u64 = parts[..3].iter().map(|p| p["size"].as_u64().unwrap() - p["used_bytes"].as_u64().unwrap()).sum();
    assert!(num(&cap, "bytes_read") <= 1024 * MIB - free, "{cap}");
    // In text form each capture warning is printed once.
    let out = parc(&["image", "capture", s(&g.disk), "--name", "gpt-text", "--store", st]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(said.matches("partition 4").count(), 1, "{said}");
    // `image show` names the partition types and dates the capture like the
    // other views; its --json carries the layout too.
    let out = parc(&["image", "show", "gpt", "--store", st]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("EFI System (") && text.contains("Linux filesystem ("), "{text}");
    assert!(!text.contains("at unix") && text.lines().any(|l| l.starts_with("captured") && (l.contains(" +") || l.contains(" -"))), "{text}");
    let shown = parc_json(&["image", "show", "gpt", "--store", st]);
    assert_eq!(shown["layout"]["partitions"].as_array().map(Vec::len), Some(4), "{shown}");

    let target = work.path().join("restored.img");
    parc_json(&["image", "restore", "gpt", s(&target), "--store", st]);
    check_filesystems(&g, &target, work.path());

    // Onto a disk holding other data: free space keeps it, files are right.
    std::fs::write(&target, kit::pseudo_random(1024 * MIB as usize, 9)).unwrap();
    parc_json(&["image", "restore", "gpt", s(&target), "--store", st]);
    check_filesystems(&g, &target, work.path());

    let show = parc(&["image", "show", "gpt", "--store", st]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("Gpt table") && text.contains("ext4") && text.contains("root"), "{text}");
}

#[test]
fn capture_reads_only_used_blocks_of_ext4() {
    let work = scratch();
    let tree = work.path().join("tree");
    kit::copy_files(&[Path::new("/usr/share")], &tree, 120 * MIB).unwrap();
    let img = work.path().join("ext4.img");
    kit::mkfs_ext4(&tree, &img, GIB).unwrap();
    let info = kit::run(Command::new("dumpe2fs").arg("-h").arg(&img)).unwrap();
    let field = |name: &str| -> u64 { info.lines().find(|l| l.starts_with(name)).unwrap().split(':').nth(1).unwrap().trim().parse().unwrap() };
    let used = (field("Block count") - field("Free blocks")) * field("Block size");
    assert!(used < GIB * 25 / 100, "fixture should be about 20 % full, is {used}");
    let store = scratch();
    let cap = parc_json(&["image", "capture", s(&img), "--name", "e", "--store", s(store.path())]);
    let read = num(&cap, "bytes_read");
    eprintln!("ext4 {used} bytes used, capture read {read}");
    assert!(read <= used + 4096, "read {read} bytes, the filesystem uses {used}");
    assert!(cap["warnings"].as_array().unwrap().is_empty(), "{cap}");

    // Free space: a delta restore leaves the target's old bytes there, --full zeroes it.
    let target = work.path().join("t.img");
    let noise = kit::pseudo_random(GIB as usize, 51);
    std::fs::write(&target, &noise).unwrap();
    parc_json(&["image", "restore", "e", s(&target), "--store", s(store.path())]);
    let last_mib = |p: &Path| std::fs::read(p).unwrap()[(GIB - MIB) as usize..].to_vec();
    assert!(last_mib(&target) == noise[(GIB - MIB) as usize..], "a delta restore rewrote free space");
    kit::run(Command::new("e2fsck").arg("-fn").arg(&target)).expect("clean after a delta restore over old data");
    parc_json(&["image", "restore", "e", s(&target), "--full", "--store", s(store.path())]);
    assert!(last_mib(&target).iter().all(|&b| b == 0), "--full left free space unzeroed");
    kit::run(Command::new("e2fsck").arg("-fn").arg(&target)).expect("clean after a full restore");
}

#[test]
fn damaged_ext4_metadata_falls_back_to_raw_and_round_trips() {
    let f = fixtures();
    let work = scratch();
    let info = kit::run(Command::new("dumpe2fs").arg(&f.a)).unwrap();
    let bitmap: u64 = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("Block bitmap at "))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("dumpe2fs names group 0's block bitmap");
    let damaged = work.path().join("damaged.img");
    std::fs::copy(&f.a, &damaged).unwrap();
    let d = std::fs::OpenOptions::new().write(true).open(&damaged).unwrap();
    use std::os::unix::fs::FileExt;
    d.write_all_at(&[0x5A; 64], bitmap * 4096 + 2048).unwrap();
    let store = scratch();
    let st = s(store.path());
    let cap = parc_json(&["image", "capture", s(&damaged), "--name", "d", "--store", st]);
    let w = cap["warnings"].to_string();
    assert!(w.contains("partition 0") && w.contains("checksum"), "{cap}");
    let target = work.path().join("t.img");
    parc_json(&["image", "restore", "d", s(&target), "--store", st]);
    assert!(kit::same_content(&damaged, &target), "raw fallback must round-trip byte-identical");

    // A destroyed superblock: nothing recognised, imaged raw, identical.
    d.write_all_at(&[0; 2], 1024 + 0x38).unwrap();
    let cap = parc_json(&["image", "capture", s(&damaged), "--name", "d2", "--store", st]);
    assert!(cap["warnings"].to_string().contains("no filesystem recognised"), "{cap}");
    std::fs::remove_file(&target).unwrap();
    parc_json(&["image", "restore", "d2", s(&target), "--store", st]);
    assert!(kit::same_content(&damaged, &target));
}

/// A 256 MiB MBR disk: primary 1, extended 2, logical 5 holding ext4 with
/// 20 MiB of files.
fn make_mbr_disk(dir: &Path) -> PathBuf {
    tool("sfdisk", "fdisk");
    let disk = dir.join("mbr.img");
    std::fs::File::create(&disk).unwrap().set_len(256 * MIB).unwrap();
    let script = "label: dos\nstart=2048, size=65536, type=83\nstart=69632, type=5\nstart=71680, size=131072, type=83\n";
    let mut child = Command::new("sfdisk").arg("--no-reread").arg("--no-tell-kernel").arg(&disk).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::null()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    let tree = dir.join("tree");
    kit::copy_files(&[Path::new("/usr/share/doc")], &tree, 20 * MIB).unwrap();
    let logical = dir.join("logical");
    kit::mkfs_ext4(&tree, &logical, 131072 * 512).unwrap();
    kit::write_into(&disk, 71680 * 512, &logical).unwrap();
    disk
}

#[test]
fn mbr_disk_with_a_logical_partition() {
    let work = scratch();
    let disk = make_mbr_disk(work.path());
    let store = scratch();
    let st = s(store.path());
    let cap = parc_json(&["image", "capture", s(&disk), "--name", "mbr", "--store", st]);
    assert_eq!(cap["layout"]["table"], "mbr", "{cap}");
    let parts = cap["layout"]["partitions"].as_array().unwrap();
    let l = parts.iter().find(|p| p["number"] == 5).unwrap_or_else(|| panic!("no logical partition 5: {cap}"));
    assert_eq!(l["filesystem"], "ext4");
    assert_eq!(l["start"], 71680 * 512);
    let target = work.path().join("t.img");
    parc_json(&["image", "restore", "mbr", s(&target), "--store", st]);
    let dump = kit::run(Command::new("sfdisk").arg("--dump").arg(&target)).unwrap();
    assert!(dump.contains("start=       71680, size=      131072, type=83"), "{dump}");
    let out = work.path().join("l.out");
    kit::extract(&target, 71680 * 512, 131072 * 512, &out).unwrap();
    kit::run(Command::new("e2fsck").arg("-fn").arg(&out)).expect("logical ext4 clean");
}

#[test]
fn restore_onto_a_larger_disk_moves_the_gpt_backup_and_a_too_small_one_is_refused() {
    let work = scratch();
    let g = make_gpt_disk(work.path());
    let store = scratch();
    let st = s(store.path());
    parc_json(&["image", "capture", s(&g.disk), "--name", "gpt", "--store", st]);

    let bigger = work.path().join("bigger.img");
    std::fs::File::create(&bigger).unwrap().set_len(2048 * MIB).unwrap();
    let r = parc_json(&["image", "restore", "gpt", s(&bigger), "--store", st]);
    assert!(r["adjustments"].to_string().contains("GPT backup"), "{r}");
    assert_eq!(std::fs::metadata(&bigger).unwrap().len(), 2048 * MIB, "the disk keeps its size");
    let p = kit::run(Command::new("sgdisk").arg("-p").arg(&bigger)).unwrap();
    assert!(p.contains("last usable sector is 4194270"), "backup GPT not at the new end: {p}");
    check_filesystems(&g, &bigger, work.path());

    let smaller = work.path().join("smaller.img");
    let old = kit::pseudo_random(512 * MIB as usize, 12);
    std::fs::write(&smaller, &old).unwrap();
    let out = parc(&["image", "restore", "gpt", s(&smaller), "--store", st]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("{} bytes are missing", 512 * MIB)), "{err}");
    assert!(std::fs::read(&smaller).unwrap() == old, "a refused restore changed the target");
}

/// A 256 MiB GPT disk: a 32 MiB ESP, then ext4 to the end holding 30 MiB of files.
fn make_small_gpt_ext4(dir: &Path) -> (PathBuf, PathBuf, u64, u64) {
    make_small_gpt_ext4_blocks(dir, 4096)
}

/// The same with ext4 blocks of `block` bytes.
fn make_small_gpt_ext4_blocks(dir: &Path, block: u32) -> (PathBuf, PathBuf, u64, u64) {
    tool("resize2fs", "e2fsprogs");
    let disk = dir.join("small.img");
    std::fs::File::create(&disk).unwrap().set_len(256 * MIB).unwrap();
    kit::run(Command::new("sgdisk").args(["-n", "1:2048:+32M", "-t", "1:ef00", "-n", "2:0:0", "-t", "2:8300"]).arg(&disk)).unwrap();
    let (start, size) = kit::gpt_partition(&disk, 2).unwrap();
    let tree = dir.join("tree");
    kit::copy_files(&[Path::new("/usr/share/doc")], &tree, 30 * MIB).unwrap();
    let root = dir.join("root");
    kit::mkfs_ext4_blocks(&tree, &root, size, block).unwrap();
    kit::write_into(&disk, start, &root).unwrap();
    (disk, tree, start, size)
}

/// The ext4 partition 2 of `disk` is clean and holds `tree`'s files.
fn check_ext4_partition(disk: &Path, tree: &Path, work: &Path) -> (u64, u64) {
    let verify = kit::run(Command::new("sgdisk").arg("-v").arg(disk)).unwrap();
    assert!(verify.contains("No problems found"), "{verify}");
    let (start, size) = kit::gpt_partition(disk, 2).unwrap();
    let part = work.join("part.out");
    kit::extract(disk, start, size, &part).unwrap();
    kit::run(Command::new("e2fsck").arg("-fn").arg(&part)).expect("filesystem is clean");
    let dump = work.join("dump");
    let _ = std::fs::remove_dir_all(&dump);
    std::fs::create_dir_all(&dump).unwrap();
    kit::run(Command::new("debugfs").arg("-R").arg(format!("rdump /doc {}", dump.display())).arg(&part)).unwrap();
    kit::run(Command::new("diff").arg("-r").arg(tree.join("doc")).arg(dump.join("doc"))).expect("files identical");
    (start, size)
}

#[test]
fn shrink_fits_a_smaller_disk_when_the_data_fits_and_refuses_otherwise() {
    let work = scratch();
    let (disk, tree, _, _) = make_small_gpt_ext4(work.path());
    let store = scratch();
    let st = s(store.path());
    parc_json(&["image", "capture", s(&disk), "--name", "small", "--store", st]);

    let smaller = work.path().join("smaller.img");
    std::fs::write(&smaller, kit::pseudo_random(160 * MIB as usize, 31)).unwrap();
    let r = parc_json(&["image", "restore", "small", s(&smaller), "--store", st]);
    assert!(r["adjustments"].to_string().contains("shrunk"), "{r}");
    assert_eq!(std::fs::metadata(&smaller).unwrap().len(), 160 * MIB);
    let (_, size) = check_ext4_partition(&smaller, &tree, work.path());
    assert!(size < 128 * MIB, "partition 2 is {size} bytes");

    let tiny = work.path().join("tiny.img");
    let old = kit::pseudo_random(48 * MIB as usize, 32);
    std::fs::write(&tiny, &old).unwrap();
    let out = parc(&["image", "restore", "small", s(&tiny), "--store", st]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("are missing") && err.contains(" bytes)"), "sizes in human units with the exact bytes: {err}");
    assert!(std::fs::read(&tiny).unwrap() == old, "a refused restore changed the target");
}

#[test]
fn shrink_counts_the_filesystems_own_block_size() {
    // 30 MiB of files fit a 96 MiB partition whatever the block size; the
    // minimum resize2fs reports is in the filesystem's blocks, and reading
    // it as 4 KiB blocks asked four times too much of a 1 KiB filesystem.
    for block in [1024u32, 2048, 4096] {
        let work = scratch();
        let (disk, tree, _, _) = make_small_gpt_ext4_blocks(work.path(), block);
        let store = scratch();
        let st = s(store.path());
        parc_json(&["image", "capture", s(&disk), "--name", "small", "--store", st]);
        let smaller = work.path().join("smaller.img");
        std::fs::File::create(&smaller).unwrap().set_len(128 * MIB).unwrap();
        let out = parc(&["image", "restore", "small", s(&smaller), "--store", st, "--json"]);
        assert!(out.status.success(), "{block}-byte blocks: {}", String::from_utf8_lossy(&out.stderr));
        let (_, size) = check_ext4_partition(&smaller, &tree, work.path());
        assert!(size < 100 * MIB, "{block}-byte blocks: partition 2 is {size} bytes");
        let info = kit::run(Command::new("dumpe2fs").arg("-h").arg(work.path().join("part.out"))).unwrap();
        assert!(info.lines().any(|l| l.starts_with("Block size") && l.ends_with(&block.to_string())), "{info}");
    }
}

#[test]
fn grow_extends_the_last_ext4_partition_onto_a_larger_disk() {
    let work = scratch();
    let (disk, tree, start, size) = make_small_gpt_ext4(work.path());
    let store = scratch();
    let st = s(store.path());
    parc_json(&["image", "capture", s(&disk), "--name", "small", "--store", st]);

    let big = work.path().join("big.img");
    std::fs::File::create(&big).unwrap().set_len(512 * MIB).unwrap();
    let r = parc_json(&["image", "restore", "small", s(&big), "--grow", "--store", st]);
    assert!(r["adjustments"].to_string().contains("grown"), "{r}");
    let (new_start, new_size) = check_ext4_partition(&big, &tree, work.path());
    assert_eq!(new_start, start);
    assert!(new_size > size + 200 * MIB, "partition not grown: {new_size}");
    let blocks = ext4_blocks(&work.path().join("part.out"));
    assert!(blocks * 4096 + 4 * MIB > new_size, "filesystem has {blocks} blocks, partition {new_size} bytes");
}

/// Block count of the ext4 filesystem in `image`.
fn ext4_blocks(image: &Path) -> u64 {
    let info = kit::run(Command::new("dumpe2fs").arg("-h").arg(image)).unwrap();
    info.lines().find(|l| l.starts_with("Block count")).unwrap().split(':').nth(1).unwrap().trim().parse().unwrap()
}

/// A 128 MiB GPT disk: a 16 MiB ESP, then NTFS to the end holding f.bin.
fn make_small_gpt_ntfs(dir: &Path) -> (PathBuf, u64, u64) {
    tool("ntfsresize", "ntfs-3g");
    let disk = dir.join("small.img");
    std::fs::File::create(&disk).unwrap().set_len(128 * MIB).unwrap();
    kit::run(Command::new("sgdisk").args(["-n", "1:2048:+16M", "-t", "1:ef00", "-n", "2:0:0", "-t", "2:0700"]).arg(&disk)).unwrap();
    let (start, size) = kit::gpt_partition(&disk, 2).unwrap();
    let ntfs = dir.join("ntfs");
    std::fs::File::create(&ntfs).unwrap().set_len(size).unwrap();
    kit::run(Command::new("mkntfs").args(["-F", "-Q", "-q"]).arg(&ntfs)).unwrap();
    std::fs::write(dir.join("f.bin"), kit::pseudo_random(1_000_000, 21)).unwrap();
    kit::run(Command::new("ntfscp").arg(&ntfs).arg(dir.join("f.bin")).arg("f.bin")).unwrap();
    kit::write_into(&disk, start, &ntfs).unwrap();
    (disk, start, size)
}

/// The NTFS partition 2 of `disk` is consistent and holds f.bin.
fn check_ntfs_partition(disk: &Path, work: &Path) -> (u64, u64) {
    let verify = kit::run(Command::new("sgdisk").arg("-v").arg(disk)).unwrap();
    assert!(verify.contains("No problems found"), "{verify}");
    let (start, size) = kit::gpt_partition(disk, 2).unwrap();
    let part = work.join("part.out");
    kit::extract(disk, start, size, &part).unwrap();
    kit::run(Command::new("ntfsfix").arg("-n").arg(&part)).expect("NTFS is consistent");
    // ntfsresize marks the volume for a check at Windows' next boot, as it
    // always does; reading it here needs --force.
    let out = Command::new("ntfscat").arg("--force").arg(&part).arg("f.bin").output().unwrap();
    assert!(out.stdout == kit::pseudo_random(1_000_000, 21), "file differs: {}", String::from_utf8_lossy(&out.stderr));
    (start, size)
}

#[test]
fn shrink_fits_an_ntfs_disk_onto_a_smaller_disk() {
    let work = scratch();
    let (disk, _, size) = make_small_gpt_ntfs(work.path());
    let store = scratch();
    let st = s(store.path());
    parc_json(&["image", "capture", s(&disk), "--name", "n", "--store", st]);
    let small = work.path().join("smaller.img");
    std::fs::write(&small, kit::pseudo_random(64 * MIB as usize, 61)).unwrap();
    let r = parc_json(&["image", "restore", "n", s(&small), "--store", st]);
    assert!(r["adjustments"].to_string().contains("shrunk"), "{r}");
    let (_, new_size) = check_ntfs_partition(&small, work.path());
    assert!(new_size < size && new_size < 48 * MIB, "{new_size}");
}

#[test]
fn grow_extends_the_last_ntfs_partition_onto_a_larger_disk() {
    let work = scratch();
    let (disk, start, size) = make_small_gpt_ntfs(work.path());
    let store = scratch();
    let st = s(store.path());
    parc_json(&["image", "capture", s(&disk), "--name", "n", "--store", st]);

    let big = work.path().join("big.img");
    std::fs::File::create(&big).unwrap().set_len(256 * MIB).unwrap();
    let r = parc_json(&["image", "restore", "n", s(&big), "--grow", "--store", st]);
    assert!(r["adjustments"].to_string().contains("grown"), "{r}");
    let (new_start, new_size) = check_ntfs_partition(&big, work.path());
    assert_eq!(new_start, start);
    assert!(new_size > size + 100 * MIB);
    let info = kit::run(Command::new("ntfsresize").args(["--info", "--force", "--no-progress-bar"]).arg(work.path().join("part.out"))).unwrap();
    let vol: u64 = info.lines().find(|l| l.starts_with("Current volume size")).and_then(|l| l.split_whitespace().nth(3)).and_then(|v| v.parse().ok()).unwrap();
    assert!(vol + MIB > new_size, "volume {vol} bytes, partition {new_size}");
}

#[test]
fn grow_extends_a_logical_mbr_partition_and_its_extended_container() {
    let work = scratch();
    let disk = make_mbr_disk(work.path());
    let store = scratch();
    let st = s(store.path());
    parc_json(&["image", "capture", s(&disk), "--name", "mbr", "--store", st]);
    let big = work.path().join("big.img");
    std::fs::File::create(&big).unwrap().set_len(512 * MIB).unwrap();
    let r = parc_json(&["image", "restore", "mbr", s(&big), "--grow", "--store", st]);
    assert!(r["adjustments"].to_string().contains("grown"), "{r}");
    let dump = kit::run(Command::new("sfdisk").arg("--dump").arg(&big)).unwrap();
    let line = dump.lines().find(|l| l.contains("start=       71680")).unwrap_or_else(|| panic!("{dump}"));
    let sectors: u64 = line.split("size=").nth(1).unwrap().split(',').next().unwrap().trim().parse().unwrap();
    assert!(sectors * 512 > 400 * MIB, "logical partition not grown: {dump}");
    let out = work.path().join("l.out");
    kit::extract(&big, 71680 * 512, sectors * 512, &out).unwrap();
    kit::run(Command::new("e2fsck").arg("-fn").arg(&out)).expect("grown logical ext4 is clean");
    let blocks = ext4_blocks(&out);
    assert!(blocks * 4096 + 4 * MIB > sectors * 512, "filesystem not grown: {blocks} blocks");
}

#[test]
fn shrink_fits_an_mbr_disk_with_a_logical_partition_onto_a_smaller_disk() {
    let work = scratch();
    let disk = make_mbr_disk(work.path());
    let store = scratch();
    let st = s(store.path());
    parc_json(&["image", "capture", s(&disk), "--name", "mbr", "--store", st]);
    // The logical ext4 ends at 99 MiB; this disk has 80 MiB.
    let small = work.path().join("small.img");
    std::fs::write(&small, kit::pseudo_random(80 * MIB as usize, 41)).unwrap();
    let r = parc_json(&["image", "restore", "mbr", s(&small), "--store", st]);
    assert!(r["adjustments"].to_string().contains("shrunk"), "{r}");
    let dump = kit::run(Command::new("sfdisk").arg("--dump").arg(&small)).unwrap();
    let line = dump.lines().find(|l| l.contains("start=       71680")).unwrap_or_else(|| panic!("{dump}"));
    let sectors: u64 = line.split("size=").nth(1).unwrap().split(',').next().unwrap().trim().parse().unwrap();
    assert!(71680 + sectors <= 80 * MIB / 512, "{dump}");
    let out = work.path().join("l.out");
    kit::extract(&small, 71680 * 512, sectors * 512, &out).unwrap();
    kit::run(Command::new("e2fsck").arg("-fn").arg(&out)).expect("shrunk logical ext4 is clean");
}
