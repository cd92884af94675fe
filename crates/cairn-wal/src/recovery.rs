//! Recovery on open: find the segment chain, check seals and links, scan the last segment,
//! and apply the [`RecoveryMode`] decision table of `docs/DURABILITY.md` — cut a torn tail
//! (keeping a quarantine copy), refuse or salvage corruption — then fsync what was read
//! before the log trusts it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_crc::Crc32Hasher;
use cairn_io::{OpenMode, Vfs, VfsFile};

use crate::error::{CorruptKind, Error, Result};
use crate::format::{self, HeaderError, SegmentHeader};
use crate::options::{Lsn, RecoveryMode, WalOptions};
use crate::segment::{self, ScanProblem, Segment};

/// The name of the front watermark file.
pub(crate) const FRONT_FILE: &str = "FRONT";
/// The temporary name the watermark is written under before its rename.
pub(crate) const FRONT_TMP_FILE: &str = "FRONT.tmp";
/// The directory quarantine copies go to.
pub(crate) const QUARANTINE_DIR: &str = "quarantine";

/// Damage that recovery skipped or cut in a salvage mode.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DamageNote {
    /// The segment file.
    pub segment: PathBuf,
    /// Where the damage starts.
    pub offset: u64,
    /// What it is.
    pub kind: CorruptKind,
}

/// What recovery found and did, returned by [`crate::Wal::open`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Segment files in the chain.
    pub segments: u64,
    /// Segments whose frames were read (the last one, and any whose seal was not trusted).
    pub segments_scanned: u64,
    /// Records in the recovered log: `last_lsn - first_lsn + 1` (LSNs skipped by
    /// [`RecoveryMode::SkipCorrupted`] included).
    pub records: u64,
    /// The first LSN of the recovered log.
    pub first_lsn: Option<Lsn>,
    /// The last LSN of the recovered log (`None` if it is empty).
    pub last_lsn: Option<Lsn>,
    /// Bytes cut from the end of the log (torn tails, or everything after damage in
    /// [`RecoveryMode::PointInTime`]).
    pub bytes_truncated: u64,
    /// Whether a torn tail was cut.
    pub torn_tail: bool,
    /// Copies of the cut bytes, under `quarantine/`.
    pub quarantine_files: Vec<PathBuf>,
    /// Damage skipped or cut in a salvage mode.
    pub damage: Vec<DamageNote>,
    /// Files removed: unused preallocated segments, segments below the front watermark.
    pub removed_files: Vec<PathBuf>,
    /// How long recovery took.
    pub duration: Duration,
}

/// The state recovery hands to the log.
pub(crate) struct Recovered {
    pub(crate) segments: Vec<Arc<Segment>>,
    pub(crate) offset: u64,
    pub(crate) hasher: Crc32Hasher,
    pub(crate) record_count: u64,
    pub(crate) index: Vec<(u64, u64)>,
    pub(crate) sealed: Option<u32>,
    pub(crate) front_lsn: u64,
    pub(crate) report: RecoveryReport,
}

fn corrupt(segment: &Path, offset: u64, kind: CorruptKind) -> Error {
    Error::Corrupt {
        segment: segment.to_path_buf(),
        offset,
        kind,
    }
}

/// Reads up to `buf.len()` bytes at 0; missing bytes stay zero.
fn read_prefix(file: &dyn VfsFile, buf: &mut [u8]) -> Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = file.read_at(&mut buf[done..], done as u64)?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(())
}

/// Reads the `FRONT` watermark (1 if there is none).
pub(crate) fn read_front(vfs: &dyn Vfs, dir: &Path, mode: RecoveryMode) -> Result<u64> {
    let path = dir.join(FRONT_FILE);
    let file = match vfs.open(&path, OpenMode::Read) {
        Ok(file) => file,
        Err(e) if e.is_not_found() => return Ok(1),
        Err(e) => return Err(e.into()),
    };
    let mut buf = [0u8; format::FRONT_SIZE];
    read_prefix(&*file, &mut buf)?;
    match format::decode_front(&buf) {
        Some(lsn) if lsn >= 1 => Ok(lsn),
        _ if matches!(
            mode,
            RecoveryMode::SkipCorrupted | RecoveryMode::PointInTime
        ) =>
        {
            Ok(1)
        }
        _ => Err(corrupt(&path, 0, CorruptKind::BadFront)),
    }
}

/// Writes the `FRONT` watermark atomically: temp file, fsync, rename, directory fsync.
pub(crate) fn write_front(vfs: &dyn Vfs, dir: &Path, lsn: u64) -> Result<()> {
    let tmp = dir.join(FRONT_TMP_FILE);
    match vfs.remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    let file = vfs.create_new(&tmp)?;
    file.write_all_at(&format::encode_front(lsn), 0)?;
    if !crate::ablate::skip("front_fsync") {
        file.sync_data()?;
    }
    drop(file);
    vfs.rename(&tmp, &dir.join(FRONT_FILE))?;
    vfs.sync_dir(dir)?;
    Ok(())
}

/// Writes `[from, to)` of a file back over itself, so that the pages are dirty again and the
/// next fsync writes them.
fn rewrite(file: &dyn VfsFile, from: u64, to: u64) -> Result<()> {
    copy_range(file, file, from, to, from)
}

/// Copies `[from, to)` of `src` to `dst` at `dst_at`, through a 64 KiB buffer.
fn copy_range(src: &dyn VfsFile, dst: &dyn VfsFile, from: u64, to: u64, dst_at: u64) -> Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    let mut at = from;
    // Bounded: `at` grows by a full buffer each round until `to`.
    while at < to {
        let n = usize::try_from((to - at).min(buf.len() as u64)).unwrap_or(0);
        src.read_exact_at(&mut buf[..n], at)?;
        dst.write_all_at(&buf[..n], dst_at + (at - from))?;
        at += n as u64;
    }
    Ok(())
}

/// The end of the last non-zero byte in `[from, len)`, reading backwards in chunks.
fn dirty_end(file: &dyn VfsFile, from: u64, len: u64) -> Result<u64> {
    const STEP: u64 = 64 << 10;
    let mut buf = vec![0u8; STEP as usize];
    let mut end = len;
    // Bounded: `end` falls by up to STEP every round.
    while end > from {
        let start = end.saturating_sub(STEP).max(from);
        let chunk = &mut buf[..usize::try_from(end - start).unwrap_or(0)];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|&b| b != 0) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(from)
}

struct Recovery<'a> {
    vfs: &'a dyn Vfs,
    dir: &'a Path,
    options: &'a WalOptions,
    report: RecoveryReport,
}

impl Recovery<'_> {
    fn quarantine_dir(&self) -> Result<PathBuf> {
        let q = self.dir.join(QUARANTINE_DIR);
        if !self.vfs.exists(&q)? {
            self.vfs.create_dir_all(&q)?;
            self.vfs.sync_dir(self.dir)?;
        }
        Ok(q)
    }

    /// Copies `[from, to)` of a segment to `quarantine/<segment>-<offset>.bin`, then cuts the
    /// segment at `from` durably.
    fn cut(&mut self, path: &Path, file: &dyn VfsFile, from: u64, to: u64) -> Result<()> {
        assert!(
            from >= format::SEGMENT_HEADER_SIZE as u64,
            "the header is never cut"
        );
        if to > from {
            let q = self.quarantine_dir()?;
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("segment");
            let qpath = q.join(format!("{stem}-{from}.bin"));
            let qfile = match self.vfs.create_new(&qpath) {
                Ok(f) => f,
                Err(e) if e.is_already_exists() => {
                    let f = self.vfs.open(&qpath, OpenMode::ReadWrite)?;
                    f.set_len(0)?;
                    f
                }
                Err(e) => return Err(e.into()),
            };
            copy_range(file, &*qfile, from, to, 0)?;
            qfile.sync_data()?;
            self.vfs.sync_dir(&q)?;
            self.report.quarantine_files.push(qpath);
            self.report.bytes_truncated += to - from;
        }
        file.set_len(from)?;
        if self.options.preallocate {
            file.allocate(0, self.options.segment_size_max)?;
        }
        file.sync_data()?;
        Ok(())
    }

    /// Moves whole segment files into quarantine (PointInTime cuts, torn headers).
    fn quarantine_files(&mut self, paths: &[PathBuf]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let q = self.quarantine_dir()?;
        // Newest first, so a crash midway leaves a chain that is still a prefix.
        for path in paths.iter().rev() {
            let name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
            let to = q.join(name);
            let len = self.vfs.open(path, OpenMode::Read)?.len()?;
            self.vfs.rename(path, &to)?;
            self.vfs.sync_dir(self.dir)?;
            self.report.bytes_truncated += len;
            self.report.quarantine_files.push(to);
        }
        self.vfs.sync_dir(&q)?;
        Ok(())
    }

    fn remove(&mut self, path: &Path) -> Result<()> {
        self.vfs.remove_file(path)?;
        self.report.removed_files.push(path.to_path_buf());
        Ok(())
    }
}

struct Candidate {
    id: u64,
    path: PathBuf,
    file: Arc<dyn VfsFile>,
    header_bytes: [u8; format::SEGMENT_HEADER_SIZE],
    header: std::result::Result<SegmentHeader, HeaderError>,
}

/// Recovers the log in `dir`. The caller holds the directory lock.
pub(crate) fn recover(vfs: &dyn Vfs, dir: &Path, options: &WalOptions) -> Result<Recovered> {
    let started = Instant::now();
    let mode = options.recovery_mode;
    let mut rec = Recovery {
        vfs,
        dir,
        options,
        report: RecoveryReport::default(),
    };
    let names = vfs.list(dir)?;
    if names.iter().any(|n| n == FRONT_TMP_FILE) {
        cov_mark::hit!(recovery_front_tmp_removed);
        rec.remove(&dir.join(FRONT_TMP_FILE))?;
    }
    let front = read_front(vfs, dir, mode)?;

    let mut candidates = Vec::new();
    for name in &names {
        let Some(id) = segment::parse_segment_file_name(name) else {
            continue;
        };
        let path = dir.join(name);
        let file: Arc<dyn VfsFile> = Arc::from(vfs.open(&path, OpenMode::ReadWrite)?);
        let mut header_bytes = [0u8; format::SEGMENT_HEADER_SIZE];
        read_prefix(&*file, &mut header_bytes)?;
        let header = SegmentHeader::decode(&header_bytes);
        if let Err(HeaderError::UnsupportedVersion(found)) = header {
            return Err(Error::UnsupportedVersion {
                found,
                max: format::FORMAT_VERSION,
            });
        }
        candidates.push(Candidate {
            id,
            path,
            file,
            header_bytes,
            header,
        });
    }
    candidates.sort_by_key(|c| c.id);

    // Unused preallocated segments at the end (all zeros, header included): remove them. A
    // zeroed header with data after it is damage, handled with the other bad headers below.
    while let Some(c) = candidates.last() {
        if c.header != Err(HeaderError::Zeroed) {
            break;
        }
        let len = c.file.len()?;
        if dirty_end(&*c.file, format::SEGMENT_HEADER_SIZE as u64, len)?
            > format::SEGMENT_HEADER_SIZE as u64
        {
            break;
        }
        let c = candidates.pop().expect("checked non-empty");
        drop(c.file);
        cov_mark::hit!(recovery_spare_removed);
        rec.remove(&c.path)?;
    }
    // A torn header on the newest segment: nothing in it was ever acknowledged (its first
    // acknowledgment fsyncs the header), so it is a torn tail.
    if candidates.last().is_some_and(|c| c.header.is_err()) {
        let c = candidates.pop().expect("checked non-empty");
        let len = c.file.len()?;
        let damaged = dirty_end(&*c.file, format::SEGMENT_HEADER_SIZE as u64, len)?
            > format::SEGMENT_HEADER_SIZE as u64;
        if mode == RecoveryMode::AbsoluteConsistency
            || (damaged && mode == RecoveryMode::TolerateTornTail)
        {
            // With frames after it the header was fsynced before they were written: damage.
            let kind = if damaged {
                CorruptKind::BadHeader
            } else {
                CorruptKind::TornTail
            };
            cov_mark::hit!(recovery_bad_header_refused);
            return Err(corrupt(&c.path, 0, kind));
        }
        drop(c.file);
        if damaged {
            rec.report.damage.push(DamageNote {
                segment: c.path.clone(),
                offset: 0,
                kind: CorruptKind::BadHeader,
            });
        } else {
            rec.report.torn_tail = true;
        }
        cov_mark::hit!(recovery_torn_header_quarantined);
        rec.quarantine_files(std::slice::from_ref(&c.path))?;
    }

    let mut segments: Vec<Arc<Segment>> = Vec::new();
    let mut prev: Option<(u64, u64, u32)> = None; // (id, last LSN, segment CRC)
    let mut tail: Option<(segment::ScanResult, bool)> = None;
    let count = candidates.len();
    let mut cut_from: Option<usize> = None;
    for (i, c) in candidates.iter().enumerate() {
        let is_last = i + 1 == count;
        let skip = mode == RecoveryMode::SkipCorrupted;
        let pit = mode == RecoveryMode::PointInTime;
        // Chain checks: id, header, link.
        let mut chain_problem: Option<(u64, CorruptKind)> = None;
        if let Some((prev_id, _, _)) = prev
            && c.id != prev_id + 1
        {
            chain_problem = Some((
                0,
                CorruptKind::MissingSegment {
                    segment_id: prev_id + 1,
                },
            ));
        }
        let header = match &c.header {
            Ok(h) if h.segment_id == c.id => Some(*h),
            _ => None,
        };
        if header.is_none() && chain_problem.is_none() {
            chain_problem = Some((0, CorruptKind::BadHeader));
        }
        if let (Some(h), Some((_, prev_last, prev_crc)), None) = (header, prev, &chain_problem)
            && (h.prev_last_lsn != prev_last || h.prev_crc != prev_crc)
        {
            chain_problem = Some((0, CorruptKind::BrokenLink));
        }
        if let (Some(h), None, None) = (header, prev, &chain_problem)
            && h.first_lsn > front
        {
            chain_problem = Some((
                0,
                CorruptKind::MissingSegment {
                    segment_id: c.id.saturating_sub(1),
                },
            ));
        }
        if let Some((offset, kind)) = chain_problem {
            let note = DamageNote {
                segment: c.path.clone(),
                offset,
                kind: kind.clone(),
            };
            if pit {
                cov_mark::hit!(recovery_chain_problem_cut);
                rec.report.damage.push(note);
                cut_from = Some(i);
                break;
            }
            let overlapping =
                header.is_some_and(|h| prev.is_some_and(|(_, last, _)| h.first_lsn <= last));
            if !skip || header.is_none() || overlapping {
                if skip {
                    cov_mark::hit!(recovery_chain_problem_skipped);
                    rec.report.damage.push(note);
                    continue;
                }
                cov_mark::hit!(recovery_chain_problem_refused);
                return Err(corrupt(&c.path, offset, kind));
            }
            cov_mark::hit!(recovery_chain_problem_skipped);
            rec.report.damage.push(note);
        }
        let h = header.expect("a missing header is a chain problem handled above");

        if !is_last {
            if let Some((last_lsn, crc, index)) =
                segment::read_seal(&c.file, &h, options.record_size_max)?
            {
                segments.push(Arc::new(Segment::new(
                    h,
                    c.path.clone(),
                    c.file.clone(),
                    last_lsn,
                    index,
                    true,
                )));
                prev = Some((c.id, last_lsn, crc));
                continue;
            }
            // No trailer at the end of the file: a seal written but never trimmed (logs from
            // before regression 3 was fixed). A full scan that ends in a valid seal proves it.
            rec.report.segments_scanned += 1;
            let scan = segment::scan(
                &c.file,
                &h,
                &c.header_bytes,
                options.record_size_max,
                options.segment_size_max,
                false,
            )?;
            if scan.sealed && scan.problem.is_none() {
                cov_mark::hit!(recovery_untrimmed_seal_repaired);
                c.file.set_len(scan.sealed_end)?;
                c.file.sync_data()?;
                let (last_lsn, crc) = (scan.last_lsn, scan.sealed_crc);
                segments.push(Arc::new(Segment::new(
                    h,
                    c.path.clone(),
                    c.file.clone(),
                    last_lsn,
                    scan.index,
                    true,
                )));
                prev = Some((c.id, last_lsn, crc));
                continue;
            }
            if !(skip || pit) {
                cov_mark::hit!(recovery_unsealed_refused);
                let len = c.file.len()?;
                return Err(corrupt(&c.path, len, CorruptKind::Unsealed));
            }
            rec.report.damage.push(DamageNote {
                segment: c.path.clone(),
                offset: 0,
                kind: CorruptKind::Unsealed,
            });
        }

        // Scan the frames.
        rec.report.segments_scanned += 1;
        let scan = segment::scan(
            &c.file,
            &h,
            &c.header_bytes,
            options.record_size_max,
            options.segment_size_max,
            skip,
        )?;
        for &(offset, _) in &scan.skipped {
            rec.report.damage.push(DamageNote {
                segment: c.path.clone(),
                offset,
                kind: CorruptKind::BadFrameBeforeValid,
            });
        }
        let mut stop_here = false;
        match &scan.problem {
            None => {}
            Some(ScanProblem::Torn { offset, dirty_end }) => {
                if mode == RecoveryMode::AbsoluteConsistency {
                    cov_mark::hit!(recovery_torn_tail_refused);
                    return Err(corrupt(&c.path, *offset, CorruptKind::TornTail));
                }
                if !(is_last || skip || pit) {
                    return Err(corrupt(&c.path, *offset, CorruptKind::Unsealed));
                }
                cov_mark::hit!(recovery_torn_tail_cut);
                rec.report.torn_tail |= is_last;
                rec.cut(&c.path, &*c.file, *offset, *dirty_end)?;
                stop_here = !is_last && pit;
            }
            Some(ScanProblem::Corrupt { offset, kind }) => {
                if !pit {
                    cov_mark::hit!(recovery_corruption_refused);
                    return Err(corrupt(&c.path, *offset, kind.clone()));
                }
                cov_mark::hit!(recovery_corruption_cut);
                rec.report.damage.push(DamageNote {
                    segment: c.path.clone(),
                    offset: *offset,
                    kind: kind.clone(),
                });
                let len = c.file.len()?;
                let end = dirty_end(&*c.file, scan.end, len)?;
                rec.cut(&c.path, &*c.file, scan.end, end)?;
                stop_here = true;
            }
        }
        let sealed = scan.sealed;
        let crc = if sealed {
            scan.sealed_crc
        } else {
            scan.hasher.finish().mask().get()
        };
        segments.push(Arc::new(
            Segment::new(
                h,
                c.path.clone(),
                c.file.clone(),
                scan.last_lsn,
                scan.index.clone(),
                sealed,
            )
            .with_skipped(scan.skipped.clone()),
        ));
        prev = Some((c.id, scan.last_lsn, crc));
        if stop_here || is_last {
            tail = Some((scan, sealed));
            if !is_last {
                cut_from = Some(i + 1);
            }
            break;
        }
    }
    if let Some(from) = cut_from {
        let paths: Vec<PathBuf> = candidates[from..].iter().map(|c| c.path.clone()).collect();
        // The segments before `from` end the log now; drop handles on the moved files.
        segments.truncate(from);
        rec.quarantine_files(&paths)?;
    }
    if tail.is_none() {
        // The log now ends at a segment that was not scanned as the last one: the cut fell on
        // a chain problem (PointInTime), or the newest segments were skipped (SkipCorrupted).
        // Move skipped trailing files aside so that new segments never overwrite them.
        let accepted = segments.last().map(|s| s.header.segment_id);
        let trailing: Vec<PathBuf> = if cut_from.is_some() {
            Vec::new() // already moved aside above
        } else {
            candidates
                .iter()
                .filter(|c| accepted.is_none_or(|id| c.id > id))
                .map(|c| c.path.clone())
                .collect()
        };
        rec.quarantine_files(&trailing)?;
        if let Some(last) = segments.last().cloned() {
            let mut header_bytes = [0u8; format::SEGMENT_HEADER_SIZE];
            last.file.read_exact_at(&mut header_bytes, 0)?;
            let scan = segment::scan(
                &last.file,
                &last.header,
                &header_bytes,
                options.record_size_max,
                options.segment_size_max,
                false,
            )?;
            rec.report.segments_scanned += 1;
            let sealed = scan.sealed;
            tail = Some((scan, sealed));
        }
    }

    // A log with no segment: start one.
    if segments.is_empty() {
        cov_mark::hit!(recovery_new_log);
        let id = 1;
        let file = segment::create_segment_file(
            vfs,
            dir,
            id,
            options.segment_size_max,
            options.preallocate,
            true,
        )?;
        let header = SegmentHeader {
            segment_id: id,
            first_lsn: front,
            salt: vfs.entropy(),
            prev_last_lsn: front - 1,
            prev_crc: 0,
        };
        let header_bytes = header.encode();
        file.write_all_at(&header_bytes, 0)?;
        file.sync_data()?;
        vfs.sync_dir(dir)?;
        let path = dir.join(segment::segment_file_name(id));
        let mut hasher = Crc32Hasher::new();
        hasher.update(&header_bytes);
        segments.push(Arc::new(Segment::new(
            header,
            path,
            Arc::from(file),
            front - 1,
            Vec::new(),
            false,
        )));
        tail = Some((
            segment::ScanResult {
                end: format::SEGMENT_HEADER_SIZE as u64,
                last_lsn: front - 1,
                records: 0,
                payload_bytes: 0,
                hasher,
                index: Vec::new(),
                sealed: false,
                sealed_crc: 0,
                sealed_end: 0,
                synced_lsn: 0,
                problem: None,
                skipped: Vec::new(),
            },
            false,
        ));
    }
    let (scan, sealed) = tail.expect("the last segment is always scanned");
    let last = segments.last().expect("at least one segment").clone();

    // A seal written but not yet trimmed (a crash between the footer write and `set_len`):
    // trim it now, so that once a newer segment exists this one ends with its trailer, which
    // is where a clean open looks for it.
    if sealed && last.file.len()? > scan.sealed_end {
        assert!(
            scan.sealed_end > format::SEGMENT_HEADER_SIZE as u64,
            "a seal follows the header"
        );
        last.file.set_len(scan.sealed_end)?;
    }

    // Bytes recovery read may be only in the page cache: after a failed fsync Linux marks the
    // pages clean, so a later fsync would not write them. Rewrite the part of the tail that was
    // not known durable when its last frame was written (from the frame after its synced
    // LSN, found through the sparse index; from the header if nothing in the segment was
    // known durable), so the fsync below really makes durable what recovery reports.
    let valid_end = if sealed { scan.sealed_end } else { scan.end };
    let rewrite_from = if scan.synced_lsn < last.header.first_lsn {
        0
    } else {
        let target = scan.synced_lsn + 1;
        scan.index
            .iter()
            .take_while(|&&(lsn, _)| lsn <= target)
            .last()
            .map_or(format::SEGMENT_HEADER_SIZE as u64, |&(_, offset)| offset)
    };
    rewrite(&*last.file, rewrite_from, valid_end)?;

    // Trust nothing until it is durable: fsync the tail segment and the directory.
    if !crate::ablate::skip("recovery_fsync") {
        last.file.sync_data()?;
        vfs.sync_dir(dir)?;
    }

    let last_lsn = last.last_lsn();
    let mut front = front;
    if front > last_lsn + 1 {
        // The watermark is past the end of the log: records it says exist are gone (the
        // front is made durable only after everything below it is).
        let path = dir.join(FRONT_FILE);
        if !matches!(
            mode,
            RecoveryMode::PointInTime | RecoveryMode::SkipCorrupted
        ) {
            return Err(corrupt(&path, 0, CorruptKind::BadFront));
        }
        rec.report.damage.push(DamageNote {
            segment: path,
            offset: 0,
            kind: CorruptKind::BadFront,
        });
        front = 1;
    }
    // The watermark recovery acts on must be durable, not just visible: if the directory
    // fsync after its rename failed, the new name may never reach the disk. Write it again.
    if names.iter().any(|n| n == FRONT_FILE) {
        write_front(vfs, dir, front)?;
    }
    // Segments wholly below the (now validated) front watermark — a purge cut short by a
    // crash: finish it, oldest first, each removal durable before the next (unsynced
    // removals may reach the disk in any order), so a crash midway leaves a contiguous chain,
    // as `Ctx::purge_one` does.
    while segments.len() >= 2 && segments[1].header.first_lsn <= front {
        let s = segments.remove(0);
        rec.remove(&s.path)?;
        vfs.sync_dir(dir)?;
    }
    let first_lsn = segments[0].header.first_lsn.max(front);
    rec.report.segments = segments.len() as u64;
    rec.report.first_lsn = Some(Lsn::new(first_lsn));
    rec.report.last_lsn = (last_lsn >= first_lsn).then(|| Lsn::new(last_lsn));
    rec.report.records = (last_lsn + 1).saturating_sub(first_lsn);
    rec.report.duration = started.elapsed();
    Ok(Recovered {
        segments,
        offset: scan.end,
        hasher: scan.hasher,
        record_count: scan.records,
        index: scan.index,
        sealed: sealed.then_some(scan.sealed_crc),
        front_lsn: first_lsn,
        report: rec.report,
    })
}

#[cfg(test)]
mod coverage_marks {
    //! Each branch of the recovery decision table reached on `cairn-sim`, and checked with
    //! `cov_mark::check!` that it is the branch the damage takes.

    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use cairn_io::{OpenMode, Vfs};
    use cairn_sim::SimVfs;

    use crate::segment::segment_file_name;
    use crate::{Durability, RecoveryMode, Wal, WalOptions};

    const DIR: &str = "/w";

    fn options(mode: RecoveryMode) -> WalOptions {
        WalOptions {
            segment_size_max: 4096,
            record_size_max: 512,
            recovery_mode: mode,
            ..WalOptions::default()
        }
    }

    fn open(sim: &SimVfs, mode: RecoveryMode) -> crate::Result<Wal> {
        Wal::open(DIR, options(mode), Arc::new(sim.clone())).map(|(wal, _)| wal)
    }

    /// A closed log of `n` fsync'd 100-byte records (21 fit in a segment).
    fn log(n: u64) -> SimVfs {
        let sim = SimVfs::new(n);
        let wal = open(&sim, RecoveryMode::TolerateTornTail).unwrap();
        for i in 0..n {
            wal.append(vec![i as u8; 100], Durability::Fsync).unwrap();
        }
        wal.close().unwrap();
        drop(wal);
        sim
    }

    fn seg(id: u64) -> PathBuf {
        Path::new(DIR).join(segment_file_name(id))
    }

    fn poke(sim: &SimVfs, path: &Path, offset: u64, bytes: &[u8]) {
        let file = sim.open(path, OpenMode::ReadWrite).unwrap();
        file.write_all_at(bytes, offset).unwrap();
    }

    fn new_file(sim: &SimVfs, path: &Path, bytes: &[u8], len: u64) {
        let file = sim.create_new(path).unwrap();
        file.write_all_at(bytes, 0).unwrap();
        file.set_len(len).unwrap();
    }

    /// The end of the frames of a one-segment log of `n` records: header + n frames.
    fn frames_end(n: u64) -> u64 {
        64 + n * 136
    }

    #[test]
    fn an_empty_directory_starts_a_log() {
        cov_mark::check!(recovery_new_log);
        open(&SimVfs::new(1), RecoveryMode::TolerateTornTail).unwrap();
    }

    #[test]
    fn a_left_over_front_temp_file_is_removed() {
        let sim = log(3);
        new_file(&sim, &Path::new(DIR).join("FRONT.tmp"), b"junk", 4);
        cov_mark::check!(recovery_front_tmp_removed);
        open(&sim, RecoveryMode::TolerateTornTail).unwrap();
    }

    #[test]
    fn an_unused_spare_segment_is_removed() {
        let sim = log(3);
        new_file(&sim, &seg(2), &[], 4096);
        cov_mark::check!(recovery_spare_removed);
        open(&sim, RecoveryMode::TolerateTornTail).unwrap();
    }

    #[test]
    fn garbage_after_the_last_frame_is_a_torn_tail() {
        let sim = log(3);
        poke(&sim, &seg(1), frames_end(3), &[0xAB; 16]);
        {
            cov_mark::check!(recovery_torn_tail_refused);
            assert!(open(&sim, RecoveryMode::AbsoluteConsistency).is_err());
        }
        cov_mark::check!(recovery_torn_tail_cut);
        let wal = open(&sim, RecoveryMode::TolerateTornTail).unwrap();
        assert_eq!(wal.next_lsn().get(), 4);
    }

    #[test]
    fn a_damaged_frame_followed_by_valid_ones_is_corruption() {
        let sim = log(3);
        poke(&sim, &seg(1), 64 + 32 + 10, &[0xFF]);
        {
            cov_mark::check!(recovery_corruption_refused);
            assert!(open(&sim, RecoveryMode::TolerateTornTail).is_err());
        }
        cov_mark::check!(recovery_corruption_cut);
        let wal = open(&sim, RecoveryMode::PointInTime).unwrap();
        assert_eq!(wal.next_lsn().get(), 1);
    }

    #[test]
    fn a_torn_header_on_the_newest_segment() {
        let sim = log(3);
        new_file(&sim, &seg(2), &[0xFF; 64], 64);
        {
            cov_mark::check!(recovery_bad_header_refused);
            assert!(open(&sim, RecoveryMode::AbsoluteConsistency).is_err());
        }
        cov_mark::check!(recovery_torn_header_quarantined);
        let wal = open(&sim, RecoveryMode::TolerateTornTail).unwrap();
        assert_eq!(wal.next_lsn().get(), 4);
    }

    #[test]
    fn a_missing_middle_segment() {
        let sim = log(50);
        sim.remove_file(&seg(2)).unwrap();
        {
            cov_mark::check!(recovery_chain_problem_refused);
            assert!(open(&sim, RecoveryMode::TolerateTornTail).is_err());
        }
        {
            cov_mark::check!(recovery_chain_problem_skipped);
            let snapshot = sim.crash_image(&cairn_sim::CrashModel::Process);
            open(&snapshot, RecoveryMode::SkipCorrupted).unwrap();
        }
        cov_mark::check!(recovery_chain_problem_cut);
        open(&sim, RecoveryMode::PointInTime).unwrap();
    }

    #[test]
    fn a_sealed_segment_without_its_trailer() {
        let sim = log(50);
        let len = sim.file_bytes(&seg(1)).unwrap().len() as u64;
        poke(&sim, &seg(1), len - 1, &[0x5A]);
        cov_mark::check!(recovery_unsealed_refused);
        assert!(open(&sim, RecoveryMode::TolerateTornTail).is_err());
    }

    #[test]
    fn a_seal_never_trimmed_is_repaired() {
        let sim = log(50);
        let file = sim.open(&seg(1), OpenMode::ReadWrite).unwrap();
        file.set_len(4096).unwrap();
        drop(file);
        cov_mark::check!(recovery_untrimmed_seal_repaired);
        let wal = open(&sim, RecoveryMode::TolerateTornTail).unwrap();
        assert_eq!(wal.next_lsn().get(), 51);
    }
}
