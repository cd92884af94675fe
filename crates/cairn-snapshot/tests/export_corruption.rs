//! A damaged object never becomes a published snapshot, and a damaged local snapshot is
//! never exported: bit flips in every region of the object (header, chunks of several
//! parts, end marker, footer), truncation, trailing bytes, an object swapped for another
//! valid snapshot under stale metadata, and local damage past the first uploaded part.

mod common;

use std::path::Path as FsPath;

use cairn_io::OpenMode;
use cairn_snapshot::object_store::memory::InMemory;
use cairn_snapshot::object_store::path::Path;
use cairn_snapshot::object_store::{
    Attribute, AttributeValue, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
};
use cairn_snapshot::{
    CorruptKind, Error, ExportOptions, ImportOptions, METADATA_DIGEST, PART_SIZE_MIN,
    SnapshotStore, StoreOptions, export, export_with, import_with,
};
use common::Rng;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

fn small_parts() -> ImportOptions {
    ImportOptions::default().part_size(PART_SIZE_MIN)
}

fn file_names(dir: &FsPath) -> Vec<String> {
    let mut names = common::std_vfs().list(dir).expect("list");
    names.retain(|n| n != "LOCK");
    names
}

/// Imports `object` into a fresh store; returns the error and checks nothing was published
/// and no temporary file was left.
fn import_fails(runtime: &tokio::runtime::Runtime, object: Vec<u8>) -> Error {
    let bucket = InMemory::new();
    let path = Path::from("damaged");
    runtime
        .block_on(bucket.put(&path, PutPayload::from(object)))
        .expect("put");
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), StoreOptions::default());
    let err = runtime
        .block_on(import_with(&store, &bucket, &path, &small_parts()))
        .expect_err("a damaged object must not import");
    assert!(store.ids().unwrap().is_empty(), "nothing published: {err}");
    assert!(
        file_names(dir.path()).is_empty(),
        "no temporary file: {err}"
    );
    err
}

/// Exports a 2.5 MiB snapshot (three 1 MiB parts on import) and returns the object.
fn exported_object(runtime: &tokio::runtime::Runtime) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), StoreOptions::default().chunk_size(64 * 1024));
    let payload = Rng::new(11).bytes(5 * PART_SIZE_MIN as usize / 2);
    let id = common::publish(&store, 9, 1, &payload).meta.id();
    let bucket = InMemory::new();
    let path = Path::from("good");
    runtime
        .block_on(export(&store, id, &bucket, &path))
        .expect("export");
    runtime
        .block_on(async { bucket.get(&path).await?.bytes().await })
        .expect("get")
        .to_vec()
}

#[test]
fn bit_flips_in_every_region_fail_with_corruption() {
    let seed = common::seed("export_corruption");
    let mut rng = Rng::new(seed);
    let runtime = runtime();
    let object = exported_object(&runtime);
    let len = object.len();
    let part = PART_SIZE_MIN as usize;
    // Header, first chunk, each part boundary, random spots, end marker, footer, last byte.
    let mut offsets = vec![0, 13, 40, 70, 100, part - 1, part, 2 * part + 5];
    offsets.extend((0..20).map(|_| rng.below(len as u64) as usize));
    offsets.extend([len - 96 - 8, len - 96 - 1, len - 60, len - 1]);
    for offset in offsets {
        let mut damaged = object.clone();
        damaged[offset] ^= 1 << rng.below(8);
        let err = import_fails(&runtime, damaged);
        assert!(
            err.is_corruption(),
            "flip at {offset}: not reported as corruption: {err}"
        );
    }
}

#[test]
fn payload_flip_is_a_checksum_mismatch() {
    let runtime = runtime();
    let mut object = exported_object(&runtime);
    // Inside a chunk of the second fetched part.
    object[PART_SIZE_MIN as usize + 1000] ^= 0x10;
    let err = import_fails(&runtime, object);
    println!("{err}");
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err:?}");
}

#[test]
fn truncated_or_extended_objects_fail() {
    let runtime = runtime();
    let object = exported_object(&runtime);
    let len = object.len();
    for cut in [
        0,
        1,
        59,
        60,
        5000,
        PART_SIZE_MIN as usize,
        len - 97,
        len - 1,
    ] {
        let err = import_fails(&runtime, object[..cut].to_vec());
        assert!(
            matches!(
                err,
                Error::Corrupt {
                    kind: CorruptKind::Truncated,
                    ..
                }
            ),
            "cut at {cut}: {err:?}"
        );
    }
    let mut longer = object.clone();
    longer.push(0);
    let err = import_fails(&runtime, longer);
    assert!(
        matches!(
            err,
            Error::Corrupt {
                kind: CorruptKind::TrailingBytes,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn object_swapped_under_stale_metadata_fails() {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), StoreOptions::default());
    let first = common::publish(&store, 1, 1, b"first");
    let second = common::publish(&store, 2, 1, b"second");
    let bucket = InMemory::new();
    let path = Path::from("swapped");
    runtime
        .block_on(export(&store, first.meta.id(), &bucket, &path))
        .expect("export");
    // Someone copies the second snapshot's bytes over the object but keeps the metadata.
    let second_file = {
        let vfs = common::std_vfs();
        let file = vfs
            .open(&store.path_of(second.meta.id()), OpenMode::Read)
            .unwrap();
        let mut bytes = vec![0; file.len().unwrap() as usize];
        file.read_exact_at(&mut bytes, 0).unwrap();
        bytes
    };
    let mut attributes = Attributes::new();
    attributes.insert(
        Attribute::Metadata(METADATA_DIGEST.into()),
        AttributeValue::from(first.meta.digest.to_hex()),
    );
    runtime
        .block_on(bucket.put_opts(
            &path,
            PutPayload::from(second_file),
            PutOptions::from(attributes),
        ))
        .unwrap();
    let there_dir = tempfile::tempdir().unwrap();
    let there = common::open_store(there_dir.path(), StoreOptions::default());
    let err = runtime
        .block_on(import_with(&there, &bucket, &path, &small_parts()))
        .unwrap_err();
    println!("{err}");
    assert!(
        matches!(
            err,
            Error::UnexpectedDigest {
                expected_from: "the object's metadata",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(there.ids().unwrap().is_empty());
}

/// Damage in the local file past the first part: the first part is already uploaded when
/// the reader meets the bad chunk. The upload is aborted and no object appears.
#[test]
fn damaged_local_snapshot_is_not_exported() {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store: SnapshotStore =
        common::open_store(dir.path(), StoreOptions::default().chunk_size(64 * 1024));
    let payload = Rng::new(5).bytes(3 * PART_SIZE_MIN as usize);
    let id = common::publish(&store, 3, 1, &payload).meta.id();
    let vfs = common::std_vfs();
    let file = vfs.open(&store.path_of(id), OpenMode::ReadWrite).unwrap();
    let at = 2 * u64::from(PART_SIZE_MIN) + 777;
    let mut byte = [0_u8; 1];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x80], at).unwrap();
    drop(file);

    let bucket = InMemory::new();
    let path = Path::from("must/not/exist");
    let err = runtime
        .block_on(export_with(
            &store,
            id,
            &bucket,
            &path,
            &ExportOptions::default().part_size(PART_SIZE_MIN),
        ))
        .unwrap_err();
    println!("{err}");
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err:?}");
    assert!(
        runtime.block_on(bucket.head(&path)).is_err(),
        "an aborted upload leaves no object"
    );
}
