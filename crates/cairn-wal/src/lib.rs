//! Work in progress: not yet usable.
