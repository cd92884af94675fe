//! Many threads appending with `Fsync`: LSNs unique and dense, every record readable, and
//! fewer fsyncs than appends (group commit).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_wal::{Durability, Lsn};
use common::*;

#[test]
fn concurrent_durable_appends_are_dense_and_grouped() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path(), small_options());
    let wal = Arc::new(wal);
    let threads = 8u64;
    let per_thread = 100u64;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|i| {
                        let payload = format!("t{t}-{i}").into_bytes();
                        let lsn = wal.append(&payload, Durability::Fsync).unwrap();
                        assert!(wal.durable_lsn() >= lsn, "acknowledged implies durable");
                        (lsn, payload)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = BTreeMap::new();
    for h in handles {
        for (lsn, payload) in h.join().unwrap() {
            assert!(all.insert(lsn, payload).is_none(), "LSN {lsn} given twice");
        }
    }
    let total = threads * per_thread;
    assert_eq!(all.keys().next(), Some(&Lsn::FIRST));
    assert_eq!(all.keys().last(), Some(&Lsn::new(total)));
    let stats = wal.stats();
    println!(
        "fsyncs: {}, records per fsync: {:.2}",
        stats.fsyncs,
        stats.records_per_fsync()
    );
    assert!(stats.fsyncs <= total);
    for (lsn, payload) in &all {
        assert_eq!(wal.read(*lsn).unwrap().unwrap()[..], payload[..]);
    }
}

#[test]
fn readers_run_alongside_writers() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path(), small_options());
    let writer = {
        let wal = wal.clone();
        std::thread::spawn(move || {
            for i in 0..2000u64 {
                wal.append(i.to_le_bytes(), Durability::Buffered).unwrap();
            }
        })
    };
    let mut checked = 0;
    while checked < 20 {
        for item in wal.reader(Lsn::FIRST).unwrap() {
            let (lsn, p) = item.unwrap();
            assert_eq!(p[..], (lsn.get() - 1).to_le_bytes());
        }
        checked += 1;
    }
    writer.join().unwrap();
    assert_eq!(wal.reader(Lsn::FIRST).unwrap().count(), 2000);
}
