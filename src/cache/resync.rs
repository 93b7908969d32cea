//! Resyncs after a reconnect, made together for every path a handle follows with a persistent
//! watch: one probe of all their known children (SetWatches, by 128 KiB of paths) and one
//! multiRead of all the paths' own nodes (by 256), whatever the number of paths. Each path then
//! reads only what changed. A fleet of handles that each watch a hundred services thus costs
//! ZooKeeper a few requests per handle on a blip, not two hundred.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};
use zookeeper_client::{MultiReadResult, Stat};

use crate::zk::Zk;

type ZkResult<T> = Result<T, zookeeper_client::Error>;

/// A path's own node as the resync read it: None when it does not exist.
pub(super) type NodeRead = Option<(Vec<u8>, Stat)>;

/// The longest a resync waits for the other paths to ask too.
const WINDOW: Duration = Duration::from_millis(20);
/// Paths per multiRead.
const ROOTS_PER_READ: usize = 256;
/// Bytes of paths per probe (the size ZooKeeper's own clients use for SetWatches).
const PROBE_BYTES: usize = 128 * 1024;

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
    roots: Vec<String>,
    children: Vec<String>,
    answers: Vec<oneshot::Sender<ZkResult<NodeRead>>>,
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

    /// The resync of `root` on session `generation`, relative to `since`: its `children` probed
    /// (their events come to the path's recursive watch before this returns) and its node read,
    /// together with every other path that asks within the window.
    pub async fn resync(
        &self,
        zk: Zk<'_>,
        generation: u64,
        since: i64,
        root: &str,
        children: Vec<String>,
    ) -> ZkResult<NodeRead> {
        let (answer, rx) = oneshot::channel();
        let leader = {
            let mut slot = self.batch.lock();
            match slot.as_mut() {
                Some(b) if b.generation == generation => {
                    b.since = b.since.min(since);
                    b.roots.push(root.to_string());
                    b.children.extend(children);
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
                        roots: vec![root.to_string()],
                        children,
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

    /// Waits for the others (at most the window), then makes the requests for all.
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
        match read(zk, &batch).await {
            Ok(reads) => {
                for (answer, read) in batch.answers.into_iter().zip(reads) {
                    let _ = answer.send(read);
                }
            }
            Err(e) => {
                for answer in batch.answers {
                    let _ = answer.send(Err(e.clone()));
                }
            }
        }
    }
}

/// The probes, then the roots' reads, pipelined: a read per root.
async fn read(zk: Zk<'_>, batch: &Batch) -> ZkResult<Vec<ZkResult<NodeRead>>> {
    let probes = probe_batches(&batch.children);
    let probes = futures_util::future::try_join_all(
        probes
            .iter()
            .map(|paths| zk.probe_watches(batch.since, paths)),
    );
    let roots: Vec<&str> = batch.roots.iter().map(String::as_str).collect();
    let reads = futures_util::future::try_join_all(
        roots.chunks(ROOTS_PER_READ).map(|c| zk.multi_get_data(c)),
    );
    let (probed, reads) = tokio::join!(probes, reads);
    probed?;
    Ok(reads?.into_iter().flatten().map(node_read).collect())
}

fn node_read(result: MultiReadResult) -> ZkResult<NodeRead> {
    match result {
        MultiReadResult::Data { data, stat } => Ok(Some((data, stat))),
        MultiReadResult::Error {
            err: zookeeper_client::Error::NoNode,
        } => Ok(None),
        MultiReadResult::Error { err } => Err(err),
        _ => Err(zookeeper_client::Error::UnexpectedError(
            "a multiRead of data answered with something else".into(),
        )),
    }
}

/// Groups paths into probes of at most `PROBE_BYTES` each.
fn probe_batches(paths: &[String]) -> Vec<Vec<&str>> {
    let mut batches: Vec<Vec<&str>> = Vec::new();
    let mut bytes = PROBE_BYTES;
    for p in paths {
        if bytes + p.len() > PROBE_BYTES {
            batches.push(Vec::new());
            bytes = 0;
        }
        bytes += p.len() + 4;
        if let Some(b) = batches.last_mut() {
            b.push(p);
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_split_by_size() {
        let paths: Vec<String> = (0..10_000)
            .map(|i| format!("/services/web/{i:040}"))
            .collect();
        let batches = probe_batches(&paths);
        assert!(batches.len() > 1);
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), paths.len());
        for b in &batches {
            assert!(b.iter().map(|p| p.len() + 4).sum::<usize>() <= PROBE_BYTES);
        }
        assert!(probe_batches(&[]).is_empty());
    }
}
