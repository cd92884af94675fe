//! The values that describe a snapshot: its [`SnapshotId`], the [`NewSnapshot`] parameters a
//! writer starts from, and the verified [`SnapshotMeta`] a writer or reader ends with.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_crc::Digest;

/// Identifies a snapshot: the log position (LSN) it covers and the term it was taken in.
///
/// Ids order by `lsn`, then `term`; "newest" means greatest.
///
/// # Examples
///
/// ```
/// use cairn_snapshot::SnapshotId;
///
/// let old = SnapshotId::new(100, 3);
/// let new = SnapshotId::new(200, 3);
/// assert!(new > old);
/// assert_eq!(new.to_string(), "lsn 200 term 3");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotId {
    /// The last log sequence number the snapshot includes.
    pub lsn: u64,
    /// The term (Raft term, epoch, generation) the snapshot belongs to.
    pub term: u64,
}

impl SnapshotId {
    /// Builds an id.
    #[must_use]
    pub const fn new(lsn: u64, term: u64) -> Self {
        Self { lsn, term }
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lsn {} term {}", self.lsn, self.term)
    }
}

/// The parameters of a snapshot about to be written.
///
/// # Examples
///
/// ```
/// use cairn_snapshot::NewSnapshot;
///
/// let new = NewSnapshot::new(42, 7).user_meta(b"schema=3".to_vec()).created_unix_nanos(1);
/// assert_eq!(new.id().lsn, 42);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSnapshot {
    pub(crate) id: SnapshotId,
    pub(crate) created_unix_nanos: Option<u64>,
    pub(crate) user_meta: Vec<u8>,
    pub(crate) salt: Option<u64>,
}

impl NewSnapshot {
    /// A snapshot of the state at `lsn` in `term`, created now, without user metadata.
    #[must_use]
    pub fn new(lsn: u64, term: u64) -> Self {
        Self {
            id: SnapshotId::new(lsn, term),
            created_unix_nanos: None,
            user_meta: Vec::new(),
            salt: None,
        }
    }

    /// Sets the creation time in nanoseconds since the Unix epoch. Default: the system clock
    /// when the writer starts.
    #[must_use]
    pub fn created_unix_nanos(mut self, nanos: u64) -> Self {
        self.created_unix_nanos = Some(nanos);
        self
    }

    /// Attaches opaque user metadata, stored in the header. Default: empty. Maximum:
    /// [`crate::USER_META_SIZE_MAX`] bytes (64 KiB), checked when the writer starts.
    #[must_use]
    pub fn user_meta(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.user_meta = bytes.into();
        self
    }

    /// Sets the 64-bit salt mixed into every chunk checksum, which tells this file's chunks
    /// from another file's. Default: random ([`crate::SnapshotStore`] draws it from its Vfs so
    /// that simulated runs are reproducible).
    #[must_use]
    pub fn salt(mut self, salt: u64) -> Self {
        self.salt = Some(salt);
        self
    }

    /// The id the snapshot will have.
    #[must_use]
    pub fn id(&self) -> SnapshotId {
        self.id
    }

    pub(crate) fn resolved_created(&self) -> u64 {
        self.created_unix_nanos.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        })
    }

    pub(crate) fn resolved_salt(&self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        self.salt.unwrap_or_else(|| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(self.id.lsn);
            hasher.write_u64(self.id.term);
            hasher.finish()
        })
    }
}

/// What a verified snapshot holds: its id, when it was made, its payload's size and digest,
/// and the user metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotMeta {
    /// The last log sequence number the snapshot includes.
    pub lsn: u64,
    /// The term the snapshot belongs to.
    pub term: u64,
    /// When the snapshot was created, in nanoseconds since the Unix epoch.
    pub created_unix_nanos: u64,
    /// The payload's size in bytes (what a reader yields; excludes headers and checksums).
    pub payload_size: u64,
    /// The BLAKE3 digest of the payload.
    pub digest: Digest,
    /// The user metadata given to [`NewSnapshot::user_meta`].
    pub user_meta: Vec<u8>,
}

impl SnapshotMeta {
    /// The snapshot's id.
    #[must_use]
    pub fn id(&self) -> SnapshotId {
        SnapshotId::new(self.lsn, self.term)
    }
}
