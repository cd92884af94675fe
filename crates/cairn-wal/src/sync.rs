//! The synchronisation primitives of the crate, in one place: `std`'s normally and loom's
//! under `--cfg cairn_loom`, so that the group-commit core can be model-checked unchanged
//! (the pattern of tokio's `src/loom/mod.rs`).

#[cfg(not(cairn_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(not(cairn_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard, RwLock, RwLockWriteGuard};

#[cfg(cairn_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(cairn_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard, RwLock, RwLockWriteGuard};

#[cfg(not(cairn_loom))]
pub(crate) use std::thread::yield_now;

#[cfg(cairn_loom)]
pub(crate) use loom::thread::yield_now;

/// Locks a mutex, ignoring poisoning: a panic while holding a WAL lock is a bug that has
/// already surfaced; the state it protects stays consistent because every mutation that can
/// fail is completed or rolled back before the guard drops.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
