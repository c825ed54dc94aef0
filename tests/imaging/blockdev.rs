//! Real block devices (loop devices): restore onto one, capture from one,
//! and refuse a device too small before writing anything.

use super::*;
use parc_testkit as kit;

fn loop_over(file: &Path) -> Option<kit::LoopDevice> {
    let mut dev = None;
    let ok = kit::prerequisite("loop devices (run the tests as root)", kit::LoopDevice::attach(file).map(|d| dev = Some(d)));
    if ok { dev } else { None }
}

#[test]
fn restore_to_and_capture_from_a_block_device() {
    let f = fixtures();
    let work = scratch();
    let store = scratch();
    let st = s(store.path());
    parc_json(&["image", "capture", s(&f.mixed), "--name", "mixed", "--store", st]);

    // A device larger than the image, full of old data.
    let backing = work.path().join("disk");
    std::fs::write(&backing, kit::pseudo_random(600 * MIB as usize, 77)).unwrap();
    let Some(dev) = loop_over(&backing) else { return };
    let r = parc_json(&["image", "restore", "mixed", s(&dev.path), "--store", st]);
    // Holes on a device are written as zeros where the old data was not zero.
    assert!(num(&r, "bytes_written") >= 512 * MIB - 64 * MIB, "{r}");
    let mut head = vec![0u8; 512 * MIB as usize];
    use std::io::Read;
    std::fs::File::open(&dev.path).unwrap().read_exact(&mut head).unwrap();
    assert!(head == std::fs::read(&f.mixed).unwrap(), "device content differs from the image");
    let tail = std::fs::read(&backing).unwrap()[512 * MIB as usize..].to_vec();
    assert_eq!(tail, kit::pseudo_random(600 * MIB as usize, 77)[512 * MIB as usize..], "bytes past the image were touched");

    // Again: nothing differs, nothing is written.
    let again = parc_json(&["image", "restore", "mixed", s(&dev.path), "--store", st]);
    assert_eq!((num(&again, "bytes_written"), num(&again, "bytes_received")), (0, 0), "{again}");

    // Capturing the device reads all of it.
    let cap = parc_json(&["image", "capture", s(&dev.path), "--name", "from-device", "--store", st]);
    assert_eq!(num(&cap, "source_size"), 600 * MIB);
}

#[test]
fn a_device_too_small_is_refused_untouched() {
    let f = fixtures();
    let work = scratch();
    let store = scratch();
    let st = s(store.path());
    parc_json(&["image", "capture", s(&f.mixed), "--name", "mixed", "--store", st]);
    let backing = work.path().join("small");
    let old = kit::pseudo_random(64 * MIB as usize, 78);
    std::fs::write(&backing, &old).unwrap();
    let Some(dev) = loop_over(&backing) else { return };
    let out = parc(&["image", "restore", "mixed", s(&dev.path), "--store", st]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("bytes are missing") && err.contains(s(&dev.path)), "{err}");
    drop(dev);
    assert!(std::fs::read(&backing).unwrap() == old, "a refused restore wrote to the device");
}
