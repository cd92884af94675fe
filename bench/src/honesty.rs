//! The honesty columns: does a subject's "durable" call really reach fdatasync/fsync, and does
//! its buffered call reach the OS on every append or wait in the process?
//!
//! Each subject runs in a child process (this binary in `--probe` mode) under
//! `strace -f -c -e trace=write,pwrite64,writev,pwritev,pwritev2,fdatasync,fsync,sync_file_range,msync`.
//!
//! - Durable: once with no appends and once with N durable appends; the difference, divided by
//!   N, is the sync calls per durable append. A run with 4 writer threads gives records per
//!   fsync (group commit). `msync` counts as a durable sync (Linux implements `MS_SYNC` with the
//!   same range fsync); `sync_file_range` does not: it starts write-back but neither waits for it
//!   nor flushes the device cache.
//! - Buffered: once with no appends and once with M buffered appends, each followed by a clean
//!   close and no explicit sync; the difference in write system calls, divided by M, is the OS
//!   writes per buffered append: about 1 for a log that hands every append to the OS (it
//!   survives a process crash), well below 1 for one that buffers in the process (it does not).
//!   Writes through a shared mapping (an mmap backend) or io_uring are not system calls of that
//!   name and count 0.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};

use crate::subject::Peer;

/// Durable appends per probe.
pub const PROBE_APPENDS: u64 = 200;

/// Buffered appends per probe: enough 128-byte records (over 1 MiB) for an in-process buffer of
/// a typical size to fill at least once.
pub const BUFFERED_PROBE_APPENDS: u64 = 10_000;

/// What strace traces in every probe.
pub const TRACE: &str =
    "trace=write,pwrite64,writev,pwritev,pwritev2,fdatasync,fsync,sync_file_range,msync";

/// System calls counted in one probe.
#[derive(Clone, Copy, Debug, Default)]
struct Calls {
    /// fdatasync(2) + fsync(2) + msync(2).
    durable: u64,
    /// sync_file_range(2).
    sync_file_range: u64,
    /// write(2) + pwrite64(2) + writev(2) + pwritev(2) + pwritev2(2).
    writes: u64,
}

/// What the check of the durable call found for one subject.
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
    /// The subject has no durable call in this benchmark; why.
    NotApplicable(&'static str),
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
            Verdict::NotApplicable(_) | Verdict::NotChecked(_) => true,
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
                let verdict = if self.honest() {
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
            Verdict::NotApplicable(why) => format!("n/a ({why})"),
            Verdict::NotChecked(why) => format!("not checked ({why})"),
        }
    }
}

/// What the check of the buffered call found for one subject.
#[derive(Clone, Debug)]
pub enum Buffered {
    /// strace ran.
    Checked {
        /// write/pwrite64/writev/pwritev/pwritev2 calls per buffered append, one writer.
        writes_per_append: f64,
        /// fdatasync/fsync/msync calls per buffered append, one writer.
        syncs_per_append: f64,
    },
    /// The subject has no buffered mode; why.
    NotApplicable(&'static str),
    /// strace is not installed, or failed; the reason.
    NotChecked(String),
}

/// A per-append figure: two decimals, or two significant digits below 0.1.
fn per_append(value: f64) -> String {
    if value == 0.0 || value.abs() >= 0.1 {
        format!("{value:.2}")
    } else {
        let digits = (-value.abs().log10()).ceil() as usize + 1;
        format!("{value:.digits$}")
    }
}

impl Buffered {
    /// Whether the check saw about one OS write per buffered append: every append is handed to
    /// the OS (and survives a crash of the process).
    pub fn hands_each_append_to_os(&self) -> bool {
        matches!(self, Buffered::Checked { writes_per_append, .. } if *writes_per_append >= 0.9)
    }

    /// The table cell.
    pub fn describe(&self) -> String {
        match self {
            Buffered::Checked {
                writes_per_append,
                syncs_per_append,
            } => {
                let syncs = if *syncs_per_append > 0.0 {
                    format!(
                        "; {} fdatasync/fsync/msync per append",
                        per_append(*syncs_per_append)
                    )
                } else {
                    String::new()
                };
                let w = *writes_per_append;
                if w <= 0.0 {
                    format!(
                        "0 writes (may write through mmap or io_uring, which strace does not \
                         count as writes){syncs}"
                    )
                } else if self.hands_each_append_to_os() {
                    format!(
                        "yes: {} OS writes per buffered append{syncs}",
                        per_append(w)
                    )
                } else {
                    format!(
                        "no: {} OS writes per buffered append (one per {} appends; the rest \
                         wait in the process){syncs}",
                        per_append(w),
                        crate::stats::human(1.0 / w)
                    )
                }
            }
            Buffered::NotApplicable(why) => format!("n/a ({why})"),
            Buffered::NotChecked(why) => format!("not checked ({why})"),
        }
    }
}

/// Both checks of one subject.
#[derive(Clone, Debug)]
pub struct Honesty {
    /// The durable call.
    pub durable: Verdict,
    /// The buffered call.
    pub buffered: Buffered,
}

impl Honesty {
    /// Both checks not run, for the same reason.
    pub fn not_checked(why: &str) -> Honesty {
        Honesty {
            durable: Verdict::NotChecked(why.into()),
            buffered: Buffered::NotChecked(why.into()),
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

fn probe(
    peer: &Peer,
    scratch: &Path,
    appends: u64,
    threads: usize,
    durable: bool,
) -> Result<Calls> {
    let dir = crate::workload::fresh_dir(scratch, &format!("{}-probe", peer.name))?;
    let summary = scratch.join(format!("{}-strace.txt", peer.name));
    let exe = std::env::current_exe()?;
    let status = Command::new("strace")
        .args(["-f", "-c", "-e", TRACE, "-o"])
        .arg(&summary)
        .arg(exe)
        .args(["--probe", peer.name])
        .arg(&dir)
        .args([appends.to_string(), threads.to_string()])
        .arg(if durable { "durable" } else { "buffered" })
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
    Ok(Calls {
        durable: get("fdatasync") + get("fsync") + get("msync"),
        sync_file_range: get("sync_file_range"),
        writes: get("write") + get("pwrite64") + get("writev") + get("pwritev") + get("pwritev2"),
    })
}

/// Runs the durable probes for `peer` (no appends, 1 writer, 4 writers).
fn check_durable(peer: &Peer, scratch: &Path) -> Verdict {
    if !peer.durable {
        return Verdict::NotApplicable("buffered mode only");
    }
    let run = || -> Result<Verdict> {
        let baseline = probe(peer, scratch, 0, 1, true)?;
        let one = probe(peer, scratch, PROBE_APPENDS, 1, true)?;
        let four = probe(peer, scratch, 2 * PROBE_APPENDS, 4, true)?;
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

/// Runs the buffered probes for `peer` (no appends, and `BUFFERED_PROBE_APPENDS`, 1 writer).
fn check_buffered(peer: &Peer, scratch: &Path) -> Buffered {
    if !peer.buffered {
        return Buffered::NotApplicable("no buffered mode");
    }
    let run = || -> Result<Buffered> {
        let baseline = probe(peer, scratch, 0, 1, false)?;
        let many = probe(peer, scratch, BUFFERED_PROBE_APPENDS, 1, false)?;
        let n = BUFFERED_PROBE_APPENDS as f64;
        Ok(Buffered::Checked {
            writes_per_append: many.writes.saturating_sub(baseline.writes) as f64 / n,
            syncs_per_append: many.durable.saturating_sub(baseline.durable) as f64 / n,
        })
    };
    run().unwrap_or_else(|e| Buffered::NotChecked(format!("probe failed: {e:#}")))
}

/// Runs every probe for `peer`.
pub fn check(peer: &Peer, scratch: &Path) -> Honesty {
    Honesty {
        durable: check_durable(peer, scratch),
        buffered: check_buffered(peer, scratch),
    }
}

/// The `--probe` child: `appends` 128-byte appends (durable or buffered) over `threads`
/// writers, then a clean close (no explicit sync).
pub fn probe_child(
    peer: &Peer,
    dir: &Path,
    appends: u64,
    threads: usize,
    durable: bool,
) -> Result<()> {
    let options = crate::subject::OpenOptions {
        segment_size: crate::workload::SEGMENT_SIZE,
        durable,
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
                        subject.append(writer, record, durable)?;
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
