//! Power cut at every write/sync point of a workload of changes and checkpoints, on
//! `cairn-sim`: "apply changes durably, checkpoint, apply more, checkpoint, ..., close". The
//! checkpoints cross every step of the protocol — log sync, snapshot temp file write,
//! fsync, rename, directory fsync, retention pruning, the log's `FRONT` watermark (temp,
//! fsync, rename, directory fsync) and segment removal.
//!
//! For each cut point (1..=N mutating calls of the uncut run) and each crash image built
//! from it — drop all unsynced data, a process crash, seeded random subsets of the pending
//! operations, and seeded torn writes at 512 B and 4 KiB — reopening must succeed, and the
//! recovered state must equal the model's state after some prefix of the changes that
//! includes every change acknowledged as durable before the cut. A second cut at every
//! mutating call of the recovery of the power-loss image (a crash during recovery) must not
//! change that. Both log retentions are explored. The test prints how many cut points and
//! images it checked.

mod common;

use cairn_recovery::{Durable, DurableOptions, WalRetention};
use cairn_sim::{CrashModel, Label, SECTOR_4K, SECTOR_512, SimVfs};
use cairn_wal::Durability;
use common::{Kv, Rng, durable_options, ops, vfs};

const DIR: &str = "/db";
/// Seeded images per cut point, of each random kind.
const RANDOM_IMAGES: u64 = 4;
/// A bound on the mutating calls one recovery makes.
const RECOVERY_CALLS_MAX: u64 = 256;

/// One step of the workload.
#[derive(Clone, Copy, Debug)]
enum Step {
    Apply(Durability),
    Checkpoint,
}

fn plan() -> Vec<Step> {
    use Durability::{Buffered, Fsync, None};
    let mut steps = Vec::new();
    steps.extend([Step::Apply(Fsync); 8]);
    steps.push(Step::Checkpoint);
    steps.extend([Step::Apply(Buffered); 5]);
    steps.extend([Step::Apply(Fsync); 2]);
    steps.push(Step::Checkpoint);
    steps.extend([Step::Apply(Fsync); 5]);
    steps.push(Step::Checkpoint);
    steps.extend([Step::Apply(None); 3]);
    steps.push(Step::Checkpoint);
    steps.extend([Step::Apply(Fsync); 2]);
    steps
}

/// Runs the workload until its first error (the cut), marking each count of changes known
/// durable: after an `Fsync` append, a checkpoint, and the final close.
fn workload(sim: &SimVfs, options: &DurableOptions, changes: &[Vec<u8>]) {
    let Ok((mut kv, _)) = Durable::open(DIR, options.clone(), vfs(sim), Kv::default()) else {
        return;
    };
    let mut next = 0;
    for step in plan() {
        match step {
            Step::Apply(durability) => {
                if kv.apply(&changes[next], durability).is_err() {
                    return;
                }
                next += 1;
                if durability == Durability::Fsync {
                    sim.mark(next as u64);
                }
            }
            Step::Checkpoint => {
                if kv.checkpoint().is_err() {
                    return;
                }
                sim.mark(next as u64);
            }
        }
    }
    if kv.close().is_ok() {
        sim.mark(next as u64);
    }
}

fn acked_through(sim: &SimVfs, call: u64) -> u64 {
    sim.marks_through(call)
        .into_iter()
        .filter_map(|label| match label {
            Label::Num(n) => Some(n),
            Label::Text(_) => None,
        })
        .max()
        .unwrap_or(0)
}

fn check_image(
    image: SimVfs,
    options: &DurableOptions,
    changes: &[Vec<u8>],
    acked: u64,
    context: &str,
) {
    let (kv, _report) = Durable::open(DIR, options.clone(), vfs(&image), Kv::default())
        .unwrap_or_else(|e| panic!("{context}: recovery failed: {e}"));
    let n = kv.state().count;
    assert!(
        n >= acked,
        "{context}: {acked} changes were acknowledged durable, {n} recovered"
    );
    let n_usize = usize::try_from(n).unwrap();
    assert!(n_usize <= changes.len(), "{context}: phantom changes");
    assert!(
        kv.state().same(&Kv::after(&changes[..n_usize])),
        "{context}: the state is not the state after the first {n} changes"
    );
    assert_eq!(kv.applied_lsn().get(), n, "{context}");
}

/// Cuts the recovery of the power-loss image of `sim` at each of its own mutating calls,
/// then recovers the power-loss image of that: a crash during recovery must not change what
/// survives. Returns the number of recovery cut points checked.
fn crash_during_recovery(
    sim: &SimVfs,
    options: &DurableOptions,
    changes: &[Vec<u8>],
    acked: u64,
    label: &str,
    seed: u64,
    cut: u64,
) -> u64 {
    let image = sim.crash_image(&CrashModel::DropAll);
    for recovery_cut in 1..=RECOVERY_CALLS_MAX {
        let attempt = image.crash_image(&CrashModel::Process);
        attempt.crash_after_call(recovery_cut);
        let finished = Durable::open(DIR, options.clone(), vfs(&attempt), Kv::default()).is_ok()
            && !attempt.is_crashed();
        if finished {
            // Every cut before this one crashed the recovery and was checked.
            return recovery_cut - 1;
        }
        let context = format!(
            "{label}: seed {seed}, cut after call {cut}, then recovery cut after call {recovery_cut}"
        );
        check_image(
            attempt.crash_image(&CrashModel::DropAll),
            options,
            changes,
            acked,
            &context,
        );
    }
    panic!("recovery made more than {RECOVERY_CALLS_MAX} mutating calls");
}

fn explore(seed: u64, options: &DurableOptions, label: &str) -> (u64, u64, u64) {
    let applies = plan()
        .iter()
        .filter(|s| matches!(s, Step::Apply(_)))
        .count();
    // Changes large enough that the log spans several 16 KiB segments.
    let changes = ops(&mut Rng::new(seed), applies, 1500);

    let uncut = SimVfs::new(seed);
    workload(&uncut, options, &changes);
    let calls = uncut.stats().mutating_calls;
    assert_eq!(
        acked_through(&uncut, calls),
        changes.len() as u64,
        "the uncut run completes"
    );

    let mut rng = Rng::new(seed ^ 0x5eed);
    let mut images = 0u64;
    let mut recovery_cuts = 0u64;
    for cut in 1..=calls {
        let sim = SimVfs::new(seed);
        sim.crash_after_call(cut);
        workload(&sim, options, &changes);
        assert!(
            sim.is_crashed(),
            "{label}: cut {cut} of {calls} was reached"
        );
        let acked = acked_through(&sim, cut);
        let mut models = vec![CrashModel::DropAll, CrashModel::Process];
        for _ in 0..RANDOM_IMAGES {
            models.push(CrashModel::RandomSubset {
                seed: rng.next_u64(),
            });
            models.push(CrashModel::Torn {
                sector_size: SECTOR_512,
                psow: false,
                seed: rng.next_u64(),
            });
            models.push(CrashModel::Torn {
                sector_size: SECTOR_4K,
                psow: true,
                seed: rng.next_u64(),
            });
        }
        for model in &models {
            let context =
                format!("{label}: seed {seed}, cut after call {cut} of {calls}, {model:?}");
            check_image(sim.crash_image(model), options, &changes, acked, &context);
            images += 1;
        }
        recovery_cuts += crash_during_recovery(&sim, options, &changes, acked, label, seed, cut);
    }
    (calls, images, recovery_cuts)
}

#[test]
fn checkpoint_power_cut_at_every_call() {
    let seed = common::seed("checkpoint_power_cut");
    let mut cuts = 0;
    let mut images = 0;
    let mut recovery_cuts = 0;
    for (retention, label) in [
        (WalRetention::OldestSnapshot, "retention oldest"),
        (WalRetention::NewestSnapshot, "retention newest"),
    ] {
        let options = DurableOptions {
            wal_retention: retention,
            ..durable_options(2)
        };
        let (c, i, r) = explore(seed, &options, label);
        cuts += c;
        images += i;
        recovery_cuts += r;
    }
    let line = format!(
        "checkpoint power cut: {cuts} cut points, {images} crash images recovered and checked, \
         {recovery_cuts} crashes during recovery checked, acknowledged changes lost: 0"
    );
    println!("{line}");
    eprintln!("{line}");
}
