//! Fuzz target: decode arbitrary bytes as a WAL segment image and as a single frame.
//!
//! Run with `cargo +nightly fuzz run wal_decode` from this directory. The decoders must never
//! panic and never allocate; the first 8 input bytes choose the salt and the size limit.
#![no_main]

use cairn_wal::format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (salt, limit) = match data.get(..8) {
        Some(head) => {
            let v = u64::from_le_bytes(head.try_into().unwrap_or([0; 8]));
            (v, (v >> 40) as u32 & 0xFFFF)
        }
        None => (0, 1024),
    };
    let scan = format::scan_buffer(data, limit.max(1));
    assert!(scan.end_offset as usize <= data.len().max(format::SEGMENT_HEADER_SIZE) || !scan.header_ok);
    if let Ok(frame) = format::decode_frame(data, salt, limit) {
        assert!(frame.payload.len() <= limit as usize || frame.kind == format::FrameKind::Footer);
        assert!(frame.size as usize >= format::FRAME_HEADER_SIZE + frame.payload.len());
        if frame.kind == format::FrameKind::Footer {
            let _ = format::Footer::decode(frame.payload);
        }
    }
    let _ = format::SegmentHeader::decode(data);
    let _ = format::decode_trailer(data, salt);
    let _ = format::decode_front(data);
});
