//! A cheap monotonic clock for bookkeeping that runs on every append.
//!
//! [`coarse_now`] reads `CLOCK_MONOTONIC_COARSE` on Linux: the kernel's last tick, copied
//! into the vDSO page, so a read costs a few nanoseconds and never touches the TSC. Its
//! resolution is one scheduler tick (1 to 10 ms, `CONFIG_HZ`). It suits deadlines of
//! milliseconds checked on a hot path (the WAL's `group_commit_max_delay`), not measurement.
//! Elsewhere it falls back to [`std::time::Instant`].

use std::time::Duration;

/// A monotonic time stamp with the resolution of a scheduler tick, as a duration since an
/// unspecified fixed point in the past (the same for the whole process).
///
/// # Examples
///
/// ```
/// let a = cairn_io::clock::coarse_now();
/// let b = cairn_io::clock::coarse_now();
/// assert!(b >= a);
/// ```
#[must_use]
pub fn coarse_now() -> Duration {
    imp::now()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::time::Duration;

    pub(super) fn now() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        #[allow(
            unsafe_code,
            reason = "clock_gettime(2) with CLOCK_MONOTONIC_COARSE has no wrapper in std"
        )]
        // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        // The clock exists on every Linux since 2.6.32; the call cannot fail with a valid
        // pointer. Should it ever, the caller sees time stand still, which only delays a
        // bookkeeping deadline until the next successful read.
        if rc != 0 {
            return Duration::ZERO;
        }
        Duration::new(
            u64::try_from(ts.tv_sec).unwrap_or(0),
            u32::try_from(ts.tv_nsec).unwrap_or(0),
        )
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    pub(super) fn now() -> Duration {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        EPOCH.get_or_init(Instant::now).elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::coarse_now;
    use std::time::{Duration, Instant};

    #[test]
    fn coarse_clock_is_monotonic_and_follows_real_time() {
        let started = Instant::now();
        let first = coarse_now();
        let mut last = (first, started);
        while started.elapsed() < Duration::from_millis(60) {
            let now = coarse_now();
            assert!(now >= last.0, "went backwards: {:?} then {now:?}", last.0);
            last = (now, Instant::now());
            std::thread::sleep(Duration::from_millis(5));
        }
        let coarse = last.0 - first;
        let real = last.1 - started;
        // Each reading lags real time by less than one tick (at most 10 ms at HZ=100).
        let tick = Duration::from_millis(10);
        assert!(
            coarse + tick + tick >= real && coarse <= real + tick + tick,
            "the coarse clock advanced {coarse:?} while {real:?} of real time passed"
        );
    }
}
