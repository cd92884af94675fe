//! The [`StateMachine`] trait: what an application implements so that recovery can rebuild
//! its state from a snapshot plus the log, and checkpoints can capture it.

use std::io::{Read, Write};

use cairn_wal::Lsn;

/// An application's state, rebuilt by applying log records in LSN order.
///
/// The contract that makes recovery correct:
///
/// - [`StateMachine::apply`] is **deterministic**: the same records applied in the same order
///   to the same state give the same state. Recovery replays records that were applied before
///   the crash, and a snapshot plus replay must land where the original run did.
/// - An `apply` error means the state machine could not apply the record (a bug, an
///   exhausted resource), not that the record was rejected: the record is already in the log
///   and will be replayed on every recovery. Validate requests before logging them, or treat
///   a rejected record as a no-op that returns `Ok`.
/// - [`StateMachine::snapshot`] writes the whole state; [`StateMachine::restore`] replaces
///   the whole state with what `snapshot` wrote. Snapshot bytes are checksummed by
///   `cairn-snapshot`, so `restore` sees exactly what `snapshot` wrote.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use cairn_recovery::StateMachine;
/// use cairn_wal::Lsn;
///
/// /// Sums little-endian u64 records.
/// #[derive(Default)]
/// struct Sum(u64);
///
/// impl StateMachine for Sum {
///     type Error = std::io::Error;
///     fn apply(&mut self, _lsn: Lsn, payload: &[u8]) -> std::io::Result<()> {
///         let bytes: [u8; 8] = payload.try_into().map_err(|_| std::io::ErrorKind::InvalidData)?;
///         self.0 += u64::from_le_bytes(bytes);
///         Ok(())
///     }
///     fn snapshot(&self, writer: &mut dyn Write) -> std::io::Result<()> {
///         writer.write_all(&self.0.to_le_bytes())
///     }
///     fn restore(&mut self, reader: &mut dyn Read) -> std::io::Result<()> {
///         let mut bytes = [0; 8];
///         reader.read_exact(&mut bytes)?;
///         self.0 = u64::from_le_bytes(bytes);
///         Ok(())
///     }
/// }
///
/// let mut sum = Sum::default();
/// sum.apply(Lsn::FIRST, &5u64.to_le_bytes()).unwrap();
/// let mut image = Vec::new();
/// sum.snapshot(&mut image).unwrap();
/// let mut copy = Sum::default();
/// copy.restore(&mut &image[..]).unwrap();
/// assert_eq!(copy.0, 5);
/// ```
pub trait StateMachine {
    /// The state machine's error type. `std::io::Error` is a natural choice, since
    /// snapshots are written to and read from byte streams.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Applies the record at `lsn` to the state. Called with consecutive LSNs.
    ///
    /// # Errors
    ///
    /// Any failure; see the trait documentation for what an error means.
    fn apply(&mut self, lsn: Lsn, payload: &[u8]) -> Result<(), Self::Error>;

    /// Writes the whole state to `writer`. It need not flush.
    ///
    /// # Errors
    ///
    /// Any failure, including the writer's (a full disk surfaces as the writer's error and
    /// is reported by the caller as [`crate::Error::NoSpace`]).
    fn snapshot(&self, writer: &mut dyn Write) -> Result<(), Self::Error>;

    /// Replaces the whole state with the one `reader` yields (written by
    /// [`StateMachine::snapshot`]).
    ///
    /// # Errors
    ///
    /// Any failure, including the reader's (a checksum failure surfaces as the reader's
    /// error and is reported by the caller as [`crate::Error::Snapshot`]).
    fn restore(&mut self, reader: &mut dyn Read) -> Result<(), Self::Error>;
}
