//! A deterministic, fault-injecting simulated file system (work in progress).
