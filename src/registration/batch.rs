//! The deferred part of registering: starting each new registration's task and sending the
//! watches that keep ephemeral registrations enforced, in batches once the handle's writes pause.

use std::sync::Arc;
use std::time::Duration;

use zookeeper_client::Stat;

use crate::zk::{Counters, StatWatch, Zk};

type ZkResult<T> = std::result::Result<T, zookeeper_client::Error>;

/// How long the handle's writes must pause before deferred work (see [`Armer`]) is done.
const ARM_QUIET: Duration = Duration::from_millis(20);
/// The longest deferred work waits for such a pause.
const ARM_AT_MOST: Duration = Duration::from_secs(1);

/// The deferred part of registering, for all registrations of a handle: starting each new
/// registration's task, and sending the watches that keep ephemeral registrations enforced.
/// Both wait until the handle's writes pause ([`ARM_QUIET`], or [`ARM_AT_MOST`] after they were
/// asked for), and then go together with the others waiting: a burst of registrations gets its
/// creates answered without a watch request queued behind each one, then its watches in one
/// batch. Nor does each registration wake the runtime's worker (a context switch per call):
/// only the first of a burst does. Until its watch is set the node is simply not watched; the
/// watch's exists tells the task what the node is by then (gone, or someone else's, is acted
/// upon at once).
pub struct Armer {
    tx: tokio::sync::mpsc::UnboundedSender<Job>,
}

enum Job {
    /// Send an exists with a watch.
    Arm(Arm),
    /// Start a registration's task.
    Start(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>),
}

struct Arm {
    client: zookeeper_client::Client,
    path: String,
    reply: tokio::sync::oneshot::Sender<StatWatch>,
}

/// Does one deferred job.
async fn run_job(job: Job, counters: &Counters, tasks: &crate::runtime::Tasks) {
    match job {
        Job::Arm(arm) => {
            let zk = Zk {
                client: &arm.client,
                counters,
            };
            let _ = arm
                .reply
                .send(zk.send_check_and_watch_stat(&arm.path).await);
        }
        Job::Start(fut) => tasks.spawn(fut),
    }
}

impl Armer {
    /// An armer that starts tasks in `tasks`, and the task that serves it (to be spawned on the
    /// runtime).
    pub fn new(
        counters: Arc<Counters>,
        tasks: Arc<crate::runtime::Tasks>,
    ) -> (Armer, impl std::future::Future<Output = ()>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let task = async move {
            // Only `recv` registers for a wake-up: jobs sent while the pause is awaited just
            // queue, and are taken after it.
            while let Some(first) = rx.recv().await {
                counters.writes_pause(ARM_QUIET, ARM_AT_MOST).await;
                let mut next = Some(first);
                loop {
                    while let Some(job) = next.take() {
                        run_job(job, &counters, &tasks).await;
                        next = rx.try_recv().ok();
                    }
                    // The tasks just started ask for their watches when they first run: let
                    // them all run first (a yielding task goes behind every runnable one), and
                    // send those watches with this batch, in one write, instead of one write
                    // each as they trickle in.
                    tokio::task::yield_now().await;
                    match rx.try_recv() {
                        Ok(job) => next = Some(job),
                        Err(_) => break,
                    }
                }
            }
        };
        (Armer { tx }, task)
    }

    /// Starts `task` with the next batch.
    pub fn start(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        // A closed armer belongs to a closed handle: the task is not wanted.
        let _ = self.tx.send(Job::Start(Box::pin(task)));
    }

    /// exists with a watch on `path`, on the session of `client`, sent with the next batch.
    pub async fn watch(
        &self,
        client: &zookeeper_client::Client,
        path: &str,
    ) -> ZkResult<(Option<Stat>, zookeeper_client::OneshotWatcher)> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let arm = Arm {
            client: client.clone(),
            path: path.to_string(),
            reply,
        };
        if self.tx.send(Job::Arm(arm)).is_err() {
            return Err(zookeeper_client::Error::ClientClosed);
        }
        match answer.await {
            Ok(answer) => answer.await,
            Err(_) => Err(zookeeper_client::Error::ClientClosed),
        }
    }
}
