//! Checksums for Cairn's on-disk structures.
//!
//! Two families, each behind its own type so that a checksum can never be confused with a
//! length or an offset:
//!
//! - [`Crc32`]: CRC-32 (IEEE, the polynomial of zlib and Ethernet) computed with `crc32fast`.
//!   It protects frames and chunks: cheap, and detects every burst error up to 32 bits.
//!   [`Crc32::mask`] gives the *masked* form used whenever a CRC is stored inside data that is
//!   itself checksummed (see [`MaskedCrc32`] for why).
//! - [`Digest`]: a 32-byte BLAKE3 hash, for whole snapshots and content addressing, where a
//!   collision must be infeasible rather than merely unlikely.
//!
//! # Examples
//!
//! ```
//! use cairn_crc::{Crc32, Crc32Hasher, Digest};
//!
//! assert_eq!(Crc32::of(b"123456789").get(), 0xCBF4_3926);
//!
//! let mut hasher = Crc32Hasher::new();
//! hasher.update(b"1234");
//! hasher.update(b"56789");
//! assert_eq!(hasher.finish(), Crc32::of(b"123456789"));
//!
//! assert_eq!(Digest::of(b"").to_hex()[..8], *"af1349b9");
//! ```

mod crc;
mod digest;

pub use crc::{Crc32, Crc32Hasher, MaskedCrc32};
pub use digest::{Digest, DigestHasher};
