//! Property test of the decoder on hostile input: arbitrary bytes, and valid snapshots with
//! random multi-byte damage (overwrites, zeroed ranges, cuts, splices of another snapshot).
//! The reader never panics, never allocates beyond its bounds, and never reports a clean end
//! for anything but the original snapshot's exact payload.

mod common;

use std::io::{Read, Write};

use cairn_snapshot::{Error, NewSnapshot, SnapshotReader, SnapshotWriter};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

#[derive(Clone, Debug)]
enum Damage {
    Overwrite { at: usize, bytes: Vec<u8> },
    Zero { at: usize, len: usize },
    Cut { at: usize },
    Splice { at: usize, from: usize, len: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(at, bytes)| Damage::Overwrite { at, bytes }),
        (any::<usize>(), 1_usize..5000).prop_map(|(at, len)| Damage::Zero { at, len }),
        any::<usize>().prop_map(|at| Damage::Cut { at }),
        (any::<usize>(), any::<usize>(), 1_usize..5000)
            .prop_map(|(at, from, len)| Damage::Splice { at, from, len }),
    ]
}

fn encode(lsn: u64, salt: u64, payload: &[u8]) -> Vec<u8> {
    let new = NewSnapshot::new(lsn, 1).salt(salt).created_unix_nanos(5);
    let mut writer = SnapshotWriter::with_chunk_size(Vec::new(), new, "mem", 4096).unwrap();
    writer.write_all(payload).unwrap();
    writer.finish().unwrap().0
}

fn decode(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let mut reader = SnapshotReader::new(bytes, "damaged")?;
    let mut out = Vec::new();
    reader
        .read_to_end(&mut out)
        .map_err(|e| Error::from_io(e, "damaged"))?;
    Ok(out)
}

fn apply(bytes: &mut Vec<u8>, other: &[u8], damage: &Damage) {
    let len = bytes.len();
    match damage {
        Damage::Overwrite { at, bytes: new } => {
            let at = at % len;
            for (i, b) in new.iter().enumerate().take(len - at) {
                bytes[at + i] = *b;
            }
        }
        Damage::Zero { at, len: n } => {
            let at = at % len;
            let end = (at + n).min(len);
            bytes[at..end].fill(0);
        }
        Damage::Cut { at } => bytes.truncate(at % len),
        Damage::Splice { at, from, len: n } => {
            let at = at % len;
            let from = from % other.len();
            let n = (*n).min(len - at).min(other.len() - from);
            bytes[at..at + n].copy_from_slice(&other[from..from + n]);
        }
    }
}

#[test]
fn verify_random_damage_is_detected_and_never_panics() {
    let seed = common::seed("verify_random_damage");
    let config = Config {
        cases: 512,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..20_000),
        any::<u64>(),
        proptest::collection::vec(damage(), 1..4),
        proptest::collection::vec(any::<u8>(), 0..300),
    );
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |(payload, salt, damages, garbage)| {
        // Arbitrary bytes, alone and after a valid header's magic.
        prop_assert!(decode(&garbage).is_err());
        let mut fake = b"CRNSNAP\x01\x01\x00".to_vec();
        fake.extend_from_slice(&garbage);
        prop_assert!(decode(&fake).is_err());

        let original = encode(7, salt, &payload);
        // Another snapshot with the same shape: a splice source that looks right locally.
        let other = encode(7, salt.wrapping_add(1), &payload);
        let mut damaged = original.clone();
        for d in &damages {
            if damaged.is_empty() {
                break;
            }
            apply(&mut damaged, &other, d);
        }
        match decode(&damaged) {
            Ok(out) => {
                // Damage that changed nothing (e.g. overwriting bytes with themselves).
                prop_assert!(
                    damaged == original,
                    "damaged snapshot accepted: {damages:?}"
                );
                prop_assert!(out == payload);
            }
            Err(e) => prop_assert!(e.is_corruption(), "{e}"),
        }
        Ok::<(), TestCaseError>(())
    });
    if let Err(e) = result {
        panic!(
            "{e}\nreplay: CAIRN_SEED={seed} cargo test -p cairn-snapshot --test verify_random_damage"
        );
    }
}
