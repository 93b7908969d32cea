//! Hooks for tests and benchmarks, not for applications: what a handle has sent, its cache file
//! flushed, its session's secret, and the classification of the ZooKeeper client's errors.

use crate::fork::Registry;
pub use crate::zk::RequestCounts;

/// True for the ZooKeeper client's errors that say only that the connection or session could
/// not carry a request (retrying on a new one is the answer).
pub fn is_connection_error(err: &zookeeper_client::Error) -> bool {
    crate::status::is_connection_error(err)
}

/// Test hooks on a handle.
pub trait Hooks {
    /// ZooKeeper requests this handle has issued, by kind.
    fn request_counts(&self) -> RequestCounts;
    /// Waits until the cache file holds every document published so far.
    fn flush_cache(&self);
    /// The current session's id and password, to force a server-side expiry (the password is a
    /// bearer secret: never log it).
    fn session_info(&self) -> Option<zookeeper_client::SessionInfo>;
}

impl Hooks for Registry {
    fn request_counts(&self) -> RequestCounts {
        self.core_for_testing()
            .map(|c| c.shared().counters.snapshot())
            .unwrap_or_default()
    }

    fn flush_cache(&self) {
        if let Ok(c) = self.core_for_testing() {
            c.flush_cache();
        }
    }

    fn session_info(&self) -> Option<zookeeper_client::SessionInfo> {
        let core = self.core_for_testing().ok()?;
        let generation = core.shared().session.current()?;
        Some(generation.client.session().clone())
    }
}
