//! What the session supervisor counts for `ndsr_stats_json`: connections made, sessions
//! expired, the time spent without a connection, and the bytes its connections carried.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use zookeeper_client::Traffic;

use super::State;

/// The counts (see the module); fed with every state transition.
#[derive(Default)]
pub struct Tally {
    connects: AtomicU64,
    expiries: AtomicU64,
    /// Unix ms since when the handle has had no connection (0 while it has one, and before the
    /// first).
    down_since: AtomicI64,
    down_ms: AtomicU64,
    /// Counted by the client of every session of the handle (see [`Tally::traffic`]).
    traffic: Arc<Traffic>,
}

/// The counts at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct TallyNow {
    /// Connections made again after a loss (the first one not counted).
    pub reconnects: u64,
    pub expiries: u64,
    /// Time without a connection since open, the current outage included.
    pub disconnected_ms: u64,
    /// Bytes written to and read from the servers, every connection's.
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

impl Tally {
    /// The handle went to state `s` at `now` (Unix ms).
    pub(super) fn note(&self, s: State, now: i64) {
        match s {
            State::Connected | State::ConnectedReadOnly => {
                self.connects.fetch_add(1, Ordering::Relaxed);
                let since = self.down_since.swap(0, Ordering::Relaxed);
                if since > 0 {
                    self.down_ms
                        .fetch_add((now - since).max(0) as u64, Ordering::Relaxed);
                }
            }
            State::Disconnected | State::Expired => {
                if s == State::Expired {
                    self.expiries.fetch_add(1, Ordering::Relaxed);
                }
                if self.connects.load(Ordering::Relaxed) > 0 {
                    let _ = self.down_since.compare_exchange(
                        0,
                        now,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                }
            }
            _ => {}
        }
    }

    /// The counts at `now` (Unix ms).
    pub fn now(&self, now: i64) -> TallyNow {
        let since = self.down_since.load(Ordering::Relaxed);
        let current = if since > 0 {
            (now - since).max(0) as u64
        } else {
            0
        };
        TallyNow {
            reconnects: self.connects.load(Ordering::Relaxed).saturating_sub(1),
            expiries: self.expiries.load(Ordering::Relaxed),
            disconnected_ms: self.down_ms.load(Ordering::Relaxed) + current,
            bytes_sent: self.traffic.sent.load(Ordering::Relaxed),
            bytes_received: self.traffic.received.load(Ordering::Relaxed),
        }
    }

    /// Where a client counts the bytes of its connections (one for every session of the
    /// handle, so the counts go on across expiries).
    pub(super) fn traffic(&self) -> Arc<Traffic> {
        self.traffic.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reconnects_expiries_and_time_down() {
        let t = Tally::default();
        t.note(State::Connected, 1_000);
        t.note(State::Disconnected, 2_000);
        t.note(State::Expired, 2_500);
        t.note(State::Connected, 3_000);
        t.note(State::Disconnected, 4_000);
        let now = t.now(4_250);
        assert_eq!(now.reconnects, 1);
        assert_eq!(now.expiries, 1);
        assert_eq!(now.disconnected_ms, 1_000 + 250);
    }
}
