//! What every part of a handle and every background task needs, in one bundle: the session, the
//! request counters, the callback thread, the task set, the close signal and the timeout.
//! A task holds this (never the handle itself), so that the handle is never dropped, and closed,
//! on a runtime thread.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::dispatcher::Dispatcher;
use crate::runtime::{self, Tasks};
use crate::session::Session;
use crate::status::{Error, Result};
use crate::zk::Counters;

/// The shared parts of one handle.
pub struct Shared {
    /// The session supervisor.
    pub session: Arc<Session>,
    /// Request counters and the rate limit.
    pub counters: Arc<Counters>,
    /// The callback thread.
    pub dispatcher: Arc<Dispatcher>,
    /// The handle's background tasks.
    pub tasks: Arc<Tasks>,
    /// The longest a call waits (the session timeout).
    pub timeout: Duration,
    /// True once the handle is closed (or closing).
    closed: watch::Sender<bool>,
    /// The same, for readers on a hot path (set first).
    closed_now: AtomicBool,
}

impl Shared {
    /// A bundle for an open handle.
    pub fn new(
        session: Arc<Session>,
        counters: Arc<Counters>,
        dispatcher: Arc<Dispatcher>,
        timeout: Duration,
    ) -> Shared {
        Shared {
            session,
            counters,
            dispatcher,
            tasks: Arc::new(Tasks::default()),
            timeout,
            closed: watch::channel(false).0,
            closed_now: AtomicBool::new(false),
        }
    }

    /// True once the handle is closed (or closing).
    pub fn is_closed(&self) -> bool {
        self.closed_now.load(Ordering::SeqCst)
    }

    /// `NDSR_E_CLOSED` once the handle is closed.
    pub fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::closed())
        } else {
            Ok(())
        }
    }

    /// Marks the handle closed; true the first time.
    pub fn close(&self) -> bool {
        self.closed_now.store(true, Ordering::SeqCst);
        crate::memo::invalidate();
        !self.closed.send_replace(true)
    }

    /// Returns once the handle is closed.
    pub async fn closing(&self) {
        let mut closed = self.closed.subscribe();
        let _ = closed.wait_for(|c| *c).await;
    }

    /// Runs `fut` on the calling thread, bounded by the timeout (then `on_timeout` answers) and
    /// by close (`NDSR_E_CLOSED`).
    pub fn bounded<T: Send>(
        &self,
        fut: impl Future<Output = Result<T>> + Send,
        on_timeout: impl FnOnce() -> Result<T> + Send,
    ) -> Result<T> {
        runtime::block_on(async move {
            tokio::select! {
                r = tokio::time::timeout(self.timeout, fut) => match r {
                    Ok(r) => r,
                    Err(_) => on_timeout(),
                },
                _ = self.closing() => Err(Error::closed()),
            }
        })
    }
}
