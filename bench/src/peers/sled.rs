//! sled 0.34: a record is one `Db::insert` under a big-endian sequence key; durability is
//! `Db::flush()`, the call sled documents for it. Whether that call reaches fsync is exactly what
//! the honesty column checks (sled flushes its segments with `sync_file_range` on Linux).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

use crate::subject::{OpenOptions, Peer, Recovered, Subject, sequence_key};

/// The registry entry.
pub const PEER: Peer = Peer {
    name: "sled",
    open,
    recover,
    buffered: true,
    durable: true,
    ranked: true,
    rotation_knob: false,
    mapping: "record = insert(seq key); durable = Db::flush(); buffered = insert, one Db::flush() at the end; batch = sled::Batch + apply_batch",
};

struct Sled {
    db: sled::Db,
    sequence: AtomicU64,
}

fn open_db(dir: &Path) -> Result<sled::Db> {
    sled::Config::new().path(dir).open().context("sled open")
}

fn open(dir: &Path, _options: &OpenOptions) -> Result<Box<dyn Subject>> {
    Ok(Box::new(Sled {
        db: open_db(dir)?,
        sequence: AtomicU64::new(0),
    }))
}

impl Subject for Sled {
    fn append(&self, _writer: usize, payload: &[u8], durable: bool) -> Result<()> {
        let key = sequence_key(self.sequence.fetch_add(1, Ordering::Relaxed));
        self.db.insert(key, payload)?;
        if durable {
            self.db.flush()?;
        }
        Ok(())
    }

    fn append_batch(&self, _writer: usize, payloads: &[&[u8]], durable: bool) -> Result<()> {
        let first = self
            .sequence
            .fetch_add(payloads.len() as u64, Ordering::Relaxed);
        let mut batch = sled::Batch::default();
        for (payload, sequence) in payloads.iter().zip(first..) {
            batch.insert(&sequence_key(sequence), *payload);
        }
        self.db.apply_batch(batch)?;
        if durable {
            self.db.flush()?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.flush()?;
        drop(self);
        Ok(())
    }
}

fn recover(dir: &Path, _options: &OpenOptions) -> Result<Recovered> {
    let db = open_db(dir)?;
    let mut recovered = Recovered::default();
    for item in db.iter() {
        let (_key, value) = item?;
        recovered.record_count += 1;
        recovered.payload_bytes += value.len() as u64;
    }
    Ok(recovered)
}
