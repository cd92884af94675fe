//! Group-commit counters: fsyncs, records and bytes per fsync, and an fsync latency
//! histogram with power-of-two microsecond buckets.

use std::time::Duration;

// Plain std atomics even under loom: these are statistics, not part of the commit protocol,
// and modelling 36 relaxed counters would only slow the models down.
use std::sync::atomic::{AtomicU64, Ordering};

/// Number of latency buckets: bucket `i` counts fsyncs that took `[2^(i-1), 2^i)` µs (bucket 0:
/// under 1 µs; the last bucket: everything longer).
pub const LATENCY_BUCKETS: usize = 32;

/// Live counters, updated by the syncing leader.
#[derive(Debug)]
pub(crate) struct Counters {
    fsyncs: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
    rotations: AtomicU64,
    fsync_nanos: AtomicU64,
    gather_nanos: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS],
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            fsyncs: AtomicU64::new(0),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            fsync_nanos: AtomicU64::new(0),
            gather_nanos: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    pub(crate) fn record_fsync(
        &self,
        records: u64,
        bytes: u64,
        gathered: Duration,
        took: Duration,
    ) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.fsync_nanos.fetch_add(nanos(took), Ordering::Relaxed);
        self.gather_nanos
            .fetch_add(nanos(gathered), Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = (u64::BITS - micros.leading_zeros()) as usize;
        self.latency[bucket.min(LATENCY_BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_rotation(&self) {
        self.rotations.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> WalStats {
        WalStats {
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            records_synced: self.records.load(Ordering::Relaxed),
            bytes_synced: self.bytes.load(Ordering::Relaxed),
            rotations: self.rotations.load(Ordering::Relaxed),
            fsync_time: Duration::from_nanos(self.fsync_nanos.load(Ordering::Relaxed)),
            gather_time: Duration::from_nanos(self.gather_nanos.load(Ordering::Relaxed)),
            fsync_latency_histogram: std::array::from_fn(|i| {
                self.latency[i].load(Ordering::Relaxed)
            }),
        }
    }
}

/// A snapshot of the group-commit counters, from [`crate::Wal::stats`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalStats {
    /// Group fsyncs issued.
    pub fsyncs: u64,
    /// Records made durable by those fsyncs.
    pub records_synced: u64,
    /// Payload bytes made durable by those fsyncs.
    pub bytes_synced: u64,
    /// Segments sealed and started.
    pub rotations: u64,
    /// Time spent in group fsyncs, summed.
    pub fsync_time: Duration,
    /// Time group-commit leaders spent gathering their group before its fsync, summed: the
    /// cost of waking the writers the previous fsync released so that they join one group.
    pub gather_time: Duration,
    /// fsync latency: bucket `i` counts fsyncs that took `[2^(i-1), 2^i)` microseconds.
    pub fsync_latency_histogram: [u64; LATENCY_BUCKETS],
}

impl WalStats {
    /// Average records per fsync (0 if none).
    #[must_use]
    pub fn records_per_fsync(&self) -> f64 {
        if self.fsyncs == 0 {
            0.0
        } else {
            self.records_synced as f64 / self.fsyncs as f64
        }
    }

    /// Average payload bytes per fsync (0 if none).
    #[must_use]
    pub fn bytes_per_fsync(&self) -> f64 {
        if self.fsyncs == 0 {
            0.0
        } else {
            self.bytes_synced as f64 / self.fsyncs as f64
        }
    }

    /// The upper bound of the bucket holding the `q`-quantile fsync latency (`q` in 0..=1).
    #[must_use]
    pub fn fsync_latency_quantile(&self, q: f64) -> Duration {
        let total: u64 = self.fsync_latency_histogram.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((total as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.fsync_latency_histogram.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_micros(1u64 << i.min(62));
            }
        }
        Duration::MAX
    }
}
