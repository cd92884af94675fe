//! The agent-runtime user of Cairn, end to end: an agent's memory (facts it remembers and
//! forgets, counters of what it did) changes only through `cairn_recovery::Durable`, so
//! every change goes to the write-ahead log (fsynced) before it is applied; automatic and
//! explicit checkpoints snapshot the memory and truncate the log. Then the power fails in the
//! middle of a burst of changes (on `cairn-sim`, which keeps only what was fsynced), the
//! runtime restarts, recovery loads the newest snapshot and replays the log, and the program
//! checks that every change the agent was told was durable is there.
//!
//! Run it with `cargo run -p cairn-examples --example durable_state`; CI runs it as a test.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::Arc;

use cairn_io::Vfs;
use cairn_recovery::{Durable, DurableOptions, SnapshotChoice, StateMachine};
use cairn_sim::{CrashModel, SimVfs};
use cairn_wal::{Durability, Lsn, WalOptions};

/// Where the agent keeps its state.
const DIR: &str = "/var/lib/agent";
/// Snapshot format version, the first byte of every snapshot.
const SNAPSHOT_VERSION: u8 = 1;

/// A change to the agent's memory: the records of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Change {
    Remember { key: String, value: String },
    Forget { key: String },
    Count { counter: String, delta: u64 },
}

impl Change {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Change::Remember { key, value } => {
                out.push(1);
                put_str(&mut out, key);
                put_str(&mut out, value);
            }
            Change::Forget { key } => {
                out.push(2);
                put_str(&mut out, key);
            }
            Change::Count { counter, delta } => {
                out.push(3);
                put_str(&mut out, counter);
                out.extend_from_slice(&delta.to_le_bytes());
            }
        }
        out
    }

    fn decode(mut bytes: &[u8]) -> io::Result<Change> {
        let tag = take(&mut bytes, 1)?[0];
        let change = match tag {
            1 => Change::Remember {
                key: take_str(&mut bytes)?,
                value: take_str(&mut bytes)?,
            },
            2 => Change::Forget {
                key: take_str(&mut bytes)?,
            },
            3 => Change::Count {
                counter: take_str(&mut bytes)?,
                delta: u64::from_le_bytes(take(&mut bytes, 8)?.try_into().expect("8 bytes")),
            },
            _ => return Err(invalid("unknown change tag")),
        };
        if !bytes.is_empty() {
            return Err(invalid("trailing bytes after a change"));
        }
        Ok(change)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).expect("short strings in this example");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> io::Result<&'a [u8]> {
    if bytes.len() < n {
        return Err(invalid("truncated change"));
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Ok(head)
}

fn take_str(bytes: &mut &[u8]) -> io::Result<String> {
    let len = u16::from_le_bytes(take(bytes, 2)?.try_into().expect("2 bytes"));
    let raw = take(bytes, usize::from(len))?;
    String::from_utf8(raw.to_vec()).map_err(|_| invalid("a string is not UTF-8"))
}

/// The agent's memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct AgentMemory {
    facts: BTreeMap<String, String>,
    counters: BTreeMap<String, u64>,
}

impl AgentMemory {
    fn change(&mut self, change: &Change) {
        match change {
            Change::Remember { key, value } => {
                self.facts.insert(key.clone(), value.clone());
            }
            Change::Forget { key } => {
                self.facts.remove(key);
            }
            Change::Count { counter, delta } => {
                *self.counters.entry(counter.clone()).or_default() += delta;
            }
        }
    }
}

impl StateMachine for AgentMemory {
    type Error = io::Error;

    fn apply(&mut self, _lsn: Lsn, payload: &[u8]) -> io::Result<()> {
        self.change(&Change::decode(payload)?);
        Ok(())
    }

    fn snapshot(&self, writer: &mut dyn Write) -> io::Result<()> {
        let mut out = vec![SNAPSHOT_VERSION];
        out.extend_from_slice(&u32::try_from(self.facts.len()).expect("fits").to_le_bytes());
        for (key, value) in &self.facts {
            put_str(&mut out, key);
            put_str(&mut out, value);
        }
        out.extend_from_slice(
            &u32::try_from(self.counters.len())
                .expect("fits")
                .to_le_bytes(),
        );
        for (counter, value) in &self.counters {
            put_str(&mut out, counter);
            out.extend_from_slice(&value.to_le_bytes());
        }
        writer.write_all(&out)
    }

    fn restore(&mut self, reader: &mut dyn Read) -> io::Result<()> {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        let mut rest = &bytes[..];
        if take(&mut rest, 1)?[0] != SNAPSHOT_VERSION {
            return Err(invalid("unknown snapshot version"));
        }
        let mut memory = AgentMemory::default();
        let facts = u32::from_le_bytes(take(&mut rest, 4)?.try_into().expect("4 bytes"));
        for _ in 0..facts {
            let key = take_str(&mut rest)?;
            memory.facts.insert(key, take_str(&mut rest)?);
        }
        let counters = u32::from_le_bytes(take(&mut rest, 4)?.try_into().expect("4 bytes"));
        for _ in 0..counters {
            let counter = take_str(&mut rest)?;
            let value = u64::from_le_bytes(take(&mut rest, 8)?.try_into().expect("8 bytes"));
            memory.counters.insert(counter, value);
        }
        *self = memory;
        Ok(())
    }
}

/// The changes of one turn of the agent: it uses a tool, learns something, sometimes forgets.
fn turn(n: u64) -> Vec<Change> {
    let mut changes = vec![
        Change::Count {
            counter: "turns".into(),
            delta: 1,
        },
        Change::Count {
            counter: ["search", "read_file", "run_tests"][(n % 3) as usize].into(),
            delta: 1,
        },
        Change::Remember {
            key: format!("fact/{}", n % 40),
            value: format!(
                "learned in turn {n}: {}",
                "observation ".repeat((n % 7) as usize)
            ),
        },
    ];
    if n % 5 == 4 {
        changes.push(Change::Forget {
            key: format!("fact/{}", (n * 7) % 40),
        });
    }
    changes
}

fn options() -> DurableOptions {
    DurableOptions {
        // Snapshot every 4 KiB of log, so this short run takes several.
        checkpoint_wal_bytes: 4 << 10,
        ..DurableOptions::default()
    }
    // Small segments: the simulated disk holds files in memory.
    .wal(WalOptions {
        segment_size_max: 256 << 10,
        record_size_max: 64 << 10,
        ..WalOptions::default()
    })
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a run established.
#[derive(Debug)]
struct Summary {
    acknowledged: u64,
    recovered: u64,
    snapshot_lsn: Option<u64>,
    records_replayed: u64,
}

/// The whole story, printed to `out`.
fn run(out: &mut dyn Write) -> Result<Summary, BoxError> {
    // A simulated disk: what is fsynced survives a power cut, nothing else.
    let disk = SimVfs::new(2026);
    let vfs: Arc<dyn Vfs> = Arc::new(disk.clone());
    let (mut agent, report) = Durable::open(DIR, options(), vfs, AgentMemory::default())?;
    writeln!(
        out,
        "opened {DIR}: fresh state (snapshot: {:?})",
        report.snapshot_choice
    )?;

    // Every change the agent was told is durable, in order, and the memory they produce.
    let mut acknowledged: Vec<Change> = Vec::new();
    let mut turn_number = 0;
    while turn_number < 60 {
        for change in turn(turn_number) {
            agent.apply(&change.encode(), Durability::Fsync)?;
            acknowledged.push(change);
        }
        if let Some(e) = agent.take_checkpoint_error() {
            writeln!(out, "automatic checkpoint failed: {e}")?;
        }
        if turn_number == 30 {
            let report = agent.checkpoint()?;
            writeln!(
                out,
                "turn {turn_number}: explicit checkpoint, snapshot at LSN {:?}, log now starts at LSN {}",
                report.snapshot.map(|m| m.lsn),
                report.wal_first_lsn
            )?;
        }
        turn_number += 1;
    }
    let snapshots: Vec<u64> = agent.store().ids()?.iter().map(|id| id.lsn).collect();
    writeln!(
        out,
        "after {turn_number} turns: {} changes acknowledged, snapshots at LSNs {snapshots:?}, log from LSN {}",
        acknowledged.len(),
        agent.wal().first_lsn()
    )?;

    // The power fails 25 disk operations into the next burst of turns.
    disk.crash_after_call(disk.stats().mutating_calls + 25);
    let mut in_flight = None;
    // Bounded: the cut comes within a few turns.
    'burst: for _ in 0..100 {
        for change in turn(turn_number) {
            match agent.apply(&change.encode(), Durability::Fsync) {
                Ok(_) => acknowledged.push(change),
                Err(e) => {
                    writeln!(out, "power cut during turn {turn_number}: {e}")?;
                    in_flight = Some(change);
                    break 'burst;
                }
            }
        }
        turn_number += 1;
    }
    let in_flight = in_flight.ok_or("the power cut never came")?;
    drop(agent);

    // Restart on what the disk kept.
    let rebooted = disk.crash_image(&CrashModel::DropAll);
    let vfs: Arc<dyn Vfs> = Arc::new(rebooted.clone());
    let (mut agent, report) = Durable::open_with_progress(
        DIR,
        options(),
        vfs.clone(),
        AgentMemory::default(),
        &mut |p| {
            let _ = p.records_replayed;
        },
    )?;
    let snapshot_lsn = report.snapshot.as_ref().map(|m| m.lsn);
    writeln!(
        out,
        "recovered in {:?}: snapshot {} ({}), {} records replayed, {} bytes of torn tail cut, state at LSN {}",
        report.duration,
        snapshot_lsn.map_or("none".to_owned(), |l| format!("at LSN {l}")),
        match report.snapshot_choice {
            SnapshotChoice::Newest => "the newest",
            SnapshotChoice::FellBack => "fell back: newer ones were damaged",
            _ => "no snapshot",
        },
        report.records_replayed,
        report.bytes_truncated,
        report.applied_lsn
    )?;

    // Every acknowledged change is there; the one in flight may or may not be.
    let mut expected = AgentMemory::default();
    for change in &acknowledged {
        expected.change(change);
    }
    let acked = acknowledged.len() as u64;
    let recovered = agent.applied_lsn().get();
    if agent.state() == &expected {
        assert_eq!(recovered, acked);
        writeln!(
            out,
            "check: all {acked} acknowledged changes are there (the one in flight was lost, as allowed)"
        )?;
    } else {
        expected.change(&in_flight);
        if agent.state() != &expected || recovered != acked + 1 {
            return Err("the recovered memory lost an acknowledged change".into());
        }
        writeln!(
            out,
            "check: all {acked} acknowledged changes are there, plus the one in flight when the power failed"
        )?;
    }

    // Life goes on: more turns, a clean shutdown, a clean restart.
    for change in turn(turn_number + 1) {
        agent.apply(&change.encode(), Durability::Fsync)?;
        expected.change(&change);
    }
    agent.close()?;
    let (agent, report) = Durable::open(DIR, options(), vfs, AgentMemory::default())?;
    if agent.state() != &expected {
        return Err("a clean restart changed the memory".into());
    }
    writeln!(
        out,
        "clean restart: {} facts, counters {:?}, {} records replayed",
        agent.state().facts.len(),
        agent.state().counters,
        report.records_replayed
    )?;
    Ok(Summary {
        acknowledged: acked,
        recovered,
        snapshot_lsn,
        records_replayed: report.records_replayed,
    })
}

fn main() -> Result<(), BoxError> {
    let summary = run(&mut io::stdout())?;
    println!(
        "summary: {} changes acknowledged, state recovered to LSN {} from snapshot {:?}; \
         {} records replayed on the clean restart",
        summary.acknowledged, summary.recovered, summary.snapshot_lsn, summary.records_replayed
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn example_runs() {
        let mut out = Vec::new();
        let summary = super::run(&mut out).expect("the example runs");
        let text = String::from_utf8(out).unwrap();
        print!("{text}");
        assert!(summary.recovered >= summary.acknowledged);
        assert!(summary.snapshot_lsn.is_some(), "a snapshot was taken");
        assert!(text.contains("acknowledged changes are there"));
    }
}
