//! The simulated media: inodes holding bytes, directories holding names, and the actions
//! that change them.
//!
//! The simulator keeps two [`Media`]: the *live* one (what reads see: the page cache) and the
//! *durable* one (what survives power loss). Every mutating call becomes an [`Action`],
//! applied to the live media at once and queued as a pending operation; a sync applies the
//! queued actions of one file or directory to the durable media. Inodes make unlinked-but-open
//! files, renames of open files and renames of directories behave as on Unix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use crate::error::{EINVAL, ENOENT, ENOTDIR};

/// An inode number. Never reused within one simulator and its images.
pub(crate) type Ino = u64;

/// The inode of the root directory, which always exists.
pub(crate) const ROOT: Ino = 0;

/// The largest file the simulator holds, in bytes: writes, `set_len` and `allocate` past it
/// fail with `EFBIG` rather than exhausting the test's memory. 1 GiB.
pub const FILE_SIZE_MAX: u64 = 1 << 30;

/// The most components a simulated path may have; deeper paths fail with `EINVAL`.
pub(crate) const PATH_DEPTH_MAX: usize = 64;

/// What a directory entry names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A regular file.
    File(Ino),
    /// A directory.
    Dir(Ino),
}

/// One change to the media, as queued between a call and the sync that makes it durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Bytes written at an offset, extending the file with zeros if needed.
    Write {
        ino: Ino,
        offset: u64,
        data: Vec<u8>,
    },
    /// The file's length set, truncating or extending with zeros.
    SetLen { ino: Ino, len: u64 },
    /// Directory entries set or removed, all at once (a rename within one directory is one
    /// such action, so it is atomic).
    Entries {
        dir: Ino,
        changes: Vec<(String, Option<Entry>)>,
    },
}

impl Action {
    /// The file inode this action changes, if it is a data action.
    pub(crate) fn file(&self) -> Option<Ino> {
        match self {
            Action::Write { ino, .. } | Action::SetLen { ino, .. } => Some(*ino),
            Action::Entries { .. } => None,
        }
    }

    /// The directory inode this action changes, if it is an entry action.
    pub(crate) fn dir(&self) -> Option<Ino> {
        match self {
            Action::Entries { dir, .. } => Some(*dir),
            Action::Write { .. } | Action::SetLen { .. } => None,
        }
    }
}

/// A file system image: file contents by inode and directory contents by inode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Media {
    pub(crate) files: BTreeMap<Ino, Vec<u8>>,
    pub(crate) dirs: BTreeMap<Ino, BTreeMap<String, Entry>>,
}

impl Media {
    /// Media holding only an empty root directory.
    pub(crate) fn empty() -> Self {
        let mut dirs = BTreeMap::new();
        dirs.insert(ROOT, BTreeMap::new());
        Self {
            files: BTreeMap::new(),
            dirs,
        }
    }

    /// Applies one action. Inodes an action names come into existence (empty) if missing, so
    /// any subset of pending actions can be applied in order.
    pub(crate) fn apply(&mut self, action: &Action) {
        match action {
            Action::Write { ino, offset, data } => {
                write_into(self.files.entry(*ino).or_default(), *offset, data);
            }
            Action::SetLen { ino, len } => {
                assert!(
                    *len <= FILE_SIZE_MAX,
                    "lengths are bounded before they are queued"
                );
                let file = self.files.entry(*ino).or_default();
                file.resize(to_usize(*len), 0);
            }
            Action::Entries { dir, changes } => {
                for (name, entry) in changes {
                    match entry {
                        Some(Entry::File(ino)) => {
                            self.files.entry(*ino).or_default();
                        }
                        Some(Entry::Dir(ino)) => {
                            self.dirs.entry(*ino).or_default();
                        }
                        None => {}
                    }
                    let contents = self.dirs.entry(*dir).or_default();
                    match entry {
                        Some(entry) => contents.insert(name.clone(), *entry),
                        None => contents.remove(name),
                    };
                }
            }
        }
    }

    /// Looks up the entry `names` lead to from the root (`None` for a missing entry).
    ///
    /// # Errors
    ///
    /// `ENOTDIR` if a non-final component is a file.
    pub(crate) fn resolve(&self, names: &[String]) -> Result<Option<Entry>, i32> {
        let mut current = Entry::Dir(ROOT);
        for name in names {
            let Entry::Dir(dir) = current else {
                return Err(ENOTDIR);
            };
            match self.dirs.get(&dir).and_then(|contents| contents.get(name)) {
                Some(entry) => current = *entry,
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }

    /// The directory inode that holds the last component of `names`.
    ///
    /// # Errors
    ///
    /// `ENOENT` if the parent is missing, `ENOTDIR` if it is a file, `EINVAL` for the root.
    pub(crate) fn parent_dir(&self, names: &[String]) -> Result<Ino, i32> {
        let Some((_, parent)) = names.split_last() else {
            return Err(EINVAL);
        };
        match self.resolve(parent)? {
            Some(Entry::Dir(dir)) => Ok(dir),
            Some(Entry::File(_)) => Err(ENOTDIR),
            None => Err(ENOENT),
        }
    }

    /// Drops every inode not reachable from the root, as a reboot's fsck would.
    pub(crate) fn collect_garbage(&mut self) {
        let (files, dirs) = self.reachable();
        self.files.retain(|ino, _| files.contains(ino));
        self.dirs.retain(|ino, _| dirs.contains(ino));
        assert!(
            self.dirs.contains_key(&ROOT),
            "the root directory always exists"
        );
    }

    /// The inodes reachable from the root: (files, directories).
    pub(crate) fn reachable(&self) -> (BTreeSet<Ino>, BTreeSet<Ino>) {
        let mut files = BTreeSet::new();
        let mut dirs = BTreeSet::from([ROOT]);
        let mut queue = vec![ROOT];
        // Each directory is queued at most once, so the loop is bounded by their number.
        for _ in 0..=self.dirs.len() {
            let Some(dir) = queue.pop() else { break };
            for entry in self.dirs.get(&dir).into_iter().flat_map(BTreeMap::values) {
                match entry {
                    Entry::File(ino) => {
                        files.insert(*ino);
                    }
                    Entry::Dir(ino) => {
                        if dirs.insert(*ino) {
                            queue.push(*ino);
                        }
                    }
                }
            }
        }
        assert!(queue.is_empty(), "every reachable directory was visited");
        (files, dirs)
    }

    /// The files and directories reachable from the root, by path.
    pub(crate) fn tree(&self) -> Tree {
        let mut tree = Tree::default();
        let mut visited = BTreeSet::from([ROOT]);
        let mut queue = vec![(ROOT, PathBuf::from("/"))];
        for _ in 0..=self.dirs.len() {
            let Some((dir, path)) = queue.pop() else {
                break;
            };
            for (name, entry) in self.dirs.get(&dir).into_iter().flatten() {
                let child = path.join(name);
                match entry {
                    Entry::File(ino) => {
                        let bytes = self.files.get(ino).cloned().unwrap_or_default();
                        tree.files.insert(child, bytes);
                    }
                    Entry::Dir(ino) => {
                        // A directory reachable under two names (only possible in an image
                        // built from a subset of renames) is listed under the first.
                        if visited.insert(*ino) {
                            tree.dirs.insert(child.clone());
                            queue.push((*ino, child));
                        }
                    }
                }
            }
        }
        assert!(queue.is_empty(), "every reachable directory was visited");
        tree
    }
}

/// A snapshot of a simulated file system by path: what a test compares against its model.
///
/// Built by [`crate::SimVfs::live_tree`] and [`crate::SimVfs::durable_tree`]. Paths are
/// absolute and normalised (`/dir/file`); the root itself is not listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    /// Every regular file and its contents.
    pub files: BTreeMap<PathBuf, Vec<u8>>,
    /// Every directory except the root.
    pub dirs: BTreeSet<PathBuf>,
}

/// Splits a path into its names: `/a/./b` and `a/b` are both `["a", "b"]`, `..` pops.
///
/// The simulator has one root, so relative paths are taken from it.
///
/// # Errors
///
/// `EINVAL` if the path is deeper than [`PATH_DEPTH_MAX`].
pub(crate) fn split(path: &Path) -> Result<Vec<String>, i32> {
    let mut names = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => names.push(name.to_string_lossy().into_owned()),
            Component::ParentDir => {
                names.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
        if names.len() > PATH_DEPTH_MAX {
            return Err(EINVAL);
        }
    }
    Ok(names)
}

/// The canonical form of `names`: `/a/b`.
pub(crate) fn join(names: &[String]) -> PathBuf {
    let mut path = PathBuf::from("/");
    path.extend(names);
    path
}

/// Writes `data` at `offset`, zero-filling any gap. An empty write changes nothing.
pub(crate) fn write_into(file: &mut Vec<u8>, offset: u64, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let start = to_usize(offset);
    let end = start
        .checked_add(data.len())
        .expect("writes are bounded before they are applied");
    assert!(
        end as u64 <= FILE_SIZE_MAX,
        "writes are bounded before they are applied"
    );
    if file.len() < end {
        file.resize(end, 0);
    }
    file[start..end].copy_from_slice(data);
}

/// Converts an offset already checked against [`FILE_SIZE_MAX`] to an index.
pub(crate) fn to_usize(value: u64) -> usize {
    assert!(
        value <= FILE_SIZE_MAX,
        "offset {value} is beyond FILE_SIZE_MAX"
    );
    usize::try_from(value).expect("FILE_SIZE_MAX fits in usize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_normalises() {
        assert_eq!(split(Path::new("/a/./b")).unwrap(), vec!["a", "b"]);
        assert_eq!(split(Path::new("a/b/../c")).unwrap(), vec!["a", "c"]);
        assert!(split(Path::new("/")).unwrap().is_empty());
        assert_eq!(join(&["a".into(), "b".into()]), PathBuf::from("/a/b"));
    }

    #[test]
    fn write_into_zero_fills_gaps() {
        let mut file = vec![1, 2];
        write_into(&mut file, 4, &[9]);
        assert_eq!(file, vec![1, 2, 0, 0, 9]);
        write_into(&mut file, 100, &[]);
        assert_eq!(file.len(), 5);
    }

    #[test]
    fn garbage_collection_keeps_only_reachable_inodes() {
        let mut media = Media::empty();
        media.apply(&Action::Entries {
            dir: ROOT,
            changes: vec![("d".into(), Some(Entry::Dir(1)))],
        });
        media.apply(&Action::Entries {
            dir: 1,
            changes: vec![("f".into(), Some(Entry::File(2)))],
        });
        media.apply(&Action::Write {
            ino: 3,
            offset: 0,
            data: vec![1],
        });
        media.collect_garbage();
        assert!(media.files.contains_key(&2));
        assert!(!media.files.contains_key(&3));
        assert_eq!(
            media.resolve(&["d".into(), "f".into()]).unwrap(),
            Some(Entry::File(2))
        );
    }
}
