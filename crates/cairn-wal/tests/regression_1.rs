//! Regression 1 (found by `model_proptest`): `truncate_front` to an LSN whose predecessors
//! were appended with `Durability::None` wrote the `FRONT` watermark before those records were
//! durable. After a power loss the log ended below its own front, and the next append got an
//! LSN below the front, invisible to readers. `truncate_front` now makes everything below the
//! new front durable first.

mod common;

use std::path::Path;
use std::sync::Arc;

use cairn_sim::{CrashModel, SimVfs};
use cairn_wal::{Durability, Lsn, Wal};

#[test]
fn truncate_front_past_unsynced_records_survives_power_loss() {
    let sim = SimVfs::new(7);
    let dir = Path::new("/wal");
    let (wal, _) = Wal::open(dir, common::small_options(), Arc::new(sim.clone())).unwrap();
    wal.append_batch(&[&b"a"[..], b"b"], Durability::None)
        .unwrap();
    wal.truncate_front(Lsn::new(2)).unwrap();
    let image = sim.crash_image(&CrashModel::DropAll);
    drop(wal);
    let (wal, report) = Wal::open(dir, common::small_options(), Arc::new(image)).unwrap();
    assert_eq!(report.first_lsn, Some(Lsn::new(2)));
    assert_eq!(wal.read(Lsn::new(2)).unwrap().as_deref(), Some(&b"b"[..]));
    assert_eq!(wal.append(b"c", Durability::Fsync).unwrap(), Lsn::new(3));
}
