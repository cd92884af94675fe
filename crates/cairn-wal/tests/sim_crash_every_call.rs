//! Crash explorer on `cairn-sim`: a small workload (appends at every level, batches, rotations,
//! both truncations) is cut after each of its mutating calls in turn; each cut is turned into
//! power-loss images (drop all unsynced, random subset, torn 512 B / 4 KiB writes) and a
//! process-crash image, recovered, and checked against what had been acknowledged.

mod common;

use std::path::Path;
use std::sync::Arc;

use cairn_sim::{CrashModel, SECTOR_4K, SECTOR_512, SimVfs};
use cairn_wal::{Durability, Lsn, Wal, WalOptions};

const DIR: &str = "/wal";

fn options() -> WalOptions {
    WalOptions {
        segment_size_max: 4096,
        record_size_max: 1024,
        ..WalOptions::default()
    }
}

/// What the workload had acknowledged when it stopped.
#[derive(Default)]
struct Acks {
    /// The log as issued: index = LSN - 1 (None where truncated away).
    issued: Vec<Option<Vec<u8>>>,
    front: u64,
    /// A front being moved when the run stopped: the recovered front may be either.
    front_attempt: u64,
    durable: u64,
    in_os: u64,
}

fn payload(i: u64) -> Vec<u8> {
    let mut v = vec![(i % 250) as u8 + 1; 30 + (i as usize * 41) % 400];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

/// Runs the workload until it finishes or the simulator crashes.
fn workload(sim: &SimVfs) -> Acks {
    let mut acks = Acks {
        front: 1,
        front_attempt: 1,
        ..Acks::default()
    };
    let Ok((wal, _)) = Wal::open(Path::new(DIR), options(), Arc::new(sim.clone())) else {
        return acks;
    };
    let levels = [
        Durability::Fsync,
        Durability::Buffered,
        Durability::None,
        Durability::Fsync,
    ];
    for i in 1..=40u64 {
        let d = levels[(i % 4) as usize];
        let result = if i % 9 == 0 {
            let records = [payload(i * 100), payload(i * 100 + 1)];
            wal.append_batch(&records, d)
                .map(|r| (r.start().get(), records.to_vec()))
        } else {
            wal.append(payload(i), d)
                .map(|l| (l.get(), vec![payload(i)]))
        };
        let Ok((first, records)) = result else {
            return acks;
        };
        for (k, r) in records.into_iter().enumerate() {
            let lsn = first + k as u64;
            acks.issued.resize(lsn as usize, None);
            acks.issued[(lsn - 1) as usize] = Some(r);
        }
        let last = acks.issued.len() as u64;
        match d {
            Durability::Fsync => {
                acks.durable = last;
                acks.in_os = last;
            }
            Durability::Buffered => acks.in_os = last,
            _ => {}
        }
        if i == 25 {
            // Cut or not, records from `last - 2` on may be gone from here on (a truncation
            // interrupted by the crash may or may not have reached the disk).
            acks.durable = acks.durable.min(last - 3);
            acks.in_os = acks.in_os.min(last - 3);
            let done = wal.truncate_back(Lsn::new(last - 2)).is_ok();
            if !done {
                return acks;
            }
            acks.issued.truncate((last - 3) as usize);
        }
        if i == 32 {
            let front = last / 2;
            acks.front_attempt = front;
            if wal.truncate_front(Lsn::new(front)).is_err() {
                return acks;
            }
            acks.front = front;
            acks.durable = acks.durable.max(front - 1);
            acks.in_os = acks.in_os.max(front - 1);
        }
    }
    let _ = wal.close();
    acks
}

fn check(image: SimVfs, acks: &Acks, required: u64, what: &str) {
    let (wal, report) = Wal::open(Path::new(DIR), options(), Arc::new(image))
        .unwrap_or_else(|e| panic!("{what}: recovery failed: {e}"));
    let records: Vec<_> = wal
        .reader(Lsn::FIRST)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let last = records
        .last()
        .map_or(wal.first_lsn().get() - 1, |r| r.0.get());
    assert!(
        last >= required,
        "{what}: lost acknowledged records: last {last} < {required} ({report:?})"
    );
    let first = wal.first_lsn().get();
    assert!(
        first == acks.front || first == acks.front_attempt,
        "{what}: front {first} is neither the old nor the new one"
    );
    for (lsn, p) in &records {
        let want = acks
            .issued
            .get((lsn.get() - 1) as usize)
            .and_then(Option::as_ref);
        // Records past the acknowledged history may exist (written, not yet acknowledged).
        if let Some(want) = want {
            assert_eq!(
                &p[..],
                &want[..],
                "{what}: record {lsn} is not what was issued"
            );
        }
    }
    let dense = records.windows(2).all(|w| w[1].0.get() == w[0].0.get() + 1);
    assert!(dense, "{what}: LSNs not dense");
}

#[test]
fn crash_after_every_call() {
    let seed = common::seed("sim_crash_every_call");
    let total = {
        let sim = SimVfs::new(seed);
        workload(&sim);
        sim.stats().mutating_calls
    };
    let mut states = 0;
    for cut in 1..=total {
        let sim = SimVfs::new(seed);
        sim.crash_after_call(cut);
        let acks = workload(&sim);
        let models = [
            (CrashModel::DropAll, acks.durable),
            (CrashModel::RandomSubset { seed: seed ^ cut }, acks.durable),
            (
                CrashModel::Torn {
                    sector_size: SECTOR_512,
                    psow: false,
                    seed: seed ^ cut,
                },
                acks.durable,
            ),
            (
                CrashModel::Torn {
                    sector_size: SECTOR_4K,
                    psow: true,
                    seed: seed ^ cut,
                },
                acks.durable,
            ),
            (CrashModel::Process, acks.in_os),
        ];
        for (model, required) in models {
            check(
                sim.crash_image(&model),
                &acks,
                required,
                &format!("cut after call {cut}, {model:?}"),
            );
            states += 1;
        }
    }
    println!("cut points: {total}, crash states checked: {states}, acknowledged writes lost: 0");
}
