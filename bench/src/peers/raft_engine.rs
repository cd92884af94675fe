//! raft-engine 0.4 (default features off): each writer thread is one Raft group whose entries
//! carry consecutive indexes; a record is one entry in a `LogBatch`, written with
//! `Engine::write(batch, sync)` (documented to fdatasync when `sync` is true).
//!
//! Entries must be protobuf messages: the adapter uses protobuf's well-known `BytesValue` and
//! stores the entry index in the payload's first 8 bytes (every benchmark record is at least
//! 64 bytes), so no byte is added to the record.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, ensure};
use protobuf::well_known_types::BytesValue;
use raft_engine::{Config, Engine, LogBatch, MessageExt, ReadableSize};

use crate::subject::{OpenOptions, Peer, Recovered, Subject};

/// The registry entry.
pub const PEER: Peer = Peer {
    name: "raft-engine",
    open,
    recover,
    buffered: true,
    durable: true,
    ranked: true,
    rotation_knob: true,
    mapping: "one Raft group per writer; record = entry; durable = Engine::write(batch, true); buffered = Engine::write(batch, false), one Engine::sync at the end",
};

/// Tells raft-engine where an entry's index lives.
#[derive(Clone, Copy)]
struct Entries;

impl MessageExt for Entries {
    type Entry = BytesValue;

    fn index(entry: &BytesValue) -> u64 {
        let mut index = [0u8; 8];
        index.copy_from_slice(&entry.value[..8]);
        u64::from_le_bytes(index)
    }
}

struct RaftEngine {
    engine: Engine,
    /// Next entry index per writer (Raft group `writer + 1`).
    next_index: Vec<AtomicU64>,
}

fn config(dir: &Path, options: &OpenOptions) -> Config {
    let mut config = Config {
        dir: dir.to_string_lossy().into_owned(),
        target_file_size: ReadableSize(options.segment_size),
        ..Config::default()
    };
    config.purge_threshold = ReadableSize(config.purge_threshold.0.max(options.segment_size * 4));
    config
}

fn open(dir: &Path, options: &OpenOptions) -> Result<Box<dyn Subject>> {
    let engine = Engine::open(config(dir, options)).context("raft-engine open")?;
    Ok(Box::new(RaftEngine {
        engine,
        next_index: (0..64).map(|_| AtomicU64::new(1)).collect(),
    }))
}

fn entry(index: u64, payload: &[u8]) -> BytesValue {
    let mut value = payload.to_vec();
    value[..8].copy_from_slice(&index.to_le_bytes());
    let mut entry = BytesValue::new();
    entry.value = value;
    entry
}

impl Subject for RaftEngine {
    fn append(&self, writer: usize, payload: &[u8], durable: bool) -> Result<()> {
        self.append_batch(writer, &[payload], durable)
    }

    fn append_batch(&self, writer: usize, payloads: &[&[u8]], durable: bool) -> Result<()> {
        ensure!(
            payloads.iter().all(|p| p.len() >= 8),
            "records shorter than 8 bytes"
        );
        let count = payloads.len() as u64;
        let first = self.next_index[writer].fetch_add(count, Ordering::Relaxed);
        let entries: Vec<BytesValue> = payloads
            .iter()
            .zip(first..)
            .map(|(payload, index)| entry(index, payload))
            .collect();
        let mut batch = LogBatch::default();
        batch.add_entries::<Entries>(writer as u64 + 1, &entries)?;
        self.engine.write(&mut batch, durable)?;
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.engine.sync()?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        drop(self);
        Ok(())
    }
}

fn recover(dir: &Path, options: &OpenOptions) -> Result<Recovered> {
    let engine = Engine::open(config(dir, options)).context("raft-engine recover")?;
    let mut recovered = Recovered::default();
    let mut entries = Vec::new();
    for region in engine.raft_groups() {
        let (Some(first), Some(last)) = (engine.first_index(region), engine.last_index(region))
        else {
            continue;
        };
        let mut begin = first;
        while begin <= last {
            let end = (begin + 4096).min(last + 1);
            entries.clear();
            engine.fetch_entries_to::<Entries>(region, begin, end, None, &mut entries)?;
            recovered.record_count += entries.len() as u64;
            recovered.payload_bytes += entries.iter().map(|e| e.value.len() as u64).sum::<u64>();
            begin = end;
        }
    }
    Ok(recovered)
}
