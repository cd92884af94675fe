//! Segment files: naming, the shared read-side [`Segment`] handle, a buffered [`Cursor`] for
//! decoding frames from a file with bounded allocation, the segment scanner used by recovery,
//! and creation of new (preallocated) segment files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_crc::Crc32Hasher;
use cairn_io::{Vfs, VfsFile};

use crate::error::Result;
use crate::format::{self, Frame, FrameError, FrameKind, SegmentHeader};
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, lock};

/// The file name of segment `id`.
pub(crate) fn segment_file_name(id: u64) -> String {
    format!("{id:020}.wal")
}

/// The segment id a file name stands for, if it is a segment file name.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment as readers see it. Shared between the writer and readers.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) header: SegmentHeader,
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<dyn VfsFile>,
    /// The last LSN readable in this segment (`first_lsn - 1` when empty).
    pub(crate) last_lsn: AtomicU64,
    /// Sparse LSN → frame offset index, sorted by LSN.
    pub(crate) index: Mutex<Vec<(u64, u64)>>,
    pub(crate) sealed: AtomicBool,
    /// Damaged byte ranges (offset, length) that SkipCorrupted recovery stepped over.
    pub(crate) skipped: Vec<(u64, u64)>,
}

impl Segment {
    pub(crate) fn new(
        header: SegmentHeader,
        path: PathBuf,
        file: Arc<dyn VfsFile>,
        last_lsn: u64,
        index: Vec<(u64, u64)>,
        sealed: bool,
    ) -> Self {
        Self {
            header,
            path,
            file,
            last_lsn: AtomicU64::new(last_lsn),
            index: Mutex::new(index),
            sealed: AtomicBool::new(sealed),
            skipped: Vec::new(),
        }
    }

    /// Records the damaged ranges recovery skipped, so readers step over them too.
    pub(crate) fn with_skipped(mut self, skipped: Vec<(u64, u64)>) -> Self {
        self.skipped = skipped;
        self
    }

    /// If a skipped range starts at `offset`, where it ends.
    pub(crate) fn skip_from(&self, offset: u64) -> Option<u64> {
        self.skipped
            .iter()
            .find(|&&(o, _)| o == offset)
            .map(|&(o, len)| o + len)
    }

    pub(crate) fn last_lsn(&self) -> u64 {
        self.last_lsn.load(Ordering::Acquire)
    }

    /// The offset of a frame at or before `lsn` to start scanning from.
    pub(crate) fn seek_offset(&self, lsn: u64) -> (u64, u64) {
        let index = lock(&self.index);
        let at = index.partition_point(|&(l, _)| l <= lsn);
        match at.checked_sub(1).and_then(|i| index.get(i)) {
            Some(&(l, o)) => (l, o),
            None => (self.header.first_lsn, format::SEGMENT_HEADER_SIZE as u64),
        }
    }
}

/// Reads frames from a file through a buffer. The buffer never grows beyond
/// `max(CHUNK, frame_size(record_size_max))`.
pub(crate) struct Cursor {
    file: Arc<dyn VfsFile>,
    buf: Vec<u8>,
    buf_offset: u64,
    file_len: u64,
    record_size_max: u32,
}

const CHUNK: usize = 256 << 10;

/// A chunk of zeros to compare preallocated space against.
static ZEROS: [u8; CHUNK] = [0; CHUNK];

impl Cursor {
    pub(crate) fn new(file: Arc<dyn VfsFile>, file_len: u64, record_size_max: u32) -> Self {
        Self {
            file,
            buf: Vec::new(),
            buf_offset: 0,
            file_len,
            record_size_max,
        }
    }

    /// Forgets buffered bytes and re-reads the file length (the file was written since).
    pub(crate) fn refresh(&mut self) -> Result<()> {
        self.buf.clear();
        self.buf_offset = 0;
        self.file_len = self.file.len()?;
        Ok(())
    }

    pub(crate) fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Makes the buffer hold `[offset, offset + len)` (or up to the end of the file).
    fn fill(&mut self, offset: u64, len: usize) -> Result<()> {
        let have_start = self.buf_offset;
        let have_end = self.buf_offset + self.buf.len() as u64;
        let want_end = (offset + len as u64).min(self.file_len);
        if offset >= have_start && want_end <= have_end {
            return Ok(());
        }
        let read_len = len.max(CHUNK);
        let read_len = usize::try_from((self.file_len.saturating_sub(offset)).min(read_len as u64))
            .unwrap_or(0);
        self.buf.clear();
        self.buf.resize(read_len, 0);
        let mut done = 0;
        // Bounded: each round reads at least one byte or stops.
        while done < read_len {
            let n = self
                .file
                .read_at(&mut self.buf[done..], offset + done as u64)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        self.buf.truncate(done);
        self.buf_offset = offset;
        Ok(())
    }

    /// The bytes at `[offset, offset + len)`, fewer at the end of the file.
    pub(crate) fn bytes(&mut self, offset: u64, len: usize) -> Result<&[u8]> {
        self.fill(offset, len)?;
        let start = usize::try_from(offset - self.buf_offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(len).min(self.buf.len());
        Ok(self.buf.get(start..end).unwrap_or(&[]))
    }

    /// Decodes the frame at `offset`. The outer error is I/O; the inner says why the bytes are
    /// not a valid frame.
    pub(crate) fn frame(
        &mut self,
        offset: u64,
        salt: u64,
    ) -> Result<std::result::Result<Frame<'_>, FrameError>> {
        let record_size_max = self.record_size_max;
        let head = self.bytes(offset, format::FRAME_HEADER_SIZE)?;
        let Some(length) = format::peek_frame_length(head) else {
            return Ok(Err(FrameError::Truncated {
                needed: format::FRAME_HEADER_SIZE as u64,
            }));
        };
        let limit = record_size_max.max(format::FOOTER_PAYLOAD_MAX as u32);
        if length > limit {
            // Let the decoder classify it (zeroed / bad kind / too large) without reading more.
            let head = self.bytes(offset, format::FRAME_HEADER_SIZE)?;
            return Ok(format::decode_frame(head, salt, record_size_max));
        }
        let size = usize::try_from(format::frame_size(u64::from(length))).unwrap_or(usize::MAX);
        let bytes = self.bytes(offset, size)?;
        Ok(format::decode_frame(bytes, salt, record_size_max))
    }
}

/// A problem found by [`scan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ScanProblem {
    /// Invalid bytes from `offset` on, no valid frame after them: a torn tail. `dirty_end` is
    /// the end of the last non-zero byte (what a quarantine copy keeps).
    Torn { offset: u64, dirty_end: u64 },
    /// Damage followed by a valid frame, a misplaced frame, or a bad footer.
    Corrupt {
        offset: u64,
        kind: crate::error::CorruptKind,
    },
}

/// What [`scan`] found in a segment.
#[derive(Debug)]
pub(crate) struct ScanResult {
    /// Where writing would resume: the end of the last complete batch.
    pub(crate) end: u64,
    pub(crate) last_lsn: u64,
    pub(crate) records: u64,
    pub(crate) payload_bytes: u64,
    /// CRC state over `[0, end)`.
    pub(crate) hasher: Crc32Hasher,
    pub(crate) index: Vec<(u64, u64)>,
    /// Whether a valid footer (and trailer) ended the segment.
    pub(crate) sealed: bool,
    /// The segment CRC stored in that footer.
    pub(crate) sealed_crc: u32,
    /// Where the seal (footer frame + trailer) ends, if sealed: the file must end there.
    pub(crate) sealed_end: u64,
    /// The highest "synced LSN" of the frames kept: every LSN up to it had been fsynced
    /// successfully when those frames were written.
    pub(crate) synced_lsn: u64,
    pub(crate) problem: Option<ScanProblem>,
    /// Byte ranges skipped in [`crate::RecoveryMode::SkipCorrupted`].
    pub(crate) skipped: Vec<(u64, u64)>,
}

/// The index stride for a segment size: at most [`format::INDEX_ENTRIES_MAX`] entries.
pub(crate) fn index_stride(segment_size_max: u64) -> u64 {
    (segment_size_max / format::INDEX_ENTRIES_MAX as u64).max(format::FRAME_ALIGN as u64)
}

/// A frame's fields, copied out of the cursor's buffer.
enum Decoded {
    Record {
        lsn: u64,
        synced: u64,
        batch: u32,
        size: u64,
        payload_len: u64,
    },
    Footer {
        lsn: u64,
        size: u64,
        footer: Option<(u64, u32)>,
    },
    Invalid,
}

/// What [`probe`] found after an invalid frame.
struct Probe {
    /// A valid frame written after `hole_lsn` was known durable: the hole is damage.
    proof: Option<u64>,
    /// The first valid frame after the invalid one.
    first_valid: Option<u64>,
    /// The end of the last non-zero byte.
    dirty_end: u64,
}

/// Looks at everything after an invalid frame at `from`, where LSN `hole_lsn` belongs.
fn probe(cursor: &mut Cursor, from: u64, salt: u64, hole_lsn: u64) -> Result<Probe> {
    let mut probe = Probe {
        proof: None,
        first_valid: None,
        dirty_end: from,
    };
    let len = cursor.file_len();
    let word = format::FRAME_ALIGN;
    let mut chunk_at = from;
    // Bounded by the file length: every round moves `chunk_at` forward by a whole chunk.
    while chunk_at < len {
        // Find the non-zero words of this chunk first (the common case is all zeros:
        // preallocated space), then try to decode a frame at each candidate.
        let mut candidates = Vec::new();
        let chunk_len = {
            let chunk = cursor.bytes(chunk_at, CHUNK)?;
            // Fast path for preallocated space: one slice comparison (memcmp) per chunk.
            let zeros = ZEROS.get(..chunk.len()).unwrap_or(&[]);
            let all_zero = chunk == zeros;
            let words = if all_zero {
                [].chunks(word)
            } else {
                chunk.chunks(word)
            };
            for (i, w) in words.enumerate() {
                if w.iter().any(|&b| b != 0) {
                    let at = chunk_at + (i * word) as u64;
                    probe.dirty_end = at + w.len() as u64;
                    let kind_ok = FrameKind::from_byte(w.get(4).copied().unwrap_or(0)).is_some();
                    if at > from && kind_ok && candidates.len() < CHUNK / word {
                        candidates.push(at);
                    }
                }
            }
            chunk.len() as u64
        };
        if chunk_len == 0 {
            break;
        }
        for at in candidates {
            if let Ok(frame) = cursor.frame(at, salt)? {
                let synced = frame.synced_lsn;
                probe.first_valid.get_or_insert(at);
                if synced >= hole_lsn {
                    probe.proof = Some(at);
                    return Ok(probe);
                }
            }
        }
        chunk_at += chunk_len;
    }
    Ok(probe)
}

/// Scans every frame of a segment from its header on.
///
/// With `skip`, damage followed by a valid frame is skipped and recorded instead of ending
/// the scan.
pub(crate) fn scan(
    file: &Arc<dyn VfsFile>,
    header: &SegmentHeader,
    header_bytes: &[u8],
    record_size_max: u32,
    segment_size_max: u64,
    skip: bool,
) -> Result<ScanResult> {
    use crate::error::CorruptKind;

    let file_len = file.len()?;
    let mut cursor = Cursor::new(file.clone(), file_len, record_size_max);
    let stride = index_stride(segment_size_max);
    let salt = header.salt;

    let mut committed = Crc32Hasher::new();
    committed.update(header_bytes);
    let mut result = ScanResult {
        end: format::SEGMENT_HEADER_SIZE as u64,
        last_lsn: header.first_lsn - 1,
        records: 0,
        payload_bytes: 0,
        hasher: committed.clone(),
        index: Vec::new(),
        sealed: false,
        sealed_crc: 0,
        sealed_end: 0,
        synced_lsn: 0,
        problem: None,
        skipped: Vec::new(),
    };
    let mut pending = committed.clone();
    let mut pending_records = 0u64;
    let mut pending_synced = 0u64;
    let mut pending_bytes = 0u64;
    let mut pending_index: Vec<(u64, u64)> = Vec::new();
    let mut batch_remaining: Option<u32> = None;
    let mut next_index_at = format::SEGMENT_HEADER_SIZE as u64;
    let mut offset = format::SEGMENT_HEADER_SIZE as u64;
    let mut expected = header.first_lsn;

    // Each round advances `offset` by at least one frame or ends the scan.
    loop {
        let decoded = match cursor.frame(offset, salt)? {
            Ok(frame) if frame.kind == FrameKind::Record => Decoded::Record {
                lsn: frame.lsn,
                synced: frame.synced_lsn,
                batch: frame.batch_remaining,
                size: frame.size,
                payload_len: frame.payload.len() as u64,
            },
            Ok(frame) => Decoded::Footer {
                lsn: frame.lsn,
                size: frame.size,
                footer: format::Footer::decode(frame.payload)
                    .ok()
                    .map(|f| (f.last_lsn, f.segment_crc)),
            },
            Err(_) => Decoded::Invalid,
        };
        let bad_kind = match decoded {
            Decoded::Record {
                lsn,
                synced,
                batch,
                size,
                payload_len,
            } => {
                let in_sequence = lsn == expected && batch_remaining.is_none_or(|r| r == batch + 1);
                if in_sequence {
                    let bytes =
                        cursor.bytes(offset, usize::try_from(size).unwrap_or(usize::MAX))?;
                    pending.update(bytes);
                    if offset >= next_index_at
                        && result.index.len() + pending_index.len() < format::INDEX_ENTRIES_MAX
                    {
                        pending_index.push((expected, offset));
                        next_index_at = offset + stride;
                    }
                    pending_records += 1;
                    pending_synced = pending_synced.max(synced);
                    pending_bytes += payload_len;
                    offset += size;
                    expected += 1;
                    if batch == 0 {
                        batch_remaining = None;
                        result.end = offset;
                        result.last_lsn = expected - 1;
                        result.records += pending_records;
                        result.synced_lsn = result.synced_lsn.max(pending_synced);
                        result.payload_bytes += pending_bytes;
                        result.hasher = pending.clone();
                        result.index.append(&mut pending_index);
                        pending_records = 0;
                        pending_bytes = 0;
                    } else {
                        batch_remaining = Some(batch);
                    }
                    continue;
                }
                if batch_remaining.is_some() && lsn == expected {
                    Some(CorruptKind::PartialBatch)
                } else {
                    Some(CorruptKind::LsnMismatch {
                        expected,
                        found: lsn,
                    })
                }
            }
            Decoded::Footer { lsn, size, footer } => {
                // A footer must close a complete segment and match what we read.
                let footer_ok = batch_remaining.is_none()
                    && lsn == result.last_lsn
                    && footer.is_some_and(|(last, crc)| {
                        last == result.last_lsn
                            && cairn_crc::MaskedCrc32::new(crc).unmask() == result.hasher.finish()
                    });
                let trailer_at = offset + size;
                let trailer = cursor.bytes(trailer_at, format::TRAILER_SIZE)?;
                let trailer_ok = format::decode_trailer(trailer, salt) == Some(offset);
                if footer_ok && trailer_ok {
                    result.sealed = true;
                    result.sealed_crc = footer.map_or(0, |(_, crc)| crc);
                    result.sealed_end = trailer_at + format::TRAILER_SIZE as u64;
                    return Ok(result);
                }
                if footer_ok {
                    // The footer is whole but its trailer is not: a seal torn at the end.
                    None
                } else {
                    Some(CorruptKind::BadFooter)
                }
            }
            Decoded::Invalid => None,
        };
        // `offset` holds an invalid or out-of-place frame. Damage starts at the pending batch.
        let bad_at = offset;
        let cut_at = result.end;
        let found = probe(&mut cursor, bad_at, salt, result.last_lsn + 1)?;
        let corruption = match (bad_kind, found.proof) {
            (Some(kind), _) => Some(kind),
            (None, Some(_)) => Some(CorruptKind::BadFrameBeforeValid),
            (None, None) => None,
        };
        match (corruption, found.first_valid) {
            (None, _) => {
                // Nothing after the hole was written once the hole was durable: unsynced
                // writes that reached the disk in part or out of order — a torn tail.
                if found.dirty_end > cut_at {
                    result.problem = Some(ScanProblem::Torn {
                        offset: cut_at,
                        dirty_end: found.dirty_end,
                    });
                }
                return Ok(result);
            }
            (Some(_), Some(next)) if skip => {
                result.skipped.push((cut_at, next - cut_at));
                // Resume at the next valid frame, taking its LSN if it moves forward.
                let resume = cursor.frame(next, salt)?.map(|f| f.lsn).unwrap_or(expected);
                offset = next;
                if resume > result.last_lsn {
                    expected = resume;
                }
                pending = result.hasher.clone();
                pending_records = 0;
                pending_bytes = 0;
                pending_index.clear();
                batch_remaining = None;
                // Hash the skipped bytes so the segment CRC still covers the whole file.
                let mut at = cut_at;
                while at < next {
                    let n = usize::try_from((next - at).min(CHUNK as u64)).unwrap_or(CHUNK);
                    let bytes = cursor.bytes(at, n)?;
                    if bytes.is_empty() {
                        break;
                    }
                    pending.update(bytes);
                    at += bytes.len() as u64;
                }
                result.hasher = pending.clone();
            }
            (Some(kind), _) => {
                if skip {
                    // Nothing valid after: keep what we have, treat the rest as a tail.
                    result.problem = Some(ScanProblem::Torn {
                        offset: cut_at,
                        dirty_end: found.dirty_end.max(bad_at),
                    });
                } else {
                    result.problem = Some(ScanProblem::Corrupt {
                        offset: bad_at,
                        kind,
                    });
                }
                return Ok(result);
            }
        }
    }
}

/// A valid seal: (last LSN, segment CRC, sparse index).
pub(crate) type Seal = (u64, u32, Vec<(u64, u64)>);

/// Checks a sealed segment through its trailer and footer, without reading the frames.
/// Returns (last LSN, segment CRC, index) or `None` if the seal is not valid.
pub(crate) fn read_seal(
    file: &Arc<dyn VfsFile>,
    header: &SegmentHeader,
    record_size_max: u32,
) -> Result<Option<Seal>> {
    let len = file.len()?;
    let min = (format::SEGMENT_HEADER_SIZE
        + format::FRAME_HEADER_SIZE
        + format::FOOTER_FIXED_SIZE
        + format::TRAILER_SIZE) as u64;
    if len < min {
        return Ok(None);
    }
    let mut trailer = [0u8; format::TRAILER_SIZE];
    file.read_exact_at(&mut trailer, len - format::TRAILER_SIZE as u64)?;
    let Some(footer_offset) = format::decode_trailer(&trailer, header.salt) else {
        return Ok(None);
    };
    if footer_offset < format::SEGMENT_HEADER_SIZE as u64 || footer_offset >= len {
        return Ok(None);
    }
    let mut cursor = Cursor::new(
        file.clone(),
        len - format::TRAILER_SIZE as u64,
        record_size_max,
    );
    let Ok(frame) = cursor.frame(footer_offset, header.salt)? else {
        return Ok(None);
    };
    if frame.kind != FrameKind::Footer
        || footer_offset + frame.size + format::TRAILER_SIZE as u64 != len
    {
        return Ok(None);
    }
    let Ok(footer) = format::Footer::decode(frame.payload) else {
        return Ok(None);
    };
    if footer.last_lsn != frame.lsn || footer.last_lsn + 1 < header.first_lsn {
        return Ok(None);
    }
    let mut index = Vec::with_capacity(footer.index_len());
    for i in 0..footer.index_len() {
        let Some((lsn, offset)) = footer.index_entry(i) else {
            return Ok(None);
        };
        let sorted = index.last().is_none_or(|&(l, o)| l < lsn && o < offset);
        if !sorted
            || lsn < header.first_lsn
            || lsn > footer.last_lsn
            || offset >= footer_offset
            || offset % format::FRAME_ALIGN as u64 != 0
        {
            return Ok(None);
        }
        index.push((lsn, offset));
    }
    Ok(Some((footer.last_lsn, footer.segment_crc, index)))
}

/// Creates (or takes over) the file of segment `id`: empty, preallocated if asked, and its
/// directory entry fsynced, so that the first acknowledgment inside it can rely on the entry.
/// With `take_over`, an existing file of that name (an unused spare) is emptied and reused;
/// without, an existing file is an error.
pub(crate) fn create_segment_file(
    vfs: &dyn Vfs,
    dir: &Path,
    id: u64,
    segment_size_max: u64,
    preallocate: bool,
    take_over: bool,
) -> Result<Box<dyn VfsFile>> {
    let path = dir.join(segment_file_name(id));
    let file = match vfs.create_new(&path) {
        Ok(file) => file,
        Err(e) if take_over && e.is_already_exists() => {
            // A spare prepared concurrently or left by a crash: replace it. A fresh entry, not
            // the old one: if the old entry's directory fsync failed, that entry may never
            // become durable (Linux drops it, and a later fsync does not retry it).
            vfs.remove_file(&path)?;
            vfs.create_new(&path)?
        }
        Err(e) => return Err(e.into()),
    };
    if preallocate {
        file.allocate(0, segment_size_max)?;
    }
    if !crate::ablate::skip("segment_dir_fsync") {
        vfs.sync_dir(dir)?;
    }
    Ok(file)
}
