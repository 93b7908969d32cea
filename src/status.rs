//! Status codes and the error type that carries them. [`Status`] is the one list of codes: the
//! C API's constants are checked against it at compile time (`src/ffi/consts.rs`), and the C
//! header, the C++ wrapper and the Go package by a test.
//!
//! The numeric values are part of the ABI: they are never renumbered and retired values are
//! never reused.

use std::ffi::CStr;
use std::fmt;

/// A status: 0 = success, positive = success with a note, negative = an error.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// Accepted and kept; applied as soon as a ZooKeeper session exists.
    Queued = 1,
    /// An argument was NULL, malformed (path, JSON, option value) or out of range.
    InvalidArgument = -1,
    /// No ZooKeeper session could be had within the timeout.
    NoConnection = -2,
    /// The handle was opened read-only and the call would write.
    ReadOnly = -3,
    /// ZooKeeper refused the operation because of an ACL.
    NoAuth = -4,
    /// ZooKeeper rejected the credentials.
    AuthFailed = -5,
    /// Too large to send: over `NDSR_MAX_DATA_LEN`, or more than one ZooKeeper request holds.
    TooLarge = -6,
    /// The operation did not finish within the timeout.
    Timeout = -7,
    /// The handle is closed (or closing).
    Closed = -8,
    /// A bug inside the library (a caught panic, a broken invariant). Never a crash.
    Internal = -9,
    /// The thing named does not exist (an unknown subscription, for instance).
    NotFound = -10,
    /// ZooKeeper answered with an error that has no code of its own; the message names it.
    ZooKeeper = -11,
    /// A lock's session ended (expired or closed): the lock is no longer held.
    LockLost = -12,
    /// Another ZooKeeper session's node holds the path of the registration; it is kept and
    /// applied when that node goes away.
    Conflict = -13,
}

impl Status {
    /// Every status, in the order of their values from `Ok` down.
    pub const ALL: [Status; 15] = [
        Status::Ok,
        Status::Queued,
        Status::InvalidArgument,
        Status::NoConnection,
        Status::ReadOnly,
        Status::NoAuth,
        Status::AuthFailed,
        Status::TooLarge,
        Status::Timeout,
        Status::Closed,
        Status::Internal,
        Status::NotFound,
        Status::ZooKeeper,
        Status::LockLost,
        Status::Conflict,
    ];

    /// The C API's value.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The status of a C API value.
    pub fn from_code(code: i32) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }

    /// True for the negative statuses.
    pub fn is_error(self) -> bool {
        self.code() < 0
    }

    /// The C name and the meaning, as `ndsr_status_str` gives them ("NDSR_E_TIMEOUT: timed
    /// out"). Exhaustive: a new status does not compile without its text.
    pub fn c_text(self) -> &'static CStr {
        match self {
            Status::Ok => c"NDSR_OK: success",
            Status::Queued => c"NDSR_QUEUED: accepted, applied once a ZooKeeper session exists",
            Status::InvalidArgument => c"NDSR_E_INVALID_ARGUMENT: invalid argument",
            Status::NoConnection => c"NDSR_E_NO_CONNECTION: no connection to ZooKeeper",
            Status::ReadOnly => c"NDSR_E_READ_ONLY: the handle is read-only",
            Status::NoAuth => c"NDSR_E_NO_AUTH: not authorised by the node's ACL",
            Status::AuthFailed => c"NDSR_E_AUTH_FAILED: authentication failed",
            Status::TooLarge => c"NDSR_E_TOO_LARGE: data too large",
            Status::Timeout => c"NDSR_E_TIMEOUT: timed out",
            Status::Closed => c"NDSR_E_CLOSED: the handle is closed",
            Status::Internal => c"NDSR_E_INTERNAL: internal error",
            Status::NotFound => c"NDSR_E_NOT_FOUND: not found",
            Status::ZooKeeper => c"NDSR_E_ZOOKEEPER: ZooKeeper error",
            Status::LockLost => c"NDSR_E_LOCK_LOST: the lock was lost with its session",
            Status::Conflict => c"NDSR_E_CONFLICT: another live session holds the path",
        }
    }

    /// [`Status::c_text`] as a `str`.
    pub fn text(self) -> &'static str {
        self.c_text().to_str().unwrap_or("")
    }

    /// The C name (`NDSR_E_TIMEOUT`).
    pub fn name(self) -> &'static str {
        self.text().split(':').next().unwrap_or("")
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// What a successful write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// ZooKeeper holds the desired state now.
    Done,
    /// No session could carry it in time; it is kept and applied once one exists.
    Queued,
}

impl Applied {
    /// The status it is: `NDSR_OK` or `NDSR_QUEUED`.
    pub fn status(self) -> Status {
        match self {
            Applied::Done => Status::Ok,
            Applied::Queued => Status::Queued,
        }
    }
}

/// The C names of the statuses, for Rust code that speaks them.
pub mod codes {
    use super::Status;

    /// cbindgen:ignore
    pub const NDSR_OK: Status = Status::Ok;
    /// cbindgen:ignore
    pub const NDSR_QUEUED: Status = Status::Queued;
    /// cbindgen:ignore
    pub const NDSR_E_INVALID_ARGUMENT: Status = Status::InvalidArgument;
    /// cbindgen:ignore
    pub const NDSR_E_NO_CONNECTION: Status = Status::NoConnection;
    /// cbindgen:ignore
    pub const NDSR_E_READ_ONLY: Status = Status::ReadOnly;
    /// cbindgen:ignore
    pub const NDSR_E_NO_AUTH: Status = Status::NoAuth;
    /// cbindgen:ignore
    pub const NDSR_E_AUTH_FAILED: Status = Status::AuthFailed;
    /// cbindgen:ignore
    pub const NDSR_E_TOO_LARGE: Status = Status::TooLarge;
    /// cbindgen:ignore
    pub const NDSR_E_TIMEOUT: Status = Status::Timeout;
    /// cbindgen:ignore
    pub const NDSR_E_CLOSED: Status = Status::Closed;
    /// cbindgen:ignore
    pub const NDSR_E_INTERNAL: Status = Status::Internal;
    /// cbindgen:ignore
    pub const NDSR_E_NOT_FOUND: Status = Status::NotFound;
    /// cbindgen:ignore
    pub const NDSR_E_ZOOKEEPER: Status = Status::ZooKeeper;
    /// cbindgen:ignore
    pub const NDSR_E_LOCK_LOST: Status = Status::LockLost;
    /// cbindgen:ignore
    pub const NDSR_E_CONFLICT: Status = Status::Conflict;
    /// The largest encoded node data libndsr writes, in bytes: 1 MiB - 1 KiB (ZooKeeper's own
    /// limit counts the whole request).
    ///
    /// cbindgen:ignore
    pub const NDSR_MAX_DATA_LEN: usize = 1_047_552;
}

pub use codes::*;

/// An error with its status and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Always an error status (negative).
    pub code: Status,
    /// What went wrong, in one line.
    pub message: String,
}

impl Error {
    /// An error with the given status and message.
    pub fn new(code: Status, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// `NDSR_E_INVALID_ARGUMENT` with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Status::InvalidArgument, message)
    }

    /// `NDSR_E_CLOSED`.
    pub fn closed() -> Self {
        Self::new(Status::Closed, "the handle is closed")
    }

    /// Maps an error from the ZooKeeper client for an operation on `path`.
    pub fn from_zk(err: &zookeeper_client::Error, path: &str) -> Self {
        use zookeeper_client::Error as Z;
        let code = match err {
            Z::NoAuth => Status::NoAuth,
            Z::AuthFailed => Status::AuthFailed,
            Z::NotReadOnly => Status::ReadOnly,
            Z::BadArguments(why) if **why == *zookeeper_client::TOO_LARGE => Status::TooLarge,
            Z::BadArguments(_) | Z::InvalidAcl => Status::InvalidArgument,
            Z::ClientClosed => Status::Closed,
            // The only MarshallingError the vendored client makes: a reply over its limit.
            Z::MarshallingError => {
                return Self::new(
                    Status::TooLarge,
                    format!(
                        "{path}: the answer (its children's names) is larger than one ZooKeeper \
                         packet (1 MiB, jute.maxbuffer)"
                    ),
                )
            }
            e if is_connection_error(e) => Status::NoConnection,
            _ => Status::ZooKeeper,
        };
        Self::new(code, format!("{path}: {err}"))
    }
}

/// True for ZooKeeper's "throttled" (-127): the server's request throttle is full; the request
/// is retried after a pause that grows (see `backoff`), never at once.
pub(crate) fn is_throttled(err: &zookeeper_client::Error) -> bool {
    matches!(err, zookeeper_client::Error::Throttled)
}

/// True for errors that say nothing about the operation itself, only that the session or the
/// connection could not carry it (or, for "throttled", could not carry it now): retrying on a
/// (new) session, or after a pause, is the answer.
pub(crate) fn is_connection_error(err: &zookeeper_client::Error) -> bool {
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
            | Z::MarshallingError
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
    fn every_status_has_a_distinct_name_and_round_trips() {
        let names: std::collections::HashSet<_> = Status::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names.len(), Status::ALL.len());
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
            assert!(s.name().starts_with("NDSR_"), "{s}");
            assert_eq!(s.is_error(), s.name().starts_with("NDSR_E_"));
        }
        // ALL lists every value there is: none is missing between the extremes.
        let codes: Vec<i32> = Status::ALL.iter().map(|s| s.code()).collect();
        let (lo, hi) = (*codes.iter().min().unwrap(), *codes.iter().max().unwrap());
        assert_eq!(codes.len() as i32, hi - lo + 1);
        assert_eq!(Status::from_code(12345), None);
    }
}
