//! One adapter per log under test, each behind the cargo feature of the same name.

#[cfg(feature = "cairn")]
pub mod cairn;
#[cfg(feature = "fjall")]
pub mod fjall;
#[cfg(feature = "okaywal")]
pub mod okaywal;
#[cfg(feature = "raft-engine")]
pub mod raft_engine;
#[cfg(feature = "redb")]
pub mod redb;
#[cfg(feature = "sled")]
pub mod sled;
#[cfg(feature = "walrus")]
pub mod walrus;
