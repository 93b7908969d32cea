//! Registrations: the desired state of every node a handle owns (an ephemeral "I provide this
//! service" node, or a persistent data node). The call that sets it applies it at once; then each
//! registration's own task keeps enforcing it: after every new session, after a lost attempt, and
//! (for an ephemeral node, through a watch on the node) whenever someone deletes or changes it.
//!
//! Ownership rules for an ephemeral registration whose path is taken:
//! - by this session (a create whose reply was lost): keep it, fix its data;
//! - by an earlier session of this handle: replace it;
//! - by another live session, on the first attempt: take it over once (it is typically our own
//!   previous process, whose session has not expired yet);
//! - by another live session after we held the path, or after our one takeover: never fight it.
//!   The registration is in conflict (a warning, `NDSR_E_CONFLICT`), watches the node, and
//!   registers again when the node goes away. Two processes misconfigured with one path do not
//!   flap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Mutex, Notify};
use zookeeper_client::{Acl, Acls, CreateMode, EventType, Stat};

use crate::path;
use crate::session::Session;
use crate::status::{is_connection_error, Error, Result, NDSR_E_CONFLICT};
use crate::zk::{Counters, StatWatch, Zk};

/// Ephemeral (lives with the session) or persistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Removed by ZooKeeper when the session ends; re-created by libndsr on a new session.
    Ephemeral,
    /// Stays until deleted.
    Persistent,
}

/// What the handle wants a path to be.
#[derive(Clone, Debug)]
pub struct Desired {
    /// Node kind.
    pub kind: Kind,
    /// Present (with `encoded` data) or absent.
    pub present: bool,
    /// The user's data as given, to compare repeated calls.
    pub user: Value,
    /// The bytes to store.
    pub encoded: Vec<u8>,
}

/// Where a registration stands.
#[derive(Debug)]
pub struct RegState {
    /// The desired state.
    pub desired: Desired,
    /// The session generation in which the desired state was last applied; 0 = not applied.
    pub applied_in: u64,
    /// This registration's node was ours at some point.
    pub held: bool,
    /// This registration used its one takeover of a node of another live session.
    pub took_over: bool,
    /// Another live session holds the path (its id): we wait for its node to go away.
    pub conflict: Option<i64>,
    /// The session generation in which `conflict` was found for the current desired state
    /// (0 = not known; generations start at 1): the task does not repeat that apply, it
    /// watches the node.
    pub conflict_in: u64,
    /// The node's mzxid as the last apply left it (0 = unknown): a node found changed since,
    /// before its watch was set, is seen as changed.
    pub applied_mzxid: i64,
}

/// One registered path. Applies are serialised by the mutex; `changed` wakes its task.
pub struct Registration {
    /// The node path.
    pub path: String,
    /// Desired and applied state.
    pub state: Mutex<RegState>,
    /// Told when the desired state changed.
    pub changed: Notify,
    /// Counts changes of the desired state, so that the task can tell a change it has already
    /// seen (and applied) from a new one, and keep its watch on the node instead of re-arming it.
    pub version: AtomicU64,
}

impl Registration {
    /// A registration not applied yet.
    pub fn new(path: &str, desired: Desired) -> Registration {
        Registration {
            path: path.to_string(),
            state: Mutex::new(RegState {
                desired,
                applied_in: 0,
                held: false,
                took_over: false,
                conflict: None,
                conflict_in: 0,
                applied_mzxid: 0,
            }),
            changed: Notify::new(),
            version: AtomicU64::new(0),
        }
    }
}

/// What applying found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// ZooKeeper holds the desired state.
    Applied,
    /// Another live session holds the path.
    Conflict(i64),
}

type ZkResult<T> = std::result::Result<T, zookeeper_client::Error>;

/// Creates the missing ancestors of `p` as persistent nodes: the immediate parent (the service
/// directory) with `acls`, the levels above it open, as the original does (users share the upper
/// levels; only the service directory is protected).
async fn create_parents(zk: &Zk<'_>, p: &str, acls: &[Acl]) -> ZkResult<()> {
    let parent = path::parent(p);
    if parent == "/" {
        return Ok(());
    }
    let open = crate::acl::open_acl();
    let options_for = |dir: &str| {
        let a: &[Acl] = if dir == parent { acls } else { &open };
        CreateMode::Persistent.with_acls(Acls::new(a))
    };
    let mut missing = vec![parent];
    // Walk up until an existing ancestor, then create downwards.
    loop {
        let top = *missing.last().expect("not empty");
        match zk.create(top, &[], &options_for(top)).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => {
                missing.pop();
                break;
            }
            Err(zookeeper_client::Error::NoNode) => {
                let up = path::parent(top);
                if up == "/" {
                    return Err(zookeeper_client::Error::NoNode);
                }
                missing.push(up);
            }
            Err(e) => return Err(e),
        }
    }
    while let Some(p) = missing.pop() {
        match zk.create(p, &[], &options_for(p)).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn create(zk: &Zk<'_>, p: &str, desired: &Desired, acls: &[Acl]) -> ZkResult<Stat> {
    let mode = match desired.kind {
        Kind::Ephemeral => CreateMode::Ephemeral,
        Kind::Persistent => CreateMode::Persistent,
    };
    let options = mode.with_acls(Acls::new(acls));
    match zk.create(p, &desired.encoded, &options).await {
        Err(zookeeper_client::Error::NoNode) => {
            create_parents(zk, p, acls).await?;
            zk.create(p, &desired.encoded, &options).await
        }
        r => r,
    }
}

/// Makes ZooKeeper match the desired state `st` of path `p` on the session `zk` (generation
/// `gen` of `session`). The caller holds the registration's lock.
pub async fn apply(
    zk: &Zk<'_>,
    session: &Session,
    gen: u64,
    p: &str,
    st: &mut RegState,
    acls: &[Acl],
) -> Result<Outcome> {
    let desired = st.desired.clone();
    let me = zk.client.session_id().0;
    let result: ZkResult<Outcome> = async {
        if !desired.present {
            return match zk.delete(p, None).await {
                Ok(()) | Err(zookeeper_client::Error::NoNode) => Ok(Outcome::Applied),
                Err(e) => Err(e),
            };
        }
        // Persistent data usually exists already: write it first, create it only if missing.
        // (Creating first would fail with NoAuth, not NodeExists, where the directory is
        // someone else's: ZooKeeper checks the parent's CREATE permission first.)
        if desired.kind == Kind::Persistent {
            match zk.set_data(p, &desired.encoded, None).await {
                Ok(stat) if stat.ephemeral_owner == 0 => return Ok(Outcome::Applied),
                // An ephemeral node sits there: replaced below.
                Ok(_) | Err(zookeeper_client::Error::NoNode) => {}
                Err(e) => return Err(e),
            }
        }
        for _ in 0..4 {
            match create(zk, p, &desired, acls).await {
                Ok(stat) => {
                    st.held = true;
                    st.applied_mzxid = stat.mzxid;
                    return Ok(Outcome::Applied);
                }
                Err(zookeeper_client::Error::NodeExists) => {}
                Err(e) => return Err(e),
            }
            let (data, stat) = match zk.get_data(p).await {
                Ok(r) => r,
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) => return Err(e),
            };
            let owner = stat.ephemeral_owner;
            let want_ephemeral = desired.kind == Kind::Ephemeral;
            // Ours already (a create whose reply was lost), or the right kind of persistent node.
            if (want_ephemeral && owner == me) || (!want_ephemeral && owner == 0) {
                st.applied_mzxid = stat.mzxid;
                if data != desired.encoded {
                    match zk.set_data(p, &desired.encoded, Some(stat.version)).await {
                        Ok(stat) => st.applied_mzxid = stat.mzxid,
                        Err(
                            zookeeper_client::Error::BadVersion | zookeeper_client::Error::NoNode,
                        ) => continue,
                        Err(e) => return Err(e),
                    }
                }
                st.held |= want_ephemeral;
                return Ok(Outcome::Applied);
            }
            let earlier_session_of_ours = owner != 0 && session.was_ours(owner);
            let live_other = want_ephemeral && owner != 0 && !earlier_session_of_ours;
            if live_other {
                if st.held || st.took_over {
                    return Ok(Outcome::Conflict(owner));
                }
                st.took_over = true;
            }
            log::warn!("{p}: replacing a node owned by session 0x{owner:x}");
            match zk.delete(p, Some(stat.version)).await {
                Ok(())
                | Err(zookeeper_client::Error::NoNode)
                | Err(zookeeper_client::Error::BadVersion) => {}
                Err(e) => return Err(e),
            }
        }
        Err(zookeeper_client::Error::NodeExists)
    }
    .await;
    match result {
        Ok(Outcome::Applied) => {
            st.applied_in = gen;
            st.conflict = None;
            st.conflict_in = 0;
            Ok(Outcome::Applied)
        }
        Ok(Outcome::Conflict(owner)) => {
            st.applied_in = 0;
            st.conflict_in = gen;
            if st.conflict != Some(owner) {
                log::warn!(
                    "{p}: held by another live session (0x{owner:x}); not fighting it, will register when it goes away"
                );
            }
            st.conflict = Some(owner);
            Ok(Outcome::Conflict(owner))
        }
        Err(e) => {
            // Returned to the caller (or logged by the task): not logged here.
            st.applied_in = 0;
            st.conflict_in = 0;
            Err(Error::from_zk(&e, p))
        }
    }
}

/// The error a caller gets for a registration in conflict.
pub fn conflict_error(p: &str, owner: i64) -> Error {
    Error::new(
        NDSR_E_CONFLICT,
        format!("{p}: held by another live session (0x{owner:x}); kept, and registered when that node goes away"),
    )
}

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

/// What a registration's task needs from its handle.
#[derive(Clone)]
pub struct Context {
    /// The handle's session.
    pub session: Arc<Session>,
    /// The handle's request counters and rate limit.
    pub counters: Arc<Counters>,
    /// The ACL for nodes created now.
    pub acl: Arc<dyn Fn() -> Vec<Acl> + Send + Sync>,
    /// Sends the node's watch.
    pub armer: Arc<Armer>,
}

/// Keeps `reg` enforced until the session is closed (the task is aborted on close).
pub async fn enforce(reg: Arc<Registration>, ctx: Context) {
    let mut dirty = false;
    loop {
        let Some(gen) = ctx.session.wait_connected().await else {
            return;
        };
        let mut generations = ctx.session.subscribe_current();
        let zk = Zk {
            client: &gen.client,
            counters: &ctx.counters,
        };
        let mut st = reg.state.lock().await;
        let seen = reg.version.load(Ordering::SeqCst);
        let ephemeral = st.desired.kind == Kind::Ephemeral && st.desired.present;
        // A conflict the call found on this session is not looked up again (that would be a
        // create per registration in conflict when its task starts): its node is watched.
        let known_conflict = st.conflict_in == gen.id;
        let stale =
            !known_conflict && (st.applied_in == 0 || (ephemeral && st.applied_in != gen.id));
        let result = if dirty || stale {
            let acls = (ctx.acl)();
            apply(&zk, &ctx.session, gen.id, &reg.path, &mut st, &acls).await
        } else {
            Ok(if let Some(owner) = st.conflict {
                Outcome::Conflict(owner)
            } else {
                Outcome::Applied
            })
        };
        dirty = false;
        // Let calls in while this task waits.
        let watch_node = ephemeral && result.is_ok();
        let conflict_owner = match &result {
            Ok(Outcome::Conflict(owner)) => Some(*owner),
            _ => None,
        };
        let applied_mzxid = st.applied_mzxid;
        drop(st);
        match &result {
            Ok(_) => {}
            Err(e)
                if e.code == crate::status::NDSR_E_NO_CONNECTION
                    || e.code == crate::status::NDSR_E_CLOSED =>
            {
                // Connection trouble: wait for the session to settle, then try again.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                dirty = true;
                continue;
            }
            Err(e) => log::warn!("{}: could not apply the registration: {}", reg.path, e),
        }
        // Wait for a reason to look again: our node changed (ephemeral only), the desired state
        // changed, or the session was replaced.
        let node_event = async {
            if !watch_node {
                return std::future::pending().await;
            }
            match ctx.armer.watch(zk.client, &reg.path).await {
                Ok((stat, watcher)) => {
                    // Ours, and as we left it: the watch is set after the apply (see Armer),
                    // so a change in between shows here rather than as an event.
                    let me = gen.client.session_id().0;
                    let ours = stat.is_some_and(|s| {
                        s.ephemeral_owner == me && (applied_mzxid == 0 || s.mzxid == applied_mzxid)
                    });
                    if matches!(result, Ok(Outcome::Applied)) && !ours {
                        return true; // gone or changed hands already
                    }
                    // The other session's node may have gone before the watch was set: its
                    // deletion would never show as an event.
                    if conflict_owner.is_some() && stat.map(|s| s.ephemeral_owner) != conflict_owner
                    {
                        return true;
                    }
                    let e = watcher.changed().await;
                    matches!(
                        e.event_type,
                        EventType::NodeDeleted
                            | EventType::NodeDataChanged
                            | EventType::NodeCreated
                    )
                }
                Err(e) if is_connection_error(&e) => true,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::pin!(node_event);
        loop {
            tokio::select! {
                changed = &mut node_event => {
                    dirty = changed;
                    break;
                }
                // A call that changed the desired state after we looked; a call whose change we
                // saw (it applied it while we waited for the lock) keeps the watch as it is.
                _ = reg.changed.notified() => {
                    if reg.version.load(Ordering::SeqCst) != seen {
                        break;
                    }
                }
                _ = generations.changed() => break,
            }
        }
    }
}
