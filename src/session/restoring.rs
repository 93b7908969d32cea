//! Registrations before reads after an expiry: how many of a handle's registrations are still
//! to be made again on its newest session. The registration service keeps the count of its
//! registrations; publishing a session starts the countdown; each registration counts itself
//! down once it has looked at the new session (and sent what it needed). The cache's re-read
//! after an expiry waits for zero, so that it finds this handle's own nodes in place.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// The countdown (see the module).
pub struct Restoring {
    registered: AtomicUsize,
    pending: watch::Sender<usize>,
}

impl Default for Restoring {
    fn default() -> Self {
        Restoring {
            registered: AtomicUsize::new(0),
            pending: watch::channel(0).0,
        }
    }
}

impl Restoring {
    /// The registration service has `n` registrations now.
    pub fn set_registered(&self, n: usize) {
        self.registered.store(n, Ordering::Relaxed);
    }

    /// A session is about to be published: every registration is to look at it.
    pub(super) fn begin(&self) {
        self.pending
            .send_replace(self.registered.load(Ordering::Relaxed));
    }

    /// One registration has looked at the newest session.
    pub fn restored_one(&self) {
        self.pending.send_modify(|p| *p = p.saturating_sub(1));
    }

    /// Waits until every registration has looked at the newest session, at most `at_most` (a
    /// registration made or dropped meanwhile may leave the count off by one).
    pub async fn wait(&self, at_most: Duration) {
        let mut pending = self.pending.subscribe();
        let _ = tokio::time::timeout(at_most, pending.wait_for(|p| *p == 0)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_wait_ends_when_every_registration_has_looked() {
        let r = Restoring::default();
        r.set_registered(2);
        r.begin();
        let waited =
            tokio::time::timeout(Duration::from_millis(50), r.wait(Duration::from_secs(5)));
        assert!(waited.await.is_err(), "two to go");
        r.restored_one();
        r.restored_one();
        tokio::time::timeout(Duration::from_millis(50), r.wait(Duration::from_secs(5)))
            .await
            .expect("none to go");
    }
}
