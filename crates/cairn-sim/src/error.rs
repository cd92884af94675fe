//! The OS error numbers the simulator returns, and how they become [`cairn_io::Error`]s.
//!
//! The numbers are Linux's (they agree with the BSDs and macOS for every code used here), so
//! `Error::is_eio`, `is_no_space`, `is_not_found` and `is_already_exists` work on them.

use std::io;
use std::path::Path;

use cairn_io::{Error, Op};

/// No such file or directory.
pub(crate) const ENOENT: i32 = 2;
/// I/O error: an injected device failure, or any call on a crashed (frozen) simulator.
pub(crate) const EIO: i32 = 5;
/// Bad file descriptor: a write through a handle opened read-only.
pub(crate) const EBADF: i32 = 9;
/// File exists.
pub(crate) const EEXIST: i32 = 17;
/// Not a directory.
pub(crate) const ENOTDIR: i32 = 20;
/// Is a directory.
pub(crate) const EISDIR: i32 = 21;
/// Invalid argument: moving a directory into itself.
pub(crate) const EINVAL: i32 = 22;
/// File too large: beyond [`crate::FILE_SIZE_MAX`].
pub(crate) const EFBIG: i32 = 27;
/// No space left on device.
pub(crate) const ENOSPC: i32 = 28;

/// Builds the [`Error::Io`] a real system call failing with `errno` would give.
pub(crate) fn os_error(op: Op, path: &Path, errno: i32) -> Error {
    assert!(errno > 0, "errno values are positive");
    Error::io(op, path, io::Error::from_raw_os_error(errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_recognise_the_codes() {
        let p = Path::new("/x");
        assert!(os_error(Op::Write, p, EIO).is_eio());
        assert!(os_error(Op::Write, p, ENOSPC).is_no_space());
        assert!(os_error(Op::Open, p, ENOENT).is_not_found());
        assert!(os_error(Op::Create, p, EEXIST).is_already_exists());
        assert!(!os_error(Op::Write, p, ENOSPC).is_eio());
    }
}
