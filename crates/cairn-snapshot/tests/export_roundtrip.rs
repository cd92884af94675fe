//! Export to and import from `object_store` stores (`InMemory`, `LocalFileSystem`): empty,
//! small (one `put`) and multi-part snapshots; the object is the local file byte for byte;
//! the imported snapshot has the same id, time, user metadata, payload and digest; metadata
//! is attached where the store keeps it; pinned digests; missing snapshots.

mod common;

use std::io::Read;
use std::path::Path as FsPath;

use cairn_io::OpenMode;
use cairn_snapshot::object_store::local::LocalFileSystem;
use cairn_snapshot::object_store::memory::InMemory;
use cairn_snapshot::object_store::path::Path;
use cairn_snapshot::object_store::{ObjectStore, ObjectStoreExt};
use cairn_snapshot::{
    Error, ExportOptions, ImportOptions, PART_SIZE_MIN, SnapshotId, SnapshotStore, StoreOptions,
    export, export_with, import, import_with,
};
use common::Rng;

const MIB: usize = 1024 * 1024;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

fn small_chunks() -> StoreOptions {
    StoreOptions::default()
        .chunk_size(64 * 1024)
        .retain_count(10)
}

fn file_bytes(store: &SnapshotStore, id: SnapshotId) -> Vec<u8> {
    let vfs = common::std_vfs();
    let file = vfs.open(&store.path_of(id), OpenMode::Read).expect("open");
    let mut bytes = vec![0_u8; file.len().expect("len") as usize];
    file.read_exact_at(&mut bytes, 0).expect("read");
    bytes
}

fn payload_of(store: &SnapshotStore, id: SnapshotId) -> Vec<u8> {
    let mut payload = Vec::new();
    store
        .read(id)
        .expect("read")
        .read_to_end(&mut payload)
        .expect("read payload");
    payload
}

fn file_names(dir: &FsPath) -> Vec<String> {
    let mut names = common::std_vfs().list(dir).expect("list");
    names.retain(|n| n != "LOCK");
    names.sort();
    names
}

/// Exports snapshots of several sizes with 1 MiB parts, checks the object and the report,
/// imports each into a fresh store and compares.
fn roundtrip(object_store: &dyn ObjectStore, keeps_metadata: bool, seed: u64) {
    let runtime = runtime();
    let mut rng = Rng::new(seed);
    let part = PART_SIZE_MIN as usize;
    let sizes = [0, 10, part - 500, part, 3 * part + 12_345, 5 * part];
    let dir = tempfile::tempdir().unwrap();
    let here = common::open_store(dir.path(), small_chunks());
    let options = ExportOptions::default().part_size(PART_SIZE_MIN);
    for (i, size) in sizes.into_iter().enumerate() {
        let payload = rng.bytes(size);
        let lsn = i as u64 + 1;
        let published = common::publish(&here, lsn, 7, &payload);
        let id = published.meta.id();
        let path = Path::from(format!("backups/{lsn}.snap"));
        let report = runtime
            .block_on(export_with(&here, id, object_store, &path, &options))
            .expect("export");
        let file = file_bytes(&here, id);
        println!(
            "payload {size} B: file {} B, {} parts, metadata {}",
            file.len(),
            report.part_count,
            report.metadata_written
        );
        assert_eq!(report.meta, published.meta);
        assert_eq!(report.object_size, file.len() as u64);
        let expected_parts = if file.len() <= part {
            0
        } else {
            file.len().div_ceil(part) as u64
        };
        assert_eq!(report.part_count, expected_parts, "size {size}");
        assert_eq!(report.metadata_written, keeps_metadata);
        let object = runtime
            .block_on(async { object_store.get(&path).await?.bytes().await })
            .expect("get");
        assert!(object == file, "the object is the file byte for byte");

        let there_dir = tempfile::tempdir().unwrap();
        let there = common::open_store(there_dir.path(), StoreOptions::default());
        let imported = runtime
            .block_on(import_with(
                &there,
                object_store,
                &path,
                &ImportOptions::default()
                    .part_size(PART_SIZE_MIN)
                    .expected_digest(published.meta.digest),
            ))
            .expect("import");
        assert_eq!(imported.published.meta, published.meta);
        assert_eq!(imported.object_size, file.len() as u64);
        assert_eq!(imported.get_count, (file.len().div_ceil(part)) as u64);
        assert_eq!(imported.metadata_checked, keeps_metadata);
        assert_eq!(there.ids().unwrap(), [id]);
        assert_eq!(there.verify(id).unwrap(), published.meta);
        assert!(payload_of(&there, id) == payload);
        assert_eq!(
            file_names(there_dir.path()).len(),
            1,
            "no temporary file left"
        );

        // The store holds it now: a second import is not newer.
        let again = runtime.block_on(import(&there, object_store, &path));
        assert!(matches!(again, Err(Error::NotNewer { .. })), "{again:?}");
        assert_eq!(file_names(there_dir.path()).len(), 1);
    }
}

#[test]
fn roundtrip_in_memory() {
    let seed = common::seed("export_roundtrip");
    roundtrip(&InMemory::new(), true, seed);
}

#[test]
fn roundtrip_local_file_system() {
    let seed = common::seed("export_roundtrip");
    let bucket = tempfile::tempdir().unwrap();
    let local = LocalFileSystem::new_with_prefix(bucket.path()).expect("local store");
    // LocalFileSystem keeps no metadata and reads through tokio's blocking pool.
    roundtrip(&local, false, seed);
}

#[test]
fn default_options_and_user_meta_survive() {
    let runtime = runtime();
    let bucket = InMemory::new();
    let dir = tempfile::tempdir().unwrap();
    let here = common::open_store(dir.path(), StoreOptions::default());
    let payload = Rng::new(3).bytes(9 * MIB + 1);
    let published = common::publish(&here, 1000, 2, &payload);
    let path = Path::from("node/one");
    let report = runtime
        .block_on(export(&here, published.meta.id(), &bucket, &path))
        .expect("export");
    assert_eq!(report.part_count, 2, "9 MiB in 8 MiB parts");

    let there_dir = tempfile::tempdir().unwrap();
    let there = common::open_store(there_dir.path(), StoreOptions::default());
    let imported = runtime
        .block_on(import(&there, &bucket, &path))
        .expect("import");
    assert_eq!(imported.published.meta.user_meta, b"meta");
    assert_eq!(imported.published.meta.created_unix_nanos, 1000 * 1000);
    assert_eq!(imported.get_count, 2);
    assert!(payload_of(&there, published.meta.id()) == payload);
}

#[test]
fn export_replaces_an_existing_object() {
    let runtime = runtime();
    let bucket = InMemory::new();
    let dir = tempfile::tempdir().unwrap();
    let here = common::open_store(dir.path(), small_chunks());
    let path = Path::from("latest");
    for lsn in [1, 2] {
        let published = common::publish(&here, lsn, 1, &vec![lsn as u8; 2 * MIB]);
        runtime
            .block_on(export(&here, published.meta.id(), &bucket, &path))
            .expect("export");
    }
    let there_dir = tempfile::tempdir().unwrap();
    let there = common::open_store(there_dir.path(), StoreOptions::default());
    let imported = runtime
        .block_on(import(&there, &bucket, &path))
        .expect("import");
    assert_eq!(imported.published.meta.lsn, 2);
}

#[test]
fn pinned_digest_that_differs_publishes_nothing() {
    let runtime = runtime();
    let bucket = InMemory::new();
    let dir = tempfile::tempdir().unwrap();
    let here = common::open_store(dir.path(), small_chunks());
    let old = common::publish(&here, 1, 1, b"old state");
    let new = common::publish(&here, 2, 1, b"new state");
    let path = Path::from("x");
    runtime
        .block_on(export(&here, new.meta.id(), &bucket, &path))
        .expect("export");

    let there_dir = tempfile::tempdir().unwrap();
    let there = common::open_store(there_dir.path(), StoreOptions::default());
    let options = ImportOptions::default().expected_digest(old.meta.digest);
    let err = runtime
        .block_on(import_with(&there, &bucket, &path, &options))
        .unwrap_err();
    println!("{err}");
    match &err {
        Error::UnexpectedDigest {
            expected,
            actual,
            expected_from,
            ..
        } => {
            assert_eq!(*expected, old.meta.digest);
            assert_eq!(*actual, new.meta.digest);
            assert_eq!(*expected_from, "the import options");
        }
        other => panic!("expected UnexpectedDigest, got {other:?}"),
    }
    assert!(err.is_corruption());
    assert!(there.ids().unwrap().is_empty());
    assert!(
        file_names(there_dir.path()).is_empty(),
        "no temporary file left"
    );
}

#[test]
fn missing_snapshot_or_object_is_an_error() {
    let runtime = runtime();
    let bucket = InMemory::new();
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), small_chunks());
    let path = Path::from("nothing/here");
    let err = runtime
        .block_on(export(&store, SnapshotId::new(5, 5), &bucket, &path))
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(runtime.block_on(bucket.head(&path)).is_err(), "no object");

    let err = runtime
        .block_on(import(&store, &bucket, &path))
        .unwrap_err();
    println!("{err}");
    match &err {
        Error::ObjectStore { op, source, .. } => {
            assert_eq!(*op, "head");
            assert!(matches!(
                **source,
                cairn_snapshot::object_store::Error::NotFound { .. }
            ));
        }
        other => panic!("expected ObjectStore, got {other:?}"),
    }
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::NotFound
    );
    assert!(store.ids().unwrap().is_empty());
}

#[test]
fn invalid_part_size_is_rejected() {
    let runtime = runtime();
    let bucket = InMemory::new();
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), small_chunks());
    let id = common::publish(&store, 1, 1, b"x").meta.id();
    let err = runtime
        .block_on(export_with(
            &store,
            id,
            &bucket,
            &Path::from("p"),
            &ExportOptions::default().part_size(4096),
        ))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidOptions {
            field: "part_size",
            ..
        }
    ));
}

/// The futures can be spawned on a multi-threaded runtime.
#[test]
fn futures_are_send() {
    fn check<T: Send>(_: &T) {}
    let bucket = InMemory::new();
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_store(dir.path(), small_chunks());
    let path = Path::from("p");
    let export_future = export(&store, SnapshotId::new(1, 1), &bucket, &path);
    check(&export_future);
    let import_future = import(&store, &bucket, &path);
    check(&import_future);
}
