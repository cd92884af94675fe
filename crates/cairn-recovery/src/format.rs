//! The one record shape this crate writes into the log: the *gap marker*, which fills the
//! LSNs a snapshot covers but the log lost, so that the log can continue after the snapshot.
//!
//! ```text
//! offset  size  field
//!      0    20  magic  b"\0cairn-recovery:gap\0"
//!     20     8  lsn    u64 LE: the LSN the marker was written at
//!     28     4  crc    CRC-32 of bytes 0..28, LE
//! ```
//!
//! A marker is only ever skipped where every record is skipped (at or below the snapshot
//! LSN). Replay that meets one above the snapshot it loaded stops with
//! [`crate::Error::GapMarker`]: a payload that happened to look like a marker would stop
//! recovery, never be dropped silently.

use cairn_crc::Crc32;

/// The magic a gap marker starts with.
pub const GAP_MARKER_MAGIC: [u8; GAP_MAGIC_SIZE] = *b"\0cairn-recovery:gap\0";

const GAP_MAGIC_OFFSET: usize = 0;
const GAP_MAGIC_SIZE: usize = 20;
const GAP_LSN_OFFSET: usize = GAP_MAGIC_OFFSET + GAP_MAGIC_SIZE;
const GAP_LSN_SIZE: usize = 8;
const GAP_CRC_OFFSET: usize = GAP_LSN_OFFSET + GAP_LSN_SIZE;
const GAP_CRC_SIZE: usize = 4;
/// The size of a gap marker, in bytes.
pub const GAP_MARKER_SIZE: usize = GAP_CRC_OFFSET + GAP_CRC_SIZE;

const _: () = assert!(GAP_MARKER_SIZE == 32);

/// Encodes the gap marker for `lsn`.
///
/// # Examples
///
/// ```
/// use cairn_recovery::format::{gap_marker, is_gap_marker, looks_like_gap_marker};
///
/// let marker = gap_marker(7);
/// assert!(is_gap_marker(&marker, 7));
/// assert!(!is_gap_marker(&marker, 8));
/// assert!(looks_like_gap_marker(&marker));
/// assert!(!looks_like_gap_marker(b"put k v"));
/// ```
#[must_use]
pub fn gap_marker(lsn: u64) -> [u8; GAP_MARKER_SIZE] {
    let out = encode(lsn);
    assert!(looks_like_gap_marker(&out));
    out
}

/// Whether `payload` is exactly the gap marker for `lsn`.
#[must_use]
pub fn is_gap_marker(payload: &[u8], lsn: u64) -> bool {
    payload.len() == GAP_MARKER_SIZE && payload == encode(lsn)
}

/// Whether `payload` has a gap marker's size and magic, at whatever LSN: the shape
/// [`crate::Durable::apply`] refuses as [`crate::Error::ReservedPayload`].
#[must_use]
pub fn looks_like_gap_marker(payload: &[u8]) -> bool {
    payload.len() == GAP_MARKER_SIZE && payload[..GAP_MAGIC_SIZE] == GAP_MARKER_MAGIC
}

fn encode(lsn: u64) -> [u8; GAP_MARKER_SIZE] {
    let mut out = [0u8; GAP_MARKER_SIZE];
    out[GAP_MAGIC_OFFSET..GAP_LSN_OFFSET].copy_from_slice(&GAP_MARKER_MAGIC);
    out[GAP_LSN_OFFSET..GAP_CRC_OFFSET].copy_from_slice(&lsn.to_le_bytes());
    let crc = Crc32::of(&out[..GAP_CRC_OFFSET]);
    out[GAP_CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_differ_by_lsn_and_reject_damage() {
        let a = gap_marker(1);
        let b = gap_marker(2);
        assert_ne!(a, b);
        for i in 0..GAP_MARKER_SIZE {
            let mut damaged = a;
            damaged[i] ^= 1;
            assert!(!is_gap_marker(&damaged, 1), "flip at {i} accepted");
        }
        assert!(!is_gap_marker(&a[..31], 1));
    }
}
