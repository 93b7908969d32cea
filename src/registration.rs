//! Registrations: the desired state of every node a handle owns (an ephemeral "I provide this
//! service" node, or a persistent data node), applied on the call and again whenever a new
//! session exists or an earlier attempt could not reach ZooKeeper.

use serde_json::Value;
use tokio::sync::Mutex;
use zookeeper_client::{Acl, Acls, CreateMode, Stat};

use crate::path;
use crate::status::{Error, Result};
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

/// Where a registration stands.
#[derive(Debug)]
pub struct RegState {
    /// The desired state.
    pub desired: Desired,
    /// The session generation in which the desired state was last applied; 0 = not applied.
    pub applied_in: u64,
}

/// One registered path. Applies are serialised by the mutex.
pub struct Registration {
    /// The node path.
    pub path: String,
    /// Desired and applied state.
    pub state: Mutex<RegState>,
}

impl Registration {
    /// A registration not applied yet.
    pub fn new(path: &str, desired: Desired) -> Registration {
        Registration {
            path: path.to_string(),
            state: Mutex::new(RegState {
                desired,
                applied_in: 0,
            }),
        }
    }
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
/// `gen`). The caller holds the registration's lock.
pub async fn apply(
    zk: &Zk<'_>,
    session_id: i64,
    gen: u64,
    p: &str,
    st: &mut RegState,
    acls: &[Acl],
) -> Result<()> {
    let desired = st.desired.clone();
    let result: ZkResult<()> = async {
        if !desired.present {
            return match zk.delete(p, None).await {
                Ok(()) | Err(zookeeper_client::Error::NoNode) => Ok(()),
                Err(e) => Err(e),
            };
        }
        // Persistent data usually exists already: write it first, create it only if missing.
        // (Creating first would fail with NoAuth, not NodeExists, where the directory is
        // someone else's: ZooKeeper checks the parent's CREATE permission first.)
        if desired.kind == Kind::Persistent {
            match zk.set_data(p, &desired.encoded, None).await {
                Ok(stat) if stat.ephemeral_owner == 0 => return Ok(()),
                // An ephemeral node sits there: replaced below.
                Ok(_) | Err(zookeeper_client::Error::NoNode) => {}
                Err(e) => return Err(e),
            }
        }
        // A create whose reply was lost, or an earlier session of ours, can leave the node in
        // place: NodeExists is answered by looking at who owns it.
        for _ in 0..3 {
            match create(zk, p, &desired, acls).await {
                Ok(_) => return Ok(()),
                Err(zookeeper_client::Error::NodeExists) => {}
                Err(e) => return Err(e),
            }
            let (data, stat) = match zk.get_data(p).await {
                Ok(r) => r,
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) => return Err(e),
            };
            let ours = stat.ephemeral_owner == session_id;
            let want_ephemeral = desired.kind == Kind::Ephemeral;
            if (want_ephemeral && ours) || (!want_ephemeral && stat.ephemeral_owner == 0) {
                if data != desired.encoded {
                    match zk.set_data(p, &desired.encoded, Some(stat.version)).await {
                        Ok(_) => {}
                        Err(
                            zookeeper_client::Error::BadVersion | zookeeper_client::Error::NoNode,
                        ) => continue,
                        Err(e) => return Err(e),
                    }
                }
                return Ok(());
            }
            // Wrong kind, or an ephemeral node of another session (typically a previous process
            // of ours whose session has not expired yet): take it over.
            log::warn!(
                "{p}: replacing a node owned by session 0x{:x}",
                stat.ephemeral_owner
            );
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
        Ok(()) => {
            st.applied_in = gen;
            Ok(())
        }
        Err(e) => {
            // Returned to the caller (or logged by the background re-apply): not logged here.
            st.applied_in = 0;
            Err(Error::from_zk(&e, p))
        }
    }
}
