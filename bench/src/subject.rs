//! The one interface every log under test is driven through, and the registry of them.
//!
//! A [`Subject`] is an open log shared by all writer threads of a run. Each peer adapter lives in
//! `peers/` behind its own cargo feature and calls only the peer's documented public API; the
//! runner in `workload.rs` drives every subject through the same loop, so a difference in the
//! figures is a difference between the logs, not between the harnesses.

use std::path::Path;

use anyhow::Result;

/// How a subject is opened for one run.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(
    not(all(feature = "cairn", feature = "walrus", feature = "okaywal")),
    allow(dead_code, reason = "each field is read by some peers only")
)]
pub struct OpenOptions {
    /// Target segment (file) size in bytes, applied where the peer has such a knob.
    pub segment_size: u64,
    /// Whether this run's appends will ask for durability; peers that fix their fsync policy at
    /// open time (walrus-rust) need to know.
    pub durable: bool,
    /// Keep every record on disk (no checkpoint or purge), so recovery sees the whole volume.
    pub retain_all: bool,
}

/// An open log under test. Methods take `&self` and are called from several threads at once;
/// `writer` is the calling thread's index (0-based, below 64), for peers that keep one stream per
/// writer (raft-engine regions).
pub trait Subject: Send + Sync {
    /// Appends one record; when `durable`, returns only once the record survives power loss (by
    /// the peer's own account, checked separately under strace).
    fn append(&self, writer: usize, payload: &[u8], durable: bool) -> Result<()>;
    /// Appends the records as one atomic batch; when `durable`, with one durable commit.
    fn append_batch(&self, writer: usize, payloads: &[&[u8]], durable: bool) -> Result<()>;
    /// Makes everything appended so far durable.
    fn sync(&self) -> Result<()>;
    /// Closes the log cleanly.
    fn close(self: Box<Self>) -> Result<()>;
    /// Durable syncs issued so far, where the peer exposes the count (Cairn's `stats()`).
    fn sync_count(&self) -> Option<u64> {
        None
    }
}

/// What recovery found: the records read back and their payload bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Recovered {
    /// Records read back.
    pub record_count: u64,
    /// Payload bytes read back.
    pub payload_bytes: u64,
}

/// One log in the comparison.
#[derive(Clone, Copy)]
pub struct Peer {
    /// Short name used in tables, JSON keys and command lines.
    pub name: &'static str,
    /// Opens (creating if needed) a log in `dir`.
    pub open: fn(&Path, &OpenOptions) -> Result<Box<dyn Subject>>,
    /// Opens an existing log in `dir` and reads every record back once.
    pub recover: fn(&Path, &OpenOptions) -> Result<Recovered>,
    /// Whether the peer can append without forcing durability.
    pub buffered: bool,
    /// Whether the peer has a durable mode: only then does it take part in durable cells,
    /// latency and recovery.
    pub durable: bool,
    /// Whether the subject is ranked as a peer ("best honest peer"); false for Cairn's own
    /// subjects, which the peers are compared with.
    pub ranked: bool,
    /// Whether `OpenOptions::segment_size` reaches a rotation knob of the peer.
    pub rotation_knob: bool,
    /// How the adapter maps the benchmark's calls onto the peer's API.
    pub mapping: &'static str,
}

/// Every subject compiled into this binary, Cairn (and `cairn-os`) first.
#[allow(unused_mut, reason = "empty when every peer feature is off")]
#[allow(
    clippy::vec_init_then_push,
    reason = "each push sits behind its own feature"
)]
pub fn all() -> Vec<Peer> {
    #[allow(unused_mut, reason = "empty when every peer feature is off")]
    #[allow(
        clippy::vec_init_then_push,
        reason = "each push sits behind its own feature"
    )]
    let mut peers = Vec::new();
    #[cfg(feature = "cairn")]
    peers.push(crate::peers::cairn::PEER);
    #[cfg(feature = "cairn")]
    peers.push(crate::peers::cairn::PEER_OS);
    #[cfg(feature = "raft-engine")]
    peers.push(crate::peers::raft_engine::PEER);
    #[cfg(feature = "okaywal")]
    peers.push(crate::peers::okaywal::PEER);
    #[cfg(feature = "fjall")]
    peers.push(crate::peers::fjall::PEER);
    #[cfg(feature = "sled")]
    peers.push(crate::peers::sled::PEER);
    #[cfg(feature = "redb")]
    peers.push(crate::peers::redb::PEER);
    #[cfg(feature = "walrus")]
    peers.push(crate::peers::walrus::PEER);
    peers
}

/// A big-endian key that sorts in append order, for the key-value peers.
#[cfg_attr(
    not(any(feature = "fjall", feature = "sled")),
    allow(dead_code, reason = "used by the key-value peers only")
)]
pub fn sequence_key(sequence: u64) -> [u8; 8] {
    sequence.to_be_bytes()
}
