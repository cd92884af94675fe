//! Regression 3 (found by the `cairn-crash` suites, corpus state `144280695832438622 473
//! process`): a crash between writing a segment's seal (footer + trailer) and trimming the
//! preallocated file left a sealed last segment whose trailer was not at the end of the file.
//! Recovery accepted it as sealed; after the next rotation it was an older segment whose seal
//! a clean open could not find, and the log was refused as corrupt. Recovery now trims such a
//! seal before the log is used.

mod common;

use std::path::Path;
use std::sync::Arc;

use cairn_io::Op;
use cairn_sim::{CrashModel, SimVfs, TraceEvent};
use cairn_wal::{Durability, Lsn, Wal, WalOptions};

const DIR: &str = "/wal";

fn options() -> WalOptions {
    WalOptions {
        segment_size_max: 4096,
        record_size_max: 1024,
        preallocate: true,
        ..WalOptions::default()
    }
}

fn workload(sim: &SimVfs, records: u64) -> u64 {
    let Ok((wal, _)) = Wal::open(Path::new(DIR), options(), Arc::new(sim.clone())) else {
        return 0;
    };
    let mut acked = 0;
    for i in 0..records {
        if wal.append(vec![i as u8; 300], Durability::Fsync).is_err() {
            break;
        }
        acked = i + 1;
    }
    acked
}

#[test]
fn crash_between_seal_write_and_trim() {
    // Find the first seal trim (SetLen) of a full run.
    let probe = SimVfs::new(3);
    workload(&probe, 30);
    let trim_call = probe
        .trace()
        .iter()
        .find_map(|e| match e {
            TraceEvent::Call(c) if c.op == Op::SetLen => Some(c.call),
            _ => None,
        })
        .expect("the run rotates");
    // Crash right before it: the seal is written, the file not trimmed.
    let sim = SimVfs::new(3);
    sim.crash_after_call(trim_call - 1);
    let acked = workload(&sim, 30);
    let image = sim.crash_image(&CrashModel::Process);

    // Recover, append across another rotation, and reopen: the log must stay valid.
    let (wal, report) = Wal::open(Path::new(DIR), options(), Arc::new(image.clone())).unwrap();
    assert!(report.last_lsn >= Some(Lsn::new(acked)));
    for i in 0..30u8 {
        wal.append(vec![i; 300], Durability::Fsync).unwrap();
    }
    wal.close().unwrap();
    drop(wal);
    let (wal, _) = Wal::open(Path::new(DIR), options(), Arc::new(image)).unwrap();
    assert!(wal.verify().is_ok());
}

#[test]
fn an_untrimmed_seal_in_an_older_segment_is_repaired() {
    // The state the bug left behind: an older segment sealed but not trimmed.
    let sim = SimVfs::new(5);
    workload(&sim, 30);
    let first = Path::new(DIR).join("00000000000000000001.wal");
    let f = cairn_io::Vfs::open(&sim, &first, cairn_io::OpenMode::ReadWrite).unwrap();
    f.set_len(4096).unwrap(); // as preallocated: zeros after the trailer
    drop(f);
    let (wal, report) = Wal::open(Path::new(DIR), options(), Arc::new(sim.clone())).unwrap();
    assert_eq!(report.last_lsn, Some(Lsn::new(30)));
    assert!(wal.verify().is_ok());
    drop(wal);
    let (_wal, again) = Wal::open(Path::new(DIR), options(), Arc::new(sim)).unwrap();
    assert_eq!(
        again.segments_scanned, 1,
        "trimmed: the seal is found without a scan again"
    );
}
