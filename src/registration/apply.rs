//! Making ZooKeeper match a registration's desired state, under the ownership rules of the
//! module doc: what may be replaced, what is a conflict, what is ours already.

use zookeeper_client::{Acl, Acls, CreateMode, Stat};

use super::{Desired, Kind, Outcome, RegState};
use crate::path;
use crate::session::Session;
use crate::status::{is_connection_error, Error, NDSR_E_ZOOKEEPER};
use crate::zk::Zk;

type ZkResult<T> = std::result::Result<T, zookeeper_client::Error>;

/// How an attempt failed.
pub(super) enum Failure {
    /// The session or the connection could not carry it: tried again on a (new) session.
    Transient(Error),
    /// ZooKeeper refused it (an ACL, a path or data it does not accept, a node with children):
    /// final, never retried on its own.
    Refused(Error),
}

impl Failure {
    fn from_zk(e: &zookeeper_client::Error, p: &str) -> Failure {
        let error = Error::from_zk(e, p);
        if is_connection_error(e) {
            Failure::Transient(error)
        } else {
            Failure::Refused(error)
        }
    }
}

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

/// What to do with a node found at the path.
enum Verdict {
    /// Ours already (a create whose reply was lost), or the persistent node we write: fix its
    /// data.
    Ours,
    /// Ours to replace: an earlier session's, or a live one's on our one takeover.
    Replace,
    /// Someone else's to keep: a live session's registration, or a persistent node.
    Conflict(i64),
}

/// The ownership rules for a node of `owner` (0: persistent) at a path where `st` wants a node.
fn judge(st: &mut RegState, session: &Session, me: i64, owner: i64) -> Verdict {
    let ours = owner == me || session.was_ours(owner);
    match st.desired.kind {
        Kind::Ephemeral if owner == me => Verdict::Ours,
        // Someone's data: never replaced by a registration.
        Kind::Ephemeral if owner == 0 => Verdict::Conflict(0),
        Kind::Ephemeral if ours => Verdict::Replace,
        // Another live session: typically our own previous process, taken over once.
        Kind::Ephemeral if !st.held && !st.took_over => {
            st.took_over = true;
            Verdict::Replace
        }
        Kind::Ephemeral => Verdict::Conflict(owner),
        Kind::Persistent if owner == 0 => Verdict::Ours,
        // An ephemeral node where data is written is replaced (as the ACL allows).
        Kind::Persistent => Verdict::Replace,
    }
}

/// Removes the node (a missing one is fine).
async fn remove(zk: &Zk<'_>, p: &str) -> ZkResult<Outcome> {
    match zk.delete(p, None).await {
        Ok(()) | Err(zookeeper_client::Error::NoNode) => Ok(Outcome::Applied),
        Err(e) => Err(e),
    }
}

/// Brings the data of our own node `stat` (read as `data`) to the desired state. `None` when the
/// node changed meanwhile (look again).
async fn fix_data(
    zk: &Zk<'_>,
    p: &str,
    st: &mut RegState,
    data: &[u8],
    stat: &Stat,
) -> ZkResult<Option<Outcome>> {
    st.applied_mzxid = stat.mzxid;
    if data != st.desired.encoded {
        match zk
            .set_data(p, &st.desired.encoded, Some(stat.version))
            .await
        {
            Ok(stat) => st.applied_mzxid = stat.mzxid,
            Err(zookeeper_client::Error::BadVersion | zookeeper_client::Error::NoNode) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
    }
    st.held |= st.desired.kind == Kind::Ephemeral;
    Ok(Some(Outcome::Applied))
}

/// Puts the desired node in place: creates it, or judges the node found there.
async fn place(
    zk: &Zk<'_>,
    session: &Session,
    p: &str,
    st: &mut RegState,
    acls: &[Acl],
) -> Result<Outcome, Failure> {
    let desired = st.desired.clone();
    let failed = |e: zookeeper_client::Error| Failure::from_zk(&e, p);
    let me = zk.client.session_id().0;
    // Persistent data usually exists already: it is read first (never written blindly: the node
    // there may be a live session's registration), and created only if missing. (Creating first
    // would fail with NoAuth, not NodeExists, where the directory is someone else's: ZooKeeper
    // checks the parent's CREATE permission first.)
    let mut read_first = desired.kind == Kind::Persistent;
    for _ in 0..4 {
        if !std::mem::take(&mut read_first) {
            match create(zk, p, &desired, acls).await {
                Ok(stat) => {
                    st.held = true;
                    st.applied_mzxid = stat.mzxid;
                    return Ok(Outcome::Applied);
                }
                Err(zookeeper_client::Error::NodeExists) => {}
                Err(e) => return Err(failed(e)),
            }
        }
        let (data, stat) = match zk.get_data(p).await {
            Ok(r) => r,
            Err(zookeeper_client::Error::NoNode) => continue,
            Err(e) => return Err(failed(e)),
        };
        match judge(st, session, me, stat.ephemeral_owner) {
            Verdict::Ours => match fix_data(zk, p, st, &data, &stat).await.map_err(failed)? {
                Some(done) => return Ok(done),
                None => continue,
            },
            Verdict::Conflict(owner) => {
                zk.counters.note_conflict();
                return Ok(Outcome::Conflict(owner));
            }
            Verdict::Replace => {
                let owner = stat.ephemeral_owner;
                log::warn!(
                    "{} {p}: replacing a node of session 0x{owner:x}",
                    session.tag()
                );
                match zk.delete(p, Some(stat.version)).await {
                    Ok(())
                    | Err(zookeeper_client::Error::NoNode)
                    | Err(zookeeper_client::Error::BadVersion) => {}
                    Err(e) => return Err(failed(e)),
                }
            }
        }
    }
    // Others keep changing the node under us: try again later.
    Err(Failure::Transient(Error::new(
        NDSR_E_ZOOKEEPER,
        format!("{p}: the node kept changing while being registered"),
    )))
}

/// Makes ZooKeeper match the desired state of `st` at `p` on the session `zk` (generation `gen`
/// of `session`), and records the outcome in `st`. The caller holds the registration's lock.
pub(super) async fn apply(
    zk: &Zk<'_>,
    session: &Session,
    gen: u64,
    p: &str,
    st: &mut RegState,
    acls: &[Acl],
) -> Result<Outcome, Failure> {
    let result = if st.desired.present {
        place(zk, session, p, st, acls).await
    } else {
        remove(zk, p).await.map_err(|e| Failure::from_zk(&e, p))
    };
    st.record(gen, p, session, &result);
    result
}
