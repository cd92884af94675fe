//! `cairn verify` and `cairn recover`: open a WAL directory on the real disk and report.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cairn_io::{StdVfs, Vfs};
use cairn_wal::{Lsn, RecoveryMode, RecoveryReport, Wal, WalOptions};

use crate::demo::Progress;

/// Opens `dir` in absolute-consistency mode (which repairs nothing) and reads every record.
pub fn verify(dir: &Path) -> Result<()> {
    let (wal, report) =
        open_existing(dir, RecoveryMode::AbsoluteConsistency).with_context(|| {
            format!(
                "{} did not verify; `cairn recover {}` shows what a repair would do",
                dir.display(),
                dir.display()
            )
        })?;
    print_report(&report);
    let start = Instant::now();
    let total = report.records;
    let mut progress = Progress::new("verifying", total);
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut expected = wal.first_lsn();
    for item in wal.reader(wal.first_lsn())? {
        let (lsn, payload) = item.with_context(|| format!("reading {}", dir.display()))?;
        if lsn != expected {
            bail!(
                "record {lsn} follows {}: the log has a gap",
                Lsn::new(expected.get() - 1)
            );
        }
        expected = lsn.next();
        records += 1;
        bytes += payload.len() as u64;
        progress.set(records);
    }
    progress.finish();
    wal.close()?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "verified {records} records ({:.1} MiB) in {seconds:.2} s ({:.0} MiB/s): every checksum holds",
        mib(bytes),
        mib(bytes) / seconds.max(1e-9)
    );
    Ok(())
}

/// Opens `dir` with `mode`, letting recovery repair what the mode allows.
pub fn recover(dir: &Path, mode: RecoveryMode) -> Result<()> {
    let (wal, report) = open_existing(dir, mode)
        .with_context(|| format!("recovering {} in {mode:?} mode", dir.display()))?;
    print_report(&report);
    wal.close()?;
    Ok(())
}

fn open_existing(dir: &Path, mode: RecoveryMode) -> Result<(Wal, RecoveryReport)> {
    let vfs = Arc::new(StdVfs::new());
    if !vfs.exists(dir)? {
        bail!(
            "{} does not exist; give the directory a Wal was opened in",
            dir.display()
        );
    }
    let options = WalOptions {
        recovery_mode: mode,
        ..WalOptions::default()
    };
    Ok(Wal::open(dir, options, vfs)?)
}

pub fn print_report(report: &RecoveryReport) {
    let range = match (report.first_lsn, report.last_lsn) {
        (Some(first), Some(last)) => format!("LSN {first}..={last}"),
        _ => "no records".to_string(),
    };
    println!(
        "recovery: {} records ({range}) in {} segments ({} scanned) in {:.1} ms",
        report.records,
        report.segments,
        report.segments_scanned,
        report.duration.as_secs_f64() * 1e3
    );
    if report.torn_tail || report.bytes_truncated > 0 {
        println!("  torn tail cut: {} bytes", report.bytes_truncated);
    }
    for path in &report.quarantine_files {
        println!("  quarantined bytes kept in {}", path.display());
    }
    for note in &report.damage {
        println!(
            "  damage in {} at offset {}: {}",
            note.segment.display(),
            note.offset,
            note.kind
        );
    }
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
