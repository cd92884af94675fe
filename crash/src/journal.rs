//! Vfs wrappers of the SIGKILL harness: [`JournalVfs`] records every mutating call in a
//! journal file *before* performing it, so the parent can replay the real interleaving into
//! `cairn-sim` and cut the power there; [`KillVfs`] implements the kill points (the child
//! aborts itself at a chosen call).
//!
//! The journal is written before the call it describes, so it is always at least as far as
//! the real file system: a process killed between the two leaves one journaled call that
//! may not have happened — an in-flight call, which may or may not have reached the disk,
//! so the replayed machine is still one the real one could have been. The journal needs no
//! fsync: the harness kills processes, not the machine.

#![allow(
    clippy::disallowed_methods,
    reason = "the journal is the harness's own record, written beside the store under test"
)]

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cairn_io::{DirLock, OpenMode, Vfs, VfsFile};
use cairn_sim::SimVfs;

const CREATE: u8 = 1;
const WRITE: u8 = 2;
const SET_LEN: u8 = 3;
const ALLOCATE: u8 = 4;
const SYNC_DATA: u8 = 5;
const SYNC_ALL: u8 = 6;
const SYNC_DIR: u8 = 7;
const RENAME: u8 = 8;
const REMOVE: u8 = 9;
const MKDIR: u8 = 10;
/// Written after a call returns (whatever its result): the call before it is complete.
const DONE: u8 = 11;

/// Appends journal records to one file.
#[derive(Debug)]
pub struct Journal {
    file: Mutex<std::fs::File>,
}

impl Journal {
    /// Opens (creating) the journal at `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Arc<Self>> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Arc::new(Self {
            file: Mutex::new(file),
        }))
    }

    fn record(&self, op: u8, path: &Path, to: Option<&Path>, a: u64, b: u64, data: &[u8]) {
        let p = path.to_string_lossy();
        let t = to
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut buf = Vec::with_capacity(32 + p.len() + t.len() + data.len());
        buf.extend_from_slice(&[0; 4]);
        buf.push(op);
        buf.extend_from_slice(&u32::try_from(p.len()).unwrap_or(0).to_le_bytes());
        buf.extend_from_slice(p.as_bytes());
        buf.extend_from_slice(&u32::try_from(t.len()).unwrap_or(0).to_le_bytes());
        buf.extend_from_slice(t.as_bytes());
        buf.extend_from_slice(&a.to_le_bytes());
        buf.extend_from_slice(&b.to_le_bytes());
        buf.extend_from_slice(data);
        let total = u32::try_from(buf.len()).expect("journal records are small");
        buf[..4].copy_from_slice(&total.to_le_bytes());
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // One write per record; a record cut short by a kill is ignored by the reader.
        file.write_all(&buf).expect("the journal must be writable");
    }
}

impl Journal {
    fn done(&self) {
        self.record(DONE, Path::new(""), None, 0, 0, &[]);
    }
}

/// A Vfs that journals every mutating call before making it, and marks it done after.
pub struct JournalVfs {
    inner: Arc<dyn Vfs>,
    journal: Arc<Journal>,
}

impl JournalVfs {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Vfs>, journal: Arc<Journal>) -> Self {
        Self { inner, journal }
    }
}

impl fmt::Debug for JournalVfs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournalVfs").finish_non_exhaustive()
    }
}

struct JournalFile {
    inner: Box<dyn VfsFile>,
    journal: Arc<Journal>,
}

impl fmt::Debug for JournalFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournalFile")
            .field("path", &self.inner.path())
            .finish()
    }
}

impl Vfs for JournalVfs {
    fn create_new(&self, path: &Path) -> cairn_io::Result<Box<dyn VfsFile>> {
        self.journal.record(CREATE, path, None, 0, 0, &[]);
        let inner = self.inner.create_new(path);
        self.journal.done();
        let inner = inner?;
        Ok(Box::new(JournalFile {
            inner,
            journal: self.journal.clone(),
        }))
    }

    fn open(&self, path: &Path, mode: OpenMode) -> cairn_io::Result<Box<dyn VfsFile>> {
        let inner = self.inner.open(path, mode)?;
        Ok(Box::new(JournalFile {
            inner,
            journal: self.journal.clone(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> cairn_io::Result<()> {
        self.journal.record(RENAME, from, Some(to), 0, 0, &[]);
        let result = self.inner.rename(from, to);
        self.journal.done();
        result
    }

    fn remove_file(&self, path: &Path) -> cairn_io::Result<()> {
        self.journal.record(REMOVE, path, None, 0, 0, &[]);
        let result = self.inner.remove_file(path);
        self.journal.done();
        result
    }

    fn list(&self, dir: &Path) -> cairn_io::Result<Vec<String>> {
        self.inner.list(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> cairn_io::Result<()> {
        self.journal.record(MKDIR, dir, None, 0, 0, &[]);
        let result = self.inner.create_dir_all(dir);
        self.journal.done();
        result
    }

    fn sync_dir(&self, dir: &Path) -> cairn_io::Result<()> {
        self.journal.record(SYNC_DIR, dir, None, 0, 0, &[]);
        let result = self.inner.sync_dir(dir);
        self.journal.done();
        result
    }

    fn exists(&self, path: &Path) -> cairn_io::Result<bool> {
        self.inner.exists(path)
    }

    fn lock_dir(&self, dir: &Path) -> cairn_io::Result<DirLock> {
        self.inner.lock_dir(dir)
    }

    fn entropy(&self) -> u64 {
        self.inner.entropy()
    }
}

impl VfsFile for JournalFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> cairn_io::Result<usize> {
        self.inner.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> cairn_io::Result<usize> {
        self.journal
            .record(WRITE, self.inner.path(), None, offset, 0, buf);
        let result = self.inner.write_at(buf, offset);
        self.journal.done();
        result
    }

    fn set_len(&self, len: u64) -> cairn_io::Result<()> {
        self.journal
            .record(SET_LEN, self.inner.path(), None, len, 0, &[]);
        let result = self.inner.set_len(len);
        self.journal.done();
        result
    }

    fn allocate(&self, offset: u64, len: u64) -> cairn_io::Result<()> {
        self.journal
            .record(ALLOCATE, self.inner.path(), None, offset, len, &[]);
        let result = self.inner.allocate(offset, len);
        self.journal.done();
        result
    }

    fn sync_data(&self) -> cairn_io::Result<()> {
        self.journal
            .record(SYNC_DATA, self.inner.path(), None, 0, 0, &[]);
        let result = self.inner.sync_data();
        self.journal.done();
        result
    }

    fn sync_all(&self) -> cairn_io::Result<()> {
        self.journal
            .record(SYNC_ALL, self.inner.path(), None, 0, 0, &[]);
        let result = self.inner.sync_all();
        self.journal.done();
        result
    }

    fn len(&self) -> cairn_io::Result<u64> {
        self.inner.len()
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }
}

/// Replays a journal into a simulator, incrementally.
pub struct Replayer {
    /// The simulated machine the journal is replayed into.
    pub sim: SimVfs,
    offset: usize,
    handles: HashMap<PathBuf, Box<dyn VfsFile>>,
    /// Calls whose replay failed (the real call may have failed the same way).
    pub failed_calls: u64,
    /// The paths of a call journaled but not marked done: the process died during it, so
    /// the real file system may or may not show it.
    pub inflight: Vec<PathBuf>,
}

impl Replayer {
    /// A replayer into an empty simulator.
    pub fn new(seed: u64) -> Self {
        Self {
            sim: SimVfs::new(seed),
            offset: 0,
            handles: HashMap::new(),
            failed_calls: 0,
            inflight: Vec::new(),
        }
    }

    fn handle(&mut self, path: &Path) -> Option<&dyn VfsFile> {
        if !self.handles.contains_key(path) {
            let file = self.sim.open(path, OpenMode::ReadWrite).ok()?;
            self.handles.insert(path.to_path_buf(), file);
        }
        self.handles.get(path).map(|b| &**b)
    }

    /// Cuts a record left incomplete by a killed process off the end of the journal, so that
    /// records appended later are read from their real start. (The journal is written before
    /// the call it describes, so the call of an incomplete record was never made.) Returns
    /// how many bytes were cut.
    pub fn drop_partial_tail(&self, journal: &Path) -> std::io::Result<u64> {
        let file = std::fs::OpenOptions::new().write(true).open(journal)?;
        let len = file.metadata()?.len();
        let end = self.offset as u64;
        if len > end {
            file.set_len(end)?;
        }
        Ok(len.saturating_sub(end))
    }

    /// Replays every complete record after the last one replayed; returns how many.
    pub fn catch_up(&mut self, journal: &Path) -> std::io::Result<u64> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(journal)?;
        file.seek(SeekFrom::Start(self.offset as u64))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut at = 0usize;
        let mut count = 0;
        // Bounded: each round consumes one record or stops.
        while let Some(head) = bytes.get(at..at + 4) {
            let total = u32::from_le_bytes(head.try_into().expect("4 bytes")) as usize;
            let Some(record) = bytes.get(at..at + total) else {
                break;
            };
            self.apply(record);
            at += total;
            count += 1;
        }
        self.offset += at;
        Ok(count)
    }

    fn apply(&mut self, r: &[u8]) {
        let u32_at = |at: usize| u32::from_le_bytes(r[at..at + 4].try_into().expect("4")) as usize;
        let op = r[4];
        let plen = u32_at(5);
        let path = PathBuf::from(String::from_utf8_lossy(&r[9..9 + plen]).into_owned());
        let tlen = u32_at(9 + plen);
        let to_at = 13 + plen;
        let to = PathBuf::from(String::from_utf8_lossy(&r[to_at..to_at + tlen]).into_owned());
        let nums = to_at + tlen;
        let a = u64::from_le_bytes(r[nums..nums + 8].try_into().expect("8"));
        let b = u64::from_le_bytes(r[nums + 8..nums + 16].try_into().expect("8"));
        let data = &r[nums + 16..];
        if op == DONE {
            self.inflight.clear();
            return;
        }
        self.inflight = vec![path.clone()];
        if op == RENAME {
            self.inflight.push(to.clone());
        }
        let ok = match op {
            CREATE => match self.sim.create_new(&path) {
                Ok(f) => {
                    self.handles.insert(path, f);
                    true
                }
                Err(_) => false,
            },
            WRITE => self
                .handle(&path)
                .is_some_and(|f| f.write_all_at(data, a).is_ok()),
            SET_LEN => self.handle(&path).is_some_and(|f| f.set_len(a).is_ok()),
            ALLOCATE => self.handle(&path).is_some_and(|f| f.allocate(a, b).is_ok()),
            SYNC_DATA => self.handle(&path).is_some_and(|f| f.sync_data().is_ok()),
            SYNC_ALL => self.handle(&path).is_some_and(|f| f.sync_all().is_ok()),
            SYNC_DIR => self.sim.sync_dir(&path).is_ok(),
            RENAME => {
                let ok = self.sim.rename(&path, &to).is_ok();
                if let Some(h) = self.handles.remove(&path) {
                    self.handles.insert(to, h);
                }
                ok
            }
            REMOVE => {
                self.handles.remove(&path);
                self.sim.remove_file(&path).is_ok()
            }
            MKDIR => self.sim.create_dir_all(&path).is_ok(),
            _ => false,
        };
        if !ok {
            self.failed_calls += 1;
        }
    }
}

/// The kill points: the child aborts itself at the `n`-th occurrence of one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillPoint {
    /// After a write to a segment, before any fsync of it.
    Write,
    /// Right after a segment fsync returns, before the acknowledgment is printed.
    AfterFsync,
    /// Snapshot publish: after the temporary file's fsync.
    SnapTempFsync,
    /// Snapshot publish: right after the rename.
    SnapRename,
    /// Snapshot publish: before the directory fsync.
    SnapDirFsync,
    /// Rotation: after the first write into a new segment file (its header).
    Rotation,
    /// During recovery: before its `n`-th mutating call.
    Recovery,
}

/// Every kill point with its name.
pub const KILL_POINTS: [(KillPoint, &str); 7] = [
    (KillPoint::Write, "write"),
    (KillPoint::AfterFsync, "after-fsync"),
    (KillPoint::SnapTempFsync, "snap-temp-fsync"),
    (KillPoint::SnapRename, "snap-rename"),
    (KillPoint::SnapDirFsync, "snap-dir-fsync"),
    (KillPoint::Rotation, "rotation"),
    (KillPoint::Recovery, "recovery"),
];

/// A Vfs that aborts the process at a kill point.
pub struct KillVfs {
    inner: Arc<dyn Vfs>,
    state: Arc<KillState>,
}

struct KillState {
    point: KillPoint,
    nth: u64,
    seen: Mutex<u64>,
}

impl KillState {
    fn hit(&self, point: KillPoint) {
        if point != self.point {
            return;
        }
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *seen += 1;
        if *seen == self.nth {
            let name = KILL_POINTS
                .iter()
                .find(|(p, _)| *p == point)
                .map_or("?", |(_, n)| n);
            println!("K {name} {}", self.nth);
            let _ = std::io::stdout().flush();
            std::process::abort();
        }
    }

    /// A mutating call: counts towards [`KillPoint::Recovery`] if made during recovery.
    fn recovery_call(&self) {
        if crate::system::in_recovery() {
            self.hit(KillPoint::Recovery);
        }
    }
}

impl KillVfs {
    /// Wraps `inner`, aborting at the `nth` occurrence of `point`.
    pub fn new(inner: Arc<dyn Vfs>, point: KillPoint, nth: u64) -> Self {
        Self {
            inner,
            state: Arc::new(KillState {
                point,
                nth,
                seen: Mutex::new(0),
            }),
        }
    }

    /// Parses `kind:n` (the `CAIRN_CRASH_KILL` variable).
    pub fn parse(spec: &str) -> Option<(KillPoint, u64)> {
        let (kind, n) = spec.split_once(':')?;
        let point = KILL_POINTS.iter().find(|(_, name)| *name == kind)?.0;
        Some((point, n.parse().ok()?))
    }
}

impl fmt::Debug for KillVfs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KillVfs")
            .field("point", &self.state.point)
            .finish_non_exhaustive()
    }
}

struct KillFile {
    inner: Box<dyn VfsFile>,
    state: Arc<KillState>,
}

impl fmt::Debug for KillFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KillFile")
            .field("path", &self.inner.path())
            .finish()
    }
}

fn is_snap_dir(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "snap")
}

impl Vfs for KillVfs {
    fn create_new(&self, path: &Path) -> cairn_io::Result<Box<dyn VfsFile>> {
        self.state.recovery_call();
        let inner = self.inner.create_new(path)?;
        Ok(Box::new(KillFile {
            inner,
            state: self.state.clone(),
        }))
    }

    fn open(&self, path: &Path, mode: OpenMode) -> cairn_io::Result<Box<dyn VfsFile>> {
        let inner = self.inner.open(path, mode)?;
        Ok(Box::new(KillFile {
            inner,
            state: self.state.clone(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> cairn_io::Result<()> {
        self.state.recovery_call();
        self.inner.rename(from, to)?;
        if to.parent().is_some_and(is_snap_dir) {
            self.state.hit(KillPoint::SnapRename);
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> cairn_io::Result<()> {
        self.state.recovery_call();
        self.inner.remove_file(path)
    }

    fn list(&self, dir: &Path) -> cairn_io::Result<Vec<String>> {
        self.inner.list(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> cairn_io::Result<()> {
        self.state.recovery_call();
        self.inner.create_dir_all(dir)
    }

    fn sync_dir(&self, dir: &Path) -> cairn_io::Result<()> {
        self.state.recovery_call();
        if is_snap_dir(dir) {
            self.state.hit(KillPoint::SnapDirFsync);
        }
        self.inner.sync_dir(dir)
    }

    fn exists(&self, path: &Path) -> cairn_io::Result<bool> {
        self.inner.exists(path)
    }

    fn lock_dir(&self, dir: &Path) -> cairn_io::Result<DirLock> {
        self.inner.lock_dir(dir)
    }

    fn entropy(&self) -> u64 {
        self.inner.entropy()
    }
}

fn is_segment(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wal")
}

impl VfsFile for KillFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> cairn_io::Result<usize> {
        self.inner.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> cairn_io::Result<usize> {
        self.state.recovery_call();
        let n = self.inner.write_at(buf, offset)?;
        if is_segment(self.inner.path()) && !crate::system::in_recovery() {
            if offset == 0 {
                self.state.hit(KillPoint::Rotation);
            }
            self.state.hit(KillPoint::Write);
        }
        Ok(n)
    }

    fn set_len(&self, len: u64) -> cairn_io::Result<()> {
        self.state.recovery_call();
        self.inner.set_len(len)
    }

    fn allocate(&self, offset: u64, len: u64) -> cairn_io::Result<()> {
        self.state.recovery_call();
        self.inner.allocate(offset, len)
    }

    fn sync_data(&self) -> cairn_io::Result<()> {
        self.state.recovery_call();
        self.inner.sync_data()?;
        if is_segment(self.inner.path()) && !crate::system::in_recovery() {
            self.state.hit(KillPoint::AfterFsync);
        }
        Ok(())
    }

    fn sync_all(&self) -> cairn_io::Result<()> {
        self.state.recovery_call();
        self.inner.sync_all()?;
        if self.inner.path().extension().is_some_and(|e| e == "tmp") {
            self.state.hit(KillPoint::SnapTempFsync);
        }
        Ok(())
    }

    fn len(&self) -> cairn_io::Result<u64> {
        self.inner.len()
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_holds_what_the_real_file_system_holds() {
        let dir = tempfile::tempdir().unwrap();
        let journal_path = dir.path().join("journal.bin");
        let journal = Journal::open(&journal_path).unwrap();
        let vfs = JournalVfs::new(Arc::new(cairn_io::StdVfs::new()), journal);
        let data = dir.path().join("d");
        vfs.create_dir_all(&data).unwrap();
        let f = vfs.create_new(&data.join("a.tmp")).unwrap();
        f.write_all_at(b"hello", 0).unwrap();
        f.sync_data().unwrap();
        drop(f);
        vfs.rename(&data.join("a.tmp"), &data.join("a")).unwrap();
        vfs.sync_dir(&data).unwrap();
        let mut replay = Replayer::new(1);
        replay.catch_up(&journal_path).unwrap();
        assert!(replay.inflight.is_empty());
        assert_eq!(replay.failed_calls, 0);
        assert_eq!(replay.sim.file_bytes(&data.join("a")).unwrap(), b"hello");
        assert!(replay.sim.file_bytes(&data.join("a.tmp")).is_none());
    }
}
