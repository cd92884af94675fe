//! Known-answer and property tests for the checksum types.

use cairn_crc::{Crc32, Crc32Hasher, Digest, DigestHasher, MaskedCrc32};
use proptest::prelude::*;

#[test]
fn crc32_check_value() {
    // The standard check value of CRC-32/ISO-HDLC.
    assert_eq!(Crc32::of(b"123456789").get(), 0xCBF4_3926);
    assert_eq!(Crc32::of(b"").get(), 0);
}

#[test]
fn blake3_known_answers() {
    assert_eq!(
        Digest::of(b"").to_hex(),
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    );
    assert_eq!(
        Digest::of(b"abc").to_hex(),
        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
    );
}

#[test]
fn digest_hex_round_trip_and_rejects_bad_input() {
    let digest = Digest::of(b"cairn");
    assert_eq!(Digest::from_hex(&digest.to_hex()), Some(digest));
    assert_eq!(Digest::from_hex("af13"), None);
    assert_eq!(Digest::from_hex(&"zz".repeat(32)), None);
}

#[test]
fn masked_crc_differs_from_plain_on_known_values() {
    for value in [0_u32, 1, 0xCBF4_3926, u32::MAX] {
        let crc = Crc32::new(value);
        assert_ne!(crc.mask().get(), value, "mask must change {value:#x}");
        assert_eq!(crc.mask().unmask(), crc);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn streaming_equals_one_shot(data in proptest::collection::vec(any::<u8>(), 0..4096), split in 0usize..4096) {
        let split = split.min(data.len());
        let mut crc = Crc32Hasher::new();
        crc.update(&data[..split]);
        crc.update(&data[split..]);
        prop_assert_eq!(crc.finish(), Crc32::of(&data));

        let mut digest = DigestHasher::new();
        digest.update(&data[..split]);
        digest.update(&data[split..]);
        prop_assert_eq!(digest.finish(), Digest::of(&data));
        prop_assert_eq!(digest.len(), data.len() as u64);
    }

    #[test]
    fn mask_is_a_bijection(value in any::<u32>()) {
        let crc = Crc32::new(value);
        prop_assert_eq!(crc.mask().unmask(), crc);
        prop_assert_eq!(MaskedCrc32::from_le_bytes(crc.mask().to_le_bytes()), crc.mask());
        prop_assert_eq!(Crc32::from_le_bytes(crc.to_le_bytes()), crc);
    }
}
