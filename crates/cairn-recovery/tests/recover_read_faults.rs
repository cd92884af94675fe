//! Faults while recovery reads: a state machine whose `restore` fails is reported as such;
//! a bit flipped on any single read of a snapshot file (during verification or during the
//! restore that follows it) never yields a wrong state — recovery either reaches the right
//! state (falling back past the snapshot it could not verify) or stops with the snapshot's
//! checksum error; likewise for a flip on any single read of a log segment.

mod common;

use cairn_recovery::{Durable, Error, SnapshotChoice, StateOp};
use cairn_sim::{CrashModel, FaultKind, FaultRule, SimVfs};
use cairn_wal::Durability;
use common::{Kv, Rng, durable_options, fail_next_restore, ops, vfs};

const DIR: &str = "/db";
/// Reads of snapshot files to try a flip on; more than one recovery makes (two here: the
/// verification and the restore each read the small file in one go).
const READS_MAX: u64 = 8;

fn build(sim: &SimVfs) -> Vec<Vec<u8>> {
    let all = ops(&mut Rng::new(17), 40, 300);
    let (mut kv, _) = Durable::open(DIR, durable_options(2), vfs(sim), Kv::default()).unwrap();
    for (i, o) in all.iter().enumerate() {
        kv.apply(o, Durability::Fsync).unwrap();
        if i == 14 || i == 29 {
            kv.checkpoint().unwrap();
        }
    }
    kv.close().unwrap();
    all
}

#[test]
fn recover_reports_a_failing_restore() {
    let sim = SimVfs::new(51);
    build(&sim);
    fail_next_restore();
    let err = Durable::open(DIR, durable_options(2), vfs(&sim), Kv::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::StateMachine {
                op: StateOp::Restore,
                lsn: None,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("restore"), "{err}");
}

#[test]
fn recover_bit_flip_on_any_snapshot_read_never_yields_a_wrong_state() {
    let sim = SimVfs::new(52);
    let all = build(&sim);
    let expected = Kv::after(&all);
    let (mut correct, mut fell_back, mut refused) = (0, 0, 0);
    let mut untouched = 0;
    for nth in 1..=READS_MAX {
        let image = sim.crash_image(&CrashModel::Process);
        image.add_fault(
            FaultRule::new(FaultKind::BitFlipOnRead)
                .path_contains(".snap")
                .nth(nth),
        );
        match Durable::open(DIR, durable_options(2), vfs(&image), Kv::default()) {
            Ok((kv, report)) => {
                assert!(
                    kv.state().same(&expected),
                    "flip on read {nth}: wrong state"
                );
                if report.snapshot_choice == SnapshotChoice::FellBack {
                    fell_back += 1;
                } else {
                    untouched += 1;
                }
                correct += 1;
            }
            Err(Error::Snapshot { source }) if source.is_corruption() => refused += 1,
            Err(e) => panic!("flip on read {nth}: unexpected error {e}"),
        }
    }
    println!(
        "snapshot read flips: {READS_MAX} tried, {correct} recovered correctly ({fell_back} by \
         falling back, {untouched} after the reads), {refused} refused with a checksum error"
    );
    assert!(fell_back > 0, "some flips hit verification");
    assert!(refused > 0, "some flips hit the restore after verification");
}

#[test]
fn recover_bit_flip_on_any_log_read_never_yields_a_wrong_state() {
    let sim = SimVfs::new(53);
    let all = build(&sim);
    let expected = Kv::after(&all);
    let (mut correct, mut refused) = (0, 0);
    for nth in 1..=READS_MAX * 8 {
        let image = sim.crash_image(&CrashModel::Process);
        image.add_fault(
            FaultRule::new(FaultKind::BitFlipOnRead)
                .path_contains(".wal")
                .nth(nth),
        );
        match Durable::open(DIR, durable_options(2), vfs(&image), Kv::default()) {
            Ok((kv, _)) => {
                assert!(
                    kv.state().same(&expected),
                    "flip on log read {nth}: wrong state"
                );
                correct += 1;
            }
            Err(Error::Wal { source }) => {
                assert!(
                    source.to_string().contains("corrupt")
                        || source.to_string().contains("checksum"),
                    "{source}"
                );
                refused += 1;
            }
            Err(e) => panic!("flip on log read {nth}: unexpected error {e}"),
        }
    }
    println!(
        "log read flips: {} tried, {correct} recovered correctly, {refused} refused",
        READS_MAX * 8
    );
}
