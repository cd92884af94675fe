//! The honesty column: does a subject's "durable" call really reach fdatasync/fsync?
//!
//! Each subject runs in a child process (this binary in `--probe` mode) under
//! `strace -f -c -e trace=fdatasync,fsync,sync_file_range,msync`, once with no appends and once
//! with N durable appends; the difference, divided by N, is the sync calls per durable append.
//! A run with 4 writer threads gives records per fsync (group commit). `msync` counts as a
//! durable sync (Linux implements `MS_SYNC` with the same range fsync); `sync_file_range` does
//! not: it starts write-back but neither waits for it nor flushes the device cache.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};

use crate::subject::Peer;

/// Appends per probe.
pub const PROBE_APPENDS: u64 = 200;

/// Sync system calls counted in one probe.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCalls {
    /// fdatasync(2) + fsync(2) + msync(2).
    pub durable: u64,
    /// sync_file_range(2).
    pub sync_file_range: u64,
}

/// What the honesty check found for one subject.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// strace ran.
    Checked {
        /// Durable sync calls per durable append, one writer.
        durable_per_append: f64,
        /// sync_file_range calls per durable append, one writer.
        range_per_append: f64,
        /// Records per durable sync call with 4 writers.
        records_per_sync_4t: Option<f64>,
    },
    /// strace is not installed, or failed; the reason.
    NotChecked(String),
}

impl Verdict {
    /// Whether the subject may be ranked: it syncs at least ~once per durable append, or it was
    /// not checked (reported as such).
    pub fn honest(&self) -> bool {
        match self {
            Verdict::Checked {
                durable_per_append, ..
            } => *durable_per_append >= 0.9,
            Verdict::NotChecked(_) => true,
        }
    }

    /// The table cell.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Checked {
                durable_per_append,
                range_per_append,
                records_per_sync_4t,
            } => {
                let verdict = if *durable_per_append >= 0.9 {
                    "yes"
                } else if *range_per_append > 0.0 {
                    "NO (sync_file_range, not fsync)"
                } else {
                    "NO"
                };
                let grouping = records_per_sync_4t.map_or("no sync at all".to_string(), |r| {
                    format!("{r:.2} records per sync")
                });
                format!(
                    "{verdict}: {durable_per_append:.2} fdatasync/fsync/msync and \
                     {range_per_append:.2} sync_file_range per durable append (1 writer); \
                     {grouping} (4 writers)"
                )
            }
            Verdict::NotChecked(why) => format!("not checked ({why})"),
        }
    }
}

/// Whether strace can be run here.
pub fn strace_available() -> bool {
    Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Parses `strace -c` output into per-syscall call counts.
fn parse_summary(text: &str) -> BTreeMap<String, u64> {
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 || fields[0].parse::<f64>().is_err() {
            continue;
        }
        let name = fields[fields.len() - 1];
        if let Ok(n) = fields[3].parse::<u64>() {
            calls.insert(name.to_string(), n);
        }
    }
    calls
}

fn probe(peer: &Peer, scratch: &Path, appends: u64, threads: usize) -> Result<SyncCalls> {
    let dir = crate::workload::fresh_dir(scratch, &format!("{}-probe", peer.name))?;
    let summary = scratch.join(format!("{}-strace.txt", peer.name));
    let exe = std::env::current_exe()?;
    let status = Command::new("strace")
        .args([
            "-f",
            "-c",
            "-e",
            "trace=fdatasync,fsync,sync_file_range,msync",
            "-o",
        ])
        .arg(&summary)
        .arg(exe)
        .args(["--probe", peer.name])
        .arg(&dir)
        .args([appends.to_string(), threads.to_string()])
        .stdout(Stdio::null())
        .status()
        .context("run strace")?;
    ensure!(
        status.success(),
        "probe of {} exited with {status}",
        peer.name
    );
    let calls = parse_summary(&std::fs::read_to_string(&summary)?);
    let get = |name: &str| calls.get(name).copied().unwrap_or(0);
    std::fs::remove_dir_all(&dir)?;
    std::fs::remove_file(&summary)?;
    Ok(SyncCalls {
        durable: get("fdatasync") + get("fsync") + get("msync"),
        sync_file_range: get("sync_file_range"),
    })
}

/// Runs the three probes for `peer`.
pub fn check(peer: &Peer, scratch: &Path) -> Verdict {
    let run = || -> Result<Verdict> {
        let baseline = probe(peer, scratch, 0, 1)?;
        let one = probe(peer, scratch, PROBE_APPENDS, 1)?;
        let four = probe(peer, scratch, 2 * PROBE_APPENDS, 4)?;
        let n = PROBE_APPENDS as f64;
        let durable_one = one.durable.saturating_sub(baseline.durable) as f64;
        let range_one = one.sync_file_range.saturating_sub(baseline.sync_file_range) as f64;
        let durable_four = four.durable.saturating_sub(baseline.durable);
        Ok(Verdict::Checked {
            durable_per_append: durable_one / n,
            range_per_append: range_one / n,
            records_per_sync_4t: (durable_four > 0).then(|| 2.0 * n / durable_four as f64),
        })
    };
    run().unwrap_or_else(|e| Verdict::NotChecked(format!("probe failed: {e:#}")))
}

/// The `--probe` child: `appends` durable 128-byte appends over `threads` writers, then close.
pub fn probe_child(peer: &Peer, dir: &Path, appends: u64, threads: usize) -> Result<()> {
    let options = crate::subject::OpenOptions {
        segment_size: crate::workload::SEGMENT_SIZE,
        durable: true,
        retain_all: false,
    };
    let subject = (peer.open)(dir, &options)?;
    let record = crate::workload::payload(128, 3);
    let per_thread = appends / threads as u64;
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|writer| {
                let subject = subject.as_ref();
                let record = &record;
                scope.spawn(move || -> Result<()> {
                    for _ in 0..per_thread {
                        subject.append(writer, record, true)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("probe thread panicked"))??;
        }
        Ok(())
    })?;
    subject.close()
}
