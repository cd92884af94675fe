//! redb 4: a record is one write transaction inserting a `u64` sequence key into one table;
//! durable commits use `Durability::Immediate` (redb's default), buffered ones
//! `Durability::None` followed by one `Immediate` commit at the end. redb serialises write
//! transactions, so threads queue on `begin_write`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::subject::{OpenOptions, Peer, Recovered, Subject};

/// The registry entry.
pub const PEER: Peer = Peer {
    name: "redb",
    open,
    recover,
    buffered: true,
    durable: true,
    ranked: true,
    rotation_knob: false,
    mapping: "record = write txn + insert(u64, bytes) + commit; durable = Durability::Immediate; buffered = Durability::None, one Immediate commit at the end",
};

const TABLE: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("log");

struct Redb {
    db: Database,
    sequence: AtomicU64,
}

fn path(dir: &Path) -> std::path::PathBuf {
    dir.join("log.redb")
}

fn open(dir: &Path, _options: &OpenOptions) -> Result<Box<dyn Subject>> {
    std::fs::create_dir_all(dir)?;
    let db = Database::create(path(dir)).context("redb create")?;
    Ok(Box::new(Redb {
        db,
        sequence: AtomicU64::new(0),
    }))
}

impl Subject for Redb {
    fn append(&self, writer: usize, payload: &[u8], durable: bool) -> Result<()> {
        self.append_batch(writer, &[payload], durable)
    }

    fn append_batch(&self, _writer: usize, payloads: &[&[u8]], durable: bool) -> Result<()> {
        let first = self
            .sequence
            .fetch_add(payloads.len() as u64, Ordering::Relaxed);
        let mut txn = self.db.begin_write()?;
        txn.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        })?;
        {
            let mut table = txn.open_table(TABLE)?;
            for (payload, sequence) in payloads.iter().zip(first..) {
                table.insert(sequence, *payload)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        drop(self);
        Ok(())
    }
}

fn recover(dir: &Path, _options: &OpenOptions) -> Result<Recovered> {
    let db = Database::create(path(dir)).context("redb open")?;
    let txn = db.begin_read()?;
    let table = txn.open_table(TABLE)?;
    let mut recovered = Recovered::default();
    for item in table.iter()? {
        let (_key, value) = item?;
        recovered.record_count += 1;
        recovered.payload_bytes += value.value().len() as u64;
    }
    Ok(recovered)
}
