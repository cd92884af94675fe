//! CRC-32 checksums: one-shot, streaming, and the masked form for nested checksums.

use std::fmt;

/// A CRC-32 (IEEE) checksum value.
///
/// A newtype rather than a bare `u32` so that a checksum is never passed where a length, an
/// offset or a count is expected. On disk it is stored as 4 little-endian bytes
/// ([`Crc32::to_le_bytes`]).
///
/// # Examples
///
/// ```
/// use cairn_crc::Crc32;
///
/// let crc = Crc32::of(b"123456789");
/// assert_eq!(crc.get(), 0xCBF4_3926);
/// assert_eq!(Crc32::from_le_bytes(crc.to_le_bytes()), crc);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Crc32(u32);

impl Crc32 {
    /// Computes the CRC-32 of `bytes` in one call.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(crc32fast::hash(bytes))
    }

    /// Wraps a raw value, e.g. one read from disk.
    #[must_use]
    pub const fn new(value: u32) -> Self {
        Self(value)
    }

    /// Returns the raw value.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The 4-byte little-endian encoding stored on disk.
    #[must_use]
    pub const fn to_le_bytes(self) -> [u8; 4] {
        self.0.to_le_bytes()
    }

    /// Decodes the 4-byte little-endian encoding.
    #[must_use]
    pub const fn from_le_bytes(bytes: [u8; 4]) -> Self {
        Self(u32::from_le_bytes(bytes))
    }

    /// Returns the masked form of this checksum, for storing inside checksummed data.
    ///
    /// See [`MaskedCrc32`] for the reason.
    #[must_use]
    pub const fn mask(self) -> MaskedCrc32 {
        MaskedCrc32(self.0.rotate_right(15).wrapping_add(MASK_DELTA))
    }
}

impl fmt::Debug for Crc32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Crc32({:#010x})", self.0)
    }
}

impl fmt::Display for Crc32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// The constant added by the mask (the same one LevelDB and RocksDB use).
const MASK_DELTA: u32 = 0xa282_ead8;

/// A CRC-32 in masked form: rotated right by 15 bits, plus a constant.
///
/// # Why masking exists
///
/// CRC is linear. When a structure stores the CRC of some bytes *and* those bytes, with the
/// stored CRC, are then covered by an outer CRC (a frame checksum over a payload that embeds a
/// chunk checksum, a segment footer checksum over frames), the outer CRC of "data followed by
/// its own CRC" is a constant residue that does not depend on the data. A run of such
/// structures — or an all-zero region, whose CRC-with-zero-seed is zero — can then look valid
/// to the outer check. Storing the embedded checksum masked breaks that algebraic relation, so
/// the outer check keeps its full strength. The mask is a bijection, so nothing is lost:
/// [`MaskedCrc32::unmask`] gives the checksum back.
///
/// # Examples
///
/// ```
/// use cairn_crc::{Crc32, MaskedCrc32};
///
/// let crc = Crc32::of(b"payload");
/// let masked = crc.mask();
/// assert_ne!(masked.get(), crc.get());
/// assert_eq!(masked.unmask(), crc);
/// assert_eq!(MaskedCrc32::new(masked.get()).unmask(), crc);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MaskedCrc32(u32);

impl MaskedCrc32 {
    /// Wraps a raw masked value, e.g. one read from disk.
    #[must_use]
    pub const fn new(value: u32) -> Self {
        Self(value)
    }

    /// Returns the raw masked value (what is stored).
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Recovers the plain checksum.
    #[must_use]
    pub const fn unmask(self) -> Crc32 {
        Crc32(self.0.wrapping_sub(MASK_DELTA).rotate_left(15))
    }

    /// The 4-byte little-endian encoding stored on disk.
    #[must_use]
    pub const fn to_le_bytes(self) -> [u8; 4] {
        self.0.to_le_bytes()
    }

    /// Decodes the 4-byte little-endian encoding.
    #[must_use]
    pub const fn from_le_bytes(bytes: [u8; 4]) -> Self {
        Self(u32::from_le_bytes(bytes))
    }
}

impl fmt::Debug for MaskedCrc32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaskedCrc32({:#010x})", self.0)
    }
}

/// Computes a CRC-32 over data that arrives in pieces.
///
/// Feeding the pieces in order gives the same checksum as [`Crc32::of`] over their
/// concatenation.
///
/// # Examples
///
/// ```
/// use cairn_crc::{Crc32, Crc32Hasher};
///
/// let mut hasher = Crc32Hasher::new();
/// hasher.update(b"hello, ");
/// hasher.update(b"world");
/// assert_eq!(hasher.finish(), Crc32::of(b"hello, world"));
/// ```
#[derive(Clone, Default)]
pub struct Crc32Hasher {
    inner: crc32fast::Hasher,
}

impl Crc32Hasher {
    /// Starts a new checksum.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece of data.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
    }

    /// Returns the checksum of everything fed so far, without consuming the hasher.
    #[must_use]
    pub fn finish(&self) -> Crc32 {
        Crc32(self.inner.clone().finalize())
    }
}

impl fmt::Debug for Crc32Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Crc32Hasher({})", self.finish())
    }
}
