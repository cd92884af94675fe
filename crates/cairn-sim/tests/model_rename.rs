//! Model test: renames (within and across two directories), creations and removals revert
//! after power loss unless the directory holding each changed entry was synced; each
//! directory's durable entries are its live entries if it was synced and its old entries if
//! not, and file data synced before the renames is intact under every name.

mod common;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::PathBuf;

use cairn_io::Vfs;
use cairn_sim::{CrashModel, SimVfs, Tree};
use proptest::collection::vec;
use proptest::prelude::any;
use proptest::test_runner::TestRunner;

use common::{config, seed};

const DIRS: [&str; 2] = ["/a", "/b"];
const NAMES: u8 = 3;

fn path(dir: usize, name: u8) -> PathBuf {
    PathBuf::from(format!("{}/n{name}", DIRS[dir]))
}

/// Per directory: name -> file id; and id -> contents.
type Names = [BTreeMap<u8, u64>; 2];

fn tree(names: &Names, data: &BTreeMap<u64, Vec<u8>>) -> Tree {
    let mut tree = Tree::default();
    for (dir, entries) in names.iter().enumerate() {
        tree.dirs.insert(PathBuf::from(DIRS[dir]));
        for (name, id) in entries {
            tree.files.insert(path(dir, *name), data[id].clone());
        }
    }
    tree
}

#[derive(Clone, Debug)]
enum Step {
    Rename { from: (usize, u8), to: (usize, u8) },
    Create(usize, u8),
    Remove(usize, u8),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let at = || (0usize..2, 0..NAMES);
    prop_oneof![
        4 => (at(), at()).prop_map(|(from, to)| Step::Rename { from, to }),
        1 => at().prop_map(|(d, n)| Step::Create(d, n)),
        1 => at().prop_map(|(d, n)| Step::Remove(d, n)),
    ]
}

#[test]
fn entry_changes_revert_unless_their_directory_was_synced() {
    let seed = seed("model_rename");
    let mut runner = TestRunner::new(config(seed, 250));
    let input = (
        vec(step(), 1..16),
        [any::<bool>(), any::<bool>()],
        0u64..u64::MAX,
    );
    runner
        .run(&input, |(steps, synced, sim_seed)| {
            let sim = SimVfs::new(sim_seed);
            let mut names: Names = [BTreeMap::new(), BTreeMap::new()];
            let mut data = BTreeMap::new();
            let mut next_id = 0u64;
            // Setup: both directories with two files each, all durable.
            for dir in 0..2 {
                sim.create_dir_all(DIRS[dir].as_ref()).unwrap();
                for name in 0..2u8 {
                    let file = sim.create_new(&path(dir, name)).unwrap();
                    next_id += 1;
                    let bytes = format!("file {next_id}").into_bytes();
                    file.write_all_at(&bytes, 0).unwrap();
                    file.sync_data().unwrap();
                    names[dir].insert(name, next_id);
                    data.insert(next_id, bytes);
                }
                sim.sync_dir(DIRS[dir].as_ref()).unwrap();
            }
            sim.sync_dir("/".as_ref()).unwrap();
            assert_eq!(sim.pending_count(), 0);
            let before = names.clone();
            assert_eq!(sim.durable_tree(), tree(&names, &data));

            for step in &steps {
                match *step {
                    Step::Rename { from, to } => {
                        let result = sim.rename(&path(from.0, from.1), &path(to.0, to.1));
                        match names[from.0].get(&from.1).copied() {
                            None => assert!(result.unwrap_err().is_not_found()),
                            Some(id) => {
                                result.unwrap();
                                if from != to {
                                    names[from.0].remove(&from.1);
                                    names[to.0].insert(to.1, id);
                                }
                            }
                        }
                    }
                    Step::Create(dir, name) => {
                        let result = sim.create_new(&path(dir, name));
                        match names[dir].entry(name) {
                            Entry::Occupied(_) => assert!(result.unwrap_err().is_already_exists()),
                            Entry::Vacant(slot) => {
                                result.unwrap();
                                next_id += 1;
                                slot.insert(next_id);
                                data.insert(next_id, Vec::new());
                            }
                        }
                    }
                    Step::Remove(dir, name) => {
                        let result = sim.remove_file(&path(dir, name));
                        if names[dir].remove(&name).is_some() {
                            result.unwrap();
                        } else {
                            assert!(result.unwrap_err().is_not_found());
                        }
                    }
                }
                assert_eq!(sim.live_tree(), tree(&names, &data));
            }
            // Nothing synced yet: power loss reverts every entry change.
            assert_eq!(
                sim.crash_image(&CrashModel::DropAll).live_tree(),
                tree(&before, &data)
            );

            let mut expected = before.clone();
            for dir in 0..2 {
                if synced[dir] {
                    sim.sync_dir(DIRS[dir].as_ref()).unwrap();
                    expected[dir] = names[dir].clone();
                }
            }
            let image = sim.crash_image(&CrashModel::DropAll);
            assert_eq!(image.live_tree(), tree(&expected, &data));
            if synced == [true, true] {
                assert_eq!(sim.pending_count(), 0);
                assert_eq!(image.live_tree(), sim.live_tree());
            }
            Ok(())
        })
        .unwrap();
}
