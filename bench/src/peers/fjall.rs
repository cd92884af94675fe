//! fjall 3 (default features off, so no compression): a record is one `Keyspace::insert` under a
//! big-endian sequence key; durability is `Database::persist(PersistMode::SyncData)` on the
//! journal (documented: "flushes data using fdatasync"); a batch is one `OwnedWriteBatch`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::subject::{OpenOptions, Peer, Recovered, Subject, sequence_key};

/// The registry entry.
pub const PEER: Peer = Peer {
    name: "fjall",
    open,
    recover,
    buffered: true,
    durable: true,
    ranked: true,
    rotation_knob: false,
    mapping: "record = insert(seq key); durable = Database::persist(SyncData); buffered = insert, one persist(SyncData) at the end; batch = OwnedWriteBatch",
};

struct Fjall {
    db: Database,
    keyspace: Keyspace,
    sequence: AtomicU64,
}

fn open_db(dir: &Path) -> Result<(Database, Keyspace)> {
    let db = Database::builder(dir).open().context("fjall open")?;
    let keyspace = db.keyspace("log", KeyspaceCreateOptions::default)?;
    Ok((db, keyspace))
}

fn open(dir: &Path, _options: &OpenOptions) -> Result<Box<dyn Subject>> {
    let (db, keyspace) = open_db(dir)?;
    Ok(Box::new(Fjall {
        db,
        keyspace,
        sequence: AtomicU64::new(0),
    }))
}

impl Subject for Fjall {
    fn append(&self, _writer: usize, payload: &[u8], durable: bool) -> Result<()> {
        let key = sequence_key(self.sequence.fetch_add(1, Ordering::Relaxed));
        self.keyspace.insert(key, payload)?;
        if durable {
            self.db.persist(PersistMode::SyncData)?;
        }
        Ok(())
    }

    fn append_batch(&self, _writer: usize, payloads: &[&[u8]], durable: bool) -> Result<()> {
        let first = self
            .sequence
            .fetch_add(payloads.len() as u64, Ordering::Relaxed);
        let mut batch = self.db.batch();
        for (payload, sequence) in payloads.iter().zip(first..) {
            batch.insert(&self.keyspace, sequence_key(sequence), *payload);
        }
        batch.commit()?;
        if durable {
            self.db.persist(PersistMode::SyncData)?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        drop(self);
        Ok(())
    }
}

fn recover(dir: &Path, _options: &OpenOptions) -> Result<Recovered> {
    let (_db, keyspace) = open_db(dir)?;
    let mut recovered = Recovered::default();
    for guard in keyspace.iter() {
        let (_key, value) = guard.into_inner()?;
        recovered.record_count += 1;
        recovered.payload_bytes += value.len() as u64;
    }
    Ok(recovered)
}
