//! Keep last good: a watched path's list is not emptied, nor cut by more than a set share
//! within a set time (measured against the list as it was when the first removal of that time
//! came), until the change has lasted that time. A mass removal is far more often a fault
//! (a misconfigured deploy, a network partition between the servers and ZooKeeper, an ACL
//! change) than a real scale-down; clients that keep serving the last good list meanwhile do
//! not turn one fault into an outage. A real scale-down still goes through, just later. Off by
//! default (the original's behaviour); see the options `keep_last_good_ms` and
//! `keep_last_good_percent`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::entry::Entry;
use super::file::CacheFile;
use crate::document::Document;
use crate::shared::Shared;

/// When to hold an update back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldPolicy {
    /// How long a shrink must last before it is published.
    pub lasting: Duration,
    /// Removals above this share of the list (percent) are held; an emptied list always is.
    pub percent: u32,
}

/// A handle's holds: the policy, and how many updates it has held back so far.
pub struct Holds {
    policy: Option<HoldPolicy>,
    held: AtomicU64,
}

impl Holds {
    pub fn new(policy: Option<HoldPolicy>) -> Holds {
        Holds {
            policy,
            held: AtomicU64::new(0),
        }
    }

    /// How many times an update was held back.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }
}

/// A new live document of `entry`: published now, or held back while it shrinks the list too
/// much (readers and callbacks keep the last good list) and published once that has lasted.
pub fn offer(
    holds: &Arc<Holds>,
    entry: &Arc<Entry>,
    doc: Arc<Document>,
    shared: &Arc<Shared>,
    file: Option<&Arc<CacheFile>>,
) {
    let Some(policy) = holds.policy else {
        return publish(entry, doc, shared, file);
    };
    let shrinking = entry
        .baseline(&doc, policy.lasting)
        .filter(|base| shrinks(base, &doc, policy));
    let Some(old) = shrinking else {
        if entry.end_hold() {
            log::warn!(
                "{} {}: the list recovered; no longer holding the last good list",
                shared.session.tag(),
                entry.path
            );
        }
        return publish(entry, doc, shared, file);
    };
    let count = doc.count();
    let Some(episode) = entry.hold(doc) else {
        return; // held already: the newest shrink replaces the held one
    };
    holds.held.fetch_add(1, Ordering::Relaxed);
    log::warn!(
        "{} {}: the list would go from {} to {count} children at once; keeping the last good list for {} ms",
        shared.session.tag(),
        entry.path,
        old.count(),
        policy.lasting.as_millis()
    );
    let (entry, shared, file) = (entry.clone(), shared.clone(), file.cloned());
    shared.clone().tasks.spawn(async move {
        tokio::time::sleep(policy.lasting).await;
        if let Some(doc) = entry.take_held(episode) {
            log::warn!(
                "{} {}: the shrink lasted {} ms; publishing it ({} children)",
                shared.session.tag(),
                entry.path,
                policy.lasting.as_millis(),
                doc.count()
            );
            publish(&entry, doc, &shared, file.as_ref());
        }
    });
}

/// Publishes `doc`: to the subscribers and, if there is one, to the cache file.
fn publish(entry: &Entry, doc: Arc<Document>, shared: &Shared, file: Option<&Arc<CacheFile>>) {
    if let Some(f) = file {
        f.save(&entry.path, doc.json());
    }
    entry.publish(doc, &shared.dispatcher);
}

/// Whether going from `old` to `new` empties a non-empty list or removes more than the
/// policy's share of it.
fn shrinks(old: &Document, new: &Document, policy: HoldPolicy) -> bool {
    let before = old.count();
    if before == 0 {
        return false;
    }
    if new.count() == 0 {
        return true;
    }
    let removed = (0..before)
        .filter(|i| old.name_str(*i).is_some_and(|n| new.find(n).is_none()))
        .count();
    removed * 100 > before * policy.percent as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Builder;

    fn doc(names: &[&str]) -> Document {
        let mut b = Builder::new("/s", None, "null", 0, 0);
        for n in names {
            b.child(n, "{}");
        }
        b.finish()
    }

    #[test]
    fn emptied_or_mass_removal_is_a_shrink() {
        let p = HoldPolicy {
            lasting: Duration::from_secs(1),
            percent: 50,
        };
        let four = doc(&["a", "b", "c", "d"]);
        assert!(shrinks(&four, &doc(&[]), p));
        assert!(shrinks(&four, &doc(&["a"]), p), "3 of 4 removed");
        assert!(
            !shrinks(&four, &doc(&["a", "b"]), p),
            "half is not more than half"
        );
        assert!(!shrinks(&four, &doc(&["a", "b", "c", "d", "e"]), p));
        assert!(!shrinks(&doc(&[]), &doc(&[]), p));
        assert!(
            shrinks(&four, &doc(&["x", "y", "z", "w"]), p),
            "all replaced"
        );
    }
}
