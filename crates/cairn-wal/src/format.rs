//! The on-disk format of a WAL segment: constants, layout, and hand-written little-endian
//! encoders and decoders for the segment header, frames, the sealed-segment footer and its
//! trailer, and the front watermark file. `docs/FORMAT.md` is the prose twin of this module.
//!
//! Decoders take byte slices and borrow from them: they never allocate, never panic on any
//! input, and refuse a length above the caller's `record_size_max` before anyone could
//! allocate for it.

use cairn_crc::{Crc32, Crc32Hasher, MaskedCrc32};

// ---------------------------------------------------------------------------------------------
// Segment header: 64 bytes at offset 0 of every segment file.
//
//  0        8        10       12       16            24            32      40              48
//  +--------+--------+--------+--------+-------------+-------------+-------+---------------+
//  | magic  |version | flags  |hdr size| segment id  | first LSN   | salt  | prev last LSN |
//  +--------+--------+--------+--------+-------------+-------------+-------+---------------+
//  48            52         60            64
//  +-------------+----------+-------------+
//  | prev crc    | reserved | header crc  |
//  +-------------+----------+-------------+
// ---------------------------------------------------------------------------------------------

/// The 8 magic bytes that open every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"CAIRNWAL";
/// The newest segment format version this crate writes and reads.
pub const FORMAT_VERSION: u16 = 1;

const MAGIC_OFFSET: usize = 0;
const MAGIC_SIZE: usize = 8;
const VERSION_OFFSET: usize = MAGIC_OFFSET + MAGIC_SIZE;
const VERSION_SIZE: usize = 2;
const FLAGS_OFFSET: usize = VERSION_OFFSET + VERSION_SIZE;
const FLAGS_SIZE: usize = 2;
const HEADER_SIZE_OFFSET: usize = FLAGS_OFFSET + FLAGS_SIZE;
const HEADER_SIZE_SIZE: usize = 4;
const SEGMENT_ID_OFFSET: usize = HEADER_SIZE_OFFSET + HEADER_SIZE_SIZE;
const SEGMENT_ID_SIZE: usize = 8;
const FIRST_LSN_OFFSET: usize = SEGMENT_ID_OFFSET + SEGMENT_ID_SIZE;
const FIRST_LSN_SIZE: usize = 8;
const SALT_OFFSET: usize = FIRST_LSN_OFFSET + FIRST_LSN_SIZE;
const SALT_SIZE: usize = 8;
const PREV_LAST_LSN_OFFSET: usize = SALT_OFFSET + SALT_SIZE;
const PREV_LAST_LSN_SIZE: usize = 8;
const PREV_CRC_OFFSET: usize = PREV_LAST_LSN_OFFSET + PREV_LAST_LSN_SIZE;
const PREV_CRC_SIZE: usize = 4;
const HEADER_RESERVED_OFFSET: usize = PREV_CRC_OFFSET + PREV_CRC_SIZE;
const HEADER_RESERVED_SIZE: usize = 8;
const HEADER_CRC_OFFSET: usize = HEADER_RESERVED_OFFSET + HEADER_RESERVED_SIZE;
const HEADER_CRC_SIZE: usize = 4;
/// The size of the segment header; the first frame starts here.
pub const SEGMENT_HEADER_SIZE: usize = HEADER_CRC_OFFSET + HEADER_CRC_SIZE;

const _: () = assert!(SEGMENT_HEADER_SIZE == 64);
const _: () = assert!(SEGMENT_HEADER_SIZE.is_multiple_of(FRAME_ALIGN));

// ---------------------------------------------------------------------------------------------
// Frame: a 32-byte header, the payload, zero padding to the next multiple of 8.
//
//  0        4      5       6          8         12                16        24           32
//  +--------+------+-------+----------+---------+-----------------+---------+------------+-------+---
//  |  crc   | kind | flags | reserved | length  | batch remaining |   LSN   | synced LSN | payload |pad
//  +--------+------+-------+----------+---------+-----------------+---------+------------+-------+---
//
// crc = mask(CRC32(salt as 8 LE bytes || header bytes 4..32 || payload)).
// synced LSN = the highest LSN known durable when the frame was encoded (< LSN for records):
// recovery uses it to tell unsynced writes that reached the disk out of order (a torn tail)
// from damage to data that was already durable (corruption).
// ---------------------------------------------------------------------------------------------

const FRAME_CRC_OFFSET: usize = 0;
const FRAME_CRC_SIZE: usize = 4;
const FRAME_KIND_OFFSET: usize = FRAME_CRC_OFFSET + FRAME_CRC_SIZE;
const FRAME_KIND_SIZE: usize = 1;
const FRAME_FLAGS_OFFSET: usize = FRAME_KIND_OFFSET + FRAME_KIND_SIZE;
const FRAME_FLAGS_SIZE: usize = 1;
const FRAME_RESERVED_OFFSET: usize = FRAME_FLAGS_OFFSET + FRAME_FLAGS_SIZE;
const FRAME_RESERVED_SIZE: usize = 2;
const FRAME_LENGTH_OFFSET: usize = FRAME_RESERVED_OFFSET + FRAME_RESERVED_SIZE;
const FRAME_LENGTH_SIZE: usize = 4;
const FRAME_BATCH_OFFSET: usize = FRAME_LENGTH_OFFSET + FRAME_LENGTH_SIZE;
const FRAME_BATCH_SIZE: usize = 4;
const FRAME_LSN_OFFSET: usize = FRAME_BATCH_OFFSET + FRAME_BATCH_SIZE;
const FRAME_LSN_SIZE: usize = 8;
const FRAME_SYNCED_OFFSET: usize = FRAME_LSN_OFFSET + FRAME_LSN_SIZE;
const FRAME_SYNCED_SIZE: usize = 8;
/// The size of a frame header; the payload follows it.
pub const FRAME_HEADER_SIZE: usize = FRAME_SYNCED_OFFSET + FRAME_SYNCED_SIZE;
/// Frames start at offsets that are multiples of this.
pub const FRAME_ALIGN: usize = 8;

const _: () = assert!(FRAME_HEADER_SIZE == 32);
const _: () = assert!(FRAME_HEADER_SIZE.is_multiple_of(FRAME_ALIGN));
const _: () = assert!(FRAME_ALIGN.is_power_of_two());

/// The largest payload the format can describe (the `length` field is a `u32`; we keep one bit
/// of headroom so that `length + header + padding` never overflows a `u32`).
pub const RECORD_SIZE_LIMIT: u32 = 1 << 30;

/// What a frame holds, in its `kind` byte. Zero is never valid, so zeroed space never parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A record payload (alone, or one member of a batch).
    Record,
    /// The sealed-segment footer; always the last frame of a sealed segment.
    Footer,
}

impl FrameKind {
    const RECORD: u8 = 1;
    const FOOTER: u8 = 2;

    /// The byte stored on disk.
    #[must_use]
    pub const fn to_byte(self) -> u8 {
        match self {
            FrameKind::Record => Self::RECORD,
            FrameKind::Footer => Self::FOOTER,
        }
    }

    /// Decodes the byte stored on disk; `None` for anything else (including 0).
    #[must_use]
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            Self::RECORD => Some(FrameKind::Record),
            Self::FOOTER => Some(FrameKind::Footer),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Footer frame payload (kind = Footer, LSN field = last LSN of the segment, 0 if empty):
//
//  0              8           16           20            24
//  +--------------+-----------+------------+-------------+-------------------------------+
//  | record count | last LSN  | segment crc| index count | index entries: (LSN u64, offset u64) * n
//  +--------------+-----------+------------+-------------+-------------------------------+
//
// segment crc = mask(CRC32 of every byte of the file before the footer frame).
// Followed by the 16-byte trailer, which ends the file:
//
//  0                 8            12        16
//  +-----------------+------------+---------+
//  | footer offset   | trailer crc| magic   |
//  +-----------------+------------+---------+
//
// trailer crc = mask(CRC32(salt LE || footer offset LE)).
// ---------------------------------------------------------------------------------------------

const FOOTER_RECORD_COUNT_OFFSET: usize = 0;
const FOOTER_RECORD_COUNT_SIZE: usize = 8;
const FOOTER_LAST_LSN_OFFSET: usize = FOOTER_RECORD_COUNT_OFFSET + FOOTER_RECORD_COUNT_SIZE;
const FOOTER_LAST_LSN_SIZE: usize = 8;
const FOOTER_SEGMENT_CRC_OFFSET: usize = FOOTER_LAST_LSN_OFFSET + FOOTER_LAST_LSN_SIZE;
const FOOTER_SEGMENT_CRC_SIZE: usize = 4;
const FOOTER_INDEX_COUNT_OFFSET: usize = FOOTER_SEGMENT_CRC_OFFSET + FOOTER_SEGMENT_CRC_SIZE;
const FOOTER_INDEX_COUNT_SIZE: usize = 4;
/// The fixed part of the footer payload; index entries follow.
pub const FOOTER_FIXED_SIZE: usize = FOOTER_INDEX_COUNT_OFFSET + FOOTER_INDEX_COUNT_SIZE;
/// The size of one sparse-index entry in the footer.
pub const INDEX_ENTRY_SIZE: usize = 16;
/// The most index entries a footer holds.
pub const INDEX_ENTRIES_MAX: usize = 64;
/// The largest footer payload.
pub const FOOTER_PAYLOAD_MAX: usize = FOOTER_FIXED_SIZE + INDEX_ENTRIES_MAX * INDEX_ENTRY_SIZE;

const TRAILER_FOOTER_OFFSET_OFFSET: usize = 0;
const TRAILER_FOOTER_OFFSET_SIZE: usize = 8;
const TRAILER_CRC_OFFSET: usize = TRAILER_FOOTER_OFFSET_OFFSET + TRAILER_FOOTER_OFFSET_SIZE;
const TRAILER_CRC_SIZE: usize = 4;
const TRAILER_MAGIC_OFFSET: usize = TRAILER_CRC_OFFSET + TRAILER_CRC_SIZE;
const TRAILER_MAGIC_SIZE: usize = 4;
/// The size of the trailer that ends a sealed segment.
pub const TRAILER_SIZE: usize = TRAILER_MAGIC_OFFSET + TRAILER_MAGIC_SIZE;
/// The trailer's magic bytes.
pub const TRAILER_MAGIC: [u8; 4] = *b"CWND";
/// Room every segment keeps free for its footer frame and trailer.
pub const SEAL_RESERVE: usize = FRAME_HEADER_SIZE + FOOTER_PAYLOAD_MAX + TRAILER_SIZE;

const _: () = assert!(FOOTER_FIXED_SIZE == 24);
const _: () = assert!(FOOTER_FIXED_SIZE.is_multiple_of(FRAME_ALIGN));
const _: () = assert!(TRAILER_SIZE == 16);
const _: () = assert!(SEAL_RESERVE.is_multiple_of(FRAME_ALIGN));

/// The smallest `segment_size_max` accepted.
pub const SEGMENT_SIZE_MIN: u64 = 4096;
const _: () = assert!(SEGMENT_SIZE_MIN as usize > SEGMENT_HEADER_SIZE + SEAL_RESERVE + 256);

// ---------------------------------------------------------------------------------------------
// Front watermark file `FRONT` (24 bytes):
//
//  0       4         6          8        16       20         24
//  +-------+---------+----------+--------+--------+----------+
//  | magic | version | reserved |  LSN   |  crc   | reserved |
//  +-------+---------+----------+--------+--------+----------+
//
// crc = mask(CRC32(bytes 0..16)).
// ---------------------------------------------------------------------------------------------

/// The magic bytes of the `FRONT` file.
pub const FRONT_MAGIC: [u8; 4] = *b"CWFR";
const FRONT_VERSION_OFFSET: usize = 4;
const FRONT_LSN_OFFSET: usize = 8;
const FRONT_CRC_OFFSET: usize = 16;
/// The size of the `FRONT` file.
pub const FRONT_SIZE: usize = 24;
const _: () = assert!(FRONT_CRC_OFFSET == FRONT_LSN_OFFSET + 8);

// ---------------------------------------------------------------------------------------------
// Little-endian helpers. Callers pass slices whose length the layout guarantees; the helpers
// still never panic: a short slice reads as zero, which every decoder then rejects.
// ---------------------------------------------------------------------------------------------

fn get_u16(buf: &[u8], at: usize) -> u16 {
    buf.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u16::from_le_bytes)
}

fn get_u32(buf: &[u8], at: usize) -> u32 {
    buf.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn get_u64(buf: &[u8], at: usize) -> u64 {
    buf.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Rounds `len` up to the next multiple of [`FRAME_ALIGN`].
#[must_use]
pub const fn align_up(len: u64) -> u64 {
    (len + (FRAME_ALIGN as u64 - 1)) & !(FRAME_ALIGN as u64 - 1)
}

/// The bytes a frame with a `payload_len`-byte payload occupies, padding included.
#[must_use]
pub const fn frame_size(payload_len: u64) -> u64 {
    align_up(FRAME_HEADER_SIZE as u64 + payload_len)
}

// ---------------------------------------------------------------------------------------------
// Segment header.
// ---------------------------------------------------------------------------------------------

/// The decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's id; its file is named after it. Ids of a log's segments are consecutive.
    pub segment_id: u64,
    /// The LSN the segment's first record has (or would have, if it is empty).
    pub first_lsn: u64,
    /// Random per-segment value folded into every frame checksum.
    pub salt: u64,
    /// The last LSN of the previous segment (`first_lsn - 1`).
    pub prev_last_lsn: u64,
    /// The previous segment's whole-segment checksum (masked), 0 for the first segment.
    pub prev_crc: u32,
}

/// Why a segment header did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// All 64 bytes are zero: a preallocated segment that was never activated.
    Zeroed,
    /// The magic bytes are wrong.
    BadMagic,
    /// The header checksum does not match.
    BadChecksum {
        /// The stored checksum (unmasked).
        expected: u32,
        /// The checksum of the bytes.
        actual: u32,
    },
    /// A version this crate cannot read.
    UnsupportedVersion(u16),
    /// A field is outside its valid range.
    BadField,
}

impl SegmentHeader {
    /// Encodes the header.
    #[must_use]
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_SIZE] {
        assert!(self.first_lsn >= 1, "LSNs start at 1");
        assert_eq!(
            self.prev_last_lsn + 1,
            self.first_lsn,
            "header link must be contiguous"
        );
        let mut buf = [0u8; SEGMENT_HEADER_SIZE];
        put(&mut buf, MAGIC_OFFSET, &SEGMENT_MAGIC);
        put(&mut buf, VERSION_OFFSET, &FORMAT_VERSION.to_le_bytes());
        put(&mut buf, FLAGS_OFFSET, &0u16.to_le_bytes());
        put(
            &mut buf,
            HEADER_SIZE_OFFSET,
            &(SEGMENT_HEADER_SIZE as u32).to_le_bytes(),
        );
        put(&mut buf, SEGMENT_ID_OFFSET, &self.segment_id.to_le_bytes());
        put(&mut buf, FIRST_LSN_OFFSET, &self.first_lsn.to_le_bytes());
        put(&mut buf, SALT_OFFSET, &self.salt.to_le_bytes());
        put(
            &mut buf,
            PREV_LAST_LSN_OFFSET,
            &self.prev_last_lsn.to_le_bytes(),
        );
        put(&mut buf, PREV_CRC_OFFSET, &self.prev_crc.to_le_bytes());
        let crc = Crc32::of(&buf[..HEADER_CRC_OFFSET]).mask();
        put(&mut buf, HEADER_CRC_OFFSET, &crc.to_le_bytes());
        buf
    }

    /// Decodes a header from the first [`SEGMENT_HEADER_SIZE`] bytes of `buf`.
    ///
    /// # Errors
    ///
    /// A [`HeaderError`] saying what is wrong; never panics.
    pub fn decode(buf: &[u8]) -> Result<Self, HeaderError> {
        let Some(buf) = buf.get(..SEGMENT_HEADER_SIZE) else {
            return Err(HeaderError::BadMagic);
        };
        if buf.iter().all(|&b| b == 0) {
            return Err(HeaderError::Zeroed);
        }
        if buf[MAGIC_OFFSET..MAGIC_OFFSET + MAGIC_SIZE] != SEGMENT_MAGIC {
            return Err(HeaderError::BadMagic);
        }
        let expected = MaskedCrc32::new(get_u32(buf, HEADER_CRC_OFFSET)).unmask();
        let actual = Crc32::of(&buf[..HEADER_CRC_OFFSET]);
        if expected != actual {
            return Err(HeaderError::BadChecksum {
                expected: expected.get(),
                actual: actual.get(),
            });
        }
        let version = get_u16(buf, VERSION_OFFSET);
        if version == 0 || version > FORMAT_VERSION {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        let header = SegmentHeader {
            segment_id: get_u64(buf, SEGMENT_ID_OFFSET),
            first_lsn: get_u64(buf, FIRST_LSN_OFFSET),
            salt: get_u64(buf, SALT_OFFSET),
            prev_last_lsn: get_u64(buf, PREV_LAST_LSN_OFFSET),
            prev_crc: get_u32(buf, PREV_CRC_OFFSET),
        };
        let valid = get_u16(buf, FLAGS_OFFSET) == 0
            && get_u32(buf, HEADER_SIZE_OFFSET) == SEGMENT_HEADER_SIZE as u32
            && header.first_lsn >= 1
            && header.first_lsn < u64::MAX / 2
            && header.prev_last_lsn.checked_add(1) == Some(header.first_lsn);
        if !valid {
            return Err(HeaderError::BadField);
        }
        Ok(header)
    }
}

// ---------------------------------------------------------------------------------------------
// Frames.
// ---------------------------------------------------------------------------------------------

/// A frame decoded from a buffer; the payload borrows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// What the frame holds.
    pub kind: FrameKind,
    /// The frame's LSN (for a footer: the segment's last LSN).
    pub lsn: u64,
    /// The highest LSN known durable when the frame was encoded.
    pub synced_lsn: u64,
    /// How many frames of the same batch follow this one (0 for the last, and for singles).
    pub batch_remaining: u32,
    /// The payload.
    pub payload: &'a [u8],
    /// The bytes the frame occupies, padding included.
    pub size: u64,
}

/// Why bytes did not decode as a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than a frame header, or than the header says the frame needs.
    Truncated {
        /// Bytes needed to decode the frame.
        needed: u64,
    },
    /// The header is all zeros (unwritten, preallocated space).
    Zeroed,
    /// The kind byte, flags or reserved bytes are invalid.
    BadHeader,
    /// The length is above `record_size_max`.
    TooLarge {
        /// The length in the header.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The checksum does not match (wrong salt, damaged bytes, or a torn write).
    BadChecksum {
        /// The stored checksum (unmasked).
        expected: u32,
        /// The checksum of the bytes.
        actual: u32,
    },
}

fn frame_crc(salt: u64, header_tail: &[u8], payload: &[u8]) -> Crc32 {
    let mut hasher = Crc32Hasher::new();
    hasher.update(&salt.to_le_bytes());
    hasher.update(header_tail);
    hasher.update(payload);
    hasher.finish()
}

/// Encodes a frame header for `payload` (the payload itself is written after it, then
/// `frame_size(payload.len()) - FRAME_HEADER_SIZE - payload.len()` zero bytes of padding).
#[must_use]
pub fn encode_frame_header(
    salt: u64,
    kind: FrameKind,
    lsn: u64,
    synced_lsn: u64,
    batch_remaining: u32,
    payload: &[u8],
) -> [u8; FRAME_HEADER_SIZE] {
    let length = u32::try_from(payload.len()).expect("payload length checked by the caller");
    assert!(
        length <= RECORD_SIZE_LIMIT,
        "payload length checked by the caller"
    );
    let mut buf = [0u8; FRAME_HEADER_SIZE];
    buf[FRAME_KIND_OFFSET] = kind.to_byte();
    buf[FRAME_FLAGS_OFFSET] = 0;
    put(&mut buf, FRAME_RESERVED_OFFSET, &0u16.to_le_bytes());
    put(&mut buf, FRAME_LENGTH_OFFSET, &length.to_le_bytes());
    put(&mut buf, FRAME_BATCH_OFFSET, &batch_remaining.to_le_bytes());
    put(&mut buf, FRAME_LSN_OFFSET, &lsn.to_le_bytes());
    put(&mut buf, FRAME_SYNCED_OFFSET, &synced_lsn.to_le_bytes());
    let crc = frame_crc(salt, &buf[FRAME_KIND_OFFSET..], payload).mask();
    put(&mut buf, FRAME_CRC_OFFSET, &crc.to_le_bytes());
    buf
}

/// Appends a whole frame (header, payload, padding) to `out`.
pub fn encode_frame(
    out: &mut Vec<u8>,
    salt: u64,
    kind: FrameKind,
    lsn: u64,
    synced_lsn: u64,
    batch_remaining: u32,
    payload: &[u8],
) {
    let start = out.len();
    out.extend_from_slice(&encode_frame_header(
        salt,
        kind,
        lsn,
        synced_lsn,
        batch_remaining,
        payload,
    ));
    out.extend_from_slice(payload);
    let size = frame_size(payload.len() as u64) as usize;
    out.resize(start + size, 0);
    debug_assert_eq!((out.len() - start) % FRAME_ALIGN, 0);
}

/// Reads the payload length a frame header claims, or `None` if `buf` is shorter than a header.
/// Used to size a read before decoding; the caller must bound it by `record_size_max`.
#[must_use]
pub fn peek_frame_length(buf: &[u8]) -> Option<u32> {
    if buf.len() < FRAME_HEADER_SIZE {
        return None;
    }
    Some(get_u32(buf, FRAME_LENGTH_OFFSET))
}

/// Decodes the frame at the start of `buf`, checking its checksum against `salt`.
///
/// A length above `record_size_max` (for footers: above the footer limit) is refused before
/// the payload is looked at.
///
/// # Errors
///
/// A [`FrameError`]; never panics, never allocates.
pub fn decode_frame(buf: &[u8], salt: u64, record_size_max: u32) -> Result<Frame<'_>, FrameError> {
    if buf.len() < FRAME_HEADER_SIZE {
        return Err(FrameError::Truncated {
            needed: FRAME_HEADER_SIZE as u64,
        });
    }
    let header = &buf[..FRAME_HEADER_SIZE];
    if header.iter().all(|&b| b == 0) {
        return Err(FrameError::Zeroed);
    }
    let Some(kind) = FrameKind::from_byte(header[FRAME_KIND_OFFSET]) else {
        return Err(FrameError::BadHeader);
    };
    if header[FRAME_FLAGS_OFFSET] != 0 || get_u16(header, FRAME_RESERVED_OFFSET) != 0 {
        return Err(FrameError::BadHeader);
    }
    let length = get_u32(header, FRAME_LENGTH_OFFSET);
    let max = match kind {
        FrameKind::Record => record_size_max.min(RECORD_SIZE_LIMIT),
        FrameKind::Footer => FOOTER_PAYLOAD_MAX as u32,
    };
    if length > max {
        return Err(FrameError::TooLarge {
            size: u64::from(length),
            max: u64::from(max),
        });
    }
    let size = frame_size(u64::from(length));
    let payload_end = FRAME_HEADER_SIZE + length as usize;
    let Some(payload) = buf.get(FRAME_HEADER_SIZE..payload_end) else {
        return Err(FrameError::Truncated {
            needed: payload_end as u64,
        });
    };
    let expected = MaskedCrc32::new(get_u32(header, FRAME_CRC_OFFSET)).unmask();
    let actual = frame_crc(salt, &header[FRAME_KIND_OFFSET..], payload);
    if expected != actual {
        return Err(FrameError::BadChecksum {
            expected: expected.get(),
            actual: actual.get(),
        });
    }
    let frame = Frame {
        kind,
        lsn: get_u64(header, FRAME_LSN_OFFSET),
        synced_lsn: get_u64(header, FRAME_SYNCED_OFFSET),
        batch_remaining: get_u32(header, FRAME_BATCH_OFFSET),
        payload,
        size,
    };
    let consistent = match frame.kind {
        FrameKind::Record => frame.synced_lsn < frame.lsn,
        FrameKind::Footer => frame.batch_remaining == 0 && frame.synced_lsn <= frame.lsn,
    };
    if !consistent {
        return Err(FrameError::BadHeader);
    }
    Ok(frame)
}

// ---------------------------------------------------------------------------------------------
// Footer and trailer.
// ---------------------------------------------------------------------------------------------

/// The decoded fixed part of a footer; index entries are read with [`Footer::index_entry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer<'a> {
    /// Records in the segment.
    pub record_count: u64,
    /// The last LSN in the segment (`first_lsn - 1` if empty).
    pub last_lsn: u64,
    /// Masked CRC32 of every byte of the segment before the footer frame.
    pub segment_crc: u32,
    /// The raw index entries.
    entries: &'a [u8],
}

impl Footer<'_> {
    /// The number of sparse-index entries.
    #[must_use]
    pub fn index_len(&self) -> usize {
        self.entries.len() / INDEX_ENTRY_SIZE
    }

    /// The `i`-th index entry: (LSN, offset of its frame).
    #[must_use]
    pub fn index_entry(&self, i: usize) -> Option<(u64, u64)> {
        let at = i.checked_mul(INDEX_ENTRY_SIZE)?;
        let e = self.entries.get(at..at + INDEX_ENTRY_SIZE)?;
        Some((get_u64(e, 0), get_u64(e, 8)))
    }

    /// Decodes a footer payload.
    ///
    /// # Errors
    ///
    /// `Err(())` if the payload's size does not match its index count; never panics.
    #[allow(
        clippy::result_unit_err,
        reason = "the caller turns this into a Corrupt error with context"
    )]
    pub fn decode(payload: &[u8]) -> Result<Footer<'_>, ()> {
        if payload.len() < FOOTER_FIXED_SIZE {
            return Err(());
        }
        let count = get_u32(payload, FOOTER_INDEX_COUNT_OFFSET) as usize;
        if count > INDEX_ENTRIES_MAX
            || payload.len() != FOOTER_FIXED_SIZE + count * INDEX_ENTRY_SIZE
        {
            return Err(());
        }
        Ok(Footer {
            record_count: get_u64(payload, FOOTER_RECORD_COUNT_OFFSET),
            last_lsn: get_u64(payload, FOOTER_LAST_LSN_OFFSET),
            segment_crc: get_u32(payload, FOOTER_SEGMENT_CRC_OFFSET),
            entries: &payload[FOOTER_FIXED_SIZE..],
        })
    }
}

/// Encodes a footer payload.
#[must_use]
pub fn encode_footer(
    record_count: u64,
    last_lsn: u64,
    segment_crc: MaskedCrc32,
    index: &[(u64, u64)],
) -> Vec<u8> {
    assert!(index.len() <= INDEX_ENTRIES_MAX, "footer index bounded");
    let mut out = vec![0u8; FOOTER_FIXED_SIZE + index.len() * INDEX_ENTRY_SIZE];
    put(
        &mut out,
        FOOTER_RECORD_COUNT_OFFSET,
        &record_count.to_le_bytes(),
    );
    put(&mut out, FOOTER_LAST_LSN_OFFSET, &last_lsn.to_le_bytes());
    put(
        &mut out,
        FOOTER_SEGMENT_CRC_OFFSET,
        &segment_crc.to_le_bytes(),
    );
    put(
        &mut out,
        FOOTER_INDEX_COUNT_OFFSET,
        &(index.len() as u32).to_le_bytes(),
    );
    for (i, (lsn, offset)) in index.iter().enumerate() {
        let at = FOOTER_FIXED_SIZE + i * INDEX_ENTRY_SIZE;
        put(&mut out, at, &lsn.to_le_bytes());
        put(&mut out, at + 8, &offset.to_le_bytes());
    }
    out
}

fn trailer_crc(salt: u64, footer_offset: u64) -> Crc32 {
    let mut hasher = Crc32Hasher::new();
    hasher.update(&salt.to_le_bytes());
    hasher.update(&footer_offset.to_le_bytes());
    hasher.finish()
}

/// Encodes the trailer that points at the footer frame.
#[must_use]
pub fn encode_trailer(salt: u64, footer_offset: u64) -> [u8; TRAILER_SIZE] {
    let mut buf = [0u8; TRAILER_SIZE];
    put(
        &mut buf,
        TRAILER_FOOTER_OFFSET_OFFSET,
        &footer_offset.to_le_bytes(),
    );
    put(
        &mut buf,
        TRAILER_CRC_OFFSET,
        &trailer_crc(salt, footer_offset).mask().to_le_bytes(),
    );
    put(&mut buf, TRAILER_MAGIC_OFFSET, &TRAILER_MAGIC);
    buf
}

/// Decodes a trailer: the footer frame's offset, or `None` if the trailer is not valid for
/// `salt`.
#[must_use]
pub fn decode_trailer(buf: &[u8], salt: u64) -> Option<u64> {
    let buf = buf.get(..TRAILER_SIZE)?;
    if buf[TRAILER_MAGIC_OFFSET..] != TRAILER_MAGIC {
        return None;
    }
    let footer_offset = get_u64(buf, TRAILER_FOOTER_OFFSET_OFFSET);
    let stored = MaskedCrc32::new(get_u32(buf, TRAILER_CRC_OFFSET)).unmask();
    (stored == trailer_crc(salt, footer_offset)).then_some(footer_offset)
}

// ---------------------------------------------------------------------------------------------
// FRONT file.
// ---------------------------------------------------------------------------------------------

/// Encodes the `FRONT` watermark file: records below `lsn` are gone.
#[must_use]
pub fn encode_front(lsn: u64) -> [u8; FRONT_SIZE] {
    let mut buf = [0u8; FRONT_SIZE];
    put(&mut buf, 0, &FRONT_MAGIC);
    put(
        &mut buf,
        FRONT_VERSION_OFFSET,
        &FORMAT_VERSION.to_le_bytes(),
    );
    put(&mut buf, FRONT_LSN_OFFSET, &lsn.to_le_bytes());
    let crc = Crc32::of(&buf[..FRONT_CRC_OFFSET]).mask();
    put(&mut buf, FRONT_CRC_OFFSET, &crc.to_le_bytes());
    buf
}

/// Decodes the `FRONT` file; `None` if damaged.
#[must_use]
pub fn decode_front(buf: &[u8]) -> Option<u64> {
    let buf = buf.get(..FRONT_SIZE)?;
    if buf[..4] != FRONT_MAGIC || get_u16(buf, FRONT_VERSION_OFFSET) != FORMAT_VERSION {
        return None;
    }
    let stored = MaskedCrc32::new(get_u32(buf, FRONT_CRC_OFFSET)).unmask();
    (stored == Crc32::of(&buf[..FRONT_CRC_OFFSET])).then(|| get_u64(buf, FRONT_LSN_OFFSET))
}

// ---------------------------------------------------------------------------------------------
// Whole-buffer decoding, for fuzzing and tools.
// ---------------------------------------------------------------------------------------------

/// What [`scan_buffer`] found in a segment image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferScan {
    /// Whether the header decoded.
    pub header_ok: bool,
    /// Record frames that decoded, in order, with consecutive LSNs.
    pub records: u64,
    /// Payload bytes of those records.
    pub payload_bytes: u64,
    /// Whether a footer frame ended the scan.
    pub sealed: bool,
    /// The offset where the scan stopped.
    pub end_offset: u64,
}

/// Decodes a whole segment image held in memory: header, then frames until the first one
/// that does not decode or whose LSN is out of sequence. Never panics, never allocates.
#[must_use]
pub fn scan_buffer(buf: &[u8], record_size_max: u32) -> BufferScan {
    let mut scan = BufferScan::default();
    let Ok(header) = SegmentHeader::decode(buf) else {
        return scan;
    };
    scan.header_ok = true;
    let mut offset = SEGMENT_HEADER_SIZE as u64;
    let mut expected = header.first_lsn;
    // Each iteration consumes at least one frame header, so the loop is bounded by the length.
    while let Some(rest) = usize::try_from(offset).ok().and_then(|o| buf.get(o..)) {
        let Ok(frame) = decode_frame(rest, header.salt, record_size_max) else {
            break;
        };
        match frame.kind {
            FrameKind::Record => {
                if frame.lsn != expected {
                    break;
                }
                expected += 1;
                scan.records += 1;
                scan.payload_bytes += frame.payload.len() as u64;
            }
            FrameKind::Footer => {
                scan.sealed = true;
                offset += frame.size;
                break;
            }
        }
        offset += frame.size;
    }
    scan.end_offset = offset;
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_zeroes_rejected() {
        let h = SegmentHeader {
            segment_id: 7,
            first_lsn: 10,
            salt: 99,
            prev_last_lsn: 9,
            prev_crc: 5,
        };
        let buf = h.encode();
        assert_eq!(SegmentHeader::decode(&buf), Ok(h));
        assert_eq!(SegmentHeader::decode(&[0u8; 64]), Err(HeaderError::Zeroed));
        let mut bad = buf;
        bad[20] ^= 1;
        assert!(matches!(
            SegmentHeader::decode(&bad),
            Err(HeaderError::BadChecksum { .. })
        ));
    }

    #[test]
    fn frame_round_trip_salt_and_limits() {
        let mut out = Vec::new();
        encode_frame(&mut out, 42, FrameKind::Record, 3, 2, 0, b"hello");
        assert_eq!(out.len(), 40);
        let f = decode_frame(&out, 42, 100).unwrap();
        assert_eq!((f.lsn, f.payload, f.size), (3, &b"hello"[..], 40));
        assert!(matches!(
            decode_frame(&out, 43, 100),
            Err(FrameError::BadChecksum { .. })
        ));
        assert!(matches!(
            decode_frame(&out, 42, 4),
            Err(FrameError::TooLarge { .. })
        ));
        assert_eq!(decode_frame(&[0u8; 64], 0, 100), Err(FrameError::Zeroed));
    }

    #[test]
    fn footer_and_trailer_round_trip() {
        let p = encode_footer(3, 12, Crc32::of(b"x").mask(), &[(10, 64), (11, 96)]);
        let f = Footer::decode(&p).unwrap();
        assert_eq!((f.record_count, f.last_lsn, f.index_len()), (3, 12, 2));
        assert_eq!(f.index_entry(1), Some((11, 96)));
        let t = encode_trailer(5, 1234);
        assert_eq!(decode_trailer(&t, 5), Some(1234));
        assert_eq!(decode_trailer(&t, 6), None);
        assert_eq!(decode_front(&encode_front(77)), Some(77));
    }
}
