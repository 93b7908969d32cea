//! The C API's constants. Their values are those of [`Status`] and [`State`], the one list of
//! each: checked here at compile time, so a wrong value does not build.

use std::ffi::c_int;

use crate::session::State;
use crate::status::Status;

/// Success.
pub const NDSR_OK: c_int = 0;
/// Success with a note: the request was accepted and kept, and is applied as soon as a
/// ZooKeeper session exists.
pub const NDSR_QUEUED: c_int = 1;
/// An argument was NULL, malformed (path, JSON, option value) or out of range.
pub const NDSR_E_INVALID_ARGUMENT: c_int = -1;
/// No ZooKeeper session could be had within the timeout.
pub const NDSR_E_NO_CONNECTION: c_int = -2;
/// The handle was opened read-only and the call would write.
pub const NDSR_E_READ_ONLY: c_int = -3;
/// ZooKeeper refused the operation because of an ACL.
pub const NDSR_E_NO_AUTH: c_int = -4;
/// ZooKeeper rejected the credentials.
pub const NDSR_E_AUTH_FAILED: c_int = -5;
/// Too large to send: data over `NDSR_MAX_DATA_LEN` once encoded, or a path, a path with its
/// data, a name or credentials that cannot fit in one ZooKeeper request (`jute.maxbuffer`).
pub const NDSR_E_TOO_LARGE: c_int = -6;
/// The operation did not finish within the timeout.
pub const NDSR_E_TIMEOUT: c_int = -7;
/// The handle is closed (or closing).
pub const NDSR_E_CLOSED: c_int = -8;
/// A bug inside the library (a caught panic, a broken invariant). Never a crash.
pub const NDSR_E_INTERNAL: c_int = -9;
/// The thing named does not exist (an unknown subscription, for instance).
pub const NDSR_E_NOT_FOUND: c_int = -10;
/// ZooKeeper answered with an error that has no code of its own; the message names it.
pub const NDSR_E_ZOOKEEPER: c_int = -11;
/// A lock's session ended (expired or closed): the lock is no longer held.
pub const NDSR_E_LOCK_LOST: c_int = -12;
/// Another ZooKeeper session's node (a live registration, or a persistent node) holds the path
/// of this registration. The registration is kept and applied when that node goes away
/// (libndsr does not fight it).
pub const NDSR_E_CONFLICT: c_int = -13;

/// The largest encoded node data libndsr writes, in bytes: 1 MiB - 1 KiB. ZooKeeper's own
/// limit (`jute.maxbuffer`, 1 MiB - 1) counts the whole request, and a request above it makes
/// the server drop the connection, so the cap leaves room for the path and the framing.
pub const NDSR_MAX_DATA_LEN: usize = 1_047_552;

/// Not connected (not yet, or the connection was lost and is being re-established).
pub const NDSR_STATE_DISCONNECTED: c_int = 0;
/// Connected to a read-write server.
pub const NDSR_STATE_CONNECTED: c_int = 1;
/// Connected to a read-only server.
pub const NDSR_STATE_CONNECTED_READ_ONLY: c_int = 2;
/// The session expired; a new session is being made and everything re-applied.
pub const NDSR_STATE_EXPIRED: c_int = 3;
/// ZooKeeper rejected the credentials; no further attempts are made.
pub const NDSR_STATE_AUTH_FAILED: c_int = 4;
/// The handle is closed.
pub const NDSR_STATE_CLOSED: c_int = 5;

/// Checks at compile time that each C constant has its list's value.
macro_rules! same {
    ($($c:ident = $v:expr),* $(,)?) => {
        $(const _: () = assert!($c == $v as c_int, stringify!($c));)*
    };
}

same! {
    NDSR_OK = Status::Ok,
    NDSR_QUEUED = Status::Queued,
    NDSR_E_INVALID_ARGUMENT = Status::InvalidArgument,
    NDSR_E_NO_CONNECTION = Status::NoConnection,
    NDSR_E_READ_ONLY = Status::ReadOnly,
    NDSR_E_NO_AUTH = Status::NoAuth,
    NDSR_E_AUTH_FAILED = Status::AuthFailed,
    NDSR_E_TOO_LARGE = Status::TooLarge,
    NDSR_E_TIMEOUT = Status::Timeout,
    NDSR_E_CLOSED = Status::Closed,
    NDSR_E_INTERNAL = Status::Internal,
    NDSR_E_NOT_FOUND = Status::NotFound,
    NDSR_E_ZOOKEEPER = Status::ZooKeeper,
    NDSR_E_LOCK_LOST = Status::LockLost,
    NDSR_E_CONFLICT = Status::Conflict,
    NDSR_STATE_DISCONNECTED = State::Disconnected,
    NDSR_STATE_CONNECTED = State::Connected,
    NDSR_STATE_CONNECTED_READ_ONLY = State::ConnectedReadOnly,
    NDSR_STATE_EXPIRED = State::Expired,
    NDSR_STATE_AUTH_FAILED = State::AuthFailed,
    NDSR_STATE_CLOSED = State::Closed,
}
const _: () = assert!(NDSR_MAX_DATA_LEN == crate::status::NDSR_MAX_DATA_LEN);
