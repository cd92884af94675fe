//! `cairn-crash ablate`: proves the suites can fail.
//!
//! A *sync site* is one kind of durability call on one class of file in one phase:
//! `(sync_data | sync_all | sync_dir) × (WAL segment, WAL FRONT file, WAL directory, WAL
//! quarantine, snapshot temp file, snapshot directory, base directory, ...) × (run |
//! recovery)`. [`AblateVfs`] wraps the simulator and, for the one site switched off, returns
//! `Ok` without syncing — the code under test believes the data durable, the simulator
//! keeps it pending. Nothing in the WAL or the store is edited.
//!
//! A baseline run of the ablation workloads lists the sites they reach; then each site is
//! switched off in turn and the explorer runs the same workloads until it reports a
//! violation. A site nothing catches is either a missing test or an unnecessary sync: the
//! run fails and names it.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use cairn_io::{DirLock, OpenMode, Vfs, VfsFile};
use cairn_sim::SimVfs;

use crate::check::{self, Wrapper};
use crate::explore::{Profile, Sink, explore_workload};
use crate::figures::Figures;
use crate::rng::derive;
use crate::system::{in_harness, in_recovery};
use crate::workload;

/// What the wrapper shares between the file system and its files.
#[derive(Debug, Default)]
struct Control {
    /// The site switched off.
    off: Option<String>,
    /// Every site reached.
    hits: Mutex<BTreeSet<String>>,
}

impl Control {
    /// Whether a sync of `op` on `path` really happens.
    fn sync(&self, op: &str, path: &Path, is_dir: bool) -> bool {
        let site = site_name(op, path, is_dir);
        let off = self.off.as_deref() == Some(site.as_str());
        self.hits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(site);
        !off
    }
}

/// The site of a sync call.
fn site_name(op: &str, path: &Path, is_dir: bool) -> String {
    let text = path.to_string_lossy();
    let class = if text.contains("quarantine") {
        if text.contains("/snap") {
            "snapshot-quarantine"
        } else {
            "wal-quarantine"
        }
    } else if is_dir {
        match text.trim_end_matches('/') {
            "/db/wal" | "db/wal" => "wal-dir",
            "/db/snap" | "db/snap" => "snapshot-dir",
            "/db" | "db" => "base-dir",
            "" | "/" => "root-dir",
            _ => "other-dir",
        }
    } else if text.ends_with(".wal") {
        "wal-segment"
    } else if text.contains("FRONT") {
        "wal-front"
    } else if text.ends_with(".tmp") {
        "snapshot-temp"
    } else if text.ends_with(".snap") {
        "snapshot-file"
    } else {
        "other-file"
    };
    let phase = if in_harness() {
        "harness"
    } else if in_recovery() {
        "recovery"
    } else {
        "run"
    };
    format!("{op}:{class}:{phase}")
}

/// The simulator with one sync site switched off.
struct AblateVfs {
    sim: SimVfs,
    control: Arc<Control>,
}

impl fmt::Debug for AblateVfs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AblateVfs")
            .field("off", &self.control.off)
            .finish_non_exhaustive()
    }
}

struct AblateFile {
    inner: Box<dyn VfsFile>,
    control: Arc<Control>,
}

impl fmt::Debug for AblateFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AblateFile")
            .field("path", &self.inner.path())
            .finish_non_exhaustive()
    }
}

impl Vfs for AblateVfs {
    fn create_new(&self, path: &Path) -> cairn_io::Result<Box<dyn VfsFile>> {
        let inner = self.sim.create_new(path)?;
        Ok(Box::new(AblateFile {
            inner,
            control: self.control.clone(),
        }))
    }

    fn open(&self, path: &Path, mode: OpenMode) -> cairn_io::Result<Box<dyn VfsFile>> {
        let inner = self.sim.open(path, mode)?;
        Ok(Box::new(AblateFile {
            inner,
            control: self.control.clone(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> cairn_io::Result<()> {
        self.sim.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> cairn_io::Result<()> {
        self.sim.remove_file(path)
    }

    fn list(&self, dir: &Path) -> cairn_io::Result<Vec<String>> {
        self.sim.list(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> cairn_io::Result<()> {
        self.sim.create_dir_all(dir)
    }

    fn sync_dir(&self, dir: &Path) -> cairn_io::Result<()> {
        if self.control.sync("sync_dir", dir, true) {
            self.sim.sync_dir(dir)
        } else {
            Ok(())
        }
    }

    fn exists(&self, path: &Path) -> cairn_io::Result<bool> {
        self.sim.exists(path)
    }

    fn lock_dir(&self, dir: &Path) -> cairn_io::Result<DirLock> {
        self.sim.lock_dir(dir)
    }

    fn entropy(&self) -> u64 {
        self.sim.entropy()
    }
}

impl VfsFile for AblateFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> cairn_io::Result<usize> {
        self.inner.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> cairn_io::Result<usize> {
        self.inner.write_at(buf, offset)
    }

    fn set_len(&self, len: u64) -> cairn_io::Result<()> {
        self.inner.set_len(len)
    }

    fn allocate(&self, offset: u64, len: u64) -> cairn_io::Result<()> {
        self.inner.allocate(offset, len)
    }

    fn sync_data(&self) -> cairn_io::Result<()> {
        if self.control.sync("sync_data", self.inner.path(), false) {
            self.inner.sync_data()
        } else {
            Ok(())
        }
    }

    fn sync_all(&self) -> cairn_io::Result<()> {
        if self.control.sync("sync_all", self.inner.path(), false) {
            self.inner.sync_all()
        } else {
            Ok(())
        }
    }

    fn len(&self) -> cairn_io::Result<u64> {
        self.inner.len()
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }
}

fn wrapper(control: &Arc<Control>) -> Wrapper {
    let control = control.clone();
    Arc::new(move |sim: SimVfs| -> Arc<dyn Vfs> {
        Arc::new(AblateVfs {
            sim,
            control: control.clone(),
        })
    })
}

/// The workloads the ablation explores: exhaustive ones (rotation, checkpoint, truncation,
/// reopen over the parameter classes) and a few long random ones.
fn jobs() -> Vec<u64> {
    let mut out = Vec::new();
    for p in [2u64, 1] {
        for syms in [
            &[0usize, 15][..],
            &[3, 8],
            &[11, 14, 16],
            &[2, 15, 16],
            &[4, 6, 13],
            &[8, 16, 0],
        ] {
            out.push(workload::exhaustive_seed(p, syms));
        }
    }
    for i in 0..4 {
        out.push(workload::random_seed(derive(0xAB1A7E, i), 120));
    }
    out
}

fn profile() -> Profile {
    let mut p = Profile::named("ci").expect("the ci profile exists");
    p.tears = false;
    p.subset_pending_max = 8;
    p.deep_all = true;
    // Only the media Cairn assumes: a site reached only through no-PSOW damage is no
    // contract of the sync it ablates.
    p.nopsow = false;
    p.random_cuts = 60;
    p.random_damages = 4;
    p
}

/// A failure's signature: its kind and message with every number blanked, so the same
/// problem at other LSNs, offsets or cut points compares equal.
fn signature(kind: check::Kind, what: &str) -> String {
    let mut out = format!("{kind:?}: ");
    let mut in_number = false;
    for c in what.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            out.push(c);
            in_number = false;
        }
    }
    out
}

/// What one exploration with a site off found.
struct Found {
    /// Violations whose signature the baseline does not have.
    new_violations: u64,
    /// Signatures of every violation.
    signatures: BTreeSet<String>,
    /// Sites reached.
    hits: BTreeSet<String>,
    /// One new violation, with its replay command.
    example: Option<String>,
}

/// Runs the ablation workloads with `off` switched off; stops at the first workload with a
/// violation the baseline (`known` signatures) does not have.
fn explore_with(off: Option<String>, known: &BTreeSet<String>) -> Found {
    let control = Arc::new(Control {
        off,
        ..Control::default()
    });
    check::set_wrapper(Some(wrapper(&control)));
    let prof = profile();
    let mut found = Found {
        new_violations: 0,
        signatures: BTreeSet::new(),
        hits: BTreeSet::new(),
        example: None,
    };
    for case in jobs() {
        let Some(w) = workload::from_case(case) else {
            continue;
        };
        let sink = Sink::default();
        explore_workload(&w, &prof, &sink);
        for f in sink.failures.into_inner().unwrap_or_default() {
            let sig = signature(f.kind, &f.what);
            if !known.contains(&sig) {
                found.new_violations += 1;
                if found.example.is_none() {
                    found.example = Some(format!("{:?}: {} ({})", f.kind, f.what, f.replay()));
                }
            }
            found.signatures.insert(sig);
        }
        if control.off.is_some() && found.new_violations > 0 {
            break;
        }
    }
    check::set_wrapper(None);
    found.hits = control
        .hits
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    found
}

/// `cairn-crash ablate`.
pub fn main(json: Option<PathBuf>) -> Result<bool> {
    let start = Instant::now();
    let base = explore_with(None, &BTreeSet::new());
    let baseline = base.new_violations;
    println!(
        "ablation: {} sync site(s) reached by the workloads",
        base.hits.len()
    );
    if baseline > 0 {
        eprintln!(
            "ablate: the baseline (no site off) already has {baseline} violation(s) of {} kind(s); \
             with a site off, only other kinds count as detection. First: {}",
            base.signatures.len(),
            base.example.as_deref().unwrap_or_default()
        );
    }
    let known = base.signatures.clone();
    // The harness's own set-up is not under test.
    let sites: Vec<String> = base
        .hits
        .iter()
        .filter(|s| !s.ends_with(":harness"))
        .cloned()
        .collect();
    let results: Mutex<Vec<(String, u64, Option<String>)>> = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(site) = sites.get(i) else { break };
                    let found = explore_with(Some(site.clone()), &known);
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((site.clone(), found.new_violations, found.example));
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort();
    let mut detected = 0u64;
    for (site, found, example) in &results {
        if *found > 0 {
            detected += 1;
            println!(
                "  {site:<40} detected: {}",
                example.as_deref().unwrap_or("")
            );
        } else {
            println!("  {site:<40} NOT DETECTED (a missing test, or an unnecessary sync)");
        }
    }
    let mut figures = Figures::new();
    figures.push("sync_sites", results.len() as u64);
    figures.push("sites_detected", detected);
    figures.push("baseline_violations", baseline);
    figures.push("duration_s", start.elapsed().as_secs_f64());
    figures.print("crash ablate");
    if let Some(path) = json {
        figures.write(&path)?;
    }
    Ok(baseline == 0 && detected == results.len() as u64)
}
