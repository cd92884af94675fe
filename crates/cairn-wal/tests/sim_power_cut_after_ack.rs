//! On `cairn-sim`: after every acknowledgment, cut the power (several crash models) and
//! recover; every acknowledged record must be there, and the log must be a prefix of what
//! was issued. Process crashes must keep every `Buffered` acknowledgment too.

mod common;

use std::path::Path;
use std::sync::Arc;

use cairn_sim::{CrashModel, SECTOR_512, SimVfs};
use cairn_wal::{Durability, Lsn, Wal, WalOptions};
use common::*;

const DIR: &str = "/wal";

fn options() -> WalOptions {
    WalOptions {
        segment_size_max: 4096,
        record_size_max: 1024,
        ..WalOptions::default()
    }
}

fn payload(i: u64) -> Vec<u8> {
    let len = 20 + (i * 53 % 300) as usize;
    let mut v = vec![(i % 251) as u8; len];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

/// Recovers `image` and checks: a prefix of `issued`, at least `required` records long.
fn check(image: SimVfs, issued: &[Vec<u8>], required: u64, what: &str) -> u64 {
    let (wal, report) = Wal::open(Path::new(DIR), options(), Arc::new(image))
        .unwrap_or_else(|e| panic!("{what}: recovery failed: {e}"));
    let records: Vec<_> = wal
        .reader(Lsn::FIRST)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        records.len() as u64 >= required,
        "{what}: lost acknowledged records: {} < {required} ({report:?})",
        records.len()
    );
    for (lsn, p) in &records {
        let want = &issued[(lsn.get() - 1) as usize];
        assert_eq!(&p[..], &want[..], "{what}: record {lsn} differs");
    }
    assert_eq!(
        records.first().map(|r| r.0),
        (!records.is_empty()).then_some(Lsn::FIRST)
    );
    records.len() as u64
}

#[test]
fn every_durable_ack_survives_power_loss() {
    let seed = seed("sim_power_cut_after_ack");
    let sim = SimVfs::new(seed);
    let (wal, _) = Wal::open(Path::new(DIR), options(), Arc::new(sim.clone())).unwrap();
    let mut issued = Vec::new();
    let mut rng = Rng(seed);
    let mut states = 0u64;
    let mut durable_acked = 0u64;
    for i in 1..=80u64 {
        issued.push(payload(i));
        let durability = match rng.below(3) {
            0 => Durability::Buffered,
            _ => Durability::Fsync,
        };
        let lsn = wal.append(payload(i), durability).unwrap();
        assert_eq!(lsn, Lsn::new(i));
        let buffered_acked = i;
        if durability == Durability::Fsync {
            durable_acked = i;
        }
        let models = [
            CrashModel::DropAll,
            CrashModel::RandomSubset {
                seed: rng.next_u64(),
            },
            CrashModel::Torn {
                sector_size: SECTOR_512,
                psow: false,
                seed: rng.next_u64(),
            },
        ];
        for model in models {
            check(
                sim.crash_image(&model),
                &issued,
                durable_acked,
                &format!("after ack {i}, {model:?}"),
            );
            states += 1;
        }
        check(
            sim.crash_image(&CrashModel::Process),
            &issued,
            buffered_acked,
            &format!("after ack {i}, process crash"),
        );
        states += 1;
    }
    assert!(wal.stats().rotations >= 3, "crossed rotations");
    println!("crash states checked: {states}, acknowledged writes lost: 0");
}

#[test]
fn crash_during_recovery_is_recoverable() {
    let seed = seed("sim_power_cut_after_ack");
    let sim = SimVfs::new(seed);
    let (wal, _) = Wal::open(Path::new(DIR), options(), Arc::new(sim.clone())).unwrap();
    let mut issued = Vec::new();
    for i in 1..=30u64 {
        issued.push(payload(i));
        wal.append(
            payload(i),
            if i % 2 == 0 {
                Durability::Fsync
            } else {
                Durability::Buffered
            },
        )
        .unwrap();
    }
    // Power loss with torn writes, then a crash after each call of the recovery itself.
    let torn = sim.crash_image(&CrashModel::Torn {
        sector_size: SECTOR_512,
        psow: false,
        seed,
    });
    let mut cut = 1;
    loop {
        let attempt = torn.crash_image(&CrashModel::Process);
        attempt.crash_after_call(cut);
        let finished = Wal::open(Path::new(DIR), options(), Arc::new(attempt.clone())).is_ok();
        check(
            attempt.crash_image(&CrashModel::DropAll),
            &issued,
            30,
            &format!("recovery cut at call {cut}"),
        );
        if finished && !attempt.is_crashed() {
            break;
        }
        cut += 1;
        assert!(cut < 500, "recovery makes a bounded number of calls");
    }
    println!("recovery crash points checked: {cut}");
}
