//! Cairn developer tasks.
fn main() {}
