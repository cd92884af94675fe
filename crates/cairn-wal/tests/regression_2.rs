//! Regression 2 (found by `model_proptest`): `truncate_back` located its cut point by
//! reading the segment before taking the append lock, so records appended with
//! `Durability::None` — still in the in-process buffer — looked like zeroed space and the
//! call failed with a spurious `Corrupt` error. The cut point is now found under the append
//! lock, after the buffer is written to the OS.

mod common;

use cairn_wal::{Durability, Lsn};

#[test]
fn truncate_back_into_buffered_records() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = common::open(dir.path(), common::small_options());
    for i in 0..10u8 {
        wal.append([i; 16], Durability::None).unwrap();
    }
    wal.truncate_back(Lsn::new(6)).unwrap();
    assert_eq!(wal.next_lsn(), Lsn::new(6));
    assert_eq!(
        wal.read(Lsn::new(5)).unwrap().as_deref(),
        Some(&[4u8; 16][..])
    );
    assert_eq!(wal.read(Lsn::new(6)).unwrap(), None);
}
