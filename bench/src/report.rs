//! Everything a run measured, and its three renderings: the terminal table, the flat JSON
//! object (`--json`), and docs/BENCHMARKS.md with its SVG plots (`--full`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::honesty::{Buffered, Honesty, Verdict};
use crate::limits::{Bandwidth, Checksums, SyncLoop};
use crate::machine::Machine;
use crate::stats::{Spread, human};
use crate::subject::Peer;
use crate::svg::{self, Axis, Series};
use crate::workload::{size_label, size_text};

/// The subject whose figures are compared with everyone else's.
pub const CAIRN: &str = "cairn";

/// One of the issue-6 headline ratios.
#[derive(Clone, Copy, Debug)]
pub struct Headline {
    /// JSON key.
    pub name: &'static str,
    /// Whether every row it is computed from was run (`--cells` may leave some out).
    pub ran: bool,
    /// The ratio, when its inputs were run and measured.
    pub value: Option<f64>,
    /// The target, as text.
    pub target: &'static str,
    /// Whether a value meets the target; `None` for a ratio without one.
    pub met: Option<fn(f64) -> bool>,
}

/// One subject's value in one row.
#[derive(Clone, Debug)]
pub enum Value {
    /// Measured over repeats.
    Measured(Spread),
    /// The subject has no such mode; why.
    NotApplicable(&'static str),
    /// The run failed; the error.
    Failed(String),
}

impl Value {
    fn median(&self) -> Option<f64> {
        match self {
            Value::Measured(s) => Some(s.median),
            _ => None,
        }
    }
}

/// Per-repeat values of one throughput row: the raw-file runs, and each subject's runs.
pub type PairedRuns = (Vec<f64>, BTreeMap<&'static str, Vec<f64>>);

/// One figure across all subjects.
#[derive(Clone, Debug)]
pub struct Row {
    /// Figure key, used in JSON.
    pub key: String,
    /// Human description.
    pub label: String,
    /// Unit of the values.
    pub unit: &'static str,
    /// Whether more is better (throughput) or less (latency, bytes).
    pub higher_better: bool,
    /// Value per subject name.
    pub values: BTreeMap<&'static str, Value>,
    /// The physical limit this figure is compared with, and what it is.
    pub limit: Option<(f64, String)>,
}

/// The machine's limits measured in this run.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Append + fdatasync into a preallocated, written file, by record size.
    pub preallocated: BTreeMap<usize, (Spread, SyncLoop)>,
    /// Append + fdatasync into a growing file, by record size.
    pub growing: BTreeMap<usize, (Spread, SyncLoop)>,
    /// Sequential bandwidth.
    pub bandwidth: Bandwidth,
    /// Checksum speed.
    pub checksums: Checksums,
}

/// A whole run.
pub struct Report {
    /// The command line, for reproduction.
    pub command: String,
    /// `quick` or `full`.
    pub profile: &'static str,
    /// Where it ran.
    pub machine: Machine,
    /// Subjects in table order.
    pub subjects: Vec<&'static str>,
    /// The subjects never ranked as peers (`Peer::ranked` false: Cairn's own).
    pub unranked: Vec<Peer>,
    /// Peers that failed to build or were left out, with why.
    pub absent: Vec<(String, String)>,
    /// `--cells`, when the run was partial: the throughput cells and sections that ran.
    pub cells: Option<Vec<String>>,
    /// The machine's limits.
    pub limits: Limits,
    /// Every figure.
    pub rows: Vec<Row>,
    /// Honesty verdicts per subject (empty when the honesty section did not run).
    pub honesty: BTreeMap<&'static str, Honesty>,
    /// How each subject's calls map onto the benchmark.
    pub mappings: BTreeMap<&'static str, &'static str>,
    /// Sorted latencies (ns) per subject of the run across rotations and of the steady run.
    pub latency_runs: BTreeMap<&'static str, (Vec<u64>, Vec<u64>)>,
    /// Per-repeat values of the throughput rows, by row key: the raw-file run and each subject's
    /// run of the same repeat, for ratios taken repeat by repeat (paired) rather than between
    /// medians measured at different moments.
    pub paired: BTreeMap<String, PairedRuns>,
    /// Sorted latencies (ns) of the raw fdatasync loop interleaved with the steady run.
    pub raw_latency: Vec<u64>,
    /// Description of the latency runs.
    pub latency_setup: String,
    /// Description of the recovery volume.
    pub recovery_setup: String,
    /// Wall time of the whole run in seconds.
    pub wall_secs: f64,
}

impl Report {
    fn honest(&self, subject: &str) -> bool {
        self.honesty.get(subject).is_none_or(|h| h.durable.honest())
    }

    /// The best honest peer of a row, among `among` if given. An unranked subject (Cairn's own)
    /// is never a peer.
    pub fn best_peer(&self, row: &Row, among: Option<&[&str]>) -> Option<(&'static str, f64)> {
        let mut best: Option<(&'static str, f64)> = None;
        for (&name, value) in &row.values {
            if self.unranked.iter().any(|p| p.name == name)
                || !self.honest(name)
                || among.is_some_and(|a| !a.contains(&name))
            {
                continue;
            }
            let Some(v) = value.median() else { continue };
            let better = match best {
                None => true,
                Some((_, b)) => {
                    if row.higher_better {
                        v > b
                    } else {
                        v < b
                    }
                }
            };
            if better {
                best = Some((name, v));
            }
        }
        best
    }

    /// Median over repeats of `a[i] / b[i]`, when both have one value per repeat.
    fn paired_median(a: &[f64], b: &[f64]) -> Option<f64> {
        if a.is_empty() || a.len() != b.len() {
            return None;
        }
        let ratios: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
        Spread::of(&ratios).map(|s| s.median)
    }

    /// `subject` ÷ `divisor` in a row: the median of per-repeat ratios where the row has paired
    /// runs of both (`divisor_runs` picks the divisor's), else `subject`'s median ÷ `divisor`.
    fn ratio(
        &self,
        row: &Row,
        subject: &str,
        divisor: f64,
        divisor_runs: impl FnOnce(&PairedRuns) -> Option<&Vec<f64>>,
    ) -> Option<f64> {
        let median = row.values.get(subject)?.median()?;
        let paired = self
            .paired
            .get(&row.key)
            .and_then(|runs| Self::paired_median(runs.1.get(subject)?, divisor_runs(runs)?));
        Some(paired.unwrap_or(median / divisor))
    }

    /// Cairn ÷ the row's limit: paired repeat by repeat where possible, else of the medians.
    pub fn ratio_vs_limit(&self, row: &Row) -> Option<f64> {
        let (limit, _) = row.limit.as_ref()?;
        self.ratio(row, CAIRN, *limit, |(raw, _)| Some(raw))
    }

    /// Cairn ÷ a peer in a row: paired repeat by repeat where possible, else of the medians.
    pub fn ratio_vs(&self, row: &Row, peer: &str) -> Option<f64> {
        self.ratio_of(row, CAIRN, peer)
    }

    /// `subject` ÷ `peer` in a row: paired repeat by repeat where possible, else of the medians.
    fn ratio_of(&self, row: &Row, subject: &str, peer: &str) -> Option<f64> {
        let other = row.values.get(peer)?.median()?;
        self.ratio(row, subject, other, |(_, runs)| runs.get(peer))
    }

    /// Subjects whose buffered call the honesty check saw hand every append to the OS (about
    /// one write system call per append).
    fn hands_each_append_to_os(&self) -> Vec<&'static str> {
        self.honesty
            .iter()
            .filter(|(_, h)| h.buffered.hands_each_append_to_os())
            .map(|(name, _)| *name)
            .collect()
    }

    fn row(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.key == key)
    }

    fn cairn(&self, key: &str) -> Option<f64> {
        self.row(key)?.values.get(CAIRN)?.median()
    }

    /// The headline ratios of issue 6 (five with targets, and the buffered one at equal
    /// guarantees, without). A ratio whose rows were not run (`--cells`) has
    /// `ran == false`; one whose rows ran but lack a figure has no value.
    pub fn headline(&self) -> Vec<Headline> {
        let ran = |keys: &[&str]| keys.iter().all(|k| self.row(k).is_some());
        // Against the raw loop run interleaved with the subjects in the same cell, repeat by repeat.
        let ratio_1t = self
            .row("durable_1t_128b")
            .and_then(|row| self.ratio_vs_limit(row));
        let ratio_16t = self.row("durable_16t_128b").and_then(|row| {
            let best = self.best_peer(row, Some(&["raft-engine", "okaywal"]))?;
            self.ratio_vs(row, best.0)
        });
        let ratio_buffered = self.row("buffered_128b").and_then(|row| {
            let best = self.best_peer(row, None)?;
            self.ratio_vs(row, best.0)
        });
        // The same comparison at the same guarantee: Cairn handing each append to the OS (the
        // unranked subject without a durable mode, `cairn-os`) against the peers seen doing the
        // same.
        let os_peers = self.hands_each_append_to_os();
        let ratio_buffered_os = self.row("buffered_128b").and_then(|row| {
            let cairn_os = self.unranked.iter().find(|p| !p.durable)?;
            let best = self.best_peer(row, Some(&os_peers))?;
            self.ratio_of(row, cairn_os.name, best.0)
        });
        let recovery = self.cairn("recovery_clean_4k").map(|mbps| mbps / 1e3);
        let rotation = self
            .cairn("latency_rotation_p99")
            .zip(self.cairn("latency_steady_p99"))
            .map(|(r, s)| r / s);
        vec![
            Headline {
                name: "ratio_durable_1t_vs_raw_fdatasync",
                ran: ran(&["durable_1t_128b"]),
                value: ratio_1t,
                target: "≥ 0.9",
                met: Some(|v| v >= 0.9),
            },
            Headline {
                name: "ratio_durable_16t_vs_best_peer",
                ran: ran(&["durable_16t_128b"]),
                value: ratio_16t,
                target: "≥ 1.5 (best of raft-engine, okaywal)",
                met: Some(|v| v >= 1.5),
            },
            Headline {
                name: "ratio_buffered_128b_vs_best_peer",
                ran: ran(&["buffered_128b"]),
                value: ratio_buffered,
                target: "≥ 2",
                met: Some(|v| v >= 2.0),
            },
            Headline {
                name: "ratio_buffered_128b_os_vs_best_os_peer",
                ran: ran(&["buffered_128b"]) && !self.honesty.is_empty(),
                value: ratio_buffered_os,
                target: "none: the same comparison with every append in the OS (cairn-os against the peers whose buffered call the honesty check saw write each append)",
                met: None,
            },
            Headline {
                name: "recovery_gbps_4k",
                ran: ran(&["recovery_clean_4k"]),
                value: recovery,
                target: "≥ 2 GB/s",
                met: Some(|v| v >= 2.0),
            },
            Headline {
                name: "ratio_rotation_p99_vs_steady_p99",
                ran: ran(&["latency_rotation_p99", "latency_steady_p99"]),
                value: rotation,
                target: "≤ 1.5",
                met: Some(|v| v <= 1.5),
            },
        ]
    }

    fn cell(value: Option<&Value>) -> String {
        match value {
            Some(Value::Measured(s)) => {
                let spread = if s.median > 0.0 {
                    (s.max - s.min) / 2.0 / s.median * 100.0
                } else {
                    0.0
                };
                if spread >= 0.5 {
                    format!("{} ±{spread:.0}%", human(s.median))
                } else {
                    human(s.median)
                }
            }
            Some(Value::NotApplicable(_)) => "n/a".into(),
            Some(Value::Failed(_)) => "failed".into(),
            None => "—".into(),
        }
    }

    /// The machine limits as a table (markdown syntax, also readable in a terminal).
    pub fn limits_table(&self) -> String {
        let mut t = String::from("| limit | value |\n|---|---|\n");
        for (size, (s, l)) in &self.limits.preallocated {
            let _ = writeln!(
                t,
                "| append {} + fdatasync, preallocated file | {} appends/s (p50 {:.0} µs, p99 {:.0} µs) |",
                size_text(*size),
                human(s.median),
                l.percentile_us(0.5),
                l.percentile_us(0.99)
            );
        }
        for (size, (s, l)) in &self.limits.growing {
            let _ = writeln!(
                t,
                "| append {} + fdatasync, growing file | {} appends/s (p50 {:.0} µs, p99 {:.0} µs) |",
                size_text(*size),
                human(s.median),
                l.percentile_us(0.5),
                l.percentile_us(0.99)
            );
        }
        let b = &self.limits.bandwidth;
        let _ = writeln!(
            t,
            "| sequential write + one fdatasync | {:.0} MB/s |",
            b.write_mbps
        );
        let _ = writeln!(
            t,
            "| sequential read, page cache dropped | {:.0} MB/s |",
            b.read_disk_mbps
        );
        let _ = writeln!(
            t,
            "| sequential read, page cache | {:.0} MB/s |",
            b.read_cached_mbps
        );
        let c = &self.limits.checksums;
        let _ = writeln!(
            t,
            "| CRC-32 (crc32fast via cairn-crc) | {:.2} GB/s |",
            c.crc32_gbps
        );
        let _ = writeln!(t, "| BLAKE3 (via cairn-crc) | {:.2} GB/s |", c.blake3_gbps);
        t
    }

    /// The figures table: every subject, best honest peer, the limit, and Cairn's ratios.
    pub fn figures_table(&self) -> String {
        let mut t = String::from("| figure | unit |");
        for s in &self.subjects {
            let _ = write!(t, " {s} |");
        }
        t.push_str(" best honest peer | cairn ÷ best | limit | cairn ÷ limit |\n|---|---|");
        for _ in &self.subjects {
            t.push_str("---:|");
        }
        t.push_str("---|---:|---:|---:|\n");
        for row in &self.rows {
            let arrow = if row.higher_better { "↑" } else { "↓" };
            let _ = write!(t, "| {} | {} {arrow} |", row.label, row.unit);
            for s in &self.subjects {
                let _ = write!(t, " {} |", Self::cell(row.values.get(s)));
            }
            let times = |r: Option<f64>| r.map_or("—".into(), |r| format!("{r:.2}×"));
            match self.best_peer(row, None) {
                Some((name, v)) => {
                    let ratio = times(self.ratio_vs(row, name));
                    let _ = write!(t, " {name} ({}) | {ratio} |", human(v));
                }
                None => t.push_str(" — | — |"),
            }
            match &row.limit {
                Some((v, _)) => {
                    let ratio = times(self.ratio_vs_limit(row));
                    let _ = write!(t, " {} | {ratio} |", human(*v));
                }
                None => t.push_str(" — | — |"),
            }
            t.push('\n');
        }
        t
    }

    /// The honesty table.
    pub fn honesty_table(&self) -> String {
        if self.honesty.is_empty() {
            return "not run (--cells without honesty): every subject counts as honest for \"best honest peer\"\n".into();
        }
        let mut t = String::from(
            "| subject | mapping | durable call reaches fdatasync/fsync? (strace -f -c) | buffered call reaches the OS per append? (strace -f -c) |\n|---|---|---|---|\n",
        );
        for s in &self.subjects {
            let (durable, buffered) = self.honesty.get(s).map_or_else(
                || ("not checked".to_string(), "not checked".to_string()),
                |h| (h.durable.describe(), h.buffered.describe()),
            );
            let _ = writeln!(
                t,
                "| {s} | {} | {durable} | {buffered} |",
                self.mappings.get(s).copied().unwrap_or("")
            );
        }
        t
    }

    /// The headline ratios with their targets.
    pub fn headline_table(&self) -> String {
        let mut t = String::from("| ratio | value | target | met |\n|---|---:|---|---|\n");
        for h in self.headline() {
            let (v, met) = match (h.ran, h.value) {
                (false, _) => ("not run".into(), "—"),
                (true, Some(v)) => (
                    format!("{v:.2}"),
                    match h.met.map(|met| met(v)) {
                        Some(true) => "yes",
                        Some(false) => "no",
                        None => "—",
                    },
                ),
                (true, None) => ("—".into(), "—"),
            };
            let _ = writeln!(t, "| {} | {v} | {} | {met} |", h.name, h.target);
        }
        t
    }

    /// One line per n/a or failed cell, grouped by reason.
    fn cell_notes(&self) -> Vec<String> {
        let mut notes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in &self.rows {
            for (name, value) in &row.values {
                let why = match value {
                    Value::NotApplicable(why) => format!("{name} n/a ({why})"),
                    Value::Failed(error) => format!("{name} failed: {error}"),
                    Value::Measured(_) => continue,
                };
                notes.entry(why).or_default().push(row.label.clone());
            }
        }
        notes
            .into_iter()
            .map(|(why, rows)| format!("{why}: {}", rows.join("; ")))
            .collect()
    }

    /// Everything, for the terminal.
    pub fn text(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "\n== machine ==\n{}\n", self.machine);
        if let Some(cells) = &self.cells {
            let _ = writeln!(
                t,
                "partial run: --cells {} (other cells and sections not run)\n",
                cells.join(",")
            );
        }
        let _ = writeln!(t, "== machine limits ==\n{}", self.limits_table());
        let _ = writeln!(t, "== honesty ==\n{}", self.honesty_table());
        let _ = writeln!(
            t,
            "== figures (median of repeats, ± half the min–max range) ==\n{}",
            self.figures_table()
        );
        let _ = writeln!(
            t,
            "== issue 6 targets (Cairn) ==\n{}",
            self.headline_table()
        );
        for note in self.cell_notes() {
            let _ = writeln!(t, "note: {note}");
        }
        if !self.absent.is_empty() {
            let _ = writeln!(t, "== not run ==");
            for (name, why) in &self.absent {
                let _ = writeln!(t, "- {name}: {why}");
            }
        }
        let _ = writeln!(
            t,
            "command: {}\nwall time: {:.0} s",
            self.command, self.wall_secs
        );
        t
    }

    /// Every figure as one flat JSON object.
    pub fn json(&self) -> String {
        let mut fields: Vec<(String, String)> = Vec::new();
        let text = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let num = |v: f64| {
            if v.is_finite() {
                format!("{v}")
            } else {
                "null".into()
            }
        };
        fields.push(("profile".into(), text(self.profile)));
        fields.push(("command".into(), text(&self.command)));
        fields.push(("machine.cpu".into(), text(&self.machine.cpu)));
        fields.push(("machine.cores".into(), self.machine.cores.to_string()));
        fields.push(("machine.memory_gib".into(), num(self.machine.memory_gib)));
        fields.push(("machine.kernel".into(), text(&self.machine.kernel)));
        fields.push((
            "machine.file_system".into(),
            text(&self.machine.file_system),
        ));
        fields.push(("machine.disk".into(), text(&self.machine.disk)));
        fields.push(("wall_secs".into(), num(self.wall_secs)));
        if let Some(cells) = &self.cells {
            fields.push(("cells".into(), text(&cells.join(","))));
        }
        // A ratio whose rows were not run is absent; one that ran without a figure is null.
        for h in self.headline().into_iter().filter(|h| h.ran) {
            fields.push((h.name.into(), h.value.map_or("null".into(), num)));
        }
        for (size, (s, l)) in &self.limits.preallocated {
            let k = format!("limit.fdatasync_preallocated_{}", size_label(*size));
            fields.push((format!("{k}.appends_per_s"), num(s.median)));
            fields.push((format!("{k}.p50_us"), num(l.percentile_us(0.5))));
            fields.push((format!("{k}.p99_us"), num(l.percentile_us(0.99))));
        }
        for (size, (s, l)) in &self.limits.growing {
            let k = format!("limit.fdatasync_growing_{}", size_label(*size));
            fields.push((format!("{k}.appends_per_s"), num(s.median)));
            fields.push((format!("{k}.p50_us"), num(l.percentile_us(0.5))));
        }
        fields.push((
            "limit.seq_write_mbps".into(),
            num(self.limits.bandwidth.write_mbps),
        ));
        fields.push((
            "limit.seq_read_disk_mbps".into(),
            num(self.limits.bandwidth.read_disk_mbps),
        ));
        fields.push((
            "limit.seq_read_cached_mbps".into(),
            num(self.limits.bandwidth.read_cached_mbps),
        ));
        fields.push((
            "limit.crc32_gbps".into(),
            num(self.limits.checksums.crc32_gbps),
        ));
        fields.push((
            "limit.blake3_gbps".into(),
            num(self.limits.checksums.blake3_gbps),
        ));
        for row in &self.rows {
            for (name, value) in &row.values {
                let k = format!("{name}.{}", row.key);
                match value {
                    Value::Measured(s) => {
                        fields.push((format!("{k}.median"), num(s.median)));
                        fields.push((format!("{k}.min"), num(s.min)));
                        fields.push((format!("{k}.max"), num(s.max)));
                    }
                    Value::NotApplicable(why) => fields.push((k, text(&format!("n/a: {why}")))),
                    Value::Failed(error) => fields.push((k, text(&format!("failed: {error}")))),
                }
            }
            if let Some((name, _)) = self.best_peer(row, None) {
                fields.push((format!("{}.best_peer", row.key), text(name)));
                if let Some(r) = self.ratio_vs(row, name) {
                    fields.push((format!("{}.ratio_vs_best_peer", row.key), num(r)));
                }
            }
            if let Some((v, _)) = &row.limit {
                fields.push((format!("{}.limit", row.key), num(*v)));
                if let Some(r) = self.ratio_vs_limit(row) {
                    fields.push((format!("{}.ratio_vs_limit", row.key), num(r)));
                }
            }
        }
        for (name, honesty) in &self.honesty {
            match &honesty.durable {
                Verdict::Checked {
                    durable_per_append,
                    range_per_append,
                    records_per_sync_4t,
                } => {
                    fields.push((
                        format!("{name}.honesty.syncs_per_durable_append"),
                        num(*durable_per_append),
                    ));
                    fields.push((
                        format!("{name}.honesty.sync_file_range_per_durable_append"),
                        num(*range_per_append),
                    ));
                    if let Some(r) = records_per_sync_4t {
                        fields.push((format!("{name}.honesty.records_per_sync_4t"), num(*r)));
                    }
                    fields.push((
                        format!("{name}.honesty.honest"),
                        honesty.durable.honest().to_string(),
                    ));
                }
                Verdict::NotApplicable(why) => fields.push((
                    format!("{name}.honesty.durable"),
                    text(&format!("n/a: {why}")),
                )),
                Verdict::NotChecked(why) => fields.push((
                    format!("{name}.honesty"),
                    text(&format!("not checked: {why}")),
                )),
            }
            match &honesty.buffered {
                Buffered::Checked {
                    writes_per_append,
                    syncs_per_append,
                } => {
                    fields.push((
                        format!("{name}.honesty.os_writes_per_buffered_append"),
                        num(*writes_per_append),
                    ));
                    fields.push((
                        format!("{name}.honesty.syncs_per_buffered_append"),
                        num(*syncs_per_append),
                    ));
                }
                Buffered::NotApplicable(why) => fields.push((
                    format!("{name}.honesty.buffered"),
                    text(&format!("n/a: {why}")),
                )),
                Buffered::NotChecked(why) => fields.push((
                    format!("{name}.honesty.buffered"),
                    text(&format!("not checked: {why}")),
                )),
            }
        }
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("  {}: {v}", text(k)))
            .collect();
        format!("{{\n{}\n}}\n", body.join(",\n"))
    }

    /// Writes docs/BENCHMARKS.md and docs/bench/*.svg under `docs`.
    pub fn write_docs(&self, docs: &Path) -> Result<()> {
        let plots = docs.join("bench");
        std::fs::create_dir_all(&plots)?;
        std::fs::write(plots.join("durable-threads.svg"), self.plot_threads())?;
        std::fs::write(plots.join("latency-cdf.svg"), self.plot_latency())?;
        std::fs::write(plots.join("recovery.svg"), self.plot_recovery())?;
        let mut md = String::new();
        let _ = writeln!(md, "# Benchmarks\n");
        let _ = writeln!(
            md,
            "Generated by `cargo xtask bench --full` (the `bench/` package, its own Cargo workspace); \
             do not edit by hand. Every figure below was measured in one run, on one machine, in one \
             directory, beside the machine's own limits. Peers are driven through their documented \
             APIs in the same loop as Cairn (`bench/src/workload.rs`); each adapter's mapping is in the \
             honesty table.\n"
        );
        let _ = writeln!(
            md,
            "Command: `{}` ({} profile, wall time {:.0} s)\n",
            self.command, self.profile, self.wall_secs
        );
        let _ = writeln!(md, "## Machine\n\n```\n{}\n```\n", self.machine);
        let _ = writeln!(md, "## Machine limits\n\n{}", self.limits_table());
        let _ = writeln!(
            md,
            "## Issue 6 targets (Cairn)\n\n{}",
            self.headline_table()
        );
        let _ = writeln!(
            md,
            "## Honesty\n\nA peer whose durable call does not reach fdatasync/fsync (or msync) is reported \
             but not ranked: it is excluded from \"best honest peer\". Checked by running each subject in \
             a child process under `strace -f -c -e {}`, with \
             0 and {} durable 128-byte appends (the difference is per append), and with {} appends over 4 \
             writers (records per sync).\n\n\
             The last column counts the write system calls (write, pwrite64, writev, pwritev, pwritev2) \
             of 0 and {} buffered 128-byte appends followed by a clean close, per append: about 1 where \
             every buffered append is handed to the OS (it survives a crash of the process), far below 1 \
             where appends wait in an in-process buffer (they do not). Writes through a shared mapping or \
             io_uring are not write system calls and count 0. `cairn` buffers in the process \
             (`Durability::None`); `cairn-os` is the same WAL handing every buffered append to the OS \
             (`Durability::Buffered`), run in the buffered cells only, and is never ranked as a peer.\n\n{}",
            crate::honesty::TRACE,
            crate::honesty::PROBE_APPENDS,
            2 * crate::honesty::PROBE_APPENDS,
            crate::honesty::BUFFERED_PROBE_APPENDS,
            self.honesty_table()
        );
        let _ = writeln!(
            md,
            "## Figures\n\nMedian of the repeats, ± half the min–max range. ↑ more is better, ↓ less is \
             better. \"cairn ÷ best\" and \"cairn ÷ limit\" compare Cairn with the best honest peer \
             and with the physical limit named in the notes; in throughput rows they are the median \
             of per-repeat ratios (each repeat runs the raw loop and every subject back to back), \
             elsewhere the ratio of medians. \"best honest peer\" never counts `cairn` or `cairn-os`. \
             Buffered runs include one sync at the end (walrus has no sync call; okaywal has no \
             unsynced write); whether a buffered append reaches the OS before that sync differs between \
             the logs, see the last honesty column. {}. {}.\n\n{}",
            self.latency_setup,
            self.recovery_setup,
            self.figures_table()
        );
        let _ = writeln!(md, "Limits used per figure:\n");
        for row in &self.rows {
            if let Some((v, what)) = &row.limit {
                let _ = writeln!(md, "- {}: {} ({})", row.label, human(*v), what);
            }
        }
        let _ = writeln!(
            md,
            "\n## Plots\n\n![durable appends/s vs writer threads](bench/durable-threads.svg)\n\n\
             ![append latency CDF across segment rotations](bench/latency-cdf.svg)\n\n\
             ![recovery MB/s](bench/recovery.svg)\n"
        );
        let notes = self.cell_notes();
        if !self.absent.is_empty() || !notes.is_empty() {
            let _ = writeln!(md, "## Not measured, n/a and failed cells\n");
            for (name, why) in &self.absent {
                let _ = writeln!(md, "- {name}: {why}");
            }
            for note in notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        std::fs::write(docs.join("BENCHMARKS.md"), md)?;
        Ok(())
    }

    fn plot_threads(&self) -> String {
        let mut series = Vec::new();
        let mut max = 1.0f64;
        let mut min = f64::MAX;
        for s in &self.subjects {
            let points: Vec<(f64, f64)> = [1usize, 4, 16]
                .iter()
                .filter_map(|t| {
                    let v = self
                        .row(&format!("durable_{t}t_128b"))?
                        .values
                        .get(s)?
                        .median()?;
                    Some((*t as f64, v))
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            for (_, v) in &points {
                max = max.max(*v);
                min = min.min(*v);
            }
            let honest = if self.honest(s) { "" } else { " (no fsync)" };
            series.push(Series {
                name: format!("{s}{honest}"),
                points,
            });
        }
        let raw: Vec<(f64, f64)> = [1usize, 4, 16]
            .iter()
            .filter_map(|t| {
                let (v, _) = self.row(&format!("durable_{t}t_128b"))?.limit.as_ref()?;
                Some((*t as f64, *v))
            })
            .collect();
        for (_, v) in &raw {
            min = min.min(*v);
            max = max.max(*v);
        }
        series.push(Series {
            name: "raw fdatasync loop, 1 writer".into(),
            points: raw,
        });
        let x = Axis {
            label: "writer threads".into(),
            min: 1.0,
            max: 16.0,
            log: true,
            ticks: vec![1.0, 4.0, 16.0],
        };
        let y = Axis {
            label: "durable appends/s (128 B)".into(),
            min: (min * 0.5).max(1.0),
            max: max * 2.0,
            log: true,
            ticks: Vec::new(),
        };
        svg::lines("Durable appends/s vs writer threads", &x, &y, &series, true)
    }

    fn plot_latency(&self) -> String {
        let mut series = Vec::new();
        let mut lo = f64::MAX;
        let mut hi = 1.0f64;
        let mut add = |name: &str, label: &str, run: &[u64]| {
            if run.is_empty() {
                return;
            }
            let points: Vec<(f64, f64)> = (0..=200)
                .map(|i| {
                    let q = f64::from(i) / 200.0;
                    (crate::stats::quantile(run, q.max(1e-9)) as f64 / 1e3, q)
                })
                .collect();
            lo = lo.min(points[0].0);
            hi = hi.max(points[points.len() - 1].0);
            series.push(Series {
                name: format!("{name} ({label})"),
                points,
            });
        };
        // Every subject's rotating run; the steady runs of Cairn and of the raw loop only.
        for s in &self.subjects {
            if let Some((rotating, steady)) = self.latency_runs.get(s) {
                add(s, "rotating", rotating);
                if *s == CAIRN {
                    add(s, "steady", steady);
                }
            }
        }
        add("raw fdatasync", "steady", &self.raw_latency);
        let x = Axis {
            label: "durable append latency, µs".into(),
            min: (lo * 0.8).max(1.0),
            max: hi * 1.2,
            log: true,
            ticks: Vec::new(),
        };
        let y = Axis {
            label: "fraction of appends".into(),
            min: 0.0,
            max: 1.0,
            log: false,
            ticks: Vec::new(),
        };
        svg::lines(
            "Append latency CDF across segment rotations",
            &x,
            &y,
            &series,
            false,
        )
    }

    fn plot_recovery(&self) -> String {
        let categories = vec!["clean close".to_string(), "after SIGKILL".to_string()];
        let mut series = Vec::new();
        let mut max = 1.0f64;
        // Subjects without a recovery run (`cairn-os`: n/a) get no bar and no legend entry.
        let applicable = |s: &str| {
            ["recovery_clean_4k", "recovery_crash_4k"].iter().any(|k| {
                self.row(k)
                    .and_then(|r| r.values.get(s))
                    .is_some_and(|v| !matches!(v, Value::NotApplicable(_)))
            })
        };
        for s in self.subjects.iter().filter(|s| applicable(s)) {
            let points: Vec<(f64, f64)> = ["recovery_clean_4k", "recovery_crash_4k"]
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    let v = self
                        .row(k)
                        .and_then(|r| r.values.get(s))
                        .and_then(Value::median)
                        .unwrap_or(0.0);
                    max = max.max(v);
                    (i as f64, v)
                })
                .collect();
            series.push(Series {
                name: (*s).to_string(),
                points,
            });
        }
        let y = Axis {
            label: "recovery MB/s (4 KiB records)".into(),
            min: 0.0,
            max: max * 1.1,
            log: false,
            ticks: Vec::new(),
        };
        svg::bars(
            "Recovery: open + read every record",
            &categories,
            &y,
            &series,
        )
    }
}
