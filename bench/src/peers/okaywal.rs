//! okaywal 0.3: a record is one entry of one chunk (`begin_entry`, `write_chunk`, `commit`); a
//! batch is one entry of many chunks. `commit` always syncs (documented: "once this call returns,
//! all data is ... synchronized to disk"), so okaywal has no buffered mode.
//!
//! Checkpointing recycles segments; the benchmark's log manager accepts every checkpoint, and
//! `retain_all` raises the checkpoint threshold so recovery sees the whole volume.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use okaywal::{
    Configuration, Entry, EntryId, LogManager, ReadChunkResult, SegmentReader, WriteAheadLog,
};

use crate::subject::{OpenOptions, Peer, Recovered, Subject};

/// The registry entry.
pub const PEER: Peer = Peer {
    name: "okaywal",
    open,
    recover,
    buffered: false,
    durable: true,
    ranked: true,
    rotation_knob: true,
    mapping: "record = entry of one chunk; batch = entry of 100 chunks; commit always syncs",
};

/// Counts what recovery replays and accepts every checkpoint.
#[derive(Debug, Default)]
struct Manager {
    recovered: Arc<Mutex<Recovered>>,
}

impl LogManager for Manager {
    fn recover(&mut self, entry: &mut Entry<'_>) -> std::io::Result<()> {
        let mut recovered = self.recovered.lock().expect("counter lock");
        loop {
            match entry.read_chunk()? {
                ReadChunkResult::Chunk(mut chunk) => {
                    let bytes = chunk.read_all()?;
                    recovered.record_count += 1;
                    recovered.payload_bytes += bytes.len() as u64;
                }
                ReadChunkResult::EndOfEntry | ReadChunkResult::AbortedEntry => return Ok(()),
            }
        }
    }

    fn checkpoint_to(
        &mut self,
        _last_checkpointed_id: EntryId,
        _checkpointed_entries: &mut SegmentReader,
        _wal: &WriteAheadLog,
    ) -> std::io::Result<()> {
        Ok(())
    }
}

struct OkayWal {
    wal: WriteAheadLog,
}

fn configuration(dir: &Path, options: &OpenOptions) -> Configuration {
    let segment_size = options.segment_size.min(u64::from(u32::MAX));
    let checkpoint = if options.retain_all {
        1 << 40
    } else {
        segment_size
    };
    Configuration::default_for(dir)
        .preallocate_bytes(u32::try_from(segment_size).unwrap_or(u32::MAX))
        .checkpoint_after_bytes(checkpoint)
}

fn open(dir: &Path, options: &OpenOptions) -> Result<Box<dyn Subject>> {
    let wal = configuration(dir, options)
        .open(Manager::default())
        .context("okaywal open")?;
    Ok(Box::new(OkayWal { wal }))
}

impl Subject for OkayWal {
    fn append(&self, writer: usize, payload: &[u8], durable: bool) -> Result<()> {
        self.append_batch(writer, &[payload], durable)
    }

    fn append_batch(&self, _writer: usize, payloads: &[&[u8]], _durable: bool) -> Result<()> {
        let mut entry = self.wal.begin_entry()?;
        for payload in payloads {
            entry.write_chunk(payload)?;
        }
        entry.commit()?;
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        // Every commit has already synced.
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.wal
            .shutdown()
            .map_err(|e| anyhow!("okaywal shutdown: {e}"))
    }
}

fn recover(dir: &Path, options: &OpenOptions) -> Result<Recovered> {
    let manager = Manager::default();
    let counter = Arc::clone(&manager.recovered);
    let wal = configuration(dir, options)
        .open(manager)
        .context("okaywal recover")?;
    let recovered = *counter.lock().expect("counter lock");
    wal.shutdown()?;
    Ok(recovered)
}
