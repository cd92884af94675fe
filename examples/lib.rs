//! Example programs for Cairn.
