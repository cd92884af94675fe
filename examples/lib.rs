//! Example programs for Cairn, one per user the design serves. Each lives in this package's
//! `[[example]]` targets with `test = true`, so `cargo test` and `cargo nextest run
//! --workspace` build and run it; this library target is empty and exists only so the
//! package has a default target.
