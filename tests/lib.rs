//! Cross-crate integration tests for Cairn.
