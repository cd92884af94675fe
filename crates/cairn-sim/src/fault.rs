//! Call faults: what can go wrong with one call, and the rules that decide when it does.
//!
//! A [`FaultRule`] pairs a [`FaultKind`] with a filter (operation, path substring) and a
//! trigger (every matching call, the n-th one, or a seeded probability). Rules are checked
//! in the order they were added; the first that fires decides the call's fate.

use cairn_io::Op;

use crate::rng::SimRng;

/// What an injected fault does to the call it hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// The call fails with `EIO` and changes nothing — except a sync (`sync_data`,
    /// `sync_all`, `sync_dir`), which follows Linux: the pending changes it covered are
    /// dropped without becoming durable, reads still return them, and the next sync succeeds.
    Eio,
    /// The call fails with `ENOSPC` and changes nothing (a failed sync drops its pending
    /// changes, as with [`FaultKind::Eio`]).
    NoSpace,
    /// A write accepts only a seeded prefix of its buffer (at least one byte, fewer than all
    /// when the buffer has two or more) and returns that count. Writes only.
    ShortWrite,
    /// A read returns its bytes with one seeded bit flipped; nothing stored changes. Reads
    /// only.
    BitFlipOnRead,
    /// A write succeeds and reads return the right bytes, but what reaches the media has one
    /// seeded bit flipped: durable after the next sync, visible after a power-loss image.
    /// Writes only.
    BitFlipOnPersist,
    /// A write succeeds and reads return the right bytes, but the media receives the bytes at
    /// `offset + delta` (clamped at 0), and the intended range keeps its old data. Writes only.
    Misdirect {
        /// How far from the intended offset the bytes land, in bytes.
        delta: i64,
    },
    /// The simulator crashes before performing the call: the call fails with `EIO` and the
    /// simulator freezes, as with [`crate::SimVfs::crash`].
    Crash,
}

impl FaultKind {
    /// Whether this kind of fault can hit a call of kind `op`.
    #[must_use]
    pub fn applies_to(self, op: Op) -> bool {
        match self {
            FaultKind::Eio | FaultKind::NoSpace | FaultKind::Crash => true,
            FaultKind::ShortWrite | FaultKind::BitFlipOnPersist | FaultKind::Misdirect { .. } => {
                op == Op::Write
            }
            FaultKind::BitFlipOnRead => op == Op::Read,
        }
    }
}

/// When a matching call is hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    /// Every matching call.
    Always,
    /// Only the n-th matching call (1-based) after the rule was added.
    Nth(u64),
    /// Each matching call with this probability, in millionths, drawn from the seed.
    PerMillion(u32),
}

/// A rule that injects one kind of fault into matching calls.
///
/// Built with [`FaultRule::new`] and narrowed with the builder methods, then installed with
/// [`crate::SimVfs::add_fault`].
///
/// # Examples
///
/// ```
/// use cairn_io::{Op, Vfs, VfsFile};
/// use cairn_sim::{FaultKind, FaultRule, SimVfs};
///
/// let sim = SimVfs::new(7);
/// // The second fdatasync of any file whose path contains "wal" fails with EIO.
/// sim.add_fault(FaultRule::new(FaultKind::Eio).on(Op::SyncData).path_contains("wal").nth(2));
/// let file = sim.create_new("/wal-1".as_ref()).unwrap();
/// file.write_all_at(b"a", 0).unwrap();
/// assert!(file.sync_data().is_ok());
/// assert!(file.sync_data().unwrap_err().is_eio());
/// assert!(file.sync_data().is_ok()); // the next one succeeds, as on Linux
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    kind: FaultKind,
    op: Option<Op>,
    path_contains: Option<String>,
    trigger: Trigger,
    fires_max: u64,
}

impl FaultRule {
    /// A rule that hits every call `kind` applies to (see [`FaultKind::applies_to`]), without
    /// limit. Narrow it with [`FaultRule::on`], [`FaultRule::path_contains`],
    /// [`FaultRule::nth`], [`FaultRule::per_million`] and [`FaultRule::times`].
    #[must_use]
    pub fn new(kind: FaultKind) -> Self {
        Self {
            kind,
            op: None,
            path_contains: None,
            trigger: Trigger::Always,
            fires_max: u64::MAX,
        }
    }

    /// Restricts the rule to calls of kind `op`.
    ///
    /// # Panics
    ///
    /// If the rule's fault cannot hit `op` (a short write on a read, say).
    #[must_use]
    pub fn on(mut self, op: Op) -> Self {
        assert!(
            self.kind.applies_to(op),
            "fault {:?} cannot hit a {op} call",
            self.kind
        );
        self.op = Some(op);
        self
    }

    /// Restricts the rule to calls whose path (either path, for a rename) contains `needle`.
    #[must_use]
    pub fn path_contains(mut self, needle: impl Into<String>) -> Self {
        self.path_contains = Some(needle.into());
        self
    }

    /// Hits only the `n`-th matching call (1-based, counted from when the rule was added),
    /// once: a countdown.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    #[must_use]
    pub fn nth(mut self, n: u64) -> Self {
        assert!(n >= 1, "calls are counted from 1");
        self.trigger = Trigger::Nth(n);
        self.fires_max = 1;
        self
    }

    /// Hits each matching call with probability `per_million / 1_000_000`, drawn from the
    /// simulator's seed (so a run replays exactly).
    ///
    /// # Panics
    ///
    /// If `per_million` exceeds one million.
    #[must_use]
    pub fn per_million(mut self, per_million: u32) -> Self {
        assert!(
            per_million <= 1_000_000,
            "a probability is at most one million per million"
        );
        self.trigger = Trigger::PerMillion(per_million);
        self
    }

    /// Stops the rule after it has fired `count` times.
    #[must_use]
    pub fn times(mut self, count: u64) -> Self {
        self.fires_max = count;
        self
    }

    /// The fault this rule injects.
    #[must_use]
    pub fn kind(&self) -> FaultKind {
        self.kind
    }

    fn matches(&self, op: Op, paths: &[&str]) -> bool {
        let op_ok = match self.op {
            Some(wanted) => wanted == op,
            None => self.kind.applies_to(op),
        };
        let path_ok = match &self.path_contains {
            Some(needle) => paths.iter().any(|path| path.contains(needle.as_str())),
            None => true,
        };
        op_ok && path_ok
    }
}

/// A rule with its counters.
#[derive(Clone, Debug)]
struct Armed {
    rule: FaultRule,
    matched_count: u64,
    fired_count: u64,
}

/// The installed rules, in order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Faults {
    rules: Vec<Armed>,
}

/// The most rules one simulator holds: the rules are scanned on every call.
pub(crate) const FAULT_RULES_MAX: usize = 1024;

impl Faults {
    pub(crate) fn add(&mut self, rule: FaultRule) {
        assert!(
            self.rules.len() < FAULT_RULES_MAX,
            "at most {FAULT_RULES_MAX} fault rules"
        );
        self.rules.push(Armed {
            rule,
            matched_count: 0,
            fired_count: 0,
        });
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// Decides whether a call of kind `op` on `paths` is hit, counting it against every
    /// matching rule.
    pub(crate) fn check(&mut self, op: Op, paths: &[&str], rng: &mut SimRng) -> Option<FaultKind> {
        let mut hit = None;
        for armed in &mut self.rules {
            if !armed.rule.matches(op, paths) {
                continue;
            }
            armed.matched_count += 1;
            if hit.is_some() || armed.fired_count >= armed.rule.fires_max {
                continue;
            }
            let fires = match armed.rule.trigger {
                Trigger::Always => true,
                Trigger::Nth(n) => armed.matched_count == n,
                Trigger::PerMillion(p) => rng.chance_per_million(p),
            };
            if fires {
                armed.fired_count += 1;
                assert!(armed.fired_count <= armed.rule.fires_max);
                hit = Some(armed.rule.kind);
            }
        }
        hit
    }
}
