//! BLAKE3 digests: one-shot and streaming.

use std::fmt;

/// A 32-byte BLAKE3 digest.
///
/// Used where a checksum must also resist deliberate or accidental collisions: whole snapshot
/// payloads, content hashes for de-duplication. Compared in constant time.
///
/// # Examples
///
/// ```
/// use cairn_crc::Digest;
///
/// let digest = Digest::of(b"");
/// assert_eq!(
///     digest.to_hex(),
///     "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
/// );
/// assert_eq!(Digest::from_bytes(*digest.as_bytes()), digest);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(blake3::Hash);

impl Digest {
    /// The encoded size in bytes.
    pub const SIZE: usize = blake3::OUT_LEN;

    /// Hashes `bytes` in one call.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(blake3::hash(bytes))
    }

    /// Wraps 32 raw bytes, e.g. read from disk.
    #[must_use]
    pub fn from_bytes(bytes: [u8; Self::SIZE]) -> Self {
        Self(blake3::Hash::from_bytes(bytes))
    }

    /// The 32 raw bytes, as stored on disk.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; Self::SIZE] {
        self.0.as_bytes()
    }

    /// Lower-case hexadecimal, 64 characters.
    #[must_use]
    pub fn to_hex(&self) -> String {
        self.0.to_hex().to_string()
    }

    /// Parses 64 hexadecimal characters; `None` if `hex` is not exactly that.
    #[must_use]
    pub fn from_hex(hex: &str) -> Option<Self> {
        blake3::Hash::from_hex(hex).ok().map(Self)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Computes a BLAKE3 digest over data that arrives in pieces.
///
/// # Examples
///
/// ```
/// use cairn_crc::{Digest, DigestHasher};
///
/// let mut hasher = DigestHasher::new();
/// hasher.update(b"snap");
/// hasher.update(b"shot");
/// assert_eq!(hasher.finish(), Digest::of(b"snapshot"));
/// assert_eq!(hasher.len(), 8);
/// ```
#[derive(Clone, Default)]
pub struct DigestHasher {
    inner: blake3::Hasher,
}

impl DigestHasher {
    /// Starts a new digest.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece of data.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
    }

    /// Returns the digest of everything fed so far, without consuming the hasher.
    #[must_use]
    pub fn finish(&self) -> Digest {
        Digest(self.inner.finalize())
    }

    /// The number of bytes fed so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.inner.count()
    }

    /// Whether nothing has been fed yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for DigestHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DigestHasher({} bytes)", self.len())
    }
}
