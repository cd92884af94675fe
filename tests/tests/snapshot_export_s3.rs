//! Snapshot export to and import from a real S3-compatible server on 127.0.0.1 (moto, as
//! started by `cargo xtask test`): a multi-part export, a single-`put` export, imports into
//! fresh stores that verify byte for byte, and a corrupted object that fails with a
//! checksum error and publishes nothing.
//!
//! Without `CAIRN_S3_ENDPOINT` the test prints that it was skipped, unless
//! `CAIRN_S3_REQUIRED` is set, when it fails. By hand:
//! `moto_server -H 127.0.0.1 -p 5055 &` then
//! `CAIRN_S3_ENDPOINT=http://127.0.0.1:5055 cargo test -p cairn-tests --test snapshot_export_s3`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use cairn_io::{OpenMode, StdVfs, Vfs};
use cairn_snapshot::{
    Error, ExportOptions, ImportOptions, NewSnapshot, SnapshotId, SnapshotStore, StoreOptions,
    export_with, import_with,
};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

const MIB: usize = 1024 * 1024;
/// S3's smallest part (all but the last).
const PART_SIZE: u32 = 5 * MIB as u32;

/// The endpoint, or `None` when the test should be skipped.
fn endpoint() -> Option<String> {
    match std::env::var("CAIRN_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ => {
            assert!(
                std::env::var_os("CAIRN_S3_REQUIRED").is_none(),
                "CAIRN_S3_REQUIRED is set but CAIRN_S3_ENDPOINT is not: the S3 test cannot run"
            );
            println!("skipped: no S3 endpoint (run via cargo xtask test)");
            None
        }
    }
}

/// Creates `bucket` with an unsigned `PUT /bucket` (moto accepts it), over a raw HTTP/1.1
/// connection so that no HTTP client is needed.
fn create_bucket(endpoint: &str, bucket: &str) {
    let authority = endpoint
        .strip_prefix("http://")
        .expect("CAIRN_S3_ENDPOINT is http://host:port")
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).expect("connect to the S3 endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send PUT bucket");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read PUT bucket response");
    let status = response.lines().next().unwrap_or_default();
    assert!(
        status.contains(" 200"),
        "creating bucket {bucket} failed: {status}"
    );
}

fn s3(endpoint: &str, bucket: &str) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .expect("S3 client")
}

fn open_store(dir: &std::path::Path) -> SnapshotStore {
    SnapshotStore::open(dir, StoreOptions::default(), Arc::new(StdVfs::new())).expect("store")
}

/// Deterministic, incompressible-looking payload.
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn file_bytes(store: &SnapshotStore, id: SnapshotId) -> Vec<u8> {
    let file = StdVfs::new()
        .open(&store.path_of(id), OpenMode::Read)
        .expect("open");
    let mut bytes = vec![0_u8; usize::try_from(file.len().expect("len")).expect("fits")];
    file.read_exact_at(&mut bytes, 0).expect("read");
    bytes
}

fn publish(store: &SnapshotStore, lsn: u64, payload: &[u8]) -> SnapshotId {
    let mut pending = store
        .create(NewSnapshot::new(lsn, 4).user_meta(b"s3 test".to_vec()))
        .expect("create");
    pending.write_all(payload).expect("write");
    pending.publish().expect("publish").meta.id()
}

#[tokio::test]
async fn snapshot_export_import_through_s3() {
    let Some(endpoint) = endpoint() else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let bucket = format!("cairn-export-{}-{nanos}", std::process::id());
    create_bucket(&endpoint, &bucket);
    let s3 = s3(&endpoint, &bucket);
    println!("S3 endpoint {endpoint}, bucket {bucket}");

    let dir = tempfile::tempdir().unwrap();
    let here = open_store(dir.path());
    let export_options = ExportOptions::default().part_size(PART_SIZE);
    let import_options = ImportOptions::default().part_size(PART_SIZE);

    // 12 MiB: three parts of 5, 5 and ~2 MiB; then 100 KiB in a single put.
    for (lsn, size, parts) in [(10, 12 * MIB, 3), (20, 100 * 1024, 0)] {
        let data = payload(size, lsn);
        let id = publish(&here, lsn, &data);
        let path = Path::from(format!("snapshots/{lsn}.snap"));
        let started = std::time::Instant::now();
        let report = export_with(&here, id, &s3, &path, &export_options)
            .await
            .expect("export");
        println!(
            "exported {} B in {} parts in {:?} (metadata {})",
            report.object_size,
            report.part_count,
            started.elapsed(),
            report.metadata_written
        );
        assert_eq!(report.part_count, parts);
        assert!(report.metadata_written, "S3 keeps user metadata");
        let local_file = file_bytes(&here, id);
        let object = s3.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(object.len(), local_file.len());
        assert!(object == local_file, "the object is the file byte for byte");

        let there_dir = tempfile::tempdir().unwrap();
        let there = open_store(there_dir.path());
        let started = std::time::Instant::now();
        let imported = import_with(
            &there,
            &s3,
            &path,
            &import_options.clone().expected_digest(report.meta.digest),
        )
        .await
        .expect("import");
        println!(
            "imported {} B in {} GETs in {:?}",
            imported.object_size,
            imported.get_count,
            started.elapsed()
        );
        assert!(
            imported.metadata_checked,
            "the digest came back as metadata"
        );
        assert_eq!(imported.published.meta, report.meta);
        assert_eq!(there.verify(id).unwrap().digest, report.meta.digest);
        let mut read_back = Vec::new();
        there.read(id).unwrap().read_to_end(&mut read_back).unwrap();
        assert!(read_back == data);
    }

    // Corrupt the big object: one flipped bit in the second part, written back with a plain
    // put (no metadata), so only the snapshot's own checksums can catch it.
    let path = Path::from("snapshots/10.snap");
    let mut object = s3.get(&path).await.unwrap().bytes().await.unwrap().to_vec();
    let at = PART_SIZE as usize + 12_345;
    object[at] ^= 0x04;
    s3.put(&path, PutPayload::from(object)).await.unwrap();
    let there_dir = tempfile::tempdir().unwrap();
    let there = open_store(there_dir.path());
    let err = import_with(&there, &s3, &path, &import_options)
        .await
        .expect_err("a corrupted object must not import");
    println!("corrupted object: {err}");
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err:?}");
    assert!(err.is_corruption());
    assert!(there.ids().unwrap().is_empty(), "nothing published");
    let names = StdVfs::new().list(there_dir.path()).unwrap();
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")),
        "no temporary file left: {names:?}"
    );

    // A missing object is an object-store error naming it.
    let err = import_with(&there, &s3, &Path::from("absent"), &import_options)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ObjectStore { op: "head", source, .. }
            if matches!(**source, object_store::Error::NotFound { .. })),
        "{err:?}"
    );

    for lsn in [10, 20] {
        s3.delete(&Path::from(format!("snapshots/{lsn}.snap")))
            .await
            .unwrap();
    }
    let _: &dyn ObjectStore = &s3;
}
