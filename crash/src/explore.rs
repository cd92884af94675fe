//! `cairn-crash sim`: the crash-point explorer on `cairn-sim`.
//!
//! For every workload: run it once to count its mutating calls, then for every crash point
//! `c` (all of them in the exhaustive mode, a sample in the random mode) run it again with
//! `crash_after_call(c)`, build crash images under every model (see [`Spec`]), recover each
//! and check it against the model of what was acknowledged when the cut hit. Compound cases
//! cut the recovery itself at each of its calls, then lose power or crash again.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use cairn_io::Vfs;
use cairn_sim::{
    CrashModel, CrashPlan, OpFate, PendingKind, SECTOR_4K, SECTOR_512, SectorFate, SimVfs,
    TraceEvent,
};
use cairn_wal::{Durability, Lsn, Wal};

use crate::check::{self, Counts, Expect, KINDS, Kind, Verdict, guarded, watch};
use crate::figures::Figures;
use crate::rng::{Rng, derive};
use crate::system::{Layout, Recovered, Sys, recover};
use crate::workload::{self, FAMILY_THREADED, Op, Point, Workload};

/// One crash image recipe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spec {
    /// The process dies; the OS keeps everything written.
    Process,
    /// Power loss keeping only what was synced.
    DropAll,
    /// Power loss keeping the first `k` pending operations.
    Prefix(usize),
    /// Power loss keeping the pending operations whose bit is set.
    Subset(u64),
    /// Power loss keeping a seeded half.
    Random(u64),
    /// Seeded torn power loss.
    Torn {
        /// 512 or 4096.
        sector: u64,
        /// Power-safe overwrite.
        psow: bool,
        /// The seed.
        seed: u64,
    },
    /// Pending ops before `op` kept, `op` (a write) torn at 512 B — pieces before `from`
    /// new, the rest `fate` — and later ops dropped.
    Tear {
        /// Index of the pending write.
        op: usize,
        /// First damaged piece.
        from: usize,
        /// What the damaged pieces hold.
        fate: SectorFate,
    },
    /// As [`Spec::Tear`] but only piece `piece` damaged.
    Hole {
        /// Index of the pending write.
        op: usize,
        /// The damaged piece.
        piece: usize,
        /// What it holds.
        fate: SectorFate,
    },
    /// No power-safe overwrite: pending ops before `op` kept, `op` (a write starting
    /// inside a sector that already holds bytes) lost, and the bytes of that sector before
    /// it destroyed (zeros or garbage) — the damage a device without PSOW may do.
    Neighbour {
        /// Index of the pending write.
        op: usize,
        /// Zeros or garbage.
        fate: SectorFate,
    },
    /// Build `base`, recover on it with a crash after the recovery's `cut`-th call, then
    /// crash again (`then_power`: power loss, else a process crash).
    RecoveryCut {
        /// The first crash.
        base: Box<Spec>,
        /// Where the recovery is cut.
        cut: u64,
        /// Whether the second crash is a power loss.
        then_power: bool,
    },
}

fn fate_name(f: SectorFate) -> &'static str {
    match f {
        SectorFate::Old => "old",
        SectorFate::New => "new",
        SectorFate::Zeros => "zeros",
        SectorFate::Garbage => "garbage",
    }
}

fn parse_fate(s: &str) -> Result<SectorFate> {
    Ok(match s {
        "old" => SectorFate::Old,
        "new" => SectorFate::New,
        "zeros" => SectorFate::Zeros,
        "garbage" => SectorFate::Garbage,
        _ => bail!("unknown sector fate {s:?}"),
    })
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Process => write!(f, "process"),
            Spec::DropAll => write!(f, "dropall"),
            Spec::Prefix(k) => write!(f, "prefix-{k}"),
            Spec::Subset(m) => write!(f, "subset-{m}"),
            Spec::Random(s) => write!(f, "random-{s}"),
            Spec::Torn { sector, psow, seed } => {
                write!(
                    f,
                    "torn-{sector}-{}-{seed}",
                    if *psow { "psow" } else { "nopsow" }
                )
            }
            Spec::Tear { op, from, fate } => write!(f, "tear-{op}-{from}-{}", fate_name(*fate)),
            Spec::Hole { op, piece, fate } => write!(f, "hole-{op}-{piece}-{}", fate_name(*fate)),
            Spec::Neighbour { op, fate } => write!(f, "neighbour-{op}-{}", fate_name(*fate)),
            Spec::RecoveryCut {
                base,
                cut,
                then_power,
            } => write!(
                f,
                "{base}+rcut-{cut}-{}",
                if *then_power { "dropall" } else { "process" }
            ),
        }
    }
}

impl FromStr for Spec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        if let Some((base, rest)) = s.rsplit_once("+rcut-") {
            let (cut, then) = rest.split_once('-').context("rcut-CUT-THEN")?;
            return Ok(Spec::RecoveryCut {
                base: Box::new(base.parse()?),
                cut: cut.parse()?,
                then_power: match then {
                    "dropall" => true,
                    "process" => false,
                    _ => bail!("rcut must end in dropall or process"),
                },
            });
        }
        let parts: Vec<&str> = s.split('-').collect();
        let num = |i: usize| -> Result<u64> {
            parts
                .get(i)
                .context("missing number")?
                .parse::<u64>()
                .map_err(|e| anyhow!("{s}: {e}"))
        };
        let idx = |i: usize| -> Result<usize> { Ok(usize::try_from(num(i)?)?) };
        Ok(match parts[0] {
            "process" => Spec::Process,
            "dropall" => Spec::DropAll,
            "prefix" => Spec::Prefix(idx(1)?),
            "subset" => Spec::Subset(num(1)?),
            "random" => Spec::Random(num(1)?),
            "torn" => Spec::Torn {
                sector: num(1)?,
                psow: parts.get(2) == Some(&"psow"),
                seed: num(3)?,
            },
            "tear" => Spec::Tear {
                op: idx(1)?,
                from: idx(2)?,
                fate: parse_fate(parts.get(3).context("fate")?)?,
            },
            "hole" => Spec::Hole {
                op: idx(1)?,
                piece: idx(2)?,
                fate: parse_fate(parts.get(3).context("fate")?)?,
            },
            "neighbour" => Spec::Neighbour {
                op: idx(1)?,
                fate: parse_fate(parts.get(2).context("fate")?)?,
            },
            other => bail!("unknown crash model {other:?}"),
        })
    }
}

impl Spec {
    /// Whether a process crash is the last thing that happened (Buffered acks must hold).
    fn is_process(&self) -> bool {
        match self {
            Spec::Process => true,
            Spec::RecoveryCut {
                base, then_power, ..
            } => !then_power && base.is_process(),
            _ => false,
        }
    }

    /// Whether this is the no-PSOW damage model, reported apart.
    fn is_nopsow(&self) -> bool {
        match self {
            Spec::Neighbour { .. } => true,
            Spec::RecoveryCut { base, .. } => base.is_nopsow(),
            _ => false,
        }
    }
}

fn write_plan(
    sim: &SimVfs,
    op: usize,
    psow: bool,
    fate_of: impl Fn(usize, usize) -> SectorFate,
) -> Option<SimVfs> {
    let pending = sim.pending_ops();
    let target = pending.get(op)?;
    if !target.is_write() {
        return None;
    }
    let count = target.sector_count(SECTOR_512);
    let fates = (0..pending.len())
        .map(|i| match i.cmp(&op) {
            std::cmp::Ordering::Less => OpFate::Keep,
            std::cmp::Ordering::Equal => OpFate::Tear {
                sector_size: SECTOR_512,
                pieces: (0..count).map(|j| fate_of(j, count)).collect(),
            },
            std::cmp::Ordering::Greater => OpFate::Drop,
        })
        .collect();
    Some(sim.crash_image(&CrashModel::Plan(CrashPlan { fates, psow })))
}

/// Whether a no-PSOW model (a `psow: false` tear) damaged bytes that were durable before:
/// its image differs from the same plan applied with power-safe overwrite. Such an image is
/// outside what Cairn assumes of the media and is reported with the no-PSOW figures.
pub fn overwrites_durable(sim: &SimVfs, spec: &Spec, layout: &Layout) -> bool {
    let twin = match spec {
        Spec::Torn {
            sector,
            psow: false,
            seed,
        } => Spec::Torn {
            sector: *sector,
            psow: true,
            seed: *seed,
        },
        Spec::Tear { .. } | Spec::Hole { .. } => spec.clone(),
        _ => return false,
    };
    let (Some(image), Some(twin)) = (
        build(sim, spec, layout),
        match twin {
            Spec::Tear { op, from, fate } => {
                write_plan(
                    sim,
                    op,
                    true,
                    |j, _| {
                        if j < from { SectorFate::New } else { fate }
                    },
                )
            }
            Spec::Hole { op, piece, fate } => write_plan(sim, op, true, |j, _| {
                if j == piece { fate } else { SectorFate::New }
            }),
            other => build(sim, &other, layout),
        },
    ) else {
        return false;
    };
    image.live_tree() != twin.live_tree()
}

/// Builds the image `spec` names from the cut simulator; `None` if it does not apply.
pub fn build(sim: &SimVfs, spec: &Spec, layout: &Layout) -> Option<SimVfs> {
    Some(match spec {
        Spec::Process => sim.crash_image(&CrashModel::Process),
        Spec::DropAll => sim.crash_image(&CrashModel::DropAll),
        Spec::Prefix(k) => sim.crash_image(&CrashModel::Prefix(*k)),
        Spec::Subset(m) => sim.crash_image(&CrashModel::Subset(*m)),
        Spec::Random(seed) => sim.crash_image(&CrashModel::RandomSubset { seed: *seed }),
        Spec::Torn { sector, psow, seed } => sim.crash_image(&CrashModel::Torn {
            sector_size: *sector,
            psow: *psow,
            seed: *seed,
        }),
        Spec::Tear { op, from, fate } => write_plan(sim, *op, false, |j, _| {
            if j < *from { SectorFate::New } else { *fate }
        })?,
        Spec::Hole { op, piece, fate } => write_plan(sim, *op, false, |j, _| {
            if j == *piece { *fate } else { SectorFate::New }
        })?,
        Spec::Neighbour { op, fate } => {
            let pending = sim.pending_ops();
            let target = pending.get(*op)?;
            let PendingKind::Write { offset, .. } = target.kind else {
                return None;
            };
            let sector_start = offset / SECTOR_512 * SECTOR_512;
            if sector_start == offset {
                return None;
            }
            let keep = (0..pending.len())
                .map(|i| if i < *op { OpFate::Keep } else { OpFate::Drop })
                .collect();
            let image = sim.crash_image(&CrashModel::Plan(CrashPlan {
                fates: keep,
                psow: false,
            }));
            let bytes = image.file_bytes(&target.path)?;
            let mut rng = Rng::new(offset ^ (*op as u64) << 32);
            for at in sector_start..offset.min(bytes.len() as u64) {
                let old = bytes[usize::try_from(at).ok()?];
                let new = match fate {
                    SectorFate::Zeros => 0,
                    _ => (rng.next_u64() >> 56) as u8,
                };
                if old != new {
                    image.corrupt_durable(&target.path, at, old ^ new);
                }
            }
            image.crash_image(&CrashModel::DropAll)
        }
        Spec::RecoveryCut {
            base,
            cut,
            then_power,
        } => recovery_cut(&build(sim, base, layout)?, *cut, *then_power, layout).0,
    })
}

/// Recovers on a process-crash copy of `base` cut after `cut` calls, then crashes again;
/// returns the image and whether the cut hit (false: recovery finished first).
pub fn recovery_cut(base: &SimVfs, cut: u64, then_power: bool, layout: &Layout) -> (SimVfs, bool) {
    let attempt = base.crash_image(&CrashModel::Process);
    attempt.crash_after_call(cut);
    let _ignored = check::recover_guarded(&attempt, layout);
    let hit = attempt.is_crashed();
    let model = if then_power {
        CrashModel::DropAll
    } else {
        CrashModel::Process
    };
    (attempt.crash_image(&model), hit)
}

/// How a run of a workload ended.
#[derive(Clone, Copy, Debug)]
pub struct RunOutcome {
    /// Whether the initial recovery succeeded.
    pub opened: bool,
    /// How many operations completed.
    pub completed: usize,
    /// A panic, if the run panicked.
    pub panicked: bool,
}

fn exec(sys: &mut Option<Sys>, op: &Op, vfs: &Arc<dyn Vfs>, layout: &Layout) -> Result<()> {
    let s = sys.as_mut().context("the system is down")?;
    match op {
        Op::Append { payload, level } => {
            s.append(payload, *level)?;
        }
        Op::Batch { payloads, level } => {
            s.append_batch(payloads, *level)?;
        }
        Op::Sync => s.wal.sync()?,
        Op::TruncateBack { lsn } => s.truncate_back(*lsn)?,
        Op::Checkpoint => s.checkpoint()?,
        Op::Reopen => {
            let old = sys.take().expect("checked above");
            old.wal.close()?;
            drop(old);
            *sys = Some(recover(vfs.clone(), layout)?.sys);
        }
    }
    Ok(())
}

/// Mutating calls of [`base_dir`]: `create_dir_all` of one directory and one `sync_dir`.
const BASE_DIR_CALLS: u64 = 2;

/// Creates the base directory of `layout` and makes its entry durable, as an application
/// whose data directory exists would have.
pub fn base_dir(vfs: &dyn Vfs, layout: &Layout) -> Result<()> {
    crate::system::as_harness(|| {
        let base = layout
            .wal
            .parent()
            .context("the WAL has a parent directory")?;
        vfs.create_dir_all(base)?;
        vfs.sync_dir(base.parent().unwrap_or(std::path::Path::new("/")))?;
        Ok(())
    })
}

/// Runs `w` on `sim` until it finishes or an operation fails (after a cut, every one does).
pub fn run(w: &Workload, sim: &SimVfs) -> RunOutcome {
    let layout = Layout::sim(w.segment_size_max);
    let vfs: Arc<dyn Vfs> = check::wrap(sim);
    let mut out = RunOutcome {
        opened: false,
        completed: 0,
        panicked: false,
    };
    let result = guarded(|| {
        if w.base_dir_synced && base_dir(&*vfs, &layout).is_err() {
            return;
        }
        let Ok(r) = recover(vfs.clone(), &layout) else {
            return;
        };
        out.opened = true;
        let mut sys = Some(r.sys);
        for (i, op) in w.ops.iter().enumerate() {
            if exec(&mut sys, op, &vfs, &layout).is_err() {
                return;
            }
            out.completed = i + 1;
            sim.mark(i as u64 + 1);
        }
    });
    out.panicked = result.is_err();
    out
}

/// Settings of a profile.
#[derive(Clone, Debug)]
pub struct Profile {
    /// `ci` or `long`.
    pub name: &'static str,
    /// Exhaustive alphabet.
    pub alphabet: Vec<usize>,
    /// Exhaustive preambles.
    pub preambles: Vec<u64>,
    /// Every subset when at most this many ops are pending.
    pub subset_pending_max: usize,
    /// Seeds per torn model.
    pub torn_seeds: u64,
    /// Enumerate 512 B tears of the last two pending writes.
    pub tears: bool,
    /// Recovery-cut compound cases also from process-crash images.
    pub compound_process: bool,
    /// Deep checks (idempotence, append after recovery) on every image, not only the
    /// process, drop-all and torn ones.
    pub deep_all: bool,
    /// Random workloads, their length, cuts sampled per workload, damages per cut.
    pub random_workloads: u64,
    /// Operations per random workload.
    pub random_ops: usize,
    /// Cuts sampled per random workload.
    pub random_cuts: u64,
    /// Seeded subsets per random cut.
    pub random_damages: u64,
    /// Also build the no-PSOW damage images (reported apart).
    pub nopsow: bool,
    /// Threaded group-commit runs and cuts per run.
    pub threaded_runs: u64,
    /// Cuts per threaded run.
    pub threaded_cuts: u64,
}

impl Profile {
    /// The named profile.
    pub fn named(name: &str) -> Result<Self> {
        Ok(match name {
            "ci" => Profile {
                name: "ci",
                alphabet: workload::ALPHABET_CI.to_vec(),
                preambles: vec![1, 2],
                subset_pending_max: 10,
                torn_seeds: 1,
                tears: true,
                compound_process: false,
                deep_all: false,
                random_workloads: 8,
                random_ops: 150,
                random_cuts: 40,
                random_damages: 3,
                nopsow: true,
                threaded_runs: 6,
                threaded_cuts: 30,
            },
            "long" => Profile {
                name: "long",
                alphabet: (0..workload::ALPHABET.len()).collect(),
                preambles: vec![1, 2],
                subset_pending_max: 10,
                torn_seeds: 2,
                tears: true,
                compound_process: true,
                deep_all: false,
                random_workloads: 60,
                random_ops: 300,
                random_cuts: 80,
                random_damages: 6,
                nopsow: true,
                threaded_runs: 40,
                threaded_cuts: 60,
            },
            other => bail!("unknown profile {other:?} (ci or long)"),
        })
    }
}

/// A failed check, with what replays it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The case seed.
    pub case: u64,
    /// The cut.
    pub cut: u64,
    /// The crash model.
    pub spec: String,
    /// What went wrong.
    pub kind: Kind,
    /// In words.
    pub what: String,
}

impl Failure {
    /// The one-line replay command.
    pub fn replay(&self) -> String {
        format!(
            "cargo xtask crash sim --seed {} --cut {} --model {}",
            self.case, self.cut, self.spec
        )
    }
}

/// Where checks report.
#[derive(Default)]
pub struct Sink {
    /// Main counts (PSOW media, the model Cairn assumes).
    pub main: Mutex<Counts>,
    /// Counts under the no-PSOW damage model, reported apart.
    pub nopsow: Mutex<Counts>,
    /// Crash points explored.
    pub crash_points: AtomicUsize,
    /// Failures (the first few hundred).
    pub failures: Mutex<Vec<Failure>>,
}

const FAILURES_KEPT: usize = 5000;

impl Sink {
    fn record(&self, case: u64, cut: u64, spec: &Spec, v: &Verdict) {
        self.record_as(case, cut, spec, v, spec.is_nopsow());
    }

    fn record_as(&self, case: u64, cut: u64, spec: &Spec, v: &Verdict, nopsow: bool) {
        let target = if nopsow { &self.nopsow } else { &self.main };
        target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .add(&v.counts);
        if !nopsow && let Some((kind, what)) = &v.first {
            let mut f = self
                .failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if f.len() < FAILURES_KEPT {
                f.push(Failure {
                    case,
                    cut,
                    spec: spec.to_string(),
                    kind: *kind,
                    what: what.clone(),
                });
            }
        }
    }

    fn record_run_panic(&self, case: u64, cut: u64) {
        let mut v = Verdict::default();
        v.add(Kind::Panic, 1, || {
            "the workload panicked (inside the WAL or the store)".into()
        });
        self.record(case, cut, &Spec::Process, &v);
    }
}

/// The expectations for a cut that left `out`.
fn expectations(w: &Workload, points: &[Point], out: RunOutcome) -> (Expect, Expect) {
    let p = &points[out.completed];
    let next = if out.opened {
        points.get(out.completed + 1)
    } else {
        None
    };
    let mut cands = vec![p.history.clone()];
    let (mut power, mut process) = (p.fsync_req, p.buffered_req);
    if let Some(n) = next {
        if !Arc::ptr_eq(&n.history, &p.history) {
            cands.push(n.history.clone());
        }
        power = power.min(n.fsync_req);
        process = process.min(n.buffered_req);
    }
    let retention_applies =
        !matches!(w.ops.get(out.completed), Some(Op::Checkpoint)) || !out.opened;
    let e = |required| Expect {
        cands: cands.clone(),
        required,
        retention_applies,
    };
    (e(power), e(process))
}

/// The models explored at one cut of the exhaustive mode.
fn exhaustive_specs(sim: &SimVfs, prof: &Profile) -> Vec<Spec> {
    let pending = sim.pending_ops();
    let n = pending.len();
    let mut specs = vec![Spec::Process, Spec::DropAll];
    if n <= prof.subset_pending_max {
        specs.extend((1..1u64 << n).map(Spec::Subset));
    } else {
        specs.extend((1..=n).map(Spec::Prefix));
        specs.extend((0..64).map(|i| Spec::Random(derive(sim.seed(), i))));
    }
    for seed in 0..prof.torn_seeds {
        for sector in [SECTOR_512, SECTOR_4K] {
            for psow in [true, false] {
                specs.push(Spec::Torn {
                    sector,
                    psow,
                    seed: derive(sim.seed(), 100 + seed),
                });
            }
        }
    }
    let writes: Vec<usize> = pending
        .iter()
        .filter(|p| p.is_write())
        .map(|p| p.index)
        .collect();
    if prof.tears {
        for &op in writes.iter().rev().take(2) {
            let count = pending[op].sector_count(SECTOR_512);
            for j in 0..count {
                for fate in [SectorFate::Old, SectorFate::Zeros, SectorFate::Garbage] {
                    specs.push(Spec::Tear { op, from: j, fate });
                    if count > 1 && j + 1 < count {
                        specs.push(Spec::Hole { op, piece: j, fate });
                    }
                }
            }
        }
    }
    for &op in writes.iter().filter(|_| prof.nopsow) {
        for fate in [SectorFate::Zeros, SectorFate::Garbage] {
            specs.push(Spec::Neighbour { op, fate });
        }
    }
    specs
}

fn is_deep(spec: &Spec, prof: &Profile) -> bool {
    prof.deep_all || matches!(spec, Spec::Process | Spec::DropAll | Spec::Torn { .. })
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename the arguments"
)]
fn check_spec(
    sim: &SimVfs,
    spec: &Spec,
    layout: &Layout,
    exps: &(Expect, Expect),
    deep: bool,
    case: u64,
    cut: u64,
    sink: &Sink,
) {
    let _w = watch(|| format!("cargo xtask crash sim --seed {case} --cut {cut} --model {spec}"));
    let Some(image) = build(sim, spec, layout) else {
        return;
    };
    let exp = if spec.is_process() { &exps.1 } else { &exps.0 };
    let v = check::check_image(&image, layout, exp, deep);
    let nopsow = spec.is_nopsow() || (!v.ok() && overwrites_durable(sim, spec, layout));
    sink.record_as(case, cut, spec, &v, nopsow);
}

fn compound(
    sim: &SimVfs,
    base: Spec,
    layout: &Layout,
    exps: &(Expect, Expect),
    case: u64,
    cut: u64,
    sink: &Sink,
) {
    let Some(base_image) = build(sim, &base, layout) else {
        return;
    };
    for k in 1..=400u64 {
        let mut hit = false;
        for then_power in [true, false] {
            let spec = Spec::RecoveryCut {
                base: Box::new(base.clone()),
                cut: k,
                then_power,
            };
            let _w =
                watch(|| format!("cargo xtask crash sim --seed {case} --cut {cut} --model {spec}"));
            let (image, h) = recovery_cut(&base_image, k, then_power, layout);
            hit = h;
            let exp = if spec.is_process() { &exps.1 } else { &exps.0 };
            let v = check::check_image(&image, layout, exp, false);
            sink.record(case, cut, &spec, &v);
        }
        if !hit {
            break;
        }
    }
}

/// Explores one cut of a sequential workload.
fn explore_cut(
    w: &Workload,
    points: &[Point],
    cut: u64,
    prof: &Profile,
    random: Option<&mut Rng>,
    sink: &Sink,
) {
    let layout = Layout::sim(w.segment_size_max);
    let sim = SimVfs::new(w.case_seed);
    sim.crash_after_call(cut);
    let out = {
        let _w = watch(|| {
            format!(
                "cargo xtask crash sim --seed {} --cut {cut} --model process",
                w.case_seed
            )
        });
        run(w, &sim)
    };
    sink.crash_points.fetch_add(1, Ordering::Relaxed);
    if out.panicked {
        sink.record_run_panic(w.case_seed, cut);
        return;
    }
    let exps = expectations(w, points, out);
    let specs = match random {
        None => exhaustive_specs(&sim, prof),
        Some(rng) => {
            let n = sim.pending_count();
            let mut s = vec![
                Spec::Process,
                Spec::DropAll,
                Spec::Prefix(rng.below(n as u64 + 1) as usize),
            ];
            for _ in 0..prof.random_damages {
                s.push(Spec::Random(rng.next_u64()));
            }
            for sector in [SECTOR_512, SECTOR_4K] {
                for psow in [true, false] {
                    s.push(Spec::Torn {
                        sector,
                        psow,
                        seed: rng.next_u64(),
                    });
                }
            }
            let writes: Vec<usize> = sim
                .pending_ops()
                .iter()
                .filter(|p| p.is_write())
                .map(|p| p.index)
                .collect();
            if let Some(&op) = writes.last().filter(|_| prof.nopsow) {
                s.push(Spec::Neighbour {
                    op,
                    fate: SectorFate::Garbage,
                });
            }
            s
        }
    };
    for spec in &specs {
        check_spec(
            &sim,
            spec,
            &layout,
            &exps,
            is_deep(spec, prof),
            w.case_seed,
            cut,
            sink,
        );
    }
    compound(&sim, Spec::DropAll, &layout, &exps, w.case_seed, cut, sink);
    if prof.compound_process {
        compound(&sim, Spec::Process, &layout, &exps, w.case_seed, cut, sink);
    }
}

fn mark_call(sim: &SimVfs, label: u64) -> Option<u64> {
    sim.trace().into_iter().find_map(|e| match e {
        TraceEvent::Mark {
            after_call,
            label: cairn_sim::Label::Num(l),
        } if l == label => Some(after_call),
        _ => None,
    })
}

/// Explores a sequential workload: every cut (exhaustive) or `random_cuts` sampled ones.
pub fn explore_workload(w: &Workload, prof: &Profile, sink: &Sink) {
    let points = workload::points(w);
    let sim = SimVfs::new(w.case_seed);
    let out = run(w, &sim);
    if out.panicked || out.completed != w.ops.len() {
        let mut v = Verdict::default();
        v.add(Kind::RecoveryError, 1, || {
            format!(
                "the workload failed without a crash ({} of {} ops)",
                out.completed,
                w.ops.len()
            )
        });
        sink.record(w.case_seed, 0, &Spec::Process, &v);
        return;
    }
    let total = sim.stats().mutating_calls;
    let random = w.case_seed >> 56 == workload::FAMILY_RANDOM;
    if random {
        let mut rng = Rng::new(w.case_seed ^ 0x5eed);
        let mut cuts = BTreeSet::new();
        for _ in 0..prof.random_cuts {
            cuts.insert(
                BASE_DIR_CALLS + 1 + rng.below(total.saturating_sub(BASE_DIR_CALLS).max(1)),
            );
        }
        for cut in cuts {
            explore_cut(w, &points, cut, prof, Some(&mut rng), sink);
        }
    } else {
        // The harness's own base-directory setup (two calls) is not under test.
        let setup = if w.base_dir_synced { BASE_DIR_CALLS } else { 0 };
        let start = if w.explore_from_op == 0 {
            setup
        } else {
            mark_call(&sim, w.explore_from_op as u64).unwrap_or(0) + 1
        };
        for cut in start..=total {
            explore_cut(w, &points, cut, prof, None, sink);
        }
    }
}

/// A threaded group-commit run: what each thread submitted and what was acknowledged.
#[derive(Default, Debug)]
struct ThreadLog {
    /// Every batch submitted (singles are batches of one).
    submitted: Vec<Vec<Vec<u8>>>,
    /// `(first LSN, payloads, level)` of every acknowledged append.
    acks: Vec<(u64, Vec<Vec<u8>>, Durability)>,
    opened: bool,
}

const THREADS: u64 = 3;
const THREAD_OPS: u64 = 8;

fn run_threaded(case: u64, sim: &SimVfs) -> ThreadLog {
    let layout = Layout::sim(workload::RANDOM_SEGMENT_SIZE);
    let log = Mutex::new(ThreadLog::default());
    if base_dir(sim, &layout).is_err() {
        return ThreadLog::default();
    }
    let Ok((wal, _)) = Wal::open(&layout.wal, layout.wal_options(), Arc::new(sim.clone())) else {
        return log.into_inner().unwrap_or_default();
    };
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .opened = true;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let wal = wal.clone();
            let log = &log;
            s.spawn(move || {
                let mut rng = Rng::new(derive(case, t));
                for i in 0..THREAD_OPS {
                    let n = if rng.below(4) == 0 {
                        2 + rng.below(2)
                    } else {
                        1
                    };
                    let level = if rng.below(4) == 0 {
                        Durability::Buffered
                    } else {
                        Durability::Fsync
                    };
                    let batch: Vec<Vec<u8>> = (0..n)
                        .map(|j| {
                            let len = 8 + rng.below(300) as usize;
                            workload::payload(case.wrapping_mul(31) ^ (t << 48 | i << 8 | j), len)
                        })
                        .collect();
                    log.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .submitted
                        .push(batch.clone());
                    match wal.append_batch(&batch, level) {
                        Ok(range) => log
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .acks
                            .push((range.start().get(), batch, level)),
                        Err(_) => return,
                    }
                }
            });
        }
    });
    drop(wal);
    log.into_inner().unwrap_or_default()
}

fn judge_threaded(r: &Recovered, log: &ThreadLog, process: bool, v: &mut Verdict) {
    let mut where_: std::collections::HashMap<&[u8], (usize, usize)> =
        std::collections::HashMap::new();
    for (b, batch) in log.submitted.iter().enumerate() {
        for (i, p) in batch.iter().enumerate() {
            where_.insert(p.as_slice(), (b, i));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (expect_lsn, (lsn, p)) in (1u64..).zip(r.records.iter()) {
        if *lsn != expect_lsn {
            v.add(Kind::NotPrefix, 1, || {
                format!("log starts or continues at {lsn}, expected {expect_lsn}")
            });
            return;
        }
        let Some(&(b, i)) = where_.get(&p[..]) else {
            v.add(Kind::Phantom, 1, || {
                format!("record {lsn} was never submitted")
            });
            return;
        };
        if !seen.insert((b, i)) {
            v.add(Kind::NotPrefix, 1, || {
                format!("record {lsn} duplicates an earlier one")
            });
            return;
        }
        // A batch's records are consecutive and complete.
        let batch = &log.submitted[b];
        let Some(start) = lsn.checked_sub(i as u64).filter(|&s| s >= 1) else {
            v.add(Kind::TornBatch, 1, || {
                format!("batch around LSN {lsn} starts before LSN 1")
            });
            return;
        };
        for (k, q) in batch.iter().enumerate() {
            let l = start + k as u64;
            let idx = usize::try_from(l).unwrap_or(usize::MAX);
            match r.records.get(idx.wrapping_sub(1).min(r.records.len())) {
                Some((rl, rp)) if *rl == l && rp[..] == q[..] => {}
                Some(_) => {
                    v.add(Kind::TornBatch, 1, || {
                        format!("batch around LSN {lsn} is not contiguous")
                    });
                    return;
                }
                None => {
                    v.add(Kind::TornBatch, 1, || {
                        format!("the log ends inside the batch at LSN {start}")
                    });
                    return;
                }
            }
        }
    }
    let last = r.last_lsn();
    let mut required = 0;
    for (first, payloads, level) in &log.acks {
        let end = first + payloads.len() as u64 - 1;
        if *level == Durability::Fsync || process {
            required = required.max(end);
        }
        if end <= last {
            for (k, p) in payloads.iter().enumerate() {
                let idx = usize::try_from(first + k as u64 - 1).unwrap_or(usize::MAX);
                if r.records.get(idx).is_none_or(|(_, rp)| rp[..] != p[..]) {
                    v.add(Kind::SilentCorruption, 1, || {
                        format!("acknowledged record {} differs", first + k as u64)
                    });
                    return;
                }
            }
        }
    }
    if last < required {
        v.add(Kind::AckedLost, required - last, || {
            format!("recovered up to {last}, acknowledged up to {required}")
        });
    }
}

fn check_threaded_image(image: &SimVfs, log: &ThreadLog, process: bool, deep: bool) -> Verdict {
    let layout = Layout::sim(workload::RANDOM_SEGMENT_SIZE);
    let mut v = Verdict {
        counts: Counts {
            states: 1,
            ..Counts::default()
        },
        first: None,
    };
    match check::recover_guarded(image, &layout) {
        Err(p) => v.add(Kind::Panic, 1, || format!("recovery panicked: {p}")),
        Ok(Err(e)) => v.add(Kind::RecoveryError, 1, || format!("recovery failed: {e:#}")),
        Ok(Ok(r)) => {
            judge_threaded(&r, log, process, &mut v);
            if deep && v.ok() {
                let first = check::Summary::of(&r);
                let q = r.quarantine_files.clone();
                drop(r);
                check::after_recovery(image, &layout, &first, &q, &mut v);
            }
        }
    }
    v
}

fn explore_threaded(case: u64, prof: &Profile, sink: &Sink) {
    let sim = SimVfs::new(case);
    let _ = run_threaded(case, &sim);
    let total = sim.stats().mutating_calls;
    let mut rng = Rng::new(case ^ 0x7472);
    for _ in 0..prof.threaded_cuts {
        let cut = BASE_DIR_CALLS + 1 + rng.below(total.saturating_sub(BASE_DIR_CALLS).max(1));
        threaded_cut(case, cut, None, sink, &mut rng);
    }
}

fn threaded_cut(case: u64, cut: u64, only: Option<&Spec>, sink: &Sink, rng: &mut Rng) {
    let _w = watch(|| format!("cargo xtask crash sim --seed {case} --cut {cut} --model process"));
    let sim = SimVfs::new(case);
    sim.crash_after_call(cut);
    let log = match guarded(|| run_threaded(case, &sim)) {
        Ok(log) => log,
        Err(_) => {
            sink.record_run_panic(case, cut);
            return;
        }
    };
    sink.crash_points.fetch_add(1, Ordering::Relaxed);
    let layout = Layout::sim(workload::RANDOM_SEGMENT_SIZE);
    let specs = match only {
        Some(s) => vec![s.clone()],
        None => {
            let mut s = vec![
                Spec::Process,
                Spec::DropAll,
                Spec::Random(rng.next_u64()),
                Spec::Random(rng.next_u64()),
            ];
            s.push(Spec::Torn {
                sector: SECTOR_512,
                psow: false,
                seed: rng.next_u64(),
            });
            s.push(Spec::Torn {
                sector: SECTOR_4K,
                psow: true,
                seed: rng.next_u64(),
            });
            if sim.pending_count() <= 6 {
                s.extend((1..1u64 << sim.pending_count()).map(Spec::Subset));
            }
            s
        }
    };
    for spec in specs {
        let Some(image) = build(&sim, &spec, &layout) else {
            continue;
        };
        let deep = matches!(spec, Spec::Process | Spec::DropAll);
        let v = check_threaded_image(&image, &log, spec.is_process(), deep);
        sink.record(case, cut, &spec, &v);
    }
}

/// Replays one case, printing what it finds; returns its verdict.
pub fn replay(case: u64, cut: u64, spec: &Spec, verbose: bool) -> Result<Verdict> {
    if case >> 56 == FAMILY_THREADED {
        let sink = Sink::default();
        threaded_cut(case, cut, Some(spec), &sink, &mut Rng::new(0));
        let counts = sink
            .main
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = sink
            .failures
            .into_inner()
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(|f| (f.kind, f.what));
        if verbose {
            println!("threaded case (thread interleaving varies between runs): {counts:?}");
        }
        return Ok(Verdict { counts, first });
    }
    let w = workload::from_case(case).with_context(|| format!("seed {case} names no workload"))?;
    let points = workload::points(&w);
    let layout = Layout::sim(w.segment_size_max);
    let sim = SimVfs::new(case);
    sim.crash_after_call(cut);
    let out = run(&w, &sim);
    let exps = expectations(&w, &points, out);
    let image = build(&sim, spec, &layout)
        .with_context(|| format!("model {spec} does not apply at this cut"))?;
    let exp = if spec.is_process() { &exps.1 } else { &exps.0 };
    if verbose {
        println!("workload {}: {}", w.case_seed, w.name);
        for (i, op) in w.ops.iter().enumerate() {
            let short = match op {
                Op::Append { payload, level } => format!("append {} B {level:?}", payload.len()),
                Op::Batch { payloads, level } => format!(
                    "batch {:?} B {level:?}",
                    payloads.iter().map(Vec::len).collect::<Vec<_>>()
                ),
                other => format!("{other:?}"),
            };
            println!("  op {i}: {short}");
        }
        println!(
            "cut after call {cut}: {} op(s) completed (opened: {})",
            out.completed, out.opened
        );
        for e in sim.trace() {
            if let TraceEvent::Call(c) = e {
                println!(
                    "  call {:>3} {:<22} {} off {} len {} {:?}",
                    c.call,
                    c.op.to_string(),
                    c.path.display(),
                    c.offset,
                    c.len,
                    c.result
                );
            }
        }
        println!("pending at the cut:");
        for p in sim.pending_ops() {
            println!(
                "  [{}] call {} {} {:?}",
                p.index,
                p.call,
                p.path.display(),
                p.kind
            );
        }
        println!(
            "expected: a prefix of {:?} records reaching LSN {}",
            exp.cands.iter().map(|h| h.len()).collect::<Vec<_>>(),
            exp.required
        );
        match check::recover_guarded(&image, &layout) {
            Ok(Ok(r)) => println!(
                "recovered: snapshot {:?}, log LSNs {:?}..={:?}, quarantined {:?}",
                r.snapshot.map(|s| s.0),
                r.records.first().map(|x| x.0),
                r.records.last().map(|x| x.0),
                r.quarantine_files
            ),
            Ok(Err(e)) => println!("recovery failed: {e:#}"),
            Err(p) => println!("recovery panicked: {p}"),
        }
        // The image's own calls: recovery, a second recovery, the append after recovery.
        let probe = image.crash_image(&CrashModel::Process);
        if let Ok(Ok(r)) = check::recover_guarded(&probe, &layout) {
            drop(r);
            if let Ok(Ok(mut r)) = check::recover_guarded(&probe, &layout) {
                let _ = r.sys.append(&workload::payload(1, 77), Durability::Fsync);
            }
        }
        println!("calls on the image (recover, recover, append 77 B fsync):");
        for e in probe.trace() {
            if let TraceEvent::Call(c) = e {
                println!(
                    "  icall {:>3} {:<22} {} off {} len {} {:?}",
                    c.call,
                    c.op.to_string(),
                    c.path.display(),
                    c.offset,
                    c.len,
                    c.result
                );
            }
        }
        println!("pending after them:");
        for p in probe.pending_ops() {
            println!(
                "  [{}] call {} {} {:?}",
                p.index,
                p.call,
                p.path.display(),
                p.kind
            );
        }
    }
    let v = check::check_image(&image, &layout, exp, true);
    if !v.ok() && !spec.is_nopsow() && overwrites_durable(&sim, spec, &layout) {
        if verbose {
            println!(
                "this image tears bytes that were durable before (no power-safe overwrite): \
                 outside what Cairn assumes; counted with the nopsow figures"
            );
        }
        return Ok(Verdict {
            counts: Counts {
                states: 1,
                ..Counts::default()
            },
            first: None,
        });
    }
    Ok(v)
}

/// The regression corpus: failing cases found by earlier runs, replayed by every run.
pub fn corpus_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("regressions.txt")
}

#[allow(
    clippy::disallowed_methods,
    reason = "the regression corpus is the harness's own file, not a file under test"
)]
fn read_corpus() -> Vec<(u64, u64, String, bool)> {
    let Ok(text) = std::fs::read_to_string(corpus_path()) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next()?.trim();
            let mut it = l.split_whitespace();
            let case = it.next()?.parse().ok()?;
            let cut = it.next()?.parse().ok()?;
            let model = it.next()?.to_string();
            let open = it.next() == Some("open");
            Some((case, cut, model, open))
        })
        .collect()
}

#[allow(
    clippy::disallowed_methods,
    reason = "the regression corpus is the harness's own file, not a file under test"
)]
fn append_corpus(failures: &[Failure]) -> Result<usize> {
    use std::io::Write as _;
    let known: BTreeSet<(u64, u64, String)> = read_corpus()
        .into_iter()
        .map(|(c, k, m, _)| (c, k, m))
        .collect();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(corpus_path())?;
    let mut added = 0;
    for f in failures {
        if f.case >> 56 == FAMILY_THREADED || known.contains(&(f.case, f.cut, f.spec.clone())) {
            continue;
        }
        writeln!(
            file,
            "{} {} {}  # {:?}: {}",
            f.case,
            f.cut,
            f.spec,
            f.kind,
            f.what.replace('\n', " ")
        )?;
        added += 1;
        if added >= 10 {
            break;
        }
    }
    Ok(added)
}

/// `cairn-crash sim`.
pub fn main(
    profile: &str,
    seed: Option<u64>,
    cut: Option<u64>,
    model: Option<String>,
    json: Option<PathBuf>,
) -> Result<bool> {
    if let (Some(case), Some(cut), Some(model)) = (seed, cut, model.as_deref()) {
        let spec: Spec = model.parse()?;
        let v = replay(case, cut, &spec, true)?;
        match &v.first {
            None => println!("no violation"),
            Some((kind, what)) => println!("VIOLATION {:?}: {what}", kind),
        }
        return Ok(v.ok());
    }
    if cut.is_some() || model.is_some() {
        bail!("--cut and --model replay one case: give --seed, --cut and --model together");
    }
    let prof = Profile::named(profile)?;
    let run_seed = seed.unwrap_or_else(crate::rng::clock_seed);
    println!("cairn-crash sim --profile {} --seed {run_seed}", prof.name);
    let start = Instant::now();
    let sink = Sink::default();

    // The regression corpus first. Entries tagged `open` are known, not yet fixed bugs:
    // replayed and reported, but they do not fail the run (the explorer finds their kind
    // anyway); an `open` entry that passes is announced so the tag can go.
    let corpus = read_corpus();
    let mut open_failing = 0u64;
    for (case, cut, model, open) in &corpus {
        let spec: Spec = model.parse()?;
        match replay(*case, *cut, &spec, false) {
            Ok(v) if *open => {
                if v.ok() {
                    println!(
                        "regression {case} {cut} {model} is tagged open but passes: remove the tag"
                    );
                } else {
                    open_failing += 1;
                }
            }
            Ok(v) => sink.record(*case, *cut, &spec, &v),
            Err(e) => eprintln!("regression {case} {cut} {model}: {e:#}"),
        }
    }
    let mut jobs: Vec<Job> = workload::exhaustive_cases(&prof.alphabet, &prof.preambles)
        .into_iter()
        .map(Job::Sequential)
        .collect();
    for i in 0..prof.random_workloads {
        jobs.push(Job::Sequential(workload::random_seed(
            derive(run_seed, i),
            prof.random_ops,
        )));
    }
    for i in 0..prof.threaded_runs {
        jobs.push(Job::Threaded(workload::case_seed(
            FAMILY_THREADED,
            derive(run_seed, 1 << 20 | i),
        )));
    }
    // Longest first, so the two workers finish together.
    jobs.sort_by_key(|j| {
        std::cmp::Reverse(matches!(j, Job::Sequential(c) if c >> 56 == workload::FAMILY_RANDOM))
    });
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    let next = AtomicUsize::new(0);
    let workload_count = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    match job {
                        Job::Sequential(case) => {
                            let Some(w) = workload::from_case(*case) else {
                                continue;
                            };
                            explore_workload(&w, &prof, &sink);
                        }
                        Job::Threaded(case) => explore_threaded(*case, &prof, &sink),
                    }
                    let done = workload_count.fetch_add(1, Ordering::Relaxed) + 1;
                    if done.is_multiple_of(1000) {
                        eprintln!(
                            "  {done} of {} workloads, {:.0} s",
                            jobs.len(),
                            start.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });

    let main = sink
        .main
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let nopsow = sink
        .nopsow
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let failures = sink
        .failures
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut figures = Figures::new();
    figures.push("crash_states_checked", main.states);
    figures.push(
        "crash_points",
        sink.crash_points.load(Ordering::Relaxed) as u64,
    );
    figures.push("workloads", workload_count.load(Ordering::Relaxed) as u64);
    figures.push("regressions_replayed", corpus.len() as u64);
    figures.push("open_regressions_failing", open_failing);
    for (kind, name) in KINDS {
        figures.push(name, main.get(kind));
    }
    figures.push("nopsow_images_checked", nopsow.states);
    figures.push("nopsow_acked_lost", nopsow.get(Kind::AckedLost));
    figures.push("nopsow_recovery_errors", nopsow.get(Kind::RecoveryError));
    figures.push(
        "nopsow_corruptions_silently_accepted",
        nopsow.get(Kind::SilentCorruption),
    );
    figures.push("nopsow_violations", nopsow.total());
    figures.push("duration_s", start.elapsed().as_secs_f64());
    figures.push("seed", run_seed.to_string().as_str());
    figures.print(&format!("crash sim ({})", prof.name));
    if let Some(path) = json {
        figures.write(&path)?;
    }
    if !failures.is_empty() {
        eprintln!("{} violation(s); first ones:", main.total());
        for f in failures.iter().take(20) {
            eprintln!("  {:?}: {}\n    replay: {}", f.kind, f.what, f.replay());
        }
        match append_corpus(&failures) {
            Ok(n) if n > 0 => eprintln!("added {n} case(s) to {}", corpus_path().display()),
            Ok(_) => {}
            Err(e) => eprintln!("could not update the regression corpus: {e:#}"),
        }
    }
    let _ = Lsn::FIRST;
    Ok(main.total() == 0)
}

enum Job {
    Sequential(u64),
    Threaded(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_round_trip() {
        let specs = [
            Spec::Process,
            Spec::DropAll,
            Spec::Prefix(3),
            Spec::Subset(0b101),
            Spec::Random(42),
            Spec::Torn {
                sector: 512,
                psow: false,
                seed: 7,
            },
            Spec::Torn {
                sector: 4096,
                psow: true,
                seed: 8,
            },
            Spec::Tear {
                op: 2,
                from: 1,
                fate: SectorFate::Garbage,
            },
            Spec::Hole {
                op: 0,
                piece: 3,
                fate: SectorFate::Zeros,
            },
            Spec::Neighbour {
                op: 4,
                fate: SectorFate::Zeros,
            },
            Spec::RecoveryCut {
                base: Box::new(Spec::Torn {
                    sector: 512,
                    psow: true,
                    seed: 9,
                }),
                cut: 5,
                then_power: false,
            },
        ];
        for spec in specs {
            let text = spec.to_string();
            assert_eq!(text.parse::<Spec>().unwrap(), spec, "{text}");
        }
    }

    #[test]
    fn exhaustive_seeds_rebuild_their_workload() {
        for case in workload::exhaustive_cases(&[0, 11, 16], &[0, 1, 2]) {
            let Some(w) = workload::exhaustive(case) else {
                continue;
            };
            assert_eq!(w.case_seed, case);
            let again = workload::exhaustive(case).unwrap();
            assert_eq!(format!("{:?}", w.ops), format!("{:?}", again.ops));
        }
    }

    #[test]
    fn a_short_workload_explores_clean() {
        let prof = Profile::named("ci").unwrap();
        let sink = Sink::default();
        let w = workload::exhaustive(workload::exhaustive_seed(1, &[11, 16])).unwrap();
        explore_workload(&w, &prof, &sink);
        let counts = sink.main.into_inner().unwrap();
        assert!(counts.states > 100, "{counts:?}");
        assert_eq!(
            counts.total(),
            0,
            "{:?}",
            sink.failures.into_inner().unwrap().first()
        );
    }
}
