//! Status codes shared by the Rust core and the C ABI, and the error type that carries them.
//!
//! The numeric values are part of the ABI: they are never renumbered and retired values are
//! never reused.

use std::fmt;

/// Success.
pub const NDSR_OK: i32 = 0;
/// Success with a note: the request was accepted and kept, and is applied as soon as a
/// ZooKeeper session exists.
pub const NDSR_QUEUED: i32 = 1;
/// An argument was NULL, malformed (path, JSON, option value) or out of range.
pub const NDSR_E_INVALID_ARGUMENT: i32 = -1;
/// No ZooKeeper session could be had within the timeout.
pub const NDSR_E_NO_CONNECTION: i32 = -2;
/// The handle was opened read-only and the call would write.
pub const NDSR_E_READ_ONLY: i32 = -3;
/// ZooKeeper refused the operation because of an ACL.
pub const NDSR_E_NO_AUTH: i32 = -4;
/// ZooKeeper rejected the credentials.
pub const NDSR_E_AUTH_FAILED: i32 = -5;
/// The data is larger than `NDSR_MAX_DATA_LEN` once encoded.
pub const NDSR_E_TOO_LARGE: i32 = -6;
/// The operation did not finish within the timeout.
pub const NDSR_E_TIMEOUT: i32 = -7;
/// The handle is closed (or closing).
pub const NDSR_E_CLOSED: i32 = -8;
/// A bug inside the library (a caught panic, a broken invariant). Never a crash.
pub const NDSR_E_INTERNAL: i32 = -9;
/// The thing named does not exist (an unknown subscription, for instance).
pub const NDSR_E_NOT_FOUND: i32 = -10;
/// ZooKeeper answered with an error that has no code of its own; the message names it.
pub const NDSR_E_ZOOKEEPER: i32 = -11;

/// A lock's session ended (expired or closed): the lock is no longer held.
pub const NDSR_E_LOCK_LOST: i32 = -12;

/// Another live ZooKeeper session holds the path of this ephemeral registration. The
/// registration is kept and applied when that node goes away (libndsr does not fight it).
pub const NDSR_E_CONFLICT: i32 = -13;

/// The largest encoded node data libndsr writes, in bytes: 1 MiB - 1 KiB. ZooKeeper's own
/// limit (`jute.maxbuffer`, 1 MiB - 1) counts the whole request, and a request above it makes
/// the server drop the connection, so the cap leaves room for the path and the framing.
pub const NDSR_MAX_DATA_LEN: usize = 1_047_552;

/// Every status code with its name and meaning, for `ndsr_status_str`.
pub fn status_str(code: i32) -> &'static str {
    match code {
        NDSR_OK => "NDSR_OK: success",
        NDSR_QUEUED => "NDSR_QUEUED: accepted, applied once a ZooKeeper session exists",
        NDSR_E_INVALID_ARGUMENT => "NDSR_E_INVALID_ARGUMENT: invalid argument",
        NDSR_E_NO_CONNECTION => "NDSR_E_NO_CONNECTION: no connection to ZooKeeper",
        NDSR_E_READ_ONLY => "NDSR_E_READ_ONLY: the handle is read-only",
        NDSR_E_NO_AUTH => "NDSR_E_NO_AUTH: not authorised by the node's ACL",
        NDSR_E_AUTH_FAILED => "NDSR_E_AUTH_FAILED: authentication failed",
        NDSR_E_TOO_LARGE => "NDSR_E_TOO_LARGE: data too large",
        NDSR_E_TIMEOUT => "NDSR_E_TIMEOUT: timed out",
        NDSR_E_CLOSED => "NDSR_E_CLOSED: the handle is closed",
        NDSR_E_INTERNAL => "NDSR_E_INTERNAL: internal error",
        NDSR_E_NOT_FOUND => "NDSR_E_NOT_FOUND: not found",
        NDSR_E_ZOOKEEPER => "NDSR_E_ZOOKEEPER: ZooKeeper error",
        NDSR_E_LOCK_LOST => "NDSR_E_LOCK_LOST: the lock was lost with its session",
        NDSR_E_CONFLICT => "NDSR_E_CONFLICT: another live session holds the path",
        _ => "unknown status code",
    }
}

/// An error with its status code and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// One of the negative `NDSR_E_*` codes.
    pub code: i32,
    /// What went wrong, in one line.
    pub message: String,
}

impl Error {
    /// An error with the given code and message.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// `NDSR_E_INVALID_ARGUMENT` with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(NDSR_E_INVALID_ARGUMENT, message)
    }

    /// `NDSR_E_CLOSED`.
    pub fn closed() -> Self {
        Self::new(NDSR_E_CLOSED, "the handle is closed")
    }

    /// Maps an error from the ZooKeeper client for an operation on `path`.
    pub fn from_zk(err: &zookeeper_client::Error, path: &str) -> Self {
        use zookeeper_client::Error as Z;
        let code = match err {
            Z::NoAuth => NDSR_E_NO_AUTH,
            Z::AuthFailed => NDSR_E_AUTH_FAILED,
            Z::NotReadOnly => NDSR_E_READ_ONLY,
            Z::BadArguments(why) if **why == *zookeeper_client::TOO_LARGE => NDSR_E_TOO_LARGE,
            Z::BadArguments(_) | Z::InvalidAcl => NDSR_E_INVALID_ARGUMENT,
            Z::ClientClosed => NDSR_E_CLOSED,
            e if is_connection_error(e) => NDSR_E_NO_CONNECTION,
            _ => NDSR_E_ZOOKEEPER,
        };
        Self::new(code, format!("{path}: {err}"))
    }
}

/// True for errors that say nothing about the operation itself, only that the session or the
/// connection could not carry it: retrying on a (new) session is the answer.
pub fn is_connection_error(err: &zookeeper_client::Error) -> bool {
    use zookeeper_client::Error as Z;
    !matches!(
        err,
        Z::NoNode
            | Z::NoAuth
            | Z::BadVersion
            | Z::NoChildrenForEphemerals
            | Z::NodeExists
            | Z::NotEmpty
            | Z::InvalidAcl
            | Z::AuthFailed
            | Z::NotReadOnly
            | Z::BadArguments(_)
            | Z::QuotaExceeded
            | Z::ClientClosed
            | Z::Unimplemented
    )
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_name() {
        let codes = [
            NDSR_OK,
            NDSR_QUEUED,
            NDSR_E_INVALID_ARGUMENT,
            NDSR_E_NO_CONNECTION,
            NDSR_E_READ_ONLY,
            NDSR_E_NO_AUTH,
            NDSR_E_AUTH_FAILED,
            NDSR_E_TOO_LARGE,
            NDSR_E_TIMEOUT,
            NDSR_E_CLOSED,
            NDSR_E_INTERNAL,
            NDSR_E_NOT_FOUND,
            NDSR_E_ZOOKEEPER,
            NDSR_E_LOCK_LOST,
            NDSR_E_CONFLICT,
        ];
        let names: std::collections::HashSet<_> = codes.iter().map(|c| status_str(*c)).collect();
        assert_eq!(names.len(), codes.len());
        assert!(!names.contains("unknown status code"));
        assert_eq!(status_str(12345), "unknown status code");
    }
}
