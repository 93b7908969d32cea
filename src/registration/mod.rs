//! Registrations: the desired state of every node a handle owns (an ephemeral "I provide this
//! service" node, or a persistent data node). The call that sets it applies it at once; then each
//! registration's own task keeps enforcing it: after every new session, after a lost attempt, and
//! (for an ephemeral node, through a watch on the node) whenever someone deletes or changes it.
//!
//! Ownership rules for a registration whose path is taken:
//! - by this session (a create whose reply was lost): keep it, fix its data;
//! - by an earlier session of this handle: replace it;
//! - by another live session, on the first attempt of an ephemeral registration: take it over
//!   once (it is typically our own previous process, whose session has not expired yet);
//! - by another live session after we held the path, or after our one takeover, or by a
//!   persistent node (someone's data): never replace it. The registration is in conflict (a
//!   warning, `NDSR_E_CONFLICT`), watches the node, and registers again when the node goes
//!   away. Two processes misconfigured with one path do not flap.
//!
//! Persistent data is written over a persistent node, and replaces an ephemeral one (as its
//! ACL allows); it is never written into another session's node before that is known.
//!
//! A definite refusal from ZooKeeper (an ACL, a path or data it does not accept, a node with
//! children to unset) is final: the call gets the error, the registration reports it, and
//! nothing is retried until the path is set again. Only connection trouble is retried. A path
//! unset (or whose unset was refused) is forgotten: nothing is kept for it.

mod apply;
mod batch;
mod enforce;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{Mutex, Notify};

use self::apply::Failure;
pub use self::batch::Armer;
use crate::acl::AclSource;
use crate::session::Session;
use crate::shared::Shared;
pub use crate::status::Applied;
use crate::status::{Error, Result, Status};
use crate::zk::Zk;

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

/// What applying found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// ZooKeeper holds the desired state.
    Applied,
    /// Another session's node (0: a persistent node) holds the path.
    Conflict(i64),
}

/// Where a registration stands, readable without waiting for an apply in progress.
#[derive(Clone, Debug)]
enum Standing {
    /// Waiting for a session (or for the next attempt).
    Queued,
    /// In place, applied on the session of generation `gen`.
    InPlace { gen: u64, persistent: bool },
    /// Another session's node holds the path.
    Conflict,
    /// ZooKeeper refused it: final.
    Refused(Status),
}

/// The desired state of one path and what has become of it. Private to this module: its rules
/// are the module doc's.
#[derive(Debug)]
struct RegState {
    desired: Desired,
    /// The session generation in which the desired state was last applied; 0 = not applied.
    applied_in: u64,
    /// This registration's node was ours at some point.
    held: bool,
    /// This registration used its one takeover of a node of another live session.
    took_over: bool,
    /// Another session holds the path (its id; 0 for a persistent node): we wait for its node
    /// to go away.
    conflict: Option<i64>,
    /// The session generation in which `conflict` was found for the current desired state
    /// (0 = not known; generations start at 1): the task does not repeat that apply, it
    /// watches the node.
    conflict_in: u64,
    /// The node's mzxid as the last apply left it (0 = unknown): a node found changed since,
    /// before its watch was set, is seen as changed.
    applied_mzxid: i64,
    /// ZooKeeper refused the desired state: not retried until it changes.
    refused: Option<Error>,
}

impl RegState {
    fn new(desired: Desired) -> RegState {
        RegState {
            desired,
            applied_in: 0,
            held: false,
            took_over: false,
            conflict: None,
            conflict_in: 0,
            applied_mzxid: 0,
            refused: None,
        }
    }

    /// Replaces the desired state: to be applied anew.
    fn want(&mut self, desired: Desired) {
        if self.desired.kind != desired.kind || !self.desired.present {
            // A new registration of the path: it gets its own one takeover.
            self.took_over = false;
            self.held = false;
        }
        self.desired = desired;
        self.applied_in = 0;
        self.conflict_in = 0;
        self.refused = None;
    }

    /// Records the outcome of an apply on generation `gen`.
    fn record(
        &mut self,
        gen: u64,
        p: &str,
        session: &Session,
        result: &std::result::Result<Outcome, Failure>,
    ) {
        match result {
            Ok(Outcome::Applied) => {
                self.applied_in = gen;
                self.conflict = None;
                self.conflict_in = 0;
            }
            Ok(Outcome::Conflict(owner)) => {
                self.applied_in = 0;
                self.conflict_in = gen;
                if self.conflict != Some(*owner) {
                    log::warn!("{} {}", session.tag(), conflict_error(p, *owner).message);
                }
                self.conflict = Some(*owner);
            }
            // Returned to the caller (or logged by the task): not logged here.
            Err(Failure::Transient(_)) => {
                self.applied_in = 0;
                self.conflict_in = 0;
            }
            Err(Failure::Refused(e)) => {
                self.applied_in = 0;
                self.conflict_in = 0;
                self.refused = Some(e.clone());
            }
        }
    }

    fn standing(&self) -> Standing {
        match (&self.refused, self.conflict, self.applied_in) {
            (Some(e), _, _) => Standing::Refused(e.code),
            (None, Some(_), _) => Standing::Conflict,
            (None, None, 0) => Standing::Queued,
            (None, None, gen) => Standing::InPlace {
                gen,
                persistent: self.desired.kind == Kind::Persistent,
            },
        }
    }

    /// Whether the desired state is gone from ZooKeeper for good (unset, or its unset
    /// refused): nothing is left to keep.
    fn finished(&self) -> bool {
        !self.desired.present && (self.applied_in != 0 || self.refused.is_some())
    }
}

/// One registered path. Applies are serialised by the state's mutex; `changed` wakes its task.
struct Registration {
    path: String,
    state: Mutex<RegState>,
    /// A copy of where the state stands, for `status` (which never waits for an apply).
    standing: parking_lot::Mutex<Standing>,
    /// Told when the desired state changed, or the registration was forgotten.
    changed: Notify,
    /// Counts changes of the desired state, so that the task can tell a change it has already
    /// seen (and applied) from a new one, and keep its watch on the node instead of re-arming it.
    version: AtomicU64,
    /// Forgotten (unset): its task ends, and a call that finds it takes a new one.
    retired: AtomicBool,
    /// The user's data of an ephemeral registration as last asked for (None: not one), read
    /// without waiting for an apply (see `Registrations::ephemeral`).
    ephemeral_user: parking_lot::Mutex<Option<Value>>,
}

impl Registration {
    fn new(path: &str, desired: Desired) -> Arc<Registration> {
        Arc::new(Registration {
            ephemeral_user: parking_lot::Mutex::new(ephemeral_user(&desired)),
            path: path.to_string(),
            state: Mutex::new(RegState::new(desired)),
            standing: parking_lot::Mutex::new(Standing::Queued),
            changed: Notify::new(),
            version: AtomicU64::new(0),
            retired: AtomicBool::new(false),
        })
    }

    /// Publishes where `st` (this registration's state, locked) stands.
    fn settle(&self, st: &RegState) {
        *self.standing.lock() = st.standing();
    }

    fn is_retired(&self) -> bool {
        self.retired.load(Ordering::SeqCst)
    }
}

/// The registrations of a handle, by path.
type Map = parking_lot::Mutex<HashMap<String, Arc<Registration>>>;

/// Removes `reg` from the map and ends its task. Called with its state locked, so that a call
/// waiting for that lock finds it retired and takes a new registration.
fn forget(ctx: &Context, reg: &Arc<Registration>) {
    let mut m = ctx.map.lock();
    if m.get(&reg.path).is_some_and(|r| Arc::ptr_eq(r, reg)) {
        m.remove(&reg.path);
        ctx.shared.session.restoring.set_registered(m.len());
    }
    reg.retired.store(true, Ordering::SeqCst);
    reg.changed.notify_one();
}

/// The error a caller gets for a registration in conflict.
/// The user's data of `desired` if it is an ephemeral node's.
fn ephemeral_user(desired: &Desired) -> Option<Value> {
    (desired.kind == Kind::Ephemeral && desired.present).then(|| desired.user.clone())
}

pub fn conflict_error(p: &str, owner: i64) -> Error {
    let holder = match owner {
        0 => "a persistent node (someone's data) is there; it is not replaced".to_string(),
        _ => format!("held by another live session (0x{owner:x}); not fighting it"),
    };
    Error::new(
        Status::Conflict,
        format!("{p}: {holder}; kept, and registered when that node goes away"),
    )
}

/// What a registration's task needs from its handle.
#[derive(Clone)]
struct Context {
    shared: Arc<Shared>,
    acl: Arc<AclSource>,
    armer: Arc<Armer>,
    map: Arc<Map>,
}

/// The registrations of a handle: the map, the calls that change it, and the tasks that
/// enforce each one.
pub struct Registrations {
    ctx: Context,
}

impl Registrations {
    /// How many registrations there are (enforced or waiting).
    pub fn count(&self) -> usize {
        self.ctx.map.lock().len()
    }

    /// No registrations yet; the returned future serves the batches of deferred work (see
    /// [`Armer`]) and is to be spawned with the handle's tasks.
    pub fn new(
        shared: Arc<Shared>,
        acl: Arc<AclSource>,
    ) -> (Registrations, impl std::future::Future<Output = ()>) {
        let (armer, arming) = Armer::new(shared.counters.clone(), shared.tasks.clone());
        let ctx = Context {
            shared,
            acl,
            armer: Arc::new(armer),
            map: Arc::default(),
        };
        (Registrations { ctx }, arming)
    }

    /// The registration of `p`, and whether it was made now (its task is not started yet).
    fn registration(&self, p: &str, desired: &Desired) -> (Arc<Registration>, bool) {
        let mut regs = self.ctx.map.lock();
        if let Some(r) = regs.get(p) {
            return (r.clone(), false);
        }
        let reg = Registration::new(p, desired.clone());
        regs.insert(p.to_string(), reg.clone());
        self.ctx.shared.session.restoring.set_registered(regs.len());
        (reg, true)
    }

    /// Records `desired` for `p` and applies it, unless `same(current, desired)` says it is in
    /// place already on the current session. Blocks up to the timeout.
    pub fn change(
        &self,
        p: &str,
        desired: Desired,
        same: impl Fn(&Desired, &Desired) -> bool + Send + Sync,
    ) -> Result<Applied> {
        let shared = &self.ctx.shared;
        // The registration this call made, if it made one (one made and retired while the call
        // waited has no task to start).
        let started: parking_lot::Mutex<Option<Arc<Registration>>> = Default::default();
        let unchanged = AtomicBool::new(false);
        // Whatever happens below, the desired state is recorded first, so a write that cannot be
        // carried now is applied by the registration's task once a session can carry it.
        let result = shared.bounded(
            async {
                loop {
                    let (reg, new) = self.registration(p, &desired);
                    if new {
                        *started.lock() = Some(reg.clone());
                    }
                    let mut st = reg.state.lock().await;
                    // Forgotten while we waited: the path needs a registration of its own.
                    if !reg.is_retired() {
                        return self
                            .apply_call(&reg, &mut st, &desired, &same, &unchanged)
                            .await;
                    }
                }
            },
            || Ok(Applied::Queued),
        );
        // The task arms the watch on the node (or applies what could not be applied here). A
        // new registration's task starts only after the call, when the handle's writes pause
        // (see Armer): it has nothing to do before, and would only compete with the calls.
        if let Some(reg) = started.into_inner().filter(|r| !r.is_retired()) {
            self.ctx
                .armer
                .start(enforce::enforce(reg, self.ctx.clone()));
        }
        if matches!(result, Ok(Applied::Queued)) && !unchanged.load(Ordering::Relaxed) {
            log::info!(
                "{} {p}: no ZooKeeper session now; the change is kept and applied on reconnect",
                shared.session.tag()
            );
        }
        result
    }

    /// The part of [`Registrations::change`] done with the registration's state locked.
    async fn apply_call(
        &self,
        reg: &Arc<Registration>,
        st: &mut RegState,
        desired: &Desired,
        same: &(impl Fn(&Desired, &Desired) -> bool + Send + Sync),
        unchanged: &AtomicBool,
    ) -> Result<Applied> {
        let shared = &self.ctx.shared;
        let live_gen = shared.session.current().map(|g| g.id);
        if st.applied_in != 0
            && Some(st.applied_in) == live_gen
            && st.refused.is_none()
            && same(&st.desired, desired)
        {
            unchanged.store(true, Ordering::Relaxed);
            return Ok(Applied::Done);
        }
        *reg.ephemeral_user.lock() = ephemeral_user(desired);
        st.want(desired.clone());
        reg.version.fetch_add(1, Ordering::SeqCst);
        reg.settle(st);
        reg.changed.notify_one();
        // With no session at all (lazy open, ZooKeeper down) there is nothing to wait for; a
        // session that is reconnecting is waited for, within the timeout.
        if live_gen.is_none() {
            return Ok(Applied::Queued);
        }
        let Some(gen) = shared.session.wait_connected().await else {
            return Err(Error::closed());
        };
        let zk = Zk::new(&gen.client, &shared.counters);
        let acls = self.ctx.acl.current();
        let result = apply::apply(&zk, &shared.session, gen.id, &reg.path, st, &acls).await;
        reg.settle(st);
        if st.finished() {
            forget(&self.ctx, reg);
        }
        match result {
            Ok(Outcome::Applied) => Ok(Applied::Done),
            Ok(Outcome::Conflict(owner)) => Err(conflict_error(&reg.path, owner)),
            Err(Failure::Transient(_)) => Ok(Applied::Queued),
            Err(Failure::Refused(e)) => Err(e),
        }
    }

    /// The user's data of this handle's registration of an ephemeral node at `p`, with the
    /// registration's version (it changes with every new desired state). `NDSR_E_NOT_FOUND`
    /// when `p` is not such a registration. Never waits.
    pub fn ephemeral(&self, p: &str) -> Result<(Value, u64)> {
        let reg = self.ctx.map.lock().get(p).cloned();
        let found = reg.and_then(|r| {
            let user = r.ephemeral_user.lock().clone()?;
            Some((user, r.version.load(Ordering::SeqCst)))
        });
        found.ok_or_else(|| {
            Error::new(
                Status::NotFound,
                format!("{p}: not an ephemeral registration of this handle"),
            )
        })
    }

    /// The version of the registration of `p`, if there is one (see [`Registrations::ephemeral`]).
    pub fn version(&self, p: &str) -> Option<u64> {
        let reg = self.ctx.map.lock().get(p).cloned()?;
        (!reg.is_retired()).then(|| reg.version.load(Ordering::SeqCst))
    }

    /// Where the registration of `p` stands: `NDSR_OK` (in place on the current session),
    /// `NDSR_QUEUED` (waiting for a session), `NDSR_E_CONFLICT` (another session's node holds
    /// the path; applied when it goes away), `NDSR_E_NOT_FOUND` (no registration of `p`), or the
    /// error ZooKeeper refused it with. Never waits.
    pub fn status(&self, p: &str) -> Result<Status> {
        let reg = self.ctx.map.lock().get(p).cloned();
        let Some(reg) = reg else {
            return Err(Error::new(
                Status::NotFound,
                format!("{p}: not registered by this handle"),
            ));
        };
        let live = self.ctx.shared.session.current().map(|g| g.id);
        let standing = reg.standing.lock().clone();
        Ok(match standing {
            Standing::Refused(code) => code,
            Standing::Conflict => Status::Conflict,
            Standing::Queued => Status::Queued,
            Standing::InPlace { gen, persistent } if persistent || Some(gen) == live => Status::Ok,
            Standing::InPlace { .. } => Status::Queued,
        })
    }
}
