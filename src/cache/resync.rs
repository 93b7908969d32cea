//! Resyncs after a reconnect, made together for every path a handle follows with a persistent
//! watch: one SetWatches2 probe (by 128 KiB of paths) relative to the zxid the connection
//! resumed from, whatever the number of paths. For each path it lists its known children as
//! data watches (the server answers with an event for each one changed or deleted since), the
//! path itself as a data and a child watch (an event if its data or its list changed) and as a
//! recursive watch last (so that it keeps its recursive mode). Each path then reads only what
//! the events name. A fleet of handles that each watch a hundred services thus costs ZooKeeper
//! one request per handle on a blip, plus one per change, not a full re-read.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};

use crate::zk::{Probe, Zk};

type ZkResult<T> = Result<T, zookeeper_client::Error>;

/// The longest a resync waits for the other paths to ask too.
const WINDOW: Duration = Duration::from_millis(20);
/// Bytes of paths per probe (the size ZooKeeper's own clients use for SetWatches).
const PROBE_BYTES: usize = 128 * 1024;

/// What one path asks the probe for.
pub(super) struct Ask {
    /// The watched path.
    pub root: String,
    /// Whether it exists (else its creation is asked for).
    pub exists: bool,
    /// Its known children's paths.
    pub children: Vec<String>,
}

/// The resyncs of one handle.
#[derive(Default)]
pub(super) struct Resyncs {
    /// Followers on the current session: each will ask after a reconnect.
    followers: AtomicUsize,
    batch: Mutex<Option<Batch>>,
    /// Wakes the batch's leader when every follower has asked.
    full: Notify,
}

/// The resyncs asked for since the first of a reconnect.
struct Batch {
    /// The session they are for.
    generation: u64,
    /// The oldest zxid any of them resumed from.
    since: i64,
    asks: Vec<Ask>,
    answers: Vec<oneshot::Sender<ZkResult<()>>>,
}

/// A follower counted for as long as it lives.
pub(super) struct Enrolled<'a>(&'a Resyncs);

impl Drop for Enrolled<'_> {
    fn drop(&mut self) {
        self.0.followers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Resyncs {
    /// Counts a follower (until the returned guard is dropped).
    pub fn enroll(&self) -> Enrolled<'_> {
        self.followers.fetch_add(1, Ordering::SeqCst);
        Enrolled(self)
    }

    /// The resync of one path on session `generation`, relative to `since`, made with every
    /// other path that asks within the window: when it returns, the events of what changed are
    /// with the path's recursive watcher.
    pub async fn resync(&self, zk: Zk<'_>, generation: u64, since: i64, ask: Ask) -> ZkResult<()> {
        let (answer, rx) = oneshot::channel();
        let leader = {
            let mut slot = self.batch.lock();
            match slot.as_mut() {
                Some(b) if b.generation == generation => {
                    b.since = b.since.min(since);
                    b.asks.push(ask);
                    b.answers.push(answer);
                    if b.answers.len() >= self.followers.load(Ordering::SeqCst) {
                        self.full.notify_one();
                    }
                    false
                }
                // A batch of a session gone by is left to fail; this one starts anew.
                _ => {
                    *slot = Some(Batch {
                        generation,
                        since,
                        asks: vec![ask],
                        answers: vec![answer],
                    });
                    true
                }
            }
        };
        if leader {
            self.lead(zk).await;
        }
        rx.await
            .unwrap_or(Err(zookeeper_client::Error::ConnectionLoss))
    }

    /// Waits for the others (at most the window), then probes for all.
    async fn lead(&self, zk: Zk<'_>) {
        let everyone = || {
            let slot = self.batch.lock();
            slot.as_ref()
                .is_none_or(|b| b.answers.len() >= self.followers.load(Ordering::SeqCst))
        };
        let deadline = tokio::time::Instant::now() + WINDOW;
        while !everyone() {
            if tokio::time::timeout_at(deadline, self.full.notified())
                .await
                .is_err()
            {
                break;
            }
        }
        let Some(batch) = self.batch.lock().take() else {
            return;
        };
        let probes = probes(&batch.asks);
        let sent = probes.iter().map(|p| zk.probe_watches(batch.since, p));
        let result = futures_util::future::try_join_all(sent).await.map(|_| ());
        for answer in batch.answers {
            let _ = answer.send(result.clone());
        }
    }
}

/// The probes for `asks`, each at most `PROBE_BYTES` but for a path's own entries, which stay
/// together (its data watch and its recursive watch must be in one request).
fn probes(asks: &[Ask]) -> Vec<Probe<'_>> {
    let mut probes = vec![Probe::default()];
    for ask in asks {
        let root = ask.root.as_str();
        let own = 3 * (root.len() + 4);
        if probes.last().is_some_and(|p| p.bytes() + own > PROBE_BYTES) {
            probes.push(Probe::default());
        }
        if let Some(p) = probes.last_mut() {
            match ask.exists {
                true => p.data.push(root),
                false => p.exist.push(root),
            }
            p.child.push(root);
            p.recursive.push(root);
        }
        for child in &ask.children {
            if probes
                .last()
                .is_some_and(|p| p.bytes() + child.len() + 4 > PROBE_BYTES)
            {
                probes.push(Probe::default());
            }
            if let Some(p) = probes.last_mut() {
                p.data.push(child);
            }
        }
    }
    probes.retain(|p| p.bytes() > 0);
    probes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_split_by_size_keeping_a_path_with_its_watch() {
        let asks: Vec<Ask> = (0..3)
            .map(|r| Ask {
                root: format!("/services/s{r}"),
                exists: r != 1,
                children: (0..2000)
                    .map(|i| format!("/services/s{r}/{i:040}"))
                    .collect(),
            })
            .collect();
        let made = probes(&asks);
        assert!(made.len() > 1);
        let data: usize = made.iter().map(|p| p.data.len()).sum();
        assert_eq!(
            data,
            2 + 3 * 2000,
            "every child, and the two paths that exist"
        );
        for p in &made {
            assert!(p.bytes() <= PROBE_BYTES);
            // A path's data (or exist) and recursive entries are in the same probe.
            for r in &p.recursive {
                assert!(p.data.contains(r) || p.exist.contains(r));
                assert!(p.child.contains(r));
            }
        }
        assert_eq!(made.iter().map(|p| p.exist.len()).sum::<usize>(), 1);
        assert!(probes(&[]).is_empty());
    }
}
