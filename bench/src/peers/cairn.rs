//! Cairn's own WAL (`cairn-wal` through `cairn_io::StdVfs`): a record is `Wal::append`, a batch
//! `Wal::append_batch` (all-or-nothing); durable appends use `Durability::Fsync` (group commit:
//! concurrent appenders share one fdatasync); buffered appends use `Durability::Buffered`
//! (handed to the OS, survives a process crash), and the end-of-run sync is `Wal::sync`.
//! `Wal::stats()` exposes the fsync count, so records per fsync are read directly.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use cairn_io::StdVfs;
use cairn_wal::{Durability, Lsn, Wal, WalOptions};

use crate::subject::{OpenOptions, Peer, Recovered, Subject};

/// The registry entry.
pub const PEER: Peer = Peer {
    name: "cairn",
    open,
    recover,
    buffered: true,
    rotation_knob: true,
    mapping: "record = Wal::append; durable = Durability::Fsync; buffered = Durability::Buffered + Wal::sync; batch = Wal::append_batch",
};

struct Cairn {
    wal: Wal,
}

#[allow(
    clippy::field_reassign_with_default,
    reason = "WalOptions is #[non_exhaustive]: no struct expression outside its crate"
)]
fn options(options: &OpenOptions) -> WalOptions {
    let mut wal = WalOptions::default();
    wal.segment_size_max = options.segment_size;
    // A record must fit in a segment; the benchmark's largest is 64 KiB.
    wal.record_size_max =
        u32::try_from((options.segment_size / 4).min(16 << 20)).unwrap_or(16 << 20);
    wal
}

fn open_wal(dir: &Path, options: &OpenOptions) -> Result<Wal> {
    let (wal, _report) =
        Wal::open(dir, self::options(options), Arc::new(StdVfs::new())).context("cairn open")?;
    Ok(wal)
}

fn open(dir: &Path, options: &OpenOptions) -> Result<Box<dyn Subject>> {
    Ok(Box::new(Cairn {
        wal: open_wal(dir, options)?,
    }))
}

fn level(durable: bool) -> Durability {
    if durable {
        Durability::Fsync
    } else {
        Durability::Buffered
    }
}

impl Subject for Cairn {
    fn append(&self, _writer: usize, payload: &[u8], durable: bool) -> Result<()> {
        self.wal.append(payload, level(durable))?;
        Ok(())
    }

    fn append_batch(&self, _writer: usize, payloads: &[&[u8]], durable: bool) -> Result<()> {
        self.wal.append_batch(payloads, level(durable))?;
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.wal.sync()?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.wal.close()?;
        Ok(())
    }

    fn sync_count(&self) -> Option<u64> {
        Some(self.wal.stats().fsyncs)
    }
}

fn recover(dir: &Path, options: &OpenOptions) -> Result<Recovered> {
    let wal = open_wal(dir, options)?;
    let mut recovered = Recovered::default();
    for record in wal.reader(Lsn::FIRST)? {
        let (_lsn, payload) = record?;
        recovered.record_count += 1;
        recovered.payload_bytes += payload.len() as u64;
    }
    wal.close()?;
    Ok(recovered)
}
