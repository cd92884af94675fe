//! walrus-rust 0.2: every writer appends to one topic (`append_for_topic`); a batch is
//! `batch_append_for_topic`. walrus fixes its fsync policy when the instance is built, so durable
//! runs open with `FsyncSchedule::SyncEach` and buffered ones with `FsyncSchedule::NoFsync`
//! (walrus has no call to sync later, so a buffered run ends without a sync).
//!
//! walrus 0.2 has two storage backends: the FD backend (the default; `pwrite` per append, and
//! io_uring for `batch_append_for_topic` on Linux) and an mmap backend (after
//! `disable_fd_backend()`). The adapter keeps the default, so a buffered append is one `pwrite`
//! handed to the OS; the honesty column counts those writes.
//!
//! walrus places its files under `$WALRUS_DATA_DIR/<key>`; `main` points `WALRUS_DATA_DIR` at the
//! benchmark directory before any thread starts, and the key is the run's directory name.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use walrus_rust::{FsyncSchedule, ReadConsistency, Walrus};

use crate::subject::{OpenOptions, Peer, Recovered, Subject};

/// The registry entry.
pub const PEER: Peer = Peer {
    name: "walrus",
    open,
    recover,
    buffered: true,
    durable: true,
    ranked: true,
    rotation_knob: false,
    mapping: "record = append_for_topic; durable = FsyncSchedule::SyncEach; buffered = FsyncSchedule::NoFsync, no sync at the end (walrus has no sync call); batch = batch_append_for_topic",
};

const TOPIC: &str = "log";

struct WalrusLog {
    wal: Walrus,
}

/// The namespace key walrus resolves under `WALRUS_DATA_DIR`: the run directory's path relative
/// to it, flattened.
pub fn key_for(dir: &Path) -> Result<String> {
    let root =
        std::env::var_os("WALRUS_DATA_DIR").ok_or_else(|| anyhow!("WALRUS_DATA_DIR unset"))?;
    let relative = dir
        .strip_prefix(&root)
        .context("run dir outside WALRUS_DATA_DIR")?;
    let key: String = relative.to_string_lossy().replace('/', "_");
    Ok(key)
}

fn build(dir: &Path, schedule: FsyncSchedule) -> Result<Walrus> {
    let key = key_for(dir)?;
    Walrus::with_consistency_and_schedule_for_key(
        &key,
        ReadConsistency::AtLeastOnce {
            persist_every: 1 << 20,
        },
        schedule,
    )
    .context("walrus open")
}

fn open(dir: &Path, options: &OpenOptions) -> Result<Box<dyn Subject>> {
    let schedule = if options.durable {
        FsyncSchedule::SyncEach
    } else {
        FsyncSchedule::NoFsync
    };
    Ok(Box::new(WalrusLog {
        wal: build(dir, schedule)?,
    }))
}

impl Subject for WalrusLog {
    fn append(&self, _writer: usize, payload: &[u8], _durable: bool) -> Result<()> {
        self.wal.append_for_topic(TOPIC, payload)?;
        Ok(())
    }

    fn append_batch(&self, _writer: usize, payloads: &[&[u8]], _durable: bool) -> Result<()> {
        self.wal.batch_append_for_topic(TOPIC, payloads)?;
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        drop(self);
        Ok(())
    }
}

fn recover(dir: &Path, _options: &OpenOptions) -> Result<Recovered> {
    let wal = build(dir, FsyncSchedule::NoFsync)?;
    let mut recovered = Recovered::default();
    loop {
        let entries = wal.batch_read_for_topic(TOPIC, 16 << 20, true)?;
        if entries.is_empty() {
            return Ok(recovered);
        }
        recovered.record_count += entries.len() as u64;
        recovered.payload_bytes += entries.iter().map(|e| e.data.len() as u64).sum::<u64>();
    }
}
