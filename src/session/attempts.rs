//! What the connection attempts of a handle meet: told by the client library after each one,
//! kept for error messages (the last cause) and logged, summarised.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use zookeeper_client::ConnectOutcome;

use crate::logging::Repeated;

/// What the connection attempts of a handle met, for its log lines and error messages. Told by
/// the client library after every attempt (see `ConnectObserver`); holds nothing of the session
/// (the library's task keeps it for as long as the client lives).
pub(crate) struct Attempts {
    /// The connect string, naming the handle in log lines.
    connect: String,
    /// The current session's id (0: none), naming the handle in log lines.
    pub(super) session_id: AtomicI64,
    /// The server of the last session established.
    pub(super) server: parking_lot::Mutex<String>,
    /// What the last failed attempt met, in words.
    last_failure: parking_lot::Mutex<Option<String>>,
    /// Failed attempts in a row are logged once per window.
    failures: Repeated,
}

impl Attempts {
    pub(super) fn new(connect: &str) -> Arc<Attempts> {
        Arc::new(Attempts {
            connect: connect.to_string(),
            session_id: AtomicI64::new(0),
            server: parking_lot::Mutex::new(String::new()),
            last_failure: parking_lot::Mutex::new(None),
            failures: Repeated::default(),
        })
    }

    /// `[connect string, session 0x…]`, naming the handle a log line is about.
    pub fn tag(&self) -> String {
        match self.session_id.load(Ordering::Relaxed) {
            0 => format!("[{}]", self.connect),
            id => format!("[{} 0x{id:x}]", self.connect),
        }
    }

    pub(super) fn observe(&self, server: &str, outcome: ConnectOutcome<'_>) {
        let cause = match outcome {
            ConnectOutcome::Established => {
                *self.server.lock() = server.to_string();
                let missed = self.failures.take();
                if missed > 0 {
                    log::debug!("{} {missed} failed attempts not logged", self.tag());
                }
                return;
            }
            ConnectOutcome::ConnectFailed(e) => connect_failure(e),
            ConnectOutcome::HandshakeFailed(e) => handshake_failure(e),
        };
        if let Some(more) = self.failures.note() {
            log::warn!("{} cannot connect to {server}: {cause}{more}", self.tag());
        }
        *self.last_failure.lock() = Some(format!("{server}: {cause}"));
    }

    /// What the last failed attempt met ("127.0.0.1:2181: connection refused").
    pub fn last_failure(&self) -> Option<String> {
        self.last_failure.lock().clone()
    }
}

/// A failed TCP (or TLS) connection, in words.
fn connect_failure(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let text = e.to_string();
    match e.kind() {
        K::ConnectionRefused => "connection refused".into(),
        K::TimedOut => "no answer to the TCP connection (timed out)".into(),
        K::InvalidData | K::InvalidInput if e.get_ref().is_some() => {
            format!("TLS handshake failed: {text}")
        }
        _ if text.contains("lookup address") || text.contains("resolve") => {
            format!("cannot resolve the host name ({text})")
        }
        _ => text,
    }
}

/// A session handshake that failed, in words.
fn handshake_failure(e: &zookeeper_client::Error) -> String {
    use zookeeper_client::Error as Z;
    match e {
        Z::ConnectionLoss => "the server closed the connection during the handshake".into(),
        Z::UnexpectedError(m) if m.contains("not a ZooKeeper") => {
            "the server's answer is not ZooKeeper's (is this a ZooKeeper port?)".into()
        }
        Z::AuthFailed => "authentication failed".into(),
        Z::SessionExpired => "the session expired".into(),
        // The library's idle timeout, met while waiting for the connect response.
        other if other.to_string().contains("no response from connection") => {
            other.to_string().replace(
                "no response from connection",
                "no answer to the connect request",
            )
        }
        other => other.to_string(),
    }
}
