//! Crash images: which pending operations survive a crash, and the independent simulator
//! built from the survivors.
//!
//! A [`CrashModel`] names a way to crash (a process crash, or power loss under one of several
//! models); each power-loss model reduces to a [`CrashPlan`] — one [`OpFate`] per pending
//! operation — which an explorer can also build itself to enumerate subsets and tears.

use std::path::PathBuf;

use crate::media::{Action, Media};
use crate::rng::{SimRng, derive};

/// The 512-byte sector of older disks: the unit a torn write is split into.
pub const SECTOR_512: u64 = 512;
/// The 4 KiB sector (and page) of modern disks and file systems.
pub const SECTOR_4K: u64 = 4096;

/// How the simulated machine goes down, for [`crate::SimVfs::crash_image`].
///
/// Every power-loss model starts from the durable image (what syncs made durable) and
/// replays some of the pending operations (see [`crate::SimVfs::pending_ops`]) in their
/// original order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrashModel {
    /// The process dies; the OS survives. Everything written survives (it is in the page
    /// cache), and what was not yet durable stays pending, so a later power loss on the
    /// image can still lose it.
    Process,
    /// Power loss that keeps nothing unsynced: the durable image alone.
    DropAll,
    /// Power loss that keeps the first `n` pending operations (all of them if `n` is larger).
    Prefix(usize),
    /// Power loss that keeps pending operation `i` if bit `i` of the mask is set
    /// (operations from the 65th on are dropped). Enumerating `0..1 << n` covers every
    /// subset of `n <= 64` pending operations.
    Subset(u64),
    /// Power loss that keeps each pending operation with probability one half, drawn from
    /// `seed`.
    RandomSubset {
        /// The seed of the choice.
        seed: u64,
    },
    /// Power loss during writeback: each pending operation is dropped, kept or — for
    /// writes — torn at `sector_size` boundaries, each piece old, new, zeros or garbage,
    /// drawn from `seed`. With `psow` (power-safe overwrite), a piece that covers bytes
    /// already on the media is only ever old or new.
    Torn {
        /// Where writes tear: [`SECTOR_512`], [`SECTOR_4K`] or any power of two.
        sector_size: u64,
        /// Whether the media guarantees power-safe overwrite.
        psow: bool,
        /// The seed of the choice.
        seed: u64,
    },
    /// Power loss with an explicit fate for every pending operation.
    Plan(CrashPlan),
}

/// The fate of every pending operation in a power loss: what an explorer enumerates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashPlan {
    /// The fate of pending operation `i`; operations past the end are dropped.
    pub fates: Vec<OpFate>,
    /// Power-safe overwrite: a [`SectorFate::Zeros`] or [`SectorFate::Garbage`] piece that
    /// covers bytes already on the media (below the file's length at that point of the
    /// replay) is applied as [`SectorFate::Old`] instead.
    pub psow: bool,
}

/// What happens to one pending operation in a power loss.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpFate {
    /// The operation never reached the media.
    Drop,
    /// The operation reached the media in full.
    Keep,
    /// A write reached the media in pieces: one fate per `sector_size`-aligned piece of the
    /// written range (see [`PendingOp::sector_count`]).
    Tear {
        /// The sector size the write is split at; a power of two.
        sector_size: u64,
        /// The fate of each piece, in offset order.
        pieces: Vec<SectorFate>,
    },
}

/// What one sector-aligned piece of a torn write holds after the crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SectorFate {
    /// The old bytes (past the end of the file: the piece was not written at all).
    Old,
    /// The new bytes.
    New,
    /// Zeros.
    Zeros,
    /// Garbage bytes, from the seed.
    Garbage,
}

/// What a pending (not yet durable) operation does, as listed by
/// [`crate::SimVfs::pending_ops`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PendingKind {
    /// A write of `len` bytes at `offset` (where the media will receive them: a misdirected
    /// write lists the wrong offset).
    Write {
        /// Where the bytes land.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
    /// A change of length (`set_len`, or `allocate` past the end).
    SetLen {
        /// The new length.
        len: u64,
    },
    /// Directory entries created, renamed or removed in one directory, applied atomically.
    Entries {
        /// The entry names that change.
        names: Vec<String>,
    },
}

/// One pending operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingOp {
    /// Its position in the pending list: the index [`CrashPlan::fates`] and
    /// [`CrashModel::Subset`] use.
    pub index: usize,
    /// The mutating call that queued it (see [`crate::CallRecord::call`]).
    pub call: u64,
    /// The file (as it was opened) or the directory whose entries change.
    pub path: PathBuf,
    /// What it does.
    pub kind: PendingKind,
}

impl PendingOp {
    /// How many `sector_size`-aligned pieces a write splits into when torn (0 for other
    /// operations): the length [`OpFate::Tear`] needs.
    ///
    /// # Panics
    ///
    /// If `sector_size` is not a power of two.
    #[must_use]
    pub fn sector_count(&self, sector_size: u64) -> usize {
        match self.kind {
            PendingKind::Write { offset, len } => pieces(offset, len, sector_size).len(),
            PendingKind::SetLen { .. } | PendingKind::Entries { .. } => 0,
        }
    }

    /// Whether this is a write (the only operation that can be torn).
    #[must_use]
    pub fn is_write(&self) -> bool {
        matches!(self.kind, PendingKind::Write { .. })
    }
}

impl CrashModel {
    /// The plan this model applies to `pending` (from [`crate::SimVfs::pending_ops`]), or
    /// `None` for [`CrashModel::Process`], which is not a power loss.
    ///
    /// # Panics
    ///
    /// If a [`CrashModel::Torn`] sector size is not a power of two.
    #[must_use]
    pub fn plan_for(&self, pending: &[PendingOp]) -> Option<CrashPlan> {
        let count = pending.len();
        let fates = match self {
            CrashModel::Process => return None,
            CrashModel::Plan(plan) => return Some(plan.clone()),
            CrashModel::DropAll => vec![OpFate::Drop; count],
            CrashModel::Prefix(n) => (0..count)
                .map(|i| if i < *n { OpFate::Keep } else { OpFate::Drop })
                .collect(),
            CrashModel::Subset(mask) => (0..count)
                .map(|i| {
                    if i < 64 && mask >> i & 1 == 1 {
                        OpFate::Keep
                    } else {
                        OpFate::Drop
                    }
                })
                .collect(),
            CrashModel::RandomSubset { seed } => {
                let mut rng = SimRng::new(*seed);
                (0..count)
                    .map(|_| {
                        if rng.below(2) == 1 {
                            OpFate::Keep
                        } else {
                            OpFate::Drop
                        }
                    })
                    .collect()
            }
            CrashModel::Torn {
                sector_size,
                psow,
                seed,
            } => {
                let mut rng = SimRng::new(*seed);
                let fates = pending
                    .iter()
                    .map(|op| torn_fate(op, *sector_size, &mut rng))
                    .collect();
                return Some(CrashPlan { fates, psow: *psow });
            }
        };
        assert_eq!(fates.len(), count);
        Some(CrashPlan { fates, psow: true })
    }
}

/// A seeded fate for one operation: dropped, kept, or (writes only) torn.
fn torn_fate(op: &PendingOp, sector_size: u64, rng: &mut SimRng) -> OpFate {
    let choices = if op.is_write() { 3 } else { 2 };
    match rng.below(choices) {
        0 => OpFate::Drop,
        1 => OpFate::Keep,
        _ => {
            const FATES: [SectorFate; 4] = [
                SectorFate::Old,
                SectorFate::New,
                SectorFate::Zeros,
                SectorFate::Garbage,
            ];
            let pieces = (0..op.sector_count(sector_size))
                .map(|_| FATES[usize::try_from(rng.below(4)).expect("below 4")])
                .collect();
            OpFate::Tear {
                sector_size,
                pieces,
            }
        }
    }
}

/// The `sector_size`-aligned pieces of `[offset, offset + len)`, as `(start, end)` pairs.
pub(crate) fn pieces(offset: u64, len: u64, sector_size: u64) -> Vec<(u64, u64)> {
    assert!(
        sector_size.is_power_of_two(),
        "sector size {sector_size} is not a power of two"
    );
    let end = offset.checked_add(len).expect("write ranges are bounded");
    let mut out = Vec::new();
    let mut start = offset;
    // Bounded: each step advances `start` by at least one byte towards `end`.
    while start < end {
        let boundary = (start / sector_size + 1).saturating_mul(sector_size);
        let stop = boundary.min(end);
        assert!(stop > start);
        out.push((start, stop));
        start = stop;
    }
    assert_eq!(out.first().map_or(offset, |p| p.0), offset);
    out
}

/// One queued operation: the call that made it, the path it names, and the action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) call: u64,
    pub(crate) path: PathBuf,
    pub(crate) action: Action,
}

impl Pending {
    /// The public description of the operation at `index`.
    pub(crate) fn describe(&self, index: usize) -> PendingOp {
        let kind = match &self.action {
            Action::Write { offset, data, .. } => PendingKind::Write {
                offset: *offset,
                len: data.len() as u64,
            },
            Action::SetLen { len, .. } => PendingKind::SetLen { len: *len },
            Action::Entries { changes, .. } => PendingKind::Entries {
                names: changes.iter().map(|(name, _)| name.clone()).collect(),
            },
        };
        PendingOp {
            index,
            call: self.call,
            path: self.path.clone(),
            kind,
        }
    }
}

/// The media after a power loss: `durable` with the pending operations `plan` keeps (or
/// tears) replayed in order, then unreachable inodes dropped.
///
/// # Panics
///
/// If the plan tears an operation that is not a write, or gives a tear the wrong number of
/// pieces for its sector size.
pub(crate) fn build(
    durable: &Media,
    pending: &[Pending],
    plan: &CrashPlan,
    garbage_seed: u64,
) -> Media {
    let mut media = durable.clone();
    for (index, op) in pending.iter().enumerate() {
        match plan.fates.get(index).unwrap_or(&OpFate::Drop) {
            OpFate::Drop => {}
            OpFate::Keep => media.apply(&op.action),
            OpFate::Tear {
                sector_size,
                pieces: fates,
            } => {
                let Action::Write { ino, offset, data } = &op.action else {
                    panic!("OpFate::Tear given to pending op {index}, which is not a write");
                };
                let ranges = pieces(*offset, data.len() as u64, *sector_size);
                assert_eq!(
                    ranges.len(),
                    fates.len(),
                    "pending op {index} splits into {} pieces at {sector_size} bytes",
                    ranges.len()
                );
                let mut rng = SimRng::new(derive(garbage_seed, index as u64));
                for ((start, end), fate) in ranges.into_iter().zip(fates) {
                    let on_media = media.files.get(ino).map_or(0, Vec::len) as u64;
                    let fate = match fate {
                        SectorFate::Zeros | SectorFate::Garbage
                            if plan.psow && start < on_media =>
                        {
                            SectorFate::Old
                        }
                        other => *other,
                    };
                    let from = usize::try_from(start - offset).expect("bounded by the write");
                    let to = usize::try_from(end - offset).expect("bounded by the write");
                    let bytes = match fate {
                        SectorFate::Old => continue,
                        SectorFate::New => data[from..to].to_vec(),
                        SectorFate::Zeros => vec![0; to - from],
                        SectorFate::Garbage => {
                            let mut garbage = vec![0; to - from];
                            rng.fill(&mut garbage);
                            garbage
                        }
                    };
                    media.apply(&Action::Write {
                        ino: *ino,
                        offset: start,
                        data: bytes,
                    });
                }
            }
        }
    }
    media.collect_garbage();
    media
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_at_sector_boundaries() {
        assert_eq!(pieces(0, 1024, 512), vec![(0, 512), (512, 1024)]);
        assert_eq!(pieces(500, 30, 512), vec![(500, 512), (512, 530)]);
        assert_eq!(pieces(10, 5, 4096), vec![(10, 15)]);
        assert!(pieces(7, 0, 512).is_empty());
    }
}
