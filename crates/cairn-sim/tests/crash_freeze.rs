//! Unit tests of crash cuts and freezing: `crash_after_call` stops a run after any mutating
//! call, a crashed simulator and its open files fail every call with `EIO` and change
//! nothing, and the trace and markers tell what was acknowledged before the cut. Ends with a
//! small crash explorer: every cut of a workload, every subset of pending operations.

use std::path::Path;

use cairn_io::{Op, OpenMode, Vfs};
use cairn_sim::{CallRecord, CrashModel, Label, SimVfs, TraceEvent};

fn p(path: &str) -> &Path {
    Path::new(path)
}

/// Appends records `1..=count` to `/log`, one byte each, syncing and marking each: the
/// workload of a tiny write-ahead log. Stops at the first error, as a poisoned writer would.
fn workload(sim: &SimVfs, count: u8) {
    let run = || -> cairn_io::Result<()> {
        let file = sim.create_new(p("/log"))?;
        sim.sync_dir(p("/"))?;
        for record in 1..=count {
            file.write_all_at(&[record], u64::from(record - 1))?;
            file.sync_data()?;
            sim.mark(u64::from(record));
        }
        Ok(())
    };
    let _ = run();
}

#[test]
fn a_crashed_simulator_refuses_everything_and_changes_nothing() {
    let sim = SimVfs::new(1);
    let file = sim.create_new(p("/f")).unwrap();
    file.write_all_at(b"before", 0).unwrap();
    sim.crash();
    assert!(sim.is_crashed());
    let before = (
        sim.live_tree(),
        sim.durable_tree(),
        sim.pending_count(),
        sim.stats(),
    );

    assert!(file.write_at(b"x", 0).unwrap_err().is_eio());
    assert!(file.sync_data().unwrap_err().is_eio());
    assert!(file.sync_all().unwrap_err().is_eio());
    assert!(file.set_len(0).unwrap_err().is_eio());
    assert!(file.allocate(0, 10).unwrap_err().is_eio());
    assert!(file.len().unwrap_err().is_eio());
    assert!(file.read_at(&mut [0; 4], 0).unwrap_err().is_eio());
    assert!(sim.create_new(p("/g")).unwrap_err().is_eio());
    assert!(sim.open(p("/f"), OpenMode::Read).unwrap_err().is_eio());
    assert!(sim.rename(p("/f"), p("/g")).unwrap_err().is_eio());
    assert!(sim.remove_file(p("/f")).unwrap_err().is_eio());
    assert!(sim.list(p("/")).unwrap_err().is_eio());
    assert!(sim.create_dir_all(p("/d")).unwrap_err().is_eio());
    assert!(sim.sync_dir(p("/")).unwrap_err().is_eio());
    assert!(sim.exists(p("/f")).unwrap_err().is_eio());
    assert!(sim.lock_dir(p("/")).unwrap_err().is_eio());
    drop(file);

    assert_eq!(
        (
            sim.live_tree(),
            sim.durable_tree(),
            sim.pending_count(),
            sim.stats()
        ),
        before
    );
    // The image still reboots into a working machine.
    let image = sim.crash_image(&CrashModel::Process);
    assert!(!image.is_crashed());
    assert_eq!(image.file_bytes(p("/f")).unwrap(), b"before");
    image
        .open(p("/f"), OpenMode::ReadWrite)
        .unwrap()
        .sync_data()
        .unwrap();
}

#[test]
fn crash_after_call_cuts_the_run_and_the_trace_says_where() {
    let sim = SimVfs::new(2);
    sim.crash_after_call(4); // create, sync_dir, write 1, sync 1 — then the cut
    workload(&sim, 3);
    assert!(sim.is_crashed());
    assert_eq!(sim.stats().mutating_calls, 4);
    assert_eq!(sim.marks_through(4), vec![Label::Num(1)]);

    let trace = sim.trace();
    let calls: Vec<&CallRecord> = trace
        .iter()
        .filter_map(|event| match event {
            TraceEvent::Call(call) => Some(call),
            _ => None,
        })
        .collect();
    let ops: Vec<Op> = calls.iter().map(|call| call.op).collect();
    assert_eq!(ops, vec![Op::Create, Op::SyncDir, Op::Write, Op::SyncData]);
    assert_eq!(
        (calls[2].offset, calls[2].len, calls[2].result),
        (0, 1, Ok(1))
    );
    assert!(
        calls
            .iter()
            .all(|call| call.result.is_ok() && call.fault.is_none())
    );
    assert_eq!(
        trace.last(),
        Some(&TraceEvent::Mark {
            after_call: 4,
            label: Label::Num(1)
        })
    );
    assert!(trace.contains(&TraceEvent::Crash { after_call: 4 }));
    assert_eq!(
        sim.crash_image(&CrashModel::DropAll)
            .file_bytes(p("/log"))
            .unwrap(),
        [1]
    );
}

#[test]
fn crash_after_call_in_the_past_crashes_now() {
    let sim = SimVfs::new(3);
    sim.create_dir_all(p("/d")).unwrap();
    assert!(!sim.is_crashed());
    sim.crash_after_call(1);
    assert!(sim.is_crashed());
    sim.mark("late ack");
    assert_eq!(sim.marks_through(1), vec![Label::from("late ack")]);
}

#[test]
fn explorer_no_acknowledged_record_is_lost_at_any_cut_or_subset() {
    const RECORDS: u8 = 3;
    let total_calls = {
        let sim = SimVfs::new(4);
        workload(&sim, RECORDS);
        sim.stats().mutating_calls
    };
    assert_eq!(total_calls, 2 + 2 * u64::from(RECORDS));
    let mut images_checked = 0u64;
    for cut in 0..=total_calls {
        let sim = SimVfs::new(4);
        sim.crash_after_call(cut);
        workload(&sim, RECORDS);
        let acknowledged = sim.marks_through(cut).len();
        let pending = sim.pending_count();
        assert!(
            pending <= 2,
            "at most one write and one entry are pending at a cut"
        );
        for mask in 0..1u64 << pending {
            let image = sim.crash_image(&CrashModel::Subset(mask));
            let log = image.file_bytes(p("/log")).unwrap_or_default();
            assert!(
                log.len() >= acknowledged,
                "cut {cut} mask {mask}: lost an acknowledged record"
            );
            assert!(
                log.iter()
                    .enumerate()
                    .all(|(i, byte)| usize::from(*byte) == i + 1)
            );
            images_checked += 1;
        }
    }
    assert!(images_checked > total_calls);
}
