//! Round trips through the store on a real temporary directory: empty, small and large
//! (multi-chunk, more than 1 MiB) payloads written in random-sized pieces, with user
//! metadata; and through plain in-memory streams.

mod common;

use std::io::{Read, Write};

use cairn_crc::Digest;
use cairn_snapshot::{NewSnapshot, SnapshotReader, SnapshotWriter, StoreOptions};
use common::Rng;

fn write_in_pieces(out: &mut impl Write, payload: &[u8], rng: &mut Rng) {
    let mut at = 0;
    while at < payload.len() {
        let piece = (rng.below(70_000) as usize + 1).min(payload.len() - at);
        out.write_all(&payload[at..at + piece])
            .expect("write piece");
        at += piece;
    }
}

#[test]
fn roundtrip_through_store_small_and_large() {
    let seed = common::seed("roundtrip_payloads");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), StoreOptions::default().retain_count(10));
    let sizes = [
        0_usize,
        1,
        4095,
        4096,
        262_144,
        262_145,
        3 * 1024 * 1024 + 17,
    ];
    for (i, &size) in sizes.iter().enumerate() {
        let payload = rng.bytes(size);
        let lsn = i as u64 + 1;
        let meta_size = rng.below(300) as usize;
        let user_meta = rng.bytes(meta_size);
        let mut pending = store
            .create(
                NewSnapshot::new(lsn, 9)
                    .created_unix_nanos(77)
                    .user_meta(user_meta.clone()),
            )
            .unwrap();
        write_in_pieces(&mut pending, &payload, &mut rng);
        assert_eq!(pending.payload_size(), size as u64);
        let published = pending.publish().unwrap();
        assert_eq!(published.meta.payload_size, size as u64);
        assert_eq!(published.meta.digest, Digest::of(&payload));
        assert_eq!(published.meta.user_meta, user_meta);
        assert_eq!(published.meta.created_unix_nanos, 77);

        let mut reader = store.read(published.meta.id()).unwrap();
        assert_eq!(reader.user_meta(), user_meta.as_slice());
        let mut back = Vec::new();
        // Read in odd-sized pieces to cross chunk boundaries.
        let mut buf = vec![0_u8; 12_345];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            back.extend_from_slice(&buf[..n]);
        }
        assert!(
            back == payload,
            "payload of {size} bytes differs after the round trip"
        );
        assert_eq!(reader.verified_meta(), Some(&published.meta));
        assert_eq!(store.verify(published.meta.id()).unwrap(), published.meta);
    }
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), sizes.len());
    for (entry, expected_lsn) in listed.iter().zip((1..=sizes.len() as u64).rev()) {
        let meta = entry.meta.as_ref().unwrap();
        assert_eq!(meta.lsn, expected_lsn);
        assert_eq!(entry.id, meta.id());
    }
    println!(
        "round-tripped {} snapshots, largest {} bytes",
        sizes.len(),
        sizes[sizes.len() - 1]
    );
}

#[test]
fn roundtrip_in_memory_every_chunk_size_boundary() {
    let seed = common::seed("roundtrip_payloads");
    let mut rng = Rng::new(seed ^ 0x5eed);
    let chunk = 4096_u32;
    for size in [0, 1, 4095, 4096, 4097, 8192, 8193, 100_000] {
        let payload = rng.bytes(size);
        let mut writer = SnapshotWriter::with_chunk_size(
            Vec::new(),
            NewSnapshot::new(3, 4).salt(rng.next_u64()),
            "mem",
            chunk,
        )
        .unwrap();
        write_in_pieces(&mut writer, &payload, &mut rng);
        let (bytes, meta) = writer.finish().unwrap();
        let mut reader = SnapshotReader::new(bytes.as_slice(), "mem").unwrap();
        assert_eq!(reader.id(), meta.id());
        let mut back = Vec::new();
        reader.read_to_end(&mut back).unwrap();
        assert!(back == payload);
        assert_eq!(reader.finish().unwrap(), meta);
    }
}

#[test]
fn roundtrip_rejects_oversized_user_meta_and_bad_chunk_size() {
    let too_big = vec![0_u8; cairn_snapshot::USER_META_SIZE_MAX as usize + 1];
    let err = SnapshotWriter::new(Vec::new(), NewSnapshot::new(1, 1).user_meta(too_big), "mem")
        .unwrap_err();
    assert!(
        matches!(err, cairn_snapshot::Error::UserMetaTooLarge { .. }),
        "{err}"
    );
    let err = SnapshotWriter::with_chunk_size(Vec::new(), NewSnapshot::new(1, 1), "mem", 100)
        .unwrap_err();
    assert!(
        matches!(err, cairn_snapshot::Error::InvalidOptions { .. }),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), StoreOptions::default());
    let big = vec![0_u8; cairn_snapshot::USER_META_SIZE_MAX as usize + 1];
    let err = store
        .create(NewSnapshot::new(1, 1).user_meta(big))
        .unwrap_err();
    assert!(
        matches!(err, cairn_snapshot::Error::UserMetaTooLarge { .. }),
        "{err}"
    );
    assert!(store.ids().unwrap().is_empty());
    let names = common::std_vfs().list(dir.path()).unwrap();
    assert_eq!(names, ["LOCK"], "the temporary file was removed");
}
