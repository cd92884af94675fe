//! The writer side of the log: the [`SegmentWriter`] that encodes frames into the active
//! segment (the commit core's [`LogWriter`]), rotation with sealing, and the [`WalSyncer`]
//! that fsyncs outside the append lock and prepares the next segment ahead of time.

use std::path::PathBuf;
use std::sync::Arc;

use cairn_crc::Crc32Hasher;
use cairn_io::{Vfs, VfsFile};

use crate::commit::{LogWriter, Syncer};
use crate::error::Result;
use crate::format::{self, FrameKind, SegmentHeader};
use crate::options::WalOptions;
use crate::segment::{self, Segment};
use crate::stats::Counters;
use crate::sync::{Mutex, Ordering, RwLock, lock};

/// What the writer, the syncer and readers share.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) dir: PathBuf,
    pub(crate) vfs: Arc<dyn Vfs>,
    pub(crate) options: WalOptions,
    /// Every live segment, oldest first. Readers clone the `Arc`s they need.
    pub(crate) segments: RwLock<Vec<Arc<Segment>>>,
    /// A segment file created ahead of time: (id, file).
    pub(crate) spare: Mutex<Option<(u64, Box<dyn VfsFile>)>>,
    pub(crate) counters: Arc<Counters>,
    /// Segment files cut off by `truncate_front`, removed one at a time (paced: one per
    /// `truncate_front` call and one after each group fsync; the rest at close).
    pub(crate) purge: Mutex<std::collections::VecDeque<PathBuf>>,
}

impl Ctx {
    /// Removes one purged segment file, if any, and fsyncs the directory.
    pub(crate) fn purge_one(&self) -> Result<bool> {
        let Some(path) = lock(&self.purge).pop_front() else {
            return Ok(false);
        };
        match self.vfs.remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        self.vfs.sync_dir(&self.dir)?;
        Ok(true)
    }

    pub(crate) fn segments(&self) -> Vec<Arc<Segment>> {
        self.with_segments(<[Arc<Segment>]>::to_vec)
    }

    /// Runs `f` over the live segments under the read lock, without copying the list: the
    /// read path looks up one segment per call.
    pub(crate) fn with_segments<R>(&self, f: impl FnOnce(&[Arc<Segment>]) -> R) -> R {
        match self.segments.read() {
            Ok(g) => f(&g),
            Err(p) => f(&p.into_inner()),
        }
    }

    pub(crate) fn segments_mut(&self) -> crate::sync::RwLockWriteGuard<'_, Vec<Arc<Segment>>> {
        match self.segments.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// The write position inside the active segment.
pub(crate) struct SegmentWriter {
    pub(crate) ctx: Arc<Ctx>,
    pub(crate) active: Arc<Segment>,
    /// Bytes of the active segment in the OS.
    pub(crate) offset: u64,
    /// Encoded frames not yet written; they go at `offset`.
    buf: Vec<u8>,
    /// CRC over `[0, offset + buf.len())` of the active segment.
    pub(crate) hasher: Crc32Hasher,
    pub(crate) record_count: u64,
    /// The last LSN encoded (`first_lsn - 1` if none).
    pub(crate) last_lsn: u64,
    pub(crate) index: Vec<(u64, u64)>,
    pub(crate) next_index_at: u64,
    /// The active segment is sealed (recovered that way), with this segment CRC: the next
    /// write starts a new segment.
    pub(crate) sealed: Option<u32>,
    /// The durable LSN the core passed with the last write.
    durable_hint: u64,
    /// Bytes of the active segment from its start that are known to have been written
    /// (frames or zeros): writes below this overwrite blocks the file system has already
    /// converted from preallocated to written.
    zeroed_to: u64,
}

/// How far ahead of the write position a group-commit leader writes zeros into a
/// preallocated segment, and in what steps (see [`SegmentWriter::zero_ahead`]).
const ZERO_AHEAD: u64 = 1 << 20;

/// The zeros of one step, written without allocating under the append lock (zero-initialised
/// static data takes no space in the binary).
static ZERO_STEP: [u8; ZERO_AHEAD as usize] = [0; ZERO_AHEAD as usize];

impl SegmentWriter {
    /// A writer that continues the active segment at `offset`.
    pub(crate) fn new(
        ctx: Arc<Ctx>,
        active: Arc<Segment>,
        offset: u64,
        hasher: Crc32Hasher,
        record_count: u64,
        index: Vec<(u64, u64)>,
        sealed: Option<u32>,
    ) -> Self {
        let stride = segment::index_stride(ctx.options.segment_size_max);
        let next_index_at = index
            .last()
            .map_or(offset, |&(_, o)| o + stride)
            .max(format::SEGMENT_HEADER_SIZE as u64);
        let last_lsn = active.last_lsn();
        Self {
            ctx,
            active,
            offset,
            buf: Vec::new(),
            hasher,
            record_count,
            last_lsn,
            index,
            next_index_at,
            sealed,
            durable_hint: last_lsn,
            zeroed_to: offset,
        }
    }

    /// Writes zeros ahead of the write position in a preallocated segment, a [`ZERO_AHEAD`]
    /// step at a time, once less than half a step is left.
    ///
    /// `fallocate(2)` leaves *unwritten* extents: the first write into each block converts it,
    /// and the fdatasync after it must commit that conversion to the file system's journal.
    /// A small durable append therefore pays a journal commit every few records, and a
    /// 16 KiB batch pays one every time (measured with a raw pwrite + fdatasync loop on this
    /// project's test machine, ext4: 16 KB appends ran at 1100-1900/s into a fallocated file,
    /// 3000-3300/s into one already written with zeros). Zeroing a step ahead moves that
    /// conversion into one fdatasync per step. Zeros never parse as a frame (kind 0 is
    /// invalid), so the log's format and recovery are unchanged: the space past the last
    /// frame reads as zeros either way.
    fn zero_ahead(&mut self) -> Result<()> {
        if !self.ctx.options.preallocate || self.sealed.is_some() {
            return Ok(());
        }
        let end = self.ctx.options.segment_size_max;
        let from = self.zeroed_to.max(self.offset + self.buf.len() as u64);
        if from >= end || from >= self.offset + ZERO_AHEAD / 2 {
            return Ok(());
        }
        let to = (from + ZERO_AHEAD).min(end);
        let len = usize::try_from(to - from).expect("at most ZERO_AHEAD");
        self.active.file.write_all_at(&ZERO_STEP[..len], from)?;
        self.zeroed_to = to;
        Ok(())
    }

    /// Where frames must end to leave room for the seal.
    fn limit(&self) -> u64 {
        self.ctx.options.segment_size_max - format::SEAL_RESERVE as u64
    }

    /// Writes the footer and trailer, trims the file, and fsyncs it. Returns the segment CRC.
    fn seal(&mut self) -> Result<u32> {
        self.flush()?;
        let segment_crc = self.hasher.finish().mask();
        let payload =
            format::encode_footer(self.record_count, self.last_lsn, segment_crc, &self.index);
        let mut bytes = Vec::with_capacity(format::SEAL_RESERVE);
        format::encode_frame(
            &mut bytes,
            self.active.header.salt,
            FrameKind::Footer,
            self.last_lsn,
            self.durable_hint.min(self.last_lsn),
            0,
            &payload,
        );
        bytes.extend_from_slice(&format::encode_trailer(
            self.active.header.salt,
            self.offset,
        ));
        let file = &self.active.file;
        file.write_all_at(&bytes, self.offset)?;
        let end = self.offset + bytes.len() as u64;
        file.set_len(end)?;
        // The whole segment, seal included, is durable before anything is written to the next
        // one, so recovery can demand a valid seal on every segment but the last.
        if !crate::ablate::skip("seal_fsync") {
            file.sync_data()?;
        }
        self.active.sealed.store(true, Ordering::Release);
        self.offset = end;
        Ok(segment_crc.get())
    }

    /// Seals the active segment (unless already sealed) and starts the next one.
    fn rotate(&mut self) -> Result<()> {
        let prev_crc = match self.sealed {
            Some(crc) => {
                self.flush()?;
                crc
            }
            None => self.seal()?,
        };
        self.sealed = Some(prev_crc);
        let id = self.active.header.segment_id + 1;
        let spare = lock(&self.ctx.spare).take();
        let file = match spare {
            Some((spare_id, file)) if spare_id == id => file,
            _ => segment::create_segment_file(
                &*self.ctx.vfs,
                &self.ctx.dir,
                id,
                self.ctx.options.segment_size_max,
                self.ctx.options.preallocate,
                true,
            )?,
        };
        let header = SegmentHeader {
            segment_id: id,
            first_lsn: self.last_lsn + 1,
            salt: self.ctx.vfs.entropy(),
            prev_last_lsn: self.last_lsn,
            prev_crc,
        };
        let header_bytes = header.encode();
        file.write_all_at(&header_bytes, 0)?;
        // The header is durable before any frame goes in, so recovery can tell a torn header
        // (nothing after it) from a damaged one (frames after it).
        if !crate::ablate::skip("header_fsync") {
            file.sync_data()?;
        }
        let path = self.ctx.dir.join(segment::segment_file_name(id));
        let segment = Arc::new(Segment::new(
            header,
            path,
            Arc::from(file),
            self.last_lsn,
            Vec::new(),
            false,
        ));
        self.ctx.segments_mut().push(segment.clone());
        self.active = segment;
        self.offset = format::SEGMENT_HEADER_SIZE as u64;
        self.hasher = Crc32Hasher::new();
        self.hasher.update(&header_bytes);
        self.record_count = 0;
        self.index.clear();
        self.next_index_at = self.offset;
        self.sealed = None;
        self.zeroed_to = self.offset;
        self.ctx.counters.record_rotation();
        Ok(())
    }

    /// Rebuilds the writer state for a truncation of the active segment at `offset`, where
    /// `last_lsn` is the last LSN kept. The caller has cut the file.
    pub(crate) fn reset_to(
        &mut self,
        active: Arc<Segment>,
        offset: u64,
        hasher: Crc32Hasher,
        record_count: u64,
        last_lsn: u64,
        index: Vec<(u64, u64)>,
    ) {
        assert!(self.buf.is_empty(), "flushed before truncation");
        let stride = segment::index_stride(self.ctx.options.segment_size_max);
        self.next_index_at = index.last().map_or(offset, |&(_, o)| o + stride);
        self.active = active;
        self.offset = offset;
        self.hasher = hasher;
        self.record_count = record_count;
        self.last_lsn = last_lsn;
        self.index = index;
        self.sealed = None;
        self.zeroed_to = offset;
    }
}

impl LogWriter for SegmentWriter {
    type Syncer = WalSyncer;

    fn write(
        &mut self,
        first_lsn: u64,
        records: &[&[u8]],
        buffer_only: bool,
        durable_lsn: u64,
    ) -> Result<bool> {
        assert!(durable_lsn < first_lsn, "durable never passes assigned");
        self.durable_hint = durable_lsn;
        assert_eq!(first_lsn, self.last_lsn + 1, "LSNs are dense");
        let total: u64 = records
            .iter()
            .map(|r| format::frame_size(r.len() as u64))
            .sum();
        let end = self.offset + self.buf.len() as u64 + total;
        if self.sealed.is_some() || end > self.limit() {
            self.rotate()?;
        }
        assert!(
            self.offset + self.buf.len() as u64 + total <= self.limit(),
            "the caller bounds batches by the segment capacity"
        );
        let n = records.len();
        let salt = self.active.header.salt;
        let stride = segment::index_stride(self.ctx.options.segment_size_max);
        for (i, record) in records.iter().enumerate() {
            let lsn = first_lsn + i as u64;
            let at = self.offset + self.buf.len() as u64;
            let start = self.buf.len();
            let remaining =
                u32::try_from(n - 1 - i).expect("batch length bounded by the segment size");
            format::encode_frame(
                &mut self.buf,
                salt,
                FrameKind::Record,
                lsn,
                durable_lsn,
                remaining,
                record,
            );
            self.hasher.update(&self.buf[start..]);
            if at >= self.next_index_at && self.index.len() < format::INDEX_ENTRIES_MAX {
                self.index.push((lsn, at));
                lock(&self.active.index).push((lsn, at));
                self.next_index_at = at + stride;
            }
        }
        self.record_count += n as u64;
        self.last_lsn = first_lsn + n as u64 - 1;
        if !buffer_only || self.buf.len() >= self.ctx.options.buffer_size_max as usize {
            self.flush()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.active.file.write_all_at(&self.buf, self.offset)?;
        self.offset += self.buf.len() as u64;
        self.buf.clear();
        if self.buf.capacity() > 2 * (self.ctx.options.buffer_size_max as usize).max(1 << 16) {
            self.buf = Vec::new();
        }
        self.active.last_lsn.store(self.last_lsn, Ordering::Release);
        Ok(())
    }

    fn before_sync(&mut self) -> Result<()> {
        self.zero_ahead()
    }

    fn syncer(&mut self) -> WalSyncer {
        let half = self.ctx.options.segment_size_max / 2;
        let next_id = self.active.header.segment_id + 1;
        let want_spare =
            self.ctx.options.preallocate && self.offset > half && lock(&self.ctx.spare).is_none();
        WalSyncer {
            file: self.active.file.clone(),
            ctx: self.ctx.clone(),
            spare_id: want_spare.then_some(next_id),
        }
    }
}

/// Syncs the active segment outside the append lock; afterwards, may create the next segment.
pub(crate) struct WalSyncer {
    file: Arc<dyn VfsFile>,
    ctx: Arc<Ctx>,
    spare_id: Option<u64>,
}

impl Syncer for WalSyncer {
    fn sync(&self) -> Result<()> {
        if !crate::ablate::skip("leader_fsync") {
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn maintain(&self) {
        // Best effort: a file that could not be removed now is removed by recovery later.
        let _ = self.ctx.purge_one();
        let Some(id) = self.spare_id else { return };
        if lock(&self.ctx.spare).is_some() {
            return;
        }
        let options = &self.ctx.options;
        // Best effort: if this fails (no space), rotation creates the file itself and
        // reports the error to an appender.
        if let Ok(file) = segment::create_segment_file(
            &*self.ctx.vfs,
            &self.ctx.dir,
            id,
            options.segment_size_max,
            options.preallocate,
            false,
        ) {
            let mut slot = lock(&self.ctx.spare);
            if slot.is_none() {
                *slot = Some((id, file));
            }
        }
    }
}
