//! What the progress bars are told: each phase's total is the work that
//! phase really does (bytes read, compared or fetched), and the advances
//! add up to it exactly, so a bar ends full and its rate is a disk's rate.

use std::sync::Mutex;

use parc_imaging::{capture, restore, CaptureOptions, Progress, Repository, RestoreOptions};

use super::*;

/// Every phase a run reported: name, announced total, bytes advanced.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, u64, u64)>>);

impl Progress for Recorder {
    fn begin(&self, phase: &str, total: u64) {
        self.0.lock().unwrap().push((phase.to_string(), total, 0));
    }
    fn advance(&self, bytes: u64) {
        self.0.lock().unwrap().last_mut().expect("advance inside a phase").2 += bytes;
    }
    fn finish(&self) {}
}

impl Recorder {
    fn phases(&self) -> Vec<(String, u64, u64)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_counts_the_work_each_phase_does() {
    let f = fixtures();
    let dir = scratch();
    let db = parc_db::Db::open_sqlite(&dir.path().join("parc.db"), true).await.unwrap();
    db.migrate([parc_imaging::catalog::migrator()]).await.unwrap();
    let repo = Repository::open_dir(dir.path(), &db).unwrap();

    let rec = Recorder::default();
    let opts = CaptureOptions::new("a");
    let report = capture(&f.a, &repo, &opts, &rec).await.unwrap();
    let phases = rec.phases();
    assert_eq!(phases.len(), 1, "{phases:?}");
    let (phase, total, done) = &phases[0];
    assert_eq!(phase, "capture");
    assert_eq!((*total, *done), (report.summary.bytes_read, report.summary.bytes_read), "the capture bar counts what is read");
    assert!(*total < report.summary.source_size / 2, "unused ext4 blocks are not counted as progress: {total} of {}", report.summary.source_size);

    // Onto a blank file: nothing to compare, one bar for what is fetched.
    let target = dir.path().join("t.img");
    let r = restore("a", &target, &repo, &RestoreOptions::default(), &rec).await.unwrap();
    let phases = rec.phases();
    assert_eq!(phases.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["fetch"], "{phases:?}");
    assert_eq!(phases[0].1, phases[0].2, "the fetch bar ends full");
    assert_eq!(phases[0].1, r.summary.bytes_written, "the fetch bar counts what is written");

    // Again onto the restored file: the compare reads the data, not the holes.
    let r = restore("a", &target, &repo, &RestoreOptions::default(), &rec).await.unwrap();
    let phases = rec.phases();
    assert_eq!(phases.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["compare", "fetch"], "{phases:?}");
    let (_, compare_total, compare_done) = &phases[0];
    assert_eq!(compare_total, compare_done, "the compare bar ends full");
    assert_eq!(*compare_total, report.summary.bytes_read - report.hole_bytes, "the compare bar counts the image's data bytes");
    assert_eq!((phases[1].1, phases[1].2), (0, 0), "nothing changed, nothing fetched");
    assert_eq!(r.summary.bytes_received, 0);
}
