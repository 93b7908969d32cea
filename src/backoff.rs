//! Paced retries of a request that failed on a live session: ZooKeeper answering "throttled"
//! (-127, its request throttle is full), or a read or write that failed for a reason that a
//! reconnect does not settle. Retrying at once would only add to the load that caused it.

use std::time::Duration;

/// The first pause's bound.
const FIRST: Duration = Duration::from_millis(100);
/// The longest pause.
const CAP: Duration = Duration::from_secs(5);

/// A retry pace: each pause is uniform between half and all of a bound that doubles from
/// 100 ms to 5 s ("equal jitter": spread across a fleet, and never a tight loop); a success
/// starts it over.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The pause before the next retry.
    pub fn next_pause(&mut self) -> Duration {
        let bound = FIRST.saturating_mul(1 << self.failures.min(16)).min(CAP);
        self.failures = self.failures.saturating_add(1);
        bound / 2 + (bound / 2).mul_f64(fastrand::f64())
    }

    /// Waits the next pause.
    pub async fn pause(&mut self) {
        tokio::time::sleep(self.next_pause()).await;
    }

    /// The request went through: the next failure starts from the first pause again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_to_the_cap_and_start_over_after_a_success() {
        let mut b = Backoff::default();
        let pauses: Vec<Duration> = (0..10).map(|_| b.next_pause()).collect();
        assert!(pauses[0] >= FIRST / 2 && pauses[0] <= FIRST, "{pauses:?}");
        assert!(pauses[1] >= FIRST && pauses[1] <= FIRST * 2, "{pauses:?}");
        assert!(pauses[9] >= CAP / 2 && pauses[9] <= CAP, "{pauses:?}");
        b.reset();
        assert!(b.next_pause() <= FIRST);
    }
}
