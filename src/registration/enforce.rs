//! The task that keeps one registration enforced: applies what a call could not, re-applies on
//! every new session, and watches the node of an ephemeral registration (or the node in its way,
//! in a conflict) to act when it is deleted or changed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use zookeeper_client::{EventType, Stat};

use super::apply::{self, Failure};
use super::{forget, Context, Kind, Outcome, Registration};
use crate::backoff::Backoff;
use crate::session::Generation;
use crate::status::is_connection_error;
use crate::zk::Zk;

/// What the task's look at the registration found, to decide what to wait for.
enum Next {
    /// Wait for the node (if `watch`: ours to keep, or another's to wait out) or a change.
    Wait {
        outcome: Outcome,
        watch: bool,
        /// The node's mzxid as the apply left it.
        applied_mzxid: i64,
    },
    /// Connection trouble: try again once the session settles.
    Retry,
    /// Refused: nothing to do until the desired state changes.
    Idle,
}

struct Look {
    next: Next,
    /// The desired-state version this look saw.
    seen: u64,
}

/// Keeps `reg` enforced until it is forgotten or the session is closed (the task is aborted on
/// close).
pub(super) async fn enforce(reg: Arc<Registration>, ctx: Context) {
    let session = &ctx.shared.session;
    let mut dirty = false;
    // A failure on a live session (ZooKeeper throttling, a timeout) is retried at a growing
    // pace; a lost connection waits for the next session anyway.
    let mut backoff = Backoff::default();
    // The session this registration last counted itself restored on (see `Restoring`).
    let mut counted_in = 0;
    loop {
        let Some(gen) = session.wait_connected().await else {
            return;
        };
        let mut generations = session.subscribe_current();
        let looked = look(&reg, &ctx, &gen, dirty).await;
        if gen.id != counted_in {
            // Registrations before reads: the cache's re-read after an expiry waits for this.
            session.restoring.restored_one();
            counted_in = gen.id;
        }
        let Some(look) = looked else {
            return; // forgotten
        };
        dirty = false;
        if let Next::Retry = look.next {
            backoff.pause().await;
            dirty = true;
            continue;
        }
        backoff.reset();
        // Wait for a reason to look again: the node changed, the desired state changed, or the
        // session was replaced.
        let node_event = node_event(&reg, &ctx, &gen, &look.next);
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
                    if reg.is_retired() {
                        return;
                    }
                    if reg.version.load(Ordering::SeqCst) != look.seen {
                        break;
                    }
                }
                _ = generations.changed() => break,
            }
        }
    }
}

/// Applies the desired state if it needs it (and `dirty` forces it); None when the registration
/// is forgotten. A transient failure comes back as no outcome with `watch_node` set (retry).
async fn look(
    reg: &Arc<Registration>,
    ctx: &Context,
    gen: &Generation,
    dirty: bool,
) -> Option<Look> {
    let session = &ctx.shared.session;
    let zk = Zk::new(&gen.client, &ctx.shared.counters);
    let mut st = reg.state.lock().await;
    if reg.is_retired() {
        return None;
    }
    let seen = reg.version.load(Ordering::SeqCst);
    let ephemeral = st.desired.kind == Kind::Ephemeral && st.desired.present;
    if st.refused.is_some() {
        // Final until a call changes the desired state.
        return Some(Look {
            next: Next::Idle,
            seen,
        });
    }
    // A conflict the call found on this session is not looked up again (that would be a
    // create per registration in conflict when its task starts): its node is watched.
    let known_conflict = st.conflict_in == gen.id;
    let stale = !known_conflict && (st.applied_in == 0 || (ephemeral && st.applied_in != gen.id));
    let result = if dirty || stale {
        if stale && ephemeral && st.applied_in != 0 {
            zk.counters.note_reregistration();
        }
        let acls = ctx.acl.current();
        let r = apply::apply(&zk, session, gen.id, &reg.path, &mut st, &acls).await;
        reg.settle(&st);
        if st.finished() {
            forget(ctx, reg);
            return None;
        }
        r
    } else {
        Ok(match st.conflict {
            Some(owner) => Outcome::Conflict(owner),
            None => Outcome::Applied,
        })
    };
    let applied_mzxid = st.applied_mzxid;
    drop(st);
    let next = match result {
        Ok(outcome) => Next::Wait {
            outcome,
            watch: ephemeral || matches!(outcome, Outcome::Conflict(_)),
            applied_mzxid,
        },
        Err(Failure::Transient(e)) => {
            log::debug!("{} {}: {e}; trying again", session.tag(), reg.path);
            Next::Retry
        }
        Err(Failure::Refused(e)) => {
            log::warn!(
                "{} {}: ZooKeeper refused the registration ({e}); not retried until it is set again",
                session.tag(),
                reg.path
            );
            Next::Idle
        }
    };
    Some(Look { next, seen })
}

/// Resolves to true when the node needs a new look (gone, changed, changed hands, or the
/// connection failed); never resolves when there is nothing to watch.
async fn node_event(reg: &Registration, ctx: &Context, gen: &Generation, next: &Next) -> bool {
    let &Next::Wait {
        outcome,
        watch: true,
        applied_mzxid,
    } = next
    else {
        return std::future::pending().await;
    };
    match ctx.armer.watch(&gen.client, &reg.path).await {
        Ok((stat, watcher)) => {
            if found_changed(stat.as_ref(), outcome, gen, applied_mzxid) {
                return true;
            }
            let e = watcher.changed().await;
            matches!(
                e.event_type,
                EventType::NodeDeleted | EventType::NodeDataChanged | EventType::NodeCreated
            )
        }
        Err(e) if is_connection_error(&e) => true,
        Err(_) => std::future::pending().await,
    }
}

/// Whether the node, as the watch's own read found it, changed before the watch was set (the
/// watch is set after the apply, see Armer): ours but gone or changed, or another's node gone.
fn found_changed(
    stat: Option<&Stat>,
    outcome: Outcome,
    gen: &Generation,
    applied_mzxid: i64,
) -> bool {
    match outcome {
        Outcome::Applied => {
            let me = gen.client.session_id().0;
            let ours = stat.is_some_and(|s| {
                s.ephemeral_owner == me && (applied_mzxid == 0 || s.mzxid == applied_mzxid)
            });
            !ours
        }
        // The other session's node may have gone before the watch was set: its deletion would
        // never show as an event.
        Outcome::Conflict(owner) => stat.map(|s| s.ephemeral_owner) != Some(owner),
    }
}
