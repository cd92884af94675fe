//! [`SnapshotReader`]: decodes a snapshot from any `std::io::Read`, verifying each chunk's
//! CRC before its bytes are handed out and the digest, sizes and footer before reporting the
//! end.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use cairn_crc::{Crc32, DigestHasher};

use crate::error::{CorruptKind, Error, Result};
use crate::format::{
    self, CHUNK_HEADER_SIZE, FOOTER_SIZE, FixedHeaderError, Footer, FooterError, HEADER_CRC_SIZE,
    HEADER_FIXED_SIZE, Header,
};
use crate::meta::{SnapshotId, SnapshotMeta};

/// Where the reader is in the snapshot.
#[derive(Debug)]
enum State {
    /// Serving chunks.
    Chunks,
    /// The footer was read and everything checked.
    Verified(SnapshotMeta),
    /// An error was returned; every later call fails.
    Failed,
}

/// Reads one snapshot from a byte source and yields its payload, verifying as it goes.
///
/// - The header is read and checked (magic, version, CRC, bounds) by
///   [`SnapshotReader::new`].
/// - [`Read::read`] hands out a chunk's bytes only after that chunk's CRC-32 matched; a
///   mismatch is an error at that chunk, not later.
/// - [`Read::read`] returns `Ok(0)` (the end) only after the footer, the payload size, the
///   chunk count and the BLAKE3 digest all matched and nothing follows the footer. A
///   truncated or damaged snapshot therefore never reads to a clean end.
///
/// Errors from `Read` are `io::Error`s wrapping [`Error`]; [`Error::from_io`] unwraps them.
/// [`SnapshotReader::finish`] reads to the end and returns the [`Error`] directly.
///
/// Memory use is one chunk (at most 16 MiB, bounded by the header before allocation) plus
/// the user metadata (at most 64 KiB).
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use cairn_snapshot::{NewSnapshot, SnapshotReader, SnapshotWriter};
///
/// # fn main() -> Result<(), cairn_snapshot::Error> {
/// let mut writer = SnapshotWriter::new(Vec::new(), NewSnapshot::new(5, 1), "mem")?;
/// writer.write_all(&[7_u8; 100_000])?;
/// let (mut bytes, _) = writer.finish()?;
///
/// bytes[5000] ^= 0x01; // a bit flip inside the payload
/// let mut reader = SnapshotReader::new(bytes.as_slice(), "mem")?;
/// let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
/// assert!(cairn_snapshot::Error::from_io(err, "mem").is_corruption());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SnapshotReader<R: Read> {
    source: R,
    name: PathBuf,
    header: Header,
    header_crc: Crc32,
    /// Offset in the source of the next byte to read.
    offset: u64,
    /// The current chunk's verified data and how much of it was handed out.
    chunk: Vec<u8>,
    chunk_pos: usize,
    chunk_index: u64,
    payload_size: u64,
    hasher: DigestHasher,
    state: State,
}

impl<R: Read> SnapshotReader<R> {
    /// Reads and checks the header from `source`. `name` labels the source in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] (bad magic, header CRC, out-of-range fields, truncated),
    /// [`Error::UnsupportedVersion`], or the source's error.
    pub fn new(mut source: R, name: impl Into<PathBuf>) -> Result<Self> {
        let name = name.into();
        let mut fixed = [0_u8; HEADER_FIXED_SIZE];
        read_full(&mut source, &mut fixed, &name, 0)?;
        let checked = Header::check_fixed(&fixed).map_err(|e| match e {
            FixedHeaderError::BadMagic => corrupt(&name, 0, CorruptKind::BadMagic),
            FixedHeaderError::UnsupportedVersion(found) => Error::UnsupportedVersion {
                path: name.clone(),
                found,
                max: format::FORMAT_VERSION,
            },
            FixedHeaderError::NonZeroReserved => corrupt(&name, 0, CorruptKind::NonZeroReserved),
            FixedHeaderError::ChunkSizeOutOfRange(found) => {
                corrupt(&name, 0, CorruptKind::ChunkSizeOutOfRange { found })
            }
            FixedHeaderError::UserMetaTooLarge(found) => {
                corrupt(&name, 0, CorruptKind::UserMetaTooLarge { found })
            }
        })?;
        // Bounded by check_fixed: at most 64 KiB + 4.
        let mut rest = vec![0_u8; checked.user_meta_size as usize + HEADER_CRC_SIZE];
        read_full(&mut source, &mut rest, &name, HEADER_FIXED_SIZE as u64)?;
        let (header, header_crc) =
            Header::decode_rest(&fixed, &rest).map_err(|(expected, actual)| {
                corrupt(&name, 0, CorruptKind::HeaderChecksum { expected, actual })
            })?;
        let offset = header.encoded_size() as u64;
        Ok(Self {
            source,
            name,
            header,
            header_crc,
            offset,
            chunk: Vec::new(),
            chunk_pos: 0,
            chunk_index: 0,
            payload_size: 0,
            hasher: DigestHasher::new(),
            state: State::Chunks,
        })
    }

    /// The id in the header (checked by its CRC; the footer is checked at the end).
    #[must_use]
    pub fn id(&self) -> SnapshotId {
        SnapshotId::new(self.header.lsn, self.header.term)
    }

    /// The creation time in the header, in nanoseconds since the Unix epoch.
    #[must_use]
    pub fn created_unix_nanos(&self) -> u64 {
        self.header.created_unix_nanos
    }

    /// The user metadata in the header.
    #[must_use]
    pub fn user_meta(&self) -> &[u8] {
        &self.header.user_meta
    }

    /// The name this reader reports in errors.
    #[must_use]
    pub fn name(&self) -> &Path {
        &self.name
    }

    /// The metadata, once the end has been reached and verified; `None` before.
    #[must_use]
    pub fn verified_meta(&self) -> Option<&SnapshotMeta> {
        match &self.state {
            State::Verified(meta) => Some(meta),
            _ => None,
        }
    }

    /// Reads (and discards) whatever payload is left, verifies the rest of the snapshot,
    /// and returns its metadata.
    ///
    /// # Errors
    ///
    /// [`Error::ChecksumMismatch`], [`Error::DigestMismatch`], [`Error::Corrupt`], or the
    /// source's error.
    pub fn finish(mut self) -> Result<SnapshotMeta> {
        loop {
            match &self.state {
                State::Verified(meta) => return Ok(meta.clone()),
                State::Failed => return Err(Error::PreviousError),
                State::Chunks => {
                    self.chunk_pos = self.chunk.len();
                    self.advance()?;
                }
            }
        }
    }

    /// Moves to the next chunk (or verifies the end). Called when the current chunk is
    /// used up.
    fn advance(&mut self) -> Result<()> {
        let result = self.advance_inner();
        if result.is_err() {
            self.state = State::Failed;
            self.chunk.clear();
            self.chunk_pos = 0;
        }
        result
    }

    fn advance_inner(&mut self) -> Result<()> {
        assert!(matches!(self.state, State::Chunks));
        assert_eq!(
            self.chunk_pos,
            self.chunk.len(),
            "advance only when the chunk is used up"
        );
        let chunk_at = self.offset;
        let mut head = [0_u8; CHUNK_HEADER_SIZE];
        self.read_full(&mut head)?;
        let (size, stored) = format::decode_chunk_header(&head);
        let max = self.header.chunk_size_max;
        if size > max {
            return Err(corrupt(
                &self.name,
                chunk_at,
                CorruptKind::ChunkTooLarge { size, max },
            ));
        }
        // Bounded just above by chunk_size_max (at most 16 MiB).
        self.chunk.resize(size as usize, 0);
        self.chunk_pos = 0;
        let mut data = std::mem::take(&mut self.chunk);
        let read = self.read_full(&mut data);
        self.chunk = data;
        read?;
        let actual = format::chunk_crc(self.header.salt, self.chunk_index, &self.chunk);
        if actual != stored {
            return Err(Error::ChecksumMismatch {
                snapshot: self.name.clone(),
                chunk: self.chunk_index,
                offset: chunk_at,
                expected: stored,
                actual,
            });
        }
        if size == 0 {
            return self.read_footer();
        }
        self.hasher.update(&self.chunk);
        self.payload_size = self
            .payload_size
            .checked_add(u64::from(size))
            .ok_or_else(|| {
                corrupt(
                    &self.name,
                    chunk_at,
                    CorruptKind::FooterMismatch {
                        field: "payload_size",
                        footer: u64::MAX,
                        actual: u64::MAX,
                    },
                )
            })?;
        self.chunk_index += 1;
        Ok(())
    }

    fn read_footer(&mut self) -> Result<()> {
        let footer_at = self.offset;
        let mut bytes = [0_u8; FOOTER_SIZE];
        self.read_full(&mut bytes)?;
        let footer = Footer::decode(&bytes).map_err(|e| footer_error(&self.name, footer_at, e))?;
        let checks: [(&'static str, u64, u64); 6] = [
            (
                "header checksum",
                u64::from(footer.header_crc.get()),
                u64::from(self.header_crc.get()),
            ),
            ("lsn", footer.lsn, self.header.lsn),
            ("term", footer.term, self.header.term),
            (
                "creation time",
                footer.created_unix_nanos,
                self.header.created_unix_nanos,
            ),
            ("payload size", footer.payload_size, self.payload_size),
            ("chunk count", footer.chunk_count, self.chunk_index),
        ];
        for (field, in_footer, actual) in checks {
            if in_footer != actual {
                return Err(corrupt(
                    &self.name,
                    footer_at,
                    CorruptKind::FooterMismatch {
                        field,
                        footer: in_footer,
                        actual,
                    },
                ));
            }
        }
        let digest = self.hasher.finish();
        if digest != footer.digest {
            return Err(Error::DigestMismatch {
                snapshot: self.name.clone(),
                expected: footer.digest,
                actual: digest,
            });
        }
        // Nothing may follow the footer.
        let mut probe = [0_u8; 1];
        let extra = loop {
            match self.source.read(&mut probe) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::from_io(e, self.name.clone())),
            }
        };
        if extra != 0 {
            return Err(corrupt(&self.name, self.offset, CorruptKind::TrailingBytes));
        }
        self.state = State::Verified(SnapshotMeta {
            lsn: self.header.lsn,
            term: self.header.term,
            created_unix_nanos: self.header.created_unix_nanos,
            payload_size: self.payload_size,
            digest,
            user_meta: self.header.user_meta.clone(),
        });
        Ok(())
    }

    fn read_full(&mut self, buf: &mut [u8]) -> Result<()> {
        read_full(&mut self.source, buf, &self.name, self.offset)?;
        self.offset += buf.len() as u64;
        Ok(())
    }
}

impl<R: Read> Read for SnapshotReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state {
                State::Verified(_) => return Ok(0),
                State::Failed => return Err(Error::PreviousError.into()),
                State::Chunks => {}
            }
            if self.chunk_pos < self.chunk.len() {
                let n = buf.len().min(self.chunk.len() - self.chunk_pos);
                buf[..n].copy_from_slice(&self.chunk[self.chunk_pos..self.chunk_pos + n]);
                self.chunk_pos += n;
                return Ok(n);
            }
            self.advance()?;
        }
    }
}

/// Fills `buf` from `source`; the end of the data is [`CorruptKind::Truncated`].
fn read_full<R: Read>(source: &mut R, buf: &mut [u8], name: &Path, offset: u64) -> Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match source.read(&mut buf[done..]) {
            Ok(0) => return Err(corrupt(name, offset + done as u64, CorruptKind::Truncated)),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::from_io(e, name)),
        }
    }
    Ok(())
}

fn footer_error(name: &Path, footer_at: u64, err: FooterError) -> Error {
    match err {
        FooterError::BadMagic => corrupt(name, footer_at, CorruptKind::BadFooterMagic),
        FooterError::Checksum { stored, actual } => corrupt(
            name,
            footer_at,
            CorruptKind::FooterChecksum {
                expected: stored,
                actual,
            },
        ),
        FooterError::UnsupportedVersion(found) => Error::UnsupportedVersion {
            path: name.to_path_buf(),
            found,
            max: format::FORMAT_VERSION,
        },
        FooterError::NonZeroReserved => corrupt(name, footer_at, CorruptKind::NonZeroReserved),
    }
}

fn corrupt(name: &Path, offset: u64, kind: CorruptKind) -> Error {
    Error::Corrupt {
        path: name.to_path_buf(),
        offset,
        kind,
    }
}

/// A `Read` over a [`cairn_io::VfsFile`] from offset 0; errors carry the
/// [`cairn_io::Error`] so [`Error::from_io`] can recover it.
#[derive(Debug)]
pub struct VfsFileReader {
    file: Box<dyn cairn_io::VfsFile>,
    offset: u64,
}

impl VfsFileReader {
    /// Reads `file` from its start.
    #[must_use]
    pub fn new(file: Box<dyn cairn_io::VfsFile>) -> Self {
        Self { file, offset: 0 }
    }
}

impl Read for VfsFileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.file.read_at(buf, self.offset) {
            Ok(n) => {
                self.offset += n as u64;
                Ok(n)
            }
            Err(e) => Err(io::Error::new(e.kind(), e)),
        }
    }
}

/// Reads a snapshot file's header and footer without reading the payload, and checks that
/// they agree. Cheap (two small reads); the payload is not verified.
pub(crate) fn peek_meta(file: Box<dyn cairn_io::VfsFile>, name: &Path) -> Result<SnapshotMeta> {
    let len = file.len()?;
    let mut reader = SnapshotReader::new(VfsFileReader::new(file), name)?;
    let footer_at = reader
        .offset
        .checked_add((CHUNK_HEADER_SIZE + FOOTER_SIZE) as u64);
    if footer_at.is_none_or(|end| end > len) {
        return Err(corrupt(name, len, CorruptKind::Truncated));
    }
    let footer_at = len - FOOTER_SIZE as u64;
    let mut bytes = [0_u8; FOOTER_SIZE];
    reader.source.file.read_exact_at(&mut bytes, footer_at)?;
    let footer = Footer::decode(&bytes).map_err(|e| footer_error(name, footer_at, e))?;
    let checks: [(&'static str, u64, u64); 4] = [
        (
            "header checksum",
            u64::from(footer.header_crc.get()),
            u64::from(reader.header_crc.get()),
        ),
        ("lsn", footer.lsn, reader.header.lsn),
        ("term", footer.term, reader.header.term),
        (
            "creation time",
            footer.created_unix_nanos,
            reader.header.created_unix_nanos,
        ),
    ];
    for (field, in_footer, actual) in checks {
        if in_footer != actual {
            return Err(corrupt(
                name,
                footer_at,
                CorruptKind::FooterMismatch {
                    field,
                    footer: in_footer,
                    actual,
                },
            ));
        }
    }
    Ok(SnapshotMeta {
        lsn: reader.header.lsn,
        term: reader.header.term,
        created_unix_nanos: reader.header.created_unix_nanos,
        payload_size: footer.payload_size,
        digest: footer.digest,
        user_meta: std::mem::take(&mut reader.header.user_meta),
    })
}
