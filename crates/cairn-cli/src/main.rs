//! The `cairn` command: a demo of the durability contract, and tools to verify and recover a
//! write-ahead log directory.

mod demo;
mod logdir;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

/// Inspect, verify and recover Cairn stores.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a log from several threads with fsync'd group commit, reopen and verify it, then
    /// cut the power at random points on a simulated disk and show nothing acknowledged is
    /// lost.
    Demo {
        /// Keep the log in this directory (created if missing; must not hold a log already).
        /// Default: a fresh temporary directory, removed afterwards.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Records to write on the real disk.
        #[arg(long, default_value_t = 20_000)]
        records: u64,
        /// Writer threads.
        #[arg(long, default_value_t = 4)]
        threads: u64,
        /// Power cuts to simulate.
        #[arg(long, default_value_t = 200)]
        power_cuts: u64,
        /// Seed of the simulated power cuts (default: from the clock; printed for replay).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Read every record of a WAL directory, checking every checksum, without changing
    /// anything; exits non-zero on any damage, naming the file and offset.
    Verify {
        /// The WAL directory.
        dir: PathBuf,
    },
    /// Open a WAL directory with a recovery mode, repair what that mode allows (a torn tail is
    /// cut and kept in `quarantine/`), and print the recovery report.
    Recover {
        /// The WAL directory.
        dir: PathBuf,
        /// How to treat damage.
        #[arg(long, value_enum, default_value_t = Mode::TornTail)]
        mode: Mode,
    },
}

/// The recovery modes, as command-line words.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// Cut a torn tail of the last segment; refuse damage elsewhere.
    TornTail,
    /// Refuse any damage.
    Absolute,
    /// Keep everything before the first damage; cut the rest.
    PointInTime,
    /// Skip damaged frames and keep every valid record.
    SkipCorrupted,
}

impl From<Mode> for cairn_wal::RecoveryMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::TornTail => cairn_wal::RecoveryMode::TolerateTornTail,
            Mode::Absolute => cairn_wal::RecoveryMode::AbsoluteConsistency,
            Mode::PointInTime => cairn_wal::RecoveryMode::PointInTime,
            Mode::SkipCorrupted => cairn_wal::RecoveryMode::SkipCorrupted,
        }
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo {
            dir,
            records,
            threads,
            power_cuts,
            seed,
        } => demo::run(&demo::DemoOptions {
            dir,
            records,
            threads,
            power_cuts,
            seed,
        }),
        Command::Verify { dir } => logdir::verify(&dir),
        Command::Recover { dir, mode } => logdir::recover(&dir, mode.into()),
    }
}
