//! Preallocated segments are written with zeros a step ahead of the frames by the group-commit
//! leader, so that small durable appends overwrite blocks the file system has already
//! converted from preallocated to written (see `SegmentWriter::zero_ahead`). Checked on the
//! simulator's trace of every write, and by reading the log back across a power cut.

mod common;

use std::sync::Arc;

use cairn_io::Op;
use cairn_sim::{CrashModel, SimVfs, TraceEvent};
use cairn_wal::{Durability, Lsn, Wal, WalOptions};

const STEP: u64 = 1 << 20;

fn options(preallocate: bool) -> WalOptions {
    WalOptions {
        segment_size_max: 4 << 20,
        record_size_max: 64 << 10,
        preallocate,
        ..WalOptions::default()
    }
}

/// The writes of the trace into segment files: (offset, length). Frame writes here are one
/// record of about 1 KiB each; zero steps are at least half a step long.
fn segment_writes(vfs: &SimVfs) -> Vec<(u64, u64)> {
    vfs.trace()
        .into_iter()
        .filter_map(|event| match event {
            TraceEvent::Call(call)
                if call.op == Op::Write
                    && call.path.extension().is_some_and(|e| e == "wal")
                    && call.result.is_ok() =>
            {
                Some((call.offset, call.len))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn durable_appends_zero_a_step_ahead_of_the_frames() {
    let vfs = Arc::new(SimVfs::new(1));
    let (wal, _) = Wal::open("/wal", options(true), vfs.clone()).unwrap();
    let payload = vec![0xA5u8; 1000];
    // About 3 MiB of frames: the write position crosses several steps.
    for _ in 0..3000 {
        wal.append(&payload, Durability::Fsync).unwrap();
    }
    let writes = segment_writes(&vfs);
    let zero_steps: Vec<_> = writes.iter().filter(|w| w.1 >= STEP / 2).collect();
    assert!(
        zero_steps.len() >= 3,
        "expected a zero step per MiB crossed, got {zero_steps:?}"
    );
    // After the first step, every frame write lands below what was zeroed before it.
    let mut zeroed_to = 0;
    for &(offset, len) in &writes {
        if len >= STEP / 2 {
            assert!(offset >= zeroed_to, "zero steps move forward");
            zeroed_to = offset + len;
        } else if zeroed_to > 0 {
            assert!(
                offset + len <= zeroed_to,
                "a frame write at {offset}+{len} past the zeroed {zeroed_to}"
            );
        }
    }
    // The zeros do not change what the log holds, before or after a power cut.
    let image = vfs.crash_image(&CrashModel::DropAll);
    drop(wal);
    let (wal, report) = Wal::open("/wal", options(true), Arc::new(image)).unwrap();
    assert_eq!(report.records, 3000);
    assert_eq!(wal.read(Lsn::new(3000)).unwrap().unwrap(), payload);
}

#[test]
fn nothing_is_zeroed_without_preallocation() {
    let vfs = Arc::new(SimVfs::new(2));
    let (wal, _) = Wal::open("/wal", options(false), vfs.clone()).unwrap();
    for _ in 0..100 {
        wal.append([7u8; 100], Durability::Fsync).unwrap();
    }
    let zero_writes = segment_writes(&vfs)
        .into_iter()
        .filter(|w| w.1 >= STEP / 2)
        .count();
    assert_eq!(
        zero_writes, 0,
        "a file that is not preallocated is not extended"
    );
}
