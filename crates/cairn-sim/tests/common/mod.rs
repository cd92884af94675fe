//! Shared by the property tests: the seed and replay line, and a reference model of one
//! directory of files that tracks live state, durable state and the pending operations.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the shared helpers"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_sim::{OpFate, Tree};
use proptest::test_runner::{Config, RngSeed};

/// The seed of this run: `CAIRN_SEED` if set, else the clock. Prints the replay line.
pub fn seed(test: &str) -> u64 {
    let seed = match std::env::var("CAIRN_SEED") {
        Ok(text) => text.trim().parse().expect("CAIRN_SEED must be a u64"),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| {
            u64::try_from(d.as_nanos() % u128::from(u64::MAX)).expect("reduced below u64::MAX")
        }),
    };
    println!(
        "cairn-sim seed: {seed} (replay: CAIRN_SEED={seed} cargo test -p cairn-sim --test {test})"
    );
    seed
}

/// A proptest configuration replaying `seed`, with no persistence files.
pub fn config(seed: u64, cases: u32) -> Config {
    Config {
        rng_seed: RngSeed::Fixed(seed),
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// The directory every model file lives in.
pub const DIR: &str = "/d";

/// The path of model file `name`.
pub fn path(name: u8) -> PathBuf {
    PathBuf::from(format!("{DIR}/f{name}"))
}

/// A pending operation in the model.
#[derive(Clone, Debug)]
pub enum ModelOp {
    /// Bytes written to file `id`.
    Write { id: u64, offset: u64, data: Vec<u8> },
    /// File `id` resized.
    SetLen { id: u64, len: u64 },
    /// Names of the directory set (`Some(id)`) or removed, together.
    Names(Vec<(u8, Option<u64>)>),
}

/// One directory's worth of files: what a simple, obviously-right file system would hold.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub live_names: BTreeMap<u8, u64>,
    pub durable_names: BTreeMap<u8, u64>,
    pub live: BTreeMap<u64, Vec<u8>>,
    pub durable: BTreeMap<u64, Vec<u8>>,
    pub pending: Vec<ModelOp>,
    /// Files whose pending data a failed fsync dropped.
    pub dropped: BTreeSet<u64>,
    next_id: u64,
}

pub fn write_into(file: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = usize::try_from(offset).unwrap();
    if file.len() < start + data.len() {
        file.resize(start + data.len(), 0);
    }
    file[start..start + data.len()].copy_from_slice(data);
}

fn apply(names: &mut BTreeMap<u8, u64>, files: &mut BTreeMap<u64, Vec<u8>>, op: &ModelOp) {
    match op {
        ModelOp::Write { id, offset, data } => {
            write_into(files.entry(*id).or_default(), *offset, data);
        }
        ModelOp::SetLen { id, len } => {
            files
                .entry(*id)
                .or_default()
                .resize(usize::try_from(*len).unwrap(), 0);
        }
        ModelOp::Names(changes) => {
            for (name, id) in changes {
                match id {
                    Some(id) => names.insert(*name, *id),
                    None => names.remove(name),
                };
            }
        }
    }
}

impl Model {
    pub fn create(&mut self, name: u8) {
        assert!(!self.live_names.contains_key(&name));
        self.next_id += 1;
        let id = self.next_id;
        self.live_names.insert(name, id);
        self.live.insert(id, Vec::new());
        self.pending.push(ModelOp::Names(vec![(name, Some(id))]));
    }

    pub fn write(&mut self, name: u8, offset: u64, data: &[u8]) {
        let id = self.live_names[&name];
        write_into(self.live.get_mut(&id).unwrap(), offset, data);
        self.pending.push(ModelOp::Write {
            id,
            offset,
            data: data.to_vec(),
        });
    }

    pub fn set_len(&mut self, name: u8, len: u64) {
        let id = self.live_names[&name];
        self.live
            .get_mut(&id)
            .unwrap()
            .resize(usize::try_from(len).unwrap(), 0);
        self.pending.push(ModelOp::SetLen { id, len });
    }

    fn is_file_op(op: &ModelOp, wanted: u64) -> bool {
        matches!(op, ModelOp::Write { id, .. } | ModelOp::SetLen { id, .. } if *id == wanted)
    }

    pub fn sync(&mut self, name: u8) {
        let id = self.live_names[&name];
        let (mine, rest): (Vec<_>, Vec<_>) = self
            .pending
            .drain(..)
            .partition(|op| Self::is_file_op(op, id));
        for op in &mine {
            apply(&mut self.durable_names, &mut self.durable, op);
        }
        self.pending = rest;
    }

    pub fn fail_sync(&mut self, name: u8) {
        let id = self.live_names[&name];
        let before = self.pending.len();
        self.pending.retain(|op| !Self::is_file_op(op, id));
        if self.pending.len() < before {
            self.dropped.insert(id);
        }
    }

    pub fn rename(&mut self, from: u8, to: u8) {
        let id = self.live_names.remove(&from).unwrap();
        self.live_names.insert(to, id);
        self.pending
            .push(ModelOp::Names(vec![(to, Some(id)), (from, None)]));
    }

    pub fn remove(&mut self, name: u8) {
        self.live_names.remove(&name).unwrap();
        self.pending.push(ModelOp::Names(vec![(name, None)]));
    }

    pub fn sync_dir(&mut self) {
        let (names, rest): (Vec<_>, Vec<_>) = self
            .pending
            .drain(..)
            .partition(|op| matches!(op, ModelOp::Names(_)));
        for op in &names {
            apply(&mut self.durable_names, &mut self.durable, op);
        }
        self.pending = rest;
    }

    /// The machine after power loss that kept exactly the pending ops `fates` keeps.
    pub fn after_power_loss(&self, fates: &[OpFate]) -> Model {
        let mut names = self.durable_names.clone();
        let mut files = self.durable.clone();
        for (index, op) in self.pending.iter().enumerate() {
            match fates.get(index) {
                Some(OpFate::Keep) => apply(&mut names, &mut files, op),
                Some(OpFate::Drop) | None => {}
                Some(OpFate::Tear { .. }) => panic!("the model does not tear"),
            }
        }
        files.retain(|id, _| names.values().any(|named| named == id));
        for id in names.values() {
            files.entry(*id).or_default();
        }
        Model {
            live_names: names.clone(),
            durable_names: names,
            live: files.clone(),
            durable: files,
            pending: Vec::new(),
            dropped: BTreeSet::new(),
            next_id: self.next_id,
        }
    }

    fn tree(names: &BTreeMap<u8, u64>, files: &BTreeMap<u64, Vec<u8>>) -> Tree {
        let mut tree = Tree::default();
        tree.dirs.insert(PathBuf::from(DIR));
        for (name, id) in names {
            tree.files
                .insert(path(*name), files.get(id).cloned().unwrap_or_default());
        }
        tree
    }

    pub fn live_tree(&self) -> Tree {
        Self::tree(&self.live_names, &self.live)
    }

    pub fn durable_tree(&self) -> Tree {
        Self::tree(&self.durable_names, &self.durable)
    }
}

/// One step of a random workload on the model directory.
#[derive(Clone, Debug)]
pub enum Step {
    Create(u8),
    Write(u8, u64, Vec<u8>),
    SetLen(u8, u64),
    Sync(u8),
    /// `sync_data` with an injected `EIO`, then a second `sync_data` that succeeds.
    SyncFail(u8),
    Rename(u8, u8),
    Remove(u8),
    SyncDir,
    /// Power loss (drop all unsynced), then carry on on the rebooted machine.
    PowerCut,
}

/// How many file names the workloads use.
pub const NAMES: u8 = 4;

/// A random step; `power_cuts` includes [`Step::PowerCut`] and `fsync_failures`
/// [`Step::SyncFail`].
pub fn step(
    power_cuts: bool,
    fsync_failures: bool,
) -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let name = 0..NAMES;
    prop_oneof![
        2 => name.clone().prop_map(Step::Create),
        4 => (name.clone(), 0u64..48, proptest::collection::vec(any::<u8>(), 1..24))
            .prop_map(|(n, offset, data)| Step::Write(n, offset, data)),
        1 => (name.clone(), 0u64..64).prop_map(|(n, len)| Step::SetLen(n, len)),
        2 => name.clone().prop_map(Step::Sync),
        if fsync_failures { 1 } else { 0 } => name.clone().prop_map(Step::SyncFail),
        1 => (name.clone(), name.clone()).prop_map(|(a, b)| Step::Rename(a, b)),
        1 => name.prop_map(Step::Remove),
        2 => Just(Step::SyncDir),
        if power_cuts { 1 } else { 0 } => Just(Step::PowerCut),
    ]
}

/// A fresh simulator holding the durable, empty model directory.
pub fn setup(seed: u64) -> cairn_sim::SimVfs {
    use cairn_io::Vfs;
    let sim = cairn_sim::SimVfs::new(seed);
    sim.create_dir_all(DIR.as_ref()).unwrap();
    sim.sync_dir("/".as_ref()).unwrap();
    assert_eq!(sim.pending_count(), 0);
    sim
}

/// Runs `step` on both the simulator and the model, checking the simulator's answer and the
/// property that a successful sync makes the durable file equal the live one.
pub fn run_step(sim: &mut cairn_sim::SimVfs, model: &mut Model, step: &Step) {
    use cairn_io::{Op, OpenMode, Vfs};
    use cairn_sim::{CrashModel, FaultKind, FaultRule};
    let open = |sim: &cairn_sim::SimVfs, name: u8| sim.open(&path(name), OpenMode::ReadWrite);
    let exists = |model: &Model, name: u8| model.live_names.contains_key(&name);
    match *step {
        Step::Create(n) => {
            let result = sim.create_new(&path(n));
            if exists(model, n) {
                assert!(result.unwrap_err().is_already_exists());
            } else {
                result.unwrap();
                model.create(n);
            }
        }
        Step::Write(n, offset, ref data) => match open(sim, n) {
            Ok(file) => {
                file.write_all_at(data, offset).unwrap();
                model.write(n, offset, data);
            }
            Err(e) => assert!(e.is_not_found() && !exists(model, n)),
        },
        Step::SetLen(n, len) => match open(sim, n) {
            Ok(file) => {
                file.set_len(len).unwrap();
                model.set_len(n, len);
            }
            Err(e) => assert!(e.is_not_found() && !exists(model, n)),
        },
        Step::Sync(n) => match open(sim, n) {
            Ok(file) => {
                file.sync_data().unwrap();
                model.sync(n);
                let state = sim.file_state(&path(n)).unwrap();
                let id = model.live_names[&n];
                assert_eq!(state.pending_count, 0);
                if !model.dropped.contains(&id) {
                    assert_eq!(
                        state.durable, state.live,
                        "a clean sync makes durable == live"
                    );
                }
            }
            Err(e) => assert!(e.is_not_found() && !exists(model, n)),
        },
        Step::SyncFail(n) => match open(sim, n) {
            Ok(file) => {
                sim.add_fault(FaultRule::new(FaultKind::Eio).on(Op::SyncData).nth(1));
                assert!(file.sync_data().unwrap_err().is_eio());
                sim.clear_faults();
                model.fail_sync(n);
                file.sync_data()
                    .expect("the sync after a failed one succeeds");
                model.sync(n);
                let id = model.live_names[&n];
                let state = sim.file_state(&path(n)).unwrap();
                assert_eq!(
                    state.durable,
                    model.durable.get(&id).cloned().unwrap_or_default()
                );
                assert_eq!(
                    state.live, model.live[&id],
                    "reads still see the dropped data"
                );
            }
            Err(e) => assert!(e.is_not_found() && !exists(model, n)),
        },
        Step::Rename(a, b) => {
            let result = sim.rename(&path(a), &path(b));
            if !exists(model, a) {
                assert!(result.unwrap_err().is_not_found());
            } else {
                result.unwrap();
                if a != b {
                    model.rename(a, b);
                }
            }
        }
        Step::Remove(n) => {
            let result = sim.remove_file(&path(n));
            if exists(model, n) {
                result.unwrap();
                model.remove(n);
            } else {
                assert!(result.unwrap_err().is_not_found());
            }
        }
        Step::SyncDir => {
            sim.sync_dir(DIR.as_ref()).unwrap();
            model.sync_dir();
        }
        Step::PowerCut => {
            let image = sim.crash_image(&CrashModel::DropAll);
            sim.crash();
            *model = model.after_power_loss(&[]);
            *sim = image;
        }
    }
    assert_eq!(sim.pending_count(), model.pending.len(), "after {step:?}");
    assert_eq!(
        sim.live_tree(),
        model.live_tree(),
        "live tree after {step:?}"
    );
    assert_eq!(
        sim.durable_tree(),
        model.durable_tree(),
        "durable tree after {step:?}"
    );
}
