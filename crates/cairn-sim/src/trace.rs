//! The trace: every mutating call in order, with its result, interleaved with the markers a
//! workload sets when it acknowledges something, and the crash if there was one.
//!
//! A checker reads it to learn what had been acknowledged when the simulator was cut.

use std::fmt;
use std::path::PathBuf;

use cairn_io::Op;

use crate::fault::FaultKind;

/// The label of a marker set with [`crate::SimVfs::mark`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    /// A number, such as the sequence number of an acknowledged record.
    Num(u64),
    /// A text label.
    Text(String),
}

impl From<u64> for Label {
    fn from(value: u64) -> Self {
        Label::Num(value)
    }
}

impl From<&str> for Label {
    fn from(value: &str) -> Self {
        Label::Text(value.to_owned())
    }
}

impl From<String> for Label {
    fn from(value: String) -> Self {
        Label::Text(value)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Num(n) => write!(f, "{n}"),
            Label::Text(text) => f.write_str(text),
        }
    }
}

/// One mutating call as the simulator saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRecord {
    /// The call's number among mutating calls, from 1; the cut points of
    /// [`crate::SimVfs::crash_after_call`] count these.
    pub call: u64,
    /// What was called.
    pub op: Op,
    /// The file or directory (the source, for a rename).
    pub path: PathBuf,
    /// The destination of a rename.
    pub to: Option<PathBuf>,
    /// The offset of a write or allocation; 0 otherwise.
    pub offset: u64,
    /// The length of a write, allocation or `set_len`; 0 otherwise.
    pub len: u64,
    /// `Ok(bytes written)` (0 for calls that write no bytes) or `Err(errno)`.
    pub result: Result<u64, i32>,
    /// The fault injected into this call, if any.
    pub fault: Option<FaultKind>,
}

/// An entry of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// A mutating call (create, write, `set_len`, allocate, sync, rename, remove, mkdir).
    Call(CallRecord),
    /// A marker set by the workload.
    Mark {
        /// The number of mutating calls made before the marker was set.
        after_call: u64,
        /// The workload's label.
        label: Label,
    },
    /// The simulator froze.
    Crash {
        /// The number of mutating calls made before the crash.
        after_call: u64,
    },
}

/// The trace with its bound.
#[derive(Clone, Debug)]
pub(crate) struct Trace {
    pub(crate) events: Vec<TraceEvent>,
    pub(crate) events_max: usize,
    pub(crate) dropped_count: u64,
}

/// The default bound on stored trace events; later events are counted, not stored.
pub(crate) const TRACE_EVENTS_MAX_DEFAULT: usize = 1 << 20;

impl Trace {
    pub(crate) fn new(events_max: usize) -> Self {
        Self {
            events: Vec::new(),
            events_max,
            dropped_count: 0,
        }
    }

    pub(crate) fn push(&mut self, event: TraceEvent) {
        if self.events.len() < self.events_max {
            self.events.push(event);
        } else {
            self.dropped_count += 1;
        }
        assert!(self.events.len() <= self.events_max);
    }
}
