//! The snapshot file format: constants, the byte layout, and hand-written little-endian
//! encoders and decoders for the header, the chunk headers and the footer.
//!
//! the snapshot section of `docs/FORMAT.md` is the reference; this comment repeats the layout so the
//! constants below can be checked against it.
//!
//! ```text
//! +---------------------------------------------------------------+
//! | header: fixed part (56 B) | user_meta (0..=64 KiB) | crc (4 B) |
//! +---------------------------------------------------------------+
//! | chunk 0: size u32 | crc u32 | data (1..=chunk_size_max B)      |
//! | chunk 1: ...                                                   |
//! | end chunk: size = 0 | crc u32                                  |
//! +---------------------------------------------------------------+
//! | footer (96 B)                                                  |
//! +---------------------------------------------------------------+
//!
//! header fixed part             footer
//!  0  8 magic "CRNSNAP\x01"      0  8 magic "CRNSEND\x01"
//!  8  2 format version (1)       8  2 format version (1)
//! 10  2 flags (0)               10  2 reserved (0)
//! 12  4 chunk_size_max          12  4 header crc (masked)
//! 16  8 lsn                     16  8 lsn
//! 24  8 term                    24  8 term
//! 32  8 created_unix_nanos      32  8 created_unix_nanos
//! 40  4 user_meta_size          40  8 payload_size
//! 44  4 reserved (0)            48  8 chunk_count
//! 48  8 salt                    56 32 BLAKE3 digest of the payload
//! 56  . user_meta               88  4 reserved (0)
//!  .  4 header crc              92  4 footer crc over bytes 0..92
//! ```
//!
//! A chunk's CRC-32 covers `salt (u64) ‖ chunk_index (u64) ‖ size (u32) ‖ data`, so a chunk
//! copied from another snapshot file (other salt) or from another position (other index)
//! fails its check, and so does the end chunk.

use cairn_crc::{Crc32, Crc32Hasher, Digest, MaskedCrc32};

/// Magic bytes that open every snapshot file.
pub const HEADER_MAGIC: [u8; 8] = *b"CRNSNAP\x01";
/// Magic bytes that open the footer.
pub const FOOTER_MAGIC: [u8; 8] = *b"CRNSEND\x01";
/// The format version this crate writes, and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;

// Header fixed part: offsets derived from one another.
const H_MAGIC: usize = 0;
const H_VERSION: usize = H_MAGIC + 8;
const H_FLAGS: usize = H_VERSION + 2;
const H_CHUNK_SIZE_MAX: usize = H_FLAGS + 2;
const H_LSN: usize = H_CHUNK_SIZE_MAX + 4;
const H_TERM: usize = H_LSN + 8;
const H_CREATED: usize = H_TERM + 8;
const H_USER_META_SIZE: usize = H_CREATED + 8;
const H_RESERVED: usize = H_USER_META_SIZE + 4;
const H_SALT: usize = H_RESERVED + 4;
/// Size of the header's fixed part, before the user metadata.
pub const HEADER_FIXED_SIZE: usize = H_SALT + 8;
/// Size of the CRC that closes the header.
pub const HEADER_CRC_SIZE: usize = 4;

// Chunk header.
const C_SIZE: usize = 0;
const C_CRC: usize = C_SIZE + 4;
/// Size of the header in front of every chunk's data.
pub const CHUNK_HEADER_SIZE: usize = C_CRC + 4;

// Footer.
const F_MAGIC: usize = 0;
const F_VERSION: usize = F_MAGIC + 8;
const F_RESERVED_A: usize = F_VERSION + 2;
const F_HEADER_CRC: usize = F_RESERVED_A + 2;
const F_LSN: usize = F_HEADER_CRC + 4;
const F_TERM: usize = F_LSN + 8;
const F_CREATED: usize = F_TERM + 8;
const F_PAYLOAD_SIZE: usize = F_CREATED + 8;
const F_CHUNK_COUNT: usize = F_PAYLOAD_SIZE + 8;
const F_DIGEST: usize = F_CHUNK_COUNT + 8;
const F_RESERVED_B: usize = F_DIGEST + Digest::SIZE;
const F_CRC: usize = F_RESERVED_B + 4;
/// Size of the footer.
pub const FOOTER_SIZE: usize = F_CRC + 4;

/// Largest user metadata a snapshot may carry: 64 KiB.
pub const USER_META_SIZE_MAX: u32 = 64 * 1024;
/// Smallest chunk size a writer may use: 4 KiB.
pub const CHUNK_SIZE_MIN: u32 = 4 * 1024;
/// Largest chunk size a writer may use, and the most a reader allocates for one chunk: 16 MiB.
pub const CHUNK_SIZE_MAX: u32 = 16 * 1024 * 1024;
/// The chunk size writers use unless told otherwise: 256 KiB.
pub const CHUNK_SIZE_DEFAULT: u32 = 256 * 1024;

const _: () = assert!(HEADER_FIXED_SIZE == 56);
const _: () = assert!(HEADER_FIXED_SIZE.is_multiple_of(8));
const _: () = assert!(CHUNK_HEADER_SIZE == 8);
const _: () = assert!(FOOTER_SIZE == 96);
const _: () = assert!(FOOTER_SIZE.is_multiple_of(8));
const _: () = assert!(Digest::SIZE == 32);
const _: () = assert!(CHUNK_SIZE_MIN <= CHUNK_SIZE_DEFAULT && CHUNK_SIZE_DEFAULT <= CHUNK_SIZE_MAX);
const _: () = assert!(USER_META_SIZE_MAX < CHUNK_SIZE_MAX);

/// The fields of a snapshot header, as written and as decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) chunk_size_max: u32,
    pub(crate) lsn: u64,
    pub(crate) term: u64,
    pub(crate) created_unix_nanos: u64,
    pub(crate) salt: u64,
    pub(crate) user_meta: Vec<u8>,
}

/// Why the fixed part of a header was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FixedHeaderError {
    BadMagic,
    UnsupportedVersion(u16),
    NonZeroReserved,
    ChunkSizeOutOfRange(u32),
    UserMetaTooLarge(u32),
}

/// The fixed part of a header after its range checks: how much more to read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FixedHeader {
    pub(crate) user_meta_size: u32,
}

impl Header {
    /// Total encoded size: fixed part, user metadata and CRC.
    pub(crate) fn encoded_size(&self) -> usize {
        HEADER_FIXED_SIZE + self.user_meta.len() + HEADER_CRC_SIZE
    }

    /// Encodes the header, CRC included. The caller has bounded the user metadata.
    pub(crate) fn encode(&self) -> Vec<u8> {
        assert!(
            self.user_meta.len() <= USER_META_SIZE_MAX as usize,
            "user_meta unbounded"
        );
        assert!((CHUNK_SIZE_MIN..=CHUNK_SIZE_MAX).contains(&self.chunk_size_max));
        let meta_size = u32::try_from(self.user_meta.len()).unwrap_or(u32::MAX);
        let mut out = vec![0_u8; self.encoded_size()];
        out[H_MAGIC..H_VERSION].copy_from_slice(&HEADER_MAGIC);
        out[H_VERSION..H_FLAGS].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[H_FLAGS..H_CHUNK_SIZE_MAX].copy_from_slice(&0_u16.to_le_bytes());
        out[H_CHUNK_SIZE_MAX..H_LSN].copy_from_slice(&self.chunk_size_max.to_le_bytes());
        out[H_LSN..H_TERM].copy_from_slice(&self.lsn.to_le_bytes());
        out[H_TERM..H_CREATED].copy_from_slice(&self.term.to_le_bytes());
        out[H_CREATED..H_USER_META_SIZE].copy_from_slice(&self.created_unix_nanos.to_le_bytes());
        out[H_USER_META_SIZE..H_RESERVED].copy_from_slice(&meta_size.to_le_bytes());
        out[H_RESERVED..H_SALT].copy_from_slice(&0_u32.to_le_bytes());
        out[H_SALT..HEADER_FIXED_SIZE].copy_from_slice(&self.salt.to_le_bytes());
        let crc_at = HEADER_FIXED_SIZE + self.user_meta.len();
        out[HEADER_FIXED_SIZE..crc_at].copy_from_slice(&self.user_meta);
        let crc = Crc32::of(&out[..crc_at]);
        out[crc_at..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Checks the fixed part (magic, version, reserved fields, ranges) and says how many
    /// bytes of user metadata follow. The CRC is checked by [`Header::decode_rest`].
    pub(crate) fn check_fixed(
        fixed: &[u8; HEADER_FIXED_SIZE],
    ) -> Result<FixedHeader, FixedHeaderError> {
        if fixed[H_MAGIC..H_VERSION] != HEADER_MAGIC {
            return Err(FixedHeaderError::BadMagic);
        }
        let version = read_u16(fixed, H_VERSION);
        if version == 0 || version > FORMAT_VERSION {
            return Err(FixedHeaderError::UnsupportedVersion(version));
        }
        if read_u16(fixed, H_FLAGS) != 0 || read_u32(fixed, H_RESERVED) != 0 {
            return Err(FixedHeaderError::NonZeroReserved);
        }
        let chunk_size_max = read_u32(fixed, H_CHUNK_SIZE_MAX);
        if !(CHUNK_SIZE_MIN..=CHUNK_SIZE_MAX).contains(&chunk_size_max) {
            return Err(FixedHeaderError::ChunkSizeOutOfRange(chunk_size_max));
        }
        let user_meta_size = read_u32(fixed, H_USER_META_SIZE);
        if user_meta_size > USER_META_SIZE_MAX {
            return Err(FixedHeaderError::UserMetaTooLarge(user_meta_size));
        }
        Ok(FixedHeader { user_meta_size })
    }

    /// Decodes a header whose fixed part passed [`Header::check_fixed`]; `rest` is the user
    /// metadata followed by the stored CRC. Returns the header and its CRC, or the stored and
    /// computed CRCs if they differ.
    pub(crate) fn decode_rest(
        fixed: &[u8; HEADER_FIXED_SIZE],
        rest: &[u8],
    ) -> Result<(Header, Crc32), (Crc32, Crc32)> {
        assert!(
            rest.len() >= HEADER_CRC_SIZE,
            "caller sized rest from check_fixed"
        );
        let meta_len = rest.len() - HEADER_CRC_SIZE;
        let mut hasher = Crc32Hasher::new();
        hasher.update(fixed);
        hasher.update(&rest[..meta_len]);
        let actual = hasher.finish();
        let stored = Crc32::from_le_bytes(read_array(rest, meta_len));
        if stored != actual {
            return Err((stored, actual));
        }
        let header = Header {
            chunk_size_max: read_u32(fixed, H_CHUNK_SIZE_MAX),
            lsn: read_u64(fixed, H_LSN),
            term: read_u64(fixed, H_TERM),
            created_unix_nanos: read_u64(fixed, H_CREATED),
            salt: read_u64(fixed, H_SALT),
            user_meta: rest[..meta_len].to_vec(),
        };
        Ok((header, actual))
    }
}

/// The CRC of one chunk: over the file's salt, the chunk's index, its size and its data.
pub(crate) fn chunk_crc(salt: u64, chunk_index: u64, data: &[u8]) -> Crc32 {
    let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut hasher = Crc32Hasher::new();
    hasher.update(&salt.to_le_bytes());
    hasher.update(&chunk_index.to_le_bytes());
    hasher.update(&size.to_le_bytes());
    hasher.update(data);
    hasher.finish()
}

/// Encodes a chunk header.
pub(crate) fn encode_chunk_header(size: u32, crc: Crc32) -> [u8; CHUNK_HEADER_SIZE] {
    let mut out = [0_u8; CHUNK_HEADER_SIZE];
    out[C_SIZE..C_CRC].copy_from_slice(&size.to_le_bytes());
    out[C_CRC..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a chunk header into its size and stored CRC.
pub(crate) fn decode_chunk_header(bytes: &[u8; CHUNK_HEADER_SIZE]) -> (u32, Crc32) {
    (
        read_u32(bytes, C_SIZE),
        Crc32::from_le_bytes(read_array(bytes, C_CRC)),
    )
}

/// The fields of a footer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Footer {
    pub(crate) header_crc: Crc32,
    pub(crate) lsn: u64,
    pub(crate) term: u64,
    pub(crate) created_unix_nanos: u64,
    pub(crate) payload_size: u64,
    pub(crate) chunk_count: u64,
    pub(crate) digest: Digest,
}

/// Why a footer was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FooterError {
    BadMagic,
    Checksum { stored: Crc32, actual: Crc32 },
    UnsupportedVersion(u16),
    NonZeroReserved,
}

impl Footer {
    /// Encodes the footer, CRC included.
    pub(crate) fn encode(&self) -> [u8; FOOTER_SIZE] {
        let mut out = [0_u8; FOOTER_SIZE];
        out[F_MAGIC..F_VERSION].copy_from_slice(&FOOTER_MAGIC);
        out[F_VERSION..F_RESERVED_A].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[F_RESERVED_A..F_HEADER_CRC].copy_from_slice(&0_u16.to_le_bytes());
        out[F_HEADER_CRC..F_LSN].copy_from_slice(&self.header_crc.mask().to_le_bytes());
        out[F_LSN..F_TERM].copy_from_slice(&self.lsn.to_le_bytes());
        out[F_TERM..F_CREATED].copy_from_slice(&self.term.to_le_bytes());
        out[F_CREATED..F_PAYLOAD_SIZE].copy_from_slice(&self.created_unix_nanos.to_le_bytes());
        out[F_PAYLOAD_SIZE..F_CHUNK_COUNT].copy_from_slice(&self.payload_size.to_le_bytes());
        out[F_CHUNK_COUNT..F_DIGEST].copy_from_slice(&self.chunk_count.to_le_bytes());
        out[F_DIGEST..F_RESERVED_B].copy_from_slice(self.digest.as_bytes());
        out[F_RESERVED_B..F_CRC].copy_from_slice(&0_u32.to_le_bytes());
        let crc = Crc32::of(&out[..F_CRC]);
        out[F_CRC..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and checks a footer: magic, CRC, version, reserved fields.
    pub(crate) fn decode(bytes: &[u8; FOOTER_SIZE]) -> Result<Footer, FooterError> {
        if bytes[F_MAGIC..F_VERSION] != FOOTER_MAGIC {
            return Err(FooterError::BadMagic);
        }
        let stored = Crc32::from_le_bytes(read_array(bytes, F_CRC));
        let actual = Crc32::of(&bytes[..F_CRC]);
        if stored != actual {
            return Err(FooterError::Checksum { stored, actual });
        }
        let version = read_u16(bytes, F_VERSION);
        if version == 0 || version > FORMAT_VERSION {
            return Err(FooterError::UnsupportedVersion(version));
        }
        if read_u16(bytes, F_RESERVED_A) != 0 || read_u32(bytes, F_RESERVED_B) != 0 {
            return Err(FooterError::NonZeroReserved);
        }
        Ok(Footer {
            header_crc: MaskedCrc32::from_le_bytes(read_array(bytes, F_HEADER_CRC)).unmask(),
            lsn: read_u64(bytes, F_LSN),
            term: read_u64(bytes, F_TERM),
            created_unix_nanos: read_u64(bytes, F_CREATED),
            payload_size: read_u64(bytes, F_PAYLOAD_SIZE),
            chunk_count: read_u64(bytes, F_CHUNK_COUNT),
            digest: Digest::from_bytes(read_array(bytes, F_DIGEST)),
        })
    }
}

/// Copies `N` bytes at `at`; the callers' offsets are compile-time constants inside `bytes`.
fn read_array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0_u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(read_array(bytes, at))
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(read_array(bytes, at))
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(read_array(bytes, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_header() -> Header {
        Header {
            chunk_size_max: CHUNK_SIZE_DEFAULT,
            lsn: 42,
            term: 7,
            created_unix_nanos: 1_700_000_000_000_000_000,
            salt: 0x0123_4567_89ab_cdef,
            user_meta: b"meta".to_vec(),
        }
    }

    #[test]
    fn header_round_trips() {
        let header = sample_header();
        let bytes = header.encode();
        assert_eq!(bytes.len(), header.encoded_size());
        let fixed: [u8; HEADER_FIXED_SIZE] = read_array(&bytes, 0);
        let checked = Header::check_fixed(&fixed).unwrap();
        assert_eq!(checked.user_meta_size, 4);
        let (decoded, crc) = Header::decode_rest(&fixed, &bytes[HEADER_FIXED_SIZE..]).unwrap();
        assert_eq!(decoded, header);
        assert_eq!(crc, Crc32::of(&bytes[..bytes.len() - HEADER_CRC_SIZE]));
    }

    #[test]
    fn footer_round_trips_and_rejects_flips() {
        let footer = Footer {
            header_crc: Crc32::new(0xdead_beef),
            lsn: 1,
            term: 2,
            created_unix_nanos: 3,
            payload_size: 4,
            chunk_count: 5,
            digest: Digest::of(b"x"),
        };
        let bytes = footer.encode();
        assert_eq!(Footer::decode(&bytes).unwrap(), footer);
        for at in 0..FOOTER_SIZE * 8 {
            let mut flipped = bytes;
            flipped[at / 8] ^= 1 << (at % 8);
            assert!(Footer::decode(&flipped).is_err(), "bit {at} not detected");
        }
    }

    #[test]
    fn chunk_crc_depends_on_salt_and_index() {
        let base = chunk_crc(1, 0, b"data");
        assert_ne!(base, chunk_crc(2, 0, b"data"));
        assert_ne!(base, chunk_crc(1, 1, b"data"));
        let (size, crc) = decode_chunk_header(&encode_chunk_header(4, base));
        assert_eq!((size, crc), (4, base));
    }
}
