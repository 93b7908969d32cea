//! The down-instance policy of a picker: after `errors` failed reports within `window`, an
//! instance is ejected (not picked) for `down`. A success report clears its failures.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};
use rustc_hash::FxHashMap as HashMap;

/// Names tracked at most (each with at most `errors` failure times): beyond it, reports of new
/// names are ignored until some are forgotten.
const TRACKED: usize = 10_000;

/// The policy's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DownPolicy {
    /// Failed reports that eject an instance (0: never ejected).
    pub errors: u32,
    /// Within this long.
    pub window: Duration,
    /// Ejected for this long.
    pub down: Duration,
}

#[derive(Default)]
struct Health {
    failures: VecDeque<Instant>,
    ejected_until: Option<Instant>,
}

/// The instances' health as reported.
pub struct Down {
    policy: DownPolicy,
    health: Mutex<HashMap<String, Health>>,
    /// How many names are ejected or were until recently (0: nothing to check on a pick).
    ejected: AtomicUsize,
}

/// The ejections in force, looked at during one pick.
pub struct Ejections<'a> {
    health: MutexGuard<'a, HashMap<String, Health>>,
}

impl Ejections<'_> {
    /// Whether `name` is ejected now.
    pub fn contains(&self, name: &str) -> bool {
        self.health
            .get(name)
            .is_some_and(|h| h.ejected_until.is_some())
    }
}

impl Down {
    pub fn new(policy: DownPolicy) -> Down {
        Down {
            policy,
            health: Mutex::new(HashMap::default()),
            ejected: AtomicUsize::new(0),
        }
    }

    /// Records the outcome of a request to `name`.
    pub fn report(&self, name: &str, ok: bool) {
        if self.policy.errors == 0 {
            return;
        }
        let mut health = self.health.lock();
        if ok {
            if let Some(h) = health.remove(name) {
                if h.ejected_until.is_some() {
                    self.ejected.fetch_sub(1, Ordering::Relaxed);
                }
            }
            return;
        }
        if !health.contains_key(name) && health.len() >= TRACKED {
            return;
        }
        let now = Instant::now();
        let h = health.entry(name.to_string()).or_default();
        h.failures.push_back(now);
        while h.failures.len() > self.policy.errors as usize
            || h.failures
                .front()
                .is_some_and(|t| now.duration_since(*t) > self.policy.window)
        {
            h.failures.pop_front();
        }
        if h.failures.len() >= self.policy.errors as usize {
            h.failures.clear();
            if h.ejected_until.replace(now + self.policy.down).is_none() {
                self.ejected.fetch_add(1, Ordering::Relaxed);
            }
            log::warn!(
                "{name}: {} failed requests within {} ms; not picked for {} ms",
                self.policy.errors,
                self.policy.window.as_millis(),
                self.policy.down.as_millis()
            );
        }
    }

    /// The ejections in force now (None: there are none, the common case, without a lock).
    pub fn ejections(&self) -> Option<Ejections<'_>> {
        if self.ejected.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut health = self.health.lock();
        let now = Instant::now();
        let mut ended = 0;
        health.retain(|_, h| {
            if h.ejected_until.is_some_and(|t| t <= now) {
                h.ejected_until = None;
                ended += 1;
            }
            h.ejected_until.is_some() || !h.failures.is_empty()
        });
        self.ejected.fetch_sub(ended, Ordering::Relaxed);
        Some(Ejections { health })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ejected_after_errors_within_the_window_and_back_after_down() {
        let d = Down::new(DownPolicy {
            errors: 3,
            window: Duration::from_secs(10),
            down: Duration::from_millis(50),
        });
        assert!(d.ejections().is_none());
        d.report("a:1", false);
        d.report("a:1", false);
        d.report("a:1", true); // a success clears the failures
        d.report("a:1", false);
        d.report("a:1", false);
        assert!(d.ejections().is_none());
        d.report("a:1", false);
        assert!(d.ejections().unwrap().contains("a:1"));
        assert!(!d.ejections().unwrap().contains("b:1"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!d.ejections().unwrap().contains("a:1"));
        assert!(d.ejections().is_none(), "nothing left to check");
    }

    #[test]
    fn no_policy_no_ejection() {
        let d = Down::new(DownPolicy {
            errors: 0,
            window: Duration::from_secs(1),
            down: Duration::from_secs(1),
        });
        for _ in 0..10 {
            d.report("a:1", false);
        }
        assert!(d.ejections().is_none());
    }
}
