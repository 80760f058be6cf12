//! How many idle processes a pool key should hold: the configured base,
//! plus a burst allowance that follows demand.
//!
//! A run that finds its key's pool empty while the key is already in use
//! (a miss: demand outpaced the refills) raises the key's target by one, up
//! to `base + burst_cap`. Each quiet period without a miss lowers it by one
//! again, and the idle processes above the target are retired. Pure logic:
//! the pool calls it with the current time.

use std::time::{Duration, Instant};

/// A quiet period after which one burst process is given back.
pub const QUIET: Duration = Duration::from_secs(10);

/// Demand record of one pool key.
#[derive(Debug, Clone)]
pub struct Demand {
    extra: usize,
    /// Start of the current quiet period (the last miss or decay step).
    since: Instant,
}

impl Demand {
    /// A key seen for the first time: no burst allowance.
    pub fn new(now: Instant) -> Self {
        Demand {
            extra: 0,
            since: now,
        }
    }

    /// Idle processes above the base this key may hold now.
    pub fn extra(&self) -> usize {
        self.extra
    }

    /// Target number of idle processes.
    pub fn target(&self, base: usize) -> usize {
        if base == 0 {
            0
        } else {
            base + self.extra
        }
    }

    /// A run found no idle process: allow one more, up to `burst_cap`.
    pub fn miss(&mut self, now: Instant, burst_cap: usize) {
        self.decay(now);
        if self.extra < burst_cap {
            self.extra += 1;
        }
        self.since = now;
    }

    /// Gives back one burst process per quiet period elapsed; returns true
    /// when the target went down.
    pub fn decay(&mut self, now: Instant) -> bool {
        let mut lowered = false;
        while self.extra > 0 && now.duration_since(self.since) >= QUIET {
            self.extra -= 1;
            self.since += QUIET;
            lowered = true;
        }
        if self.extra == 0 && now.duration_since(self.since) >= QUIET {
            self.since = now;
        }
        lowered
    }
}

/// Burst allowance per key: twice the cores (booting is CPU-bound, so more
/// could not be booted in time anyway), at most 8.
pub fn burst_cap() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    (2 * cores).min(8)
}

/// Pooled processes allowed to boot at once: one per core, so refills
/// leave CPU to the runs.
pub fn boot_slots() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misses_raise_the_target_up_to_the_cap() {
        let t0 = Instant::now();
        let mut d = Demand::new(t0);
        assert_eq!(d.target(2), 2);
        for _ in 0..10 {
            d.miss(t0, 3);
        }
        assert_eq!(d.target(2), 5);
        assert_eq!(d.target(0), 0, "a disabled pool stays disabled");
    }

    #[test]
    fn quiet_periods_give_the_burst_back_one_by_one() {
        let t0 = Instant::now();
        let mut d = Demand::new(t0);
        d.miss(t0, 4);
        d.miss(t0, 4);
        d.miss(t0, 4);
        assert!(!d.decay(t0 + QUIET / 2));
        assert_eq!(d.extra(), 3);
        assert!(d.decay(t0 + QUIET));
        assert_eq!(d.extra(), 2);
        assert!(d.decay(t0 + QUIET * 3));
        assert_eq!(d.extra(), 0);
        assert!(!d.decay(t0 + QUIET * 10));
    }

    #[test]
    fn a_miss_restarts_the_quiet_period() {
        let t0 = Instant::now();
        let mut d = Demand::new(t0);
        d.miss(t0, 4);
        d.miss(t0 + QUIET - Duration::from_millis(1), 4);
        assert_eq!(d.extra(), 2);
        d.decay(t0 + QUIET + Duration::from_millis(1));
        assert_eq!(d.extra(), 2, "the second miss started a new quiet period");
    }
}
