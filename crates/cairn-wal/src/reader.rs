//! Reading the log: point reads, a [`Reader`] iterator that verifies every checksum, and a
//! [`TailReader`] that follows new appends.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::error::{CorruptKind, Error, Result};
use crate::format::{FrameError, FrameKind};
use crate::options::Lsn;
use crate::segment::{Cursor, Segment};
use crate::wal::Shared;

/// Turns a frame decoding failure into the error a reader reports.
fn frame_error(segment: &Segment, offset: u64, error: FrameError) -> Error {
    match error {
        FrameError::BadChecksum { expected, actual } => Error::ChecksumMismatch {
            segment: segment.path.clone(),
            offset,
            expected,
            actual,
        },
        _ => Error::Corrupt {
            segment: segment.path.clone(),
            offset,
            kind: CorruptKind::BadFrame,
        },
    }
}

/// One step of reading a segment.
enum Step {
    Record(u64, Bytes, u64),
    /// A damaged range skipped by recovery, this many bytes long.
    Skip(u64),
    End,
}

/// Decodes the frame at `offset` of `segment`, refreshing the cursor once if the bytes may
/// have been written after they were buffered.
fn step(segment: &Segment, cursor: &mut Cursor, offset: u64) -> Result<Step> {
    if let Some(end) = segment.skip_from(offset) {
        return Ok(Step::Skip(end - offset));
    }
    for attempt in 0..2 {
        match cursor.frame(offset, segment.header.salt)? {
            Ok(frame) if frame.kind == FrameKind::Record => {
                return Ok(Step::Record(
                    frame.lsn,
                    Bytes::copy_from_slice(frame.payload),
                    frame.size,
                ));
            }
            Ok(_) => return Ok(Step::End),
            Err(e) if attempt == 1 => return Err(frame_error(segment, offset, e)),
            Err(_) => cursor.refresh()?,
        }
    }
    Ok(Step::End)
}

/// Reads the record `lsn` from `segment`, `None` if the segment does not hold it.
pub(crate) fn read_in_segment(
    segment: &Segment,
    lsn: u64,
    record_size_max: u32,
) -> Result<Option<Bytes>> {
    let (_, mut offset) = segment.seek_offset(lsn);
    let mut cursor = Cursor::new(segment.file.clone(), segment.file.len()?, record_size_max);
    // Bounded: every round moves past one frame, and frames end within the file.
    loop {
        match step(segment, &mut cursor, offset)? {
            Step::Record(l, payload, _) if l == lsn => return Ok(Some(payload)),
            Step::Record(l, _, _) if l > lsn => return Ok(None),
            Step::Record(_, _, size) | Step::Skip(size) => offset += size,
            Step::End => return Ok(None),
        }
    }
}

/// An iterator over the records from an LSN on, verifying every checksum.
///
/// Built by [`crate::Wal::reader`]. It yields `(Lsn, payload)` in LSN order up to the end of
/// the log as it is when each item is requested; after the end, `next` returns `None`, and
/// may return more later if the log grows (see [`TailReader`] for waiting). A damaged frame
/// yields one `Err` and ends the iteration.
#[derive(Debug)]
pub struct Reader {
    shared: Arc<Shared>,
    next_lsn: u64,
    position: Option<Position>,
    failed: bool,
}

struct Position {
    segment: Arc<Segment>,
    cursor: Cursor,
    offset: u64,
}

impl std::fmt::Debug for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Position")
            .field("segment", &self.segment.path)
            .field("offset", &self.offset)
            .finish()
    }
}

impl Reader {
    pub(crate) fn new(shared: Arc<Shared>, from: u64) -> Self {
        Self {
            shared,
            next_lsn: from,
            position: None,
            failed: false,
        }
    }

    /// The LSN the next record read will have (at least).
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        Lsn::new(self.next_lsn)
    }

    fn read_next(&mut self) -> Result<Option<(Lsn, Bytes)>> {
        let front = self.shared.first_lsn();
        if self.next_lsn < front {
            self.next_lsn = front;
            self.position = None;
        }
        // Bounded by the number of segments plus the frames in one of them.
        loop {
            if self.next_lsn > self.shared.visible_lsn() {
                return Ok(None);
            }
            let position = match &mut self.position {
                Some(p) if self.next_lsn <= p.segment.last_lsn() => p,
                _ => {
                    let next_lsn = self.next_lsn;
                    let segment = self.shared.ctx.with_segments(|segments| {
                        segments.iter().find(|s| s.last_lsn() >= next_lsn).cloned()
                    });
                    let Some(segment) = segment else {
                        return Ok(None);
                    };
                    if segment.header.first_lsn > self.next_lsn {
                        // A gap left by SkipCorrupted recovery.
                        self.next_lsn = segment.header.first_lsn;
                    }
                    let (_, offset) = segment.seek_offset(self.next_lsn);
                    let cursor = Cursor::new(
                        segment.file.clone(),
                        segment.file.len()?,
                        self.shared.ctx.options.record_size_max,
                    );
                    self.position.insert(Position {
                        segment,
                        cursor,
                        offset,
                    })
                }
            };
            match step(&position.segment, &mut position.cursor, position.offset)? {
                Step::Record(lsn, payload, size) => {
                    position.offset += size;
                    if lsn >= self.next_lsn {
                        self.next_lsn = lsn + 1;
                        return Ok(Some((Lsn::new(lsn), payload)));
                    }
                }
                Step::Skip(size) => position.offset += size,
                Step::End => {
                    // The segment ended before `next_lsn`: move on.
                    let last = position.segment.last_lsn();
                    self.next_lsn = self.next_lsn.max(last + 1);
                    self.position = None;
                }
            }
        }
    }
}

impl Iterator for Reader {
    type Item = Result<(Lsn, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.read_next() {
            Ok(item) => item.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// A reader that follows the log as it grows, from [`crate::Wal::tail`].
///
/// Records appended with [`crate::Durability::None`] become visible once they are written
/// to the OS.
#[derive(Debug)]
pub struct TailReader {
    reader: Reader,
}

impl TailReader {
    pub(crate) fn new(reader: Reader) -> Self {
        Self { reader }
    }

    /// Returns the next record, waiting up to `timeout` for it to be appended.
    ///
    /// # Errors
    ///
    /// [`Error::ChecksumMismatch`] or [`Error::Corrupt`] for a damaged frame;
    /// [`Error::Closed`] or [`Error::Poisoned`] if the log stops while waiting.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<(Lsn, Bytes)>> {
        if let Some(item) = self.reader.read_next()? {
            return Ok(Some(item));
        }
        if !self
            .reader
            .shared
            .core
            .wait_visible(self.reader.next_lsn, timeout)?
        {
            return Ok(None);
        }
        self.reader.read_next()
    }

    /// The LSN the next record will have (at least).
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        self.reader.next_lsn()
    }
}
