//! Cairn's own WAL (`cairn-wal` through `cairn_io::StdVfs`), as two subjects that differ only in
//! what a buffered append asks for.
//!
//! - `cairn`: a record is `Wal::append`, a batch `Wal::append_batch` (all-or-nothing); durable
//!   appends use `Durability::Fsync` (group commit: concurrent appenders share one fdatasync);
//!   buffered appends use `Durability::None`: the record waits in an in-process buffer and is
//!   written to the OS when the buffer fills (`WalOptions::buffer_size_max`), on `Wal::sync`,
//!   `flush` or close. It is the mode for "append now, one sync at the end", and it loses the
//!   buffer if the process crashes, as fjall without persist and sled between flushes do.
//! - `cairn-os`: buffered appends use `Durability::Buffered`: one `pwrite` per append, so the
//!   record survives a process crash (not a power loss), as raft-engine with `sync = false` and
//!   walrus do. It takes part in buffered cells only, and is never ranked as a peer.
//!
//! Both end a buffered run with `Wal::sync`. `Wal::stats()` exposes the fsync count, so records
//! per fsync are read directly.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use cairn_io::StdVfs;
use cairn_wal::{Durability, Lsn, Wal, WalOptions};

use crate::subject::{OpenOptions, Peer, Recovered, Subject};

/// The registry entry of Cairn, buffered appends kept in the process.
pub const PEER: Peer = Peer {
    name: "cairn",
    open,
    recover,
    buffered: true,
    durable: true,
    ranked: false,
    rotation_knob: true,
    mapping: "record = Wal::append; durable = Durability::Fsync; buffered = Durability::None (in-process buffer) + one Wal::sync at the end; batch = Wal::append_batch",
};

/// The registry entry of Cairn with every buffered append handed to the OS.
pub const PEER_OS: Peer = Peer {
    name: "cairn-os",
    open: open_os,
    recover,
    buffered: true,
    durable: false,
    ranked: false,
    rotation_knob: true,
    mapping: "Cairn, buffered cells only: record = Wal::append; buffered = Durability::Buffered (one pwrite per append) + one Wal::sync at the end",
};

struct Cairn {
    wal: Wal,
    /// What a buffered (not durable) append asks for.
    buffered: Durability,
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
        buffered: Durability::None,
    }))
}

fn open_os(dir: &Path, options: &OpenOptions) -> Result<Box<dyn Subject>> {
    Ok(Box::new(Cairn {
        wal: open_wal(dir, options)?,
        buffered: Durability::Buffered,
    }))
}

impl Cairn {
    fn level(&self, durable: bool) -> Durability {
        if durable {
            Durability::Fsync
        } else {
            self.buffered
        }
    }
}

impl Subject for Cairn {
    fn append(&self, _writer: usize, payload: &[u8], durable: bool) -> Result<()> {
        self.wal.append(payload, self.level(durable))?;
        Ok(())
    }

    fn append_batch(&self, _writer: usize, payloads: &[&[u8]], durable: bool) -> Result<()> {
        self.wal.append_batch(payloads, self.level(durable))?;
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
