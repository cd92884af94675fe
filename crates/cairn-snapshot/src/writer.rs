//! [`SnapshotWriter`]: encodes a snapshot onto any `std::io::Write`, one chunk at a time,
//! never holding more than one chunk in memory.

use std::io::{self, Write};
use std::path::PathBuf;

use cairn_crc::{Crc32, DigestHasher};

use crate::error::{Error, Result};
use crate::format::{
    self, CHUNK_HEADER_SIZE, CHUNK_SIZE_DEFAULT, CHUNK_SIZE_MAX, CHUNK_SIZE_MIN, Footer, Header,
    USER_META_SIZE_MAX,
};
use crate::meta::{NewSnapshot, SnapshotMeta};

/// Writes one snapshot in the Cairn snapshot format to a byte sink.
///
/// The header goes out when the writer is built; payload bytes given to [`Write::write`] are
/// gathered into chunks of `chunk_size` bytes, each written with its CRC-32 as soon as it is
/// full; [`SnapshotWriter::finish`] writes the last chunk, the end marker and the footer with
/// the payload's BLAKE3 digest. Memory use is one chunk, whatever the snapshot's size.
///
/// This type knows nothing of files, fsync or publishing: it is the encoder that
/// [`crate::SnapshotStore`] runs over a temporary file, and that an exporter can run over a
/// network stream.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use cairn_snapshot::{NewSnapshot, SnapshotReader, SnapshotWriter};
///
/// # fn main() -> Result<(), cairn_snapshot::Error> {
/// let mut writer = SnapshotWriter::new(Vec::new(), NewSnapshot::new(10, 1), "mem")?;
/// writer.write_all(b"state bytes")?;
/// let (bytes, meta) = writer.finish()?;
/// assert_eq!(meta.payload_size, 11);
///
/// let mut reader = SnapshotReader::new(bytes.as_slice(), "mem")?;
/// let mut payload = Vec::new();
/// std::io::Read::read_to_end(&mut reader, &mut payload)?;
/// assert_eq!(payload, b"state bytes");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SnapshotWriter<W: Write> {
    sink: W,
    name: PathBuf,
    header: Header,
    header_crc: Crc32,
    /// The chunk being gathered, with `CHUNK_HEADER_SIZE` bytes reserved in front.
    chunk: Vec<u8>,
    chunk_size: usize,
    chunk_index: u64,
    payload_size: u64,
    /// Bytes handed to the sink so far (header, chunks, footer).
    written_bytes: u64,
    hasher: DigestHasher,
    failed: bool,
}

impl<W: Write> SnapshotWriter<W> {
    /// Starts a snapshot on `sink` with the default chunk size (256 KiB) and writes its
    /// header. `name` labels the sink in errors (a path, an object key).
    ///
    /// # Errors
    ///
    /// [`Error::UserMetaTooLarge`] if the user metadata exceeds 64 KiB; the sink's error if
    /// the header cannot be written.
    pub fn new(sink: W, new: NewSnapshot, name: impl Into<PathBuf>) -> Result<Self> {
        Self::with_chunk_size(sink, new, name, CHUNK_SIZE_DEFAULT)
    }

    /// As [`SnapshotWriter::new`], with chunks of `chunk_size` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOptions`] if `chunk_size` is outside 4 KiB..=16 MiB; otherwise as
    /// [`SnapshotWriter::new`].
    pub fn with_chunk_size(
        mut sink: W,
        new: NewSnapshot,
        name: impl Into<PathBuf>,
        chunk_size: u32,
    ) -> Result<Self> {
        let name = name.into();
        check_chunk_size(chunk_size)?;
        if new.user_meta.len() > USER_META_SIZE_MAX as usize {
            return Err(Error::UserMetaTooLarge {
                size: u64::try_from(new.user_meta.len()).unwrap_or(u64::MAX),
                max: USER_META_SIZE_MAX,
            });
        }
        let header = Header {
            chunk_size_max: chunk_size,
            lsn: new.id.lsn,
            term: new.id.term,
            created_unix_nanos: new.resolved_created(),
            salt: new.resolved_salt(),
            user_meta: new.user_meta.clone(),
        };
        let encoded = header.encode();
        let header_crc = Crc32::from_le_bytes(
            encoded[encoded.len() - format::HEADER_CRC_SIZE..]
                .try_into()
                .unwrap_or([0; 4]),
        );
        sink.write_all(&encoded)
            .map_err(|e| Error::from_io(e, name.clone()))?;
        let chunk_size = chunk_size as usize;
        let mut chunk = Vec::with_capacity(CHUNK_HEADER_SIZE + chunk_size);
        chunk.resize(CHUNK_HEADER_SIZE, 0);
        Ok(Self {
            sink,
            name,
            header,
            header_crc,
            chunk,
            chunk_size,
            chunk_index: 0,
            payload_size: 0,
            written_bytes: encoded.len() as u64,
            hasher: DigestHasher::new(),
            failed: false,
        })
    }

    /// Payload bytes accepted so far.
    #[must_use]
    pub fn payload_size(&self) -> u64 {
        self.payload_size
    }

    /// Bytes handed to the sink so far, headers and checksums included.
    #[must_use]
    pub fn written_bytes(&self) -> u64 {
        self.written_bytes
    }

    /// The sink, for inspection.
    #[must_use]
    pub fn get_ref(&self) -> &W {
        &self.sink
    }

    /// Writes the last partial chunk, the end marker and the footer, flushes the sink, and
    /// returns it with the snapshot's metadata. Durability is the caller's business (the
    /// store fsyncs and publishes).
    ///
    /// # Errors
    ///
    /// [`Error::PreviousError`] if an earlier write failed; the sink's error.
    pub fn finish(mut self) -> Result<(W, SnapshotMeta)> {
        if self.failed {
            return Err(Error::PreviousError);
        }
        self.emit_chunk()?;
        // The end marker: an empty chunk with its own CRC.
        let end_crc = format::chunk_crc(self.header.salt, self.chunk_index, &[]);
        let end = format::encode_chunk_header(0, end_crc);
        let footer = Footer {
            header_crc: self.header_crc,
            lsn: self.header.lsn,
            term: self.header.term,
            created_unix_nanos: self.header.created_unix_nanos,
            payload_size: self.payload_size,
            chunk_count: self.chunk_index,
            digest: self.hasher.finish(),
        };
        let footer_bytes = footer.encode();
        let mut tail = Vec::with_capacity(end.len() + footer_bytes.len());
        tail.extend_from_slice(&end);
        tail.extend_from_slice(&footer_bytes);
        self.sink_write(&tail)?;
        self.sink
            .flush()
            .map_err(|e| Error::from_io(e, self.name.clone()))?;
        assert_eq!(
            self.hasher.len(),
            self.payload_size,
            "digest saw every payload byte"
        );
        let meta = SnapshotMeta {
            lsn: self.header.lsn,
            term: self.header.term,
            created_unix_nanos: self.header.created_unix_nanos,
            payload_size: self.payload_size,
            digest: footer.digest,
            user_meta: std::mem::take(&mut self.header.user_meta),
        };
        Ok((self.sink, meta))
    }

    /// Writes the gathered chunk, if any, and starts the next.
    fn emit_chunk(&mut self) -> Result<()> {
        let data_len = self.chunk.len() - CHUNK_HEADER_SIZE;
        if data_len == 0 {
            return Ok(());
        }
        assert!(data_len <= self.chunk_size, "chunk overfilled");
        let size = u32::try_from(data_len).unwrap_or(u32::MAX);
        let crc = format::chunk_crc(
            self.header.salt,
            self.chunk_index,
            &self.chunk[CHUNK_HEADER_SIZE..],
        );
        self.chunk[..CHUNK_HEADER_SIZE].copy_from_slice(&format::encode_chunk_header(size, crc));
        let chunk = std::mem::take(&mut self.chunk);
        let result = self.sink_write(&chunk);
        self.chunk = chunk;
        result?;
        self.chunk.truncate(CHUNK_HEADER_SIZE);
        self.chunk_index += 1;
        Ok(())
    }

    fn sink_write(&mut self, bytes: &[u8]) -> Result<()> {
        match self.sink.write_all(bytes) {
            Ok(()) => {
                self.written_bytes += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(Error::from_io(e, self.name.clone()))
            }
        }
    }
}

impl<W: Write> Write for SnapshotWriter<W> {
    /// Accepts payload bytes; whenever a chunk fills, it is checksummed and written.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(Error::PreviousError.into());
        }
        let room = self.chunk_size - (self.chunk.len() - CHUNK_HEADER_SIZE);
        let take = room.min(buf.len());
        self.chunk.extend_from_slice(&buf[..take]);
        self.hasher.update(&buf[..take]);
        self.payload_size += take as u64;
        if self.chunk.len() - CHUNK_HEADER_SIZE == self.chunk_size {
            self.emit_chunk()?;
        }
        Ok(take)
    }

    /// Flushes the sink. A partly gathered chunk stays in memory until it fills or
    /// [`SnapshotWriter::finish`] is called; chunk boundaries are not changed by flushing.
    fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }
}

pub(crate) fn check_chunk_size(chunk_size: u32) -> Result<()> {
    if (CHUNK_SIZE_MIN..=CHUNK_SIZE_MAX).contains(&chunk_size) {
        Ok(())
    } else {
        Err(Error::InvalidOptions {
            field: "chunk_size",
            reason: format!("{chunk_size} is outside {CHUNK_SIZE_MIN}..={CHUNK_SIZE_MAX} bytes"),
        })
    }
}

/// A `Write` over a [`cairn_io::VfsFile`], appending from offset 0; errors carry the
/// [`cairn_io::Error`] so [`Error::from_io`] can recover it.
#[derive(Debug)]
pub(crate) struct VfsFileWriter {
    pub(crate) file: Box<dyn cairn_io::VfsFile>,
    pub(crate) offset: u64,
}

impl Write for VfsFileWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.file.write_at(buf, self.offset) {
            Ok(n) => {
                self.offset += n as u64;
                Ok(n)
            }
            Err(e) => Err(io::Error::new(e.kind(), e)),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self.file.write_all_at(buf, self.offset) {
            Ok(()) => {
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) => Err(io::Error::new(e.kind(), e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
