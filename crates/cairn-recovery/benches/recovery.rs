//! Recovery speed: writes a log of 4 KiB records (1 GiB under `cargo bench -p
//! cairn-recovery`, 8 MiB as a smoke run otherwise) with `Durability::Buffered` and one final
//! sync, then times `recover` — opening the log (its own recovery scan) and replaying every
//! record into a trivial state machine — and prints records/s and MB/s.
//!
//! The log is in a temporary directory (or `CAIRN_BENCH_DIR`). The first recovery reads
//! through a warm page cache, as right after a process restart; with
//! `CAIRN_BENCH_DROP_CACHES=1` (needs root) the page cache is then dropped and recovery
//! timed again from a cold cache, as after a reboot.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Instant;

use cairn_io::StdVfs;
use cairn_recovery::{Layout, RecoverOptions, StateMachine, recover};
use cairn_wal::{Durability, Lsn, Wal, WalOptions};

const RECORD_SIZE: usize = 4096;

/// Counts what it is given, and folds one byte of each record so nothing is optimised away.
#[derive(Default)]
struct Tally {
    records: u64,
    bytes: u64,
    fold: u64,
}

impl StateMachine for Tally {
    type Error = io::Error;

    fn apply(&mut self, _lsn: Lsn, payload: &[u8]) -> io::Result<()> {
        self.records += 1;
        self.bytes += payload.len() as u64;
        self.fold = self
            .fold
            .wrapping_add(u64::from(payload[payload.len() / 2]));
        Ok(())
    }

    fn snapshot(&self, writer: &mut dyn Write) -> io::Result<()> {
        writer.write_all(&self.records.to_le_bytes())
    }

    fn restore(&mut self, reader: &mut dyn Read) -> io::Result<()> {
        let mut bytes = [0; 8];
        reader.read_exact(&mut bytes)?;
        self.records = u64::from_le_bytes(bytes);
        Ok(())
    }
}

fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let total_size: u64 = if full { 1 << 30 } else { 8 << 20 };
    let record_count = total_size / RECORD_SIZE as u64;
    let base = std::env::var_os("CAIRN_BENCH_DIR");
    let dir = match &base {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("a temporary directory");
    let layout = Layout::in_dir(dir.path());
    let vfs = Arc::new(StdVfs::new());
    let options = RecoverOptions {
        wal: WalOptions::default(),
        ..RecoverOptions::default()
    };

    let started = Instant::now();
    {
        let (wal, _) =
            Wal::open(&layout.wal_dir, options.wal.clone(), vfs.clone()).expect("open the log");
        let mut record = vec![0u8; RECORD_SIZE];
        for i in 0..record_count {
            record[..8].copy_from_slice(&i.to_le_bytes());
            record[RECORD_SIZE / 2] = (i % 251) as u8;
            wal.append(&record, Durability::Buffered).expect("append");
        }
        wal.sync().expect("final sync");
        wal.close().expect("close");
    }
    let write_s = started.elapsed().as_secs_f64();
    println!(
        "recovery bench ({}): wrote {record_count} records of {RECORD_SIZE} B ({:.0} MiB) buffered + final sync in {write_s:.2} s ({:.0} MB/s)",
        if full {
            "full"
        } else {
            "smoke; run `cargo bench -p cairn-recovery` for 1 GiB"
        },
        total_size as f64 / f64::from(1 << 20),
        mb_per_s(total_size, write_s)
    );

    run_recover(
        "warm page cache",
        &layout,
        &options,
        &vfs,
        record_count,
        total_size,
    );
    if std::env::var_os("CAIRN_BENCH_DROP_CACHES").is_some() {
        // Through the shell, not std::fs: only cairn-io touches files directly.
        let dropped = std::process::Command::new("sh")
            .args(["-c", "sync && echo 3 > /proc/sys/vm/drop_caches"])
            .status()
            .is_ok_and(|s| s.success());
        if dropped {
            run_recover(
                "cold page cache",
                &layout,
                &options,
                &vfs,
                record_count,
                total_size,
            );
        } else {
            println!("cold page cache: not measured (dropping the page cache needs root)");
        }
    }
}

fn run_recover(
    label: &str,
    layout: &Layout,
    options: &RecoverOptions,
    vfs: &Arc<StdVfs>,
    record_count: u64,
    total_size: u64,
) {
    let mut tally = Tally::default();
    let mut progress_calls = 0u64;
    let started = Instant::now();
    let (_wal, _store, report) = recover(layout, options, vfs.clone(), &mut tally, &mut |_| {
        progress_calls += 1;
    })
    .expect("recover");
    let recover_s = started.elapsed().as_secs_f64();
    assert_eq!(tally.records, record_count);
    assert_eq!(report.records_replayed, record_count);
    assert_eq!(report.applied_lsn, Lsn::new(record_count));
    let replay_s = report.replay_duration.as_secs_f64();
    println!(
        "recover ({label}): {record_count} records, {:.0} MiB in {recover_s:.3} s: {:.0} records/s, {:.0} MB/s \
         (log open {:.3} s, replay {replay_s:.3} s at {:.0} MB/s; {progress_calls} progress calls; fold {})",
        total_size as f64 / f64::from(1 << 20),
        record_count as f64 / recover_s,
        mb_per_s(tally.bytes, recover_s),
        report.wal.duration.as_secs_f64(),
        mb_per_s(tally.bytes, replay_s),
        tally.fold
    );
}
