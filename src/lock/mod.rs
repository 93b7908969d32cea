//! Locks and semaphores of a handle: the kazoo recipe (`recipe`), shared with Python processes
//! running the original, and the leases the handle keeps under their path for the path-keyed
//! calls (the original's `acquire_lock`/`release_lock`).

mod recipe;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

pub use self::recipe::Lease;
use self::recipe::LockSpec;
use crate::acl::AclSource;
use crate::runtime;
use crate::shared::Shared;
use crate::status::{Error, Result, Status};

/// The locks of a handle.
pub struct Locks {
    shared: Arc<Shared>,
    acl: Arc<AclSource>,
    /// Leases taken with the path-keyed calls.
    held: Mutex<HashMap<String, Lease>>,
}

impl Locks {
    /// No locks yet.
    pub fn new(shared: Arc<Shared>, acl: Arc<AclSource>) -> Locks {
        Locks {
            shared,
            acl,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// Acquires the lock `p` (up to `simultaneous` holders at once), waiting up to `wait` for a
    /// holder to let go. `NDSR_E_TIMEOUT` when not acquired in time. The caller has checked
    /// the path and the sizes.
    pub fn lock(&self, p: &str, name: &str, simultaneous: u32, wait: Duration) -> Result<Lease> {
        let spec = LockSpec {
            path: p.to_string(),
            name: name.to_string(),
            simultaneous,
        };
        let deadline = tokio::time::Instant::now() + wait;
        let acls = self.acl.current();
        let (session, counters) = (&self.shared.session, &self.shared.counters);
        runtime::block_on(async {
            tokio::select! {
                r = recipe::acquire(session, counters, &spec, deadline, &acls) => r,
                _ = self.shared.closing() => Err(Error::closed()),
            }
        })
    }

    /// Releases a lease taken with [`Locks::lock`].
    pub fn unlock(&self, lease: &Lease) -> Result<()> {
        self.shared.check_open()?;
        self.shared.bounded(
            recipe::release(&self.shared.session, &self.shared.counters, lease),
            || Err(Error::new(Status::Timeout, "timed out releasing the lock")),
        )
    }

    /// Whether a lease is still held: `NDSR_OK`; `NDSR_E_LOCK_LOST` once its session is gone;
    /// `NDSR_E_NO_CONNECTION` while disconnected (the session may yet survive, but until it is
    /// known to, do not act as the holder).
    pub fn status(&self, lease: &Lease) -> Status {
        if self.shared.is_closed() {
            return Status::LockLost;
        }
        let session = &self.shared.session;
        match session.current() {
            Some(g) if g.id == lease.generation && session.state().is_connected() => Status::Ok,
            Some(g) if g.id == lease.generation => Status::NoConnection,
            // The session carrying the lease is gone (expired or replaced).
            _ => Status::LockLost,
        }
    }

    /// The path-keyed form of [`Locks::lock`], as the original's `acquire_lock`: the lease is
    /// kept by the handle. Acquiring a path this handle holds already succeeds at once.
    pub fn acquire(&self, p: &str, name: &str, simultaneous: u32, wait: Duration) -> Result<()> {
        let kept = self.held.lock().get(p).cloned();
        if kept.is_some_and(|lease| self.status(&lease) == Status::Ok) {
            return Ok(());
        }
        let lease = self.lock(p, name, simultaneous, wait)?;
        self.held.lock().insert(p.to_string(), lease);
        Ok(())
    }

    /// Releases a lock taken with [`Locks::acquire`]; a path not held is fine.
    pub fn release(&self, p: &str) -> Result<()> {
        let lease = self.held.lock().remove(p);
        match lease {
            Some(lease) => self.unlock(&lease),
            None => Ok(()),
        }
    }
}
