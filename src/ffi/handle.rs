//! `ndsr_t`: open, close, write, read.

use std::ffi::{c_char, c_int};
use std::sync::Arc;

use super::args::{arg_opt_str, arg_ptr, arg_str};
use super::consts::NDSR_STATE_CLOSED;
use super::options::ndsr_options_t;
use super::{guard, status};
use crate::fork::Registry;
use crate::options::Options;
use crate::status::Applied;
use crate::status::{Error, Status};

/// A registry handle: one ZooKeeper session (renewed after expiry) with its registrations,
/// watch cache and callback thread. Opened by `ndsr_open`, closed by `ndsr_close`. Thread-safe:
/// any function may be called on one handle from many threads at once, and from its callbacks.
pub struct ndsr_t {
    _private: [u8; 0],
}

/// The handle a C caller holds.
pub(crate) fn registry(h: *const ndsr_t) -> Result<Arc<Registry>, Error> {
    if h.is_null() {
        return Err(Error::invalid("argument handle is NULL"));
    }
    Registry::for_c(h as usize)
        .ok_or_else(|| Error::new(Status::Closed, "the handle is closed (or was never opened)"))
}

/// Opens a handle on `server`, a ZooKeeper connect string `host:port[,host:port…][/chroot]`
/// (NULL means "localhost:2181"), with `opts` (NULL means the defaults; it is copied, so it may
/// be freed right after). Blocks until a session exists, at most `timeout_ms` (not at all with
/// `lazy`).
///
/// Returns NDSR_OK and stores the handle in `*out`; NDSR_E_NO_CONNECTION if no session could be
/// had in time (the message, `ndsr_last_error()`, says what the last attempt met: connection
/// refused, a host name that does not resolve, no answer, not a ZooKeeper port, TLS, …);
/// NDSR_E_AUTH_FAILED; NDSR_E_TOO_LARGE for credentials that cannot fit in a request;
/// NDSR_E_INVALID_ARGUMENT for a NULL `out` or a bad connect string. With the `lazy` option it
/// returns NDSR_OK at once, without waiting, and the session is made in the background (writes
/// return NDSR_QUEUED until it exists). `*out` is written only on success. Close the handle
/// with `ndsr_close`.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_open(
    server: *const c_char,
    opts: *const ndsr_options_t,
    out: *mut *mut ndsr_t,
) -> c_int {
    status(|| {
        let out = arg_ptr(out, "out")?;
        // SAFETY (all three): per the contract.
        let server = unsafe { arg_opt_str(server, "server")? };
        let options = match unsafe { opts.as_ref() } {
            Some(o) => o.for_handle()?,
            None => Options::default(),
        };
        let id = Registry::open(server, options)?.keep_for_c();
        unsafe { *out = id as *mut ndsr_t };
        Ok(Status::Ok)
    })
}

/// Closes a handle: ends its ZooKeeper session, so its ephemeral nodes disappear at once, stops
/// its callbacks (each subscription's `userdata_free` runs once, after its last call) and frees
/// everything. NULL is allowed. The handle is invalid afterwards; calls racing the close on other
/// threads get NDSR_E_CLOSED. May be called from inside a callback of the same handle. Blocks for
/// the close of the session (normally a few ms) and for a callback that is running, at most
/// about 2 s in all: a callback still running then finishes on its own, and the remaining
/// `userdata_free` calls run on the callback thread after it returns.
#[no_mangle]
pub extern "C" fn ndsr_close(h: *mut ndsr_t) {
    guard(|| {
        if let Some(r) = Registry::release(h as usize) {
            r.close();
        }
    })
}

/// A write: the handle, `path` and `json` (NULL: no user data) checked, then `f`.
///
/// # Safety
/// `path` and `json` are NULL or NUL-terminated strings valid for the call.
unsafe fn write_call(
    h: *mut ndsr_t,
    path: *const c_char,
    json: *const c_char,
    f: fn(&Registry, &str, &str) -> crate::status::Result<Applied>,
) -> c_int {
    status(|| {
        let r = registry(h)?;
        // SAFETY: per the contract.
        let (path, json) = unsafe { (arg_str(path, "path")?, arg_opt_str(json, "json")?) };
        Ok(f(&r, path, json.unwrap_or(""))?.status())
    })
}

/// Registers `path` as an ephemeral node holding `json` (a JSON object, a string, or NULL/"null"
/// for no user data), stored in the Python original's format (`pid`, `created` and the user's
/// keys). The node lives as long as the handle: it is re-created after a session expiry and
/// removed by `ndsr_close`. Parent nodes are created as needed. Setting the same data again
/// writes nothing.
///
/// Blocks at most `timeout_ms`. Returns NDSR_OK (in place), NDSR_QUEUED (kept and applied as soon
/// as a session exists), NDSR_E_INVALID_ARGUMENT (bad path or JSON), NDSR_E_TOO_LARGE,
/// NDSR_E_READ_ONLY, NDSR_E_NO_AUTH, NDSR_E_CLOSED, NDSR_E_ZOOKEEPER, NDSR_E_CONFLICT (another
/// live session holds the path: kept, and registered when that node goes away).
///
/// A registered ephemeral node is enforced: restored if someone deletes it or changes its data,
/// re-created on a new session. A node of another live session found at the first attempt is
/// taken over once (typically our own previous process); after that, another session's node is
/// never fought (see `ndsr_registration_status`).
///
/// # Safety
/// `path` and `json` are NULL or NUL-terminated strings valid for the call.
#[no_mangle]
pub unsafe extern "C" fn ndsr_set_node(
    h: *mut ndsr_t,
    path: *const c_char,
    json: *const c_char,
) -> c_int {
    // SAFETY: per the contract.
    unsafe { write_call(h, path, json, |r, p, j| r.set_node(p, j)) }
}

/// Stores `json` in the persistent node `path` (same data format and return codes as
/// `ndsr_set_node`). The node stays after the handle is closed.
///
/// # Safety
/// `path` and `json` are NULL or NUL-terminated strings valid for the call.
#[no_mangle]
pub unsafe extern "C" fn ndsr_set_data(
    h: *mut ndsr_t,
    path: *const c_char,
    json: *const c_char,
) -> c_int {
    // SAFETY: per the contract.
    unsafe { write_call(h, path, json, |r, p, j| r.set_data(p, j)) }
}

/// Deletes the node `path` (registered here or not) and forgets any registration of it, so it is
/// not re-created. A missing node is not an error. Blocks at most `timeout_ms`. Returns NDSR_OK,
/// NDSR_QUEUED, or an error as `ndsr_set_node` (NDSR_E_ZOOKEEPER if the node has children).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string valid for the call.
#[no_mangle]
pub unsafe extern "C" fn ndsr_unset(h: *mut ndsr_t, path: *const c_char) -> c_int {
    // SAFETY: per the contract.
    unsafe { write_call(h, path, std::ptr::null(), |r, p, _| r.unset(p)) }
}

/// Stores in `*out` the JSON document of `path`:
/// `{"path":…,"stat":{…}|null,"data":…,"children":{"name":data,…}}` (`stat` is null when the
/// node does not exist). The first call for a path reads it from ZooKeeper and starts watching
/// it (blocking at most `timeout_ms`); later calls are answered from the cache without any
/// network round-trip. `*out` is a NUL-terminated string of `*out_len` bytes (not counting the
/// NUL) owned by the caller, to be freed with `ndsr_string_free`; nothing is truncated.
/// `out_len` may be NULL. Outputs are written only on success.
///
/// Returns NDSR_OK, NDSR_E_INVALID_ARGUMENT, NDSR_E_NO_CONNECTION (nothing known about the path
/// and no session), NDSR_E_TIMEOUT, NDSR_E_TOO_LARGE (the path's children's names alone pass
/// one ZooKeeper packet, 1 MiB), NDSR_E_CLOSED.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_get_json(
    h: *mut ndsr_t,
    path: *const c_char,
    out: *mut *mut c_char,
    out_len: *mut usize,
) -> c_int {
    status(|| {
        let out = arg_ptr(out, "out")?;
        // Copied once, from the shared document into the caller's string.
        // SAFETY: per the contract.
        let doc = unsafe { super::snapshot::document_for_c(h, path)? };
        // SAFETY: `out` checked non-NULL; `out_len` NULL or valid, per the contract.
        unsafe { write_text(out, out_len, doc.json()) }
    })
}

/// Stores a caller-owned copy of `text` in `*out` and its length in `*len` (if not NULL).
///
/// # Safety
/// `out` is a valid `char **`, `len` NULL or a valid `size_t *`.
unsafe fn write_text(out: *mut *mut c_char, len: *mut usize, text: &str) -> Result<Status, Error> {
    let buf = copy_out(text.as_bytes())?;
    // SAFETY: per the contract.
    unsafe {
        *out = buf;
        if let Some(len) = len.as_mut() {
            *len = text.len();
        }
    }
    Ok(Status::Ok)
}

/// Tells whether the document `ndsr_get_json` gives for `path` is live or last-known:
/// `*live` = 1 when the session is connected and the path is read and watched on it (changes
/// arrive as they happen), 0 when it is the last known document (the connection is down, or a
/// new session is still re-reading it); 2 when it is live but held: with the option
/// `keep_last_good_ms`, ZooKeeper's list would empty or shrink too much at once, and the document
/// is the last good list until that has lasted; `*since_ms` = since when (Unix ms). Either
/// output may be NULL. Never blocks. Returns NDSR_OK, NDSR_E_NOT_FOUND (the path was never
/// read), NDSR_E_INVALID_ARGUMENT, NDSR_E_CLOSED.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_get_freshness(
    h: *mut ndsr_t,
    path: *const c_char,
    live: *mut c_int,
    since_ms: *mut i64,
) -> c_int {
    status(|| {
        let r = registry(h)?;
        // SAFETY: per the contract (either output may be NULL).
        let path = unsafe { arg_str(path, "path")? };
        let (is_live, since) = r.freshness(path)?;
        let held = is_live && r.is_held(path)?;
        unsafe {
            if let Some(live) = live.as_mut() {
                *live = if held { 2 } else { is_live as c_int };
            }
            if let Some(since_ms) = since_ms.as_mut() {
                *since_ms = since;
            }
        }
        Ok(Status::Ok)
    })
}

/// Copies bytes into a new NUL-terminated malloc'd buffer.
pub(crate) fn copy_out(bytes: &[u8]) -> Result<*mut c_char, Error> {
    // SAFETY: malloc of len+1 bytes, then a copy of exactly len bytes and the NUL.
    unsafe {
        let p = libc::malloc(bytes.len() + 1) as *mut u8;
        if p.is_null() {
            return Err(Error::new(Status::Internal, "out of memory"));
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        *p.add(bytes.len()) = 0;
        Ok(p as *mut c_char)
    }
}

/// Frees a string returned by the library (`ndsr_get_json`). NULL is allowed.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_string_free(s: *mut c_char) {
    // SAFETY: NULL or allocated with malloc by copy_out (free(NULL) does nothing).
    guard(|| unsafe { libc::free(s.cast()) })
}

/// Where this handle's registration of `path` stands: NDSR_OK (in place), NDSR_QUEUED (kept,
/// waiting for a session), NDSR_E_CONFLICT (another live session holds the path; libndsr
/// watches it and registers again when it goes away), NDSR_E_NOT_FOUND (not registered here),
/// NDSR_E_INVALID_ARGUMENT, NDSR_E_CLOSED. Never blocks on the network.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_registration_status(h: *mut ndsr_t, path: *const c_char) -> c_int {
    // SAFETY: per the contract.
    status(|| registry(h)?.registration_status(unsafe { arg_str(path, "path")? }))
}

/// Authenticates the handle with digest credentials, at once and after every reconnection and
/// new session (the original's set_username/set_password). Nodes created from then on get the ACL
/// of these credentials (owner: all permissions; world: read), unless the `acl` option is set.
/// The password is never logged nor put in an error message. Blocks at most `timeout_ms`.
/// Returns NDSR_OK, NDSR_E_INVALID_ARGUMENT (NULL or empty, or a username with ':'),
/// NDSR_E_AUTH_FAILED, NDSR_E_TIMEOUT, NDSR_E_CLOSED.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_set_credentials(
    h: *mut ndsr_t,
    username: *const c_char,
    password: *const c_char,
) -> c_int {
    status(|| {
        let r = registry(h)?;
        // SAFETY: per the contract.
        let (u, p) = unsafe {
            (
                arg_str(username, "username")?,
                arg_str(password, "password")?,
            )
        };
        r.set_credentials(u, p)?;
        Ok(Status::Ok)
    })
}

/// Stores in `*out` the handle's stats as a JSON object: counters since `ndsr_open` and gauges
/// as they are now. `state`, `session_id` (hex), `server` (of the last session established);
/// `requests`: `total` and by kind (`get_data`, `get_children`, `exists`, `multi_read`,
/// `add_watch`, `set_watches`, `create`, `set_data`, `delete`); `bytes`: `sent`, `received`
/// (every connection's, handshakes and pings included); `session`: `reconnects`,
/// `expiries`, `disconnected_ms` (in all, the current outage included); `watch`: `events`,
/// `resync_probes`; `registrations`: `count`, `reregistrations` (made again after an expiry),
/// `conflicts`; `cache`: `paths`, `nodes` (children in their documents),
/// `oldest_last_known_ms` (0 when every document is live), `held_updates` (keep last good);
/// `rate_limit`: `waits`, `wait_ms`; `callbacks`: `delivered`, `queued`, `wait_us_mean`,
/// `wait_us_max` (time in the queue), `run_us_max`. New fields may be added; none is removed.
/// `*out` is NUL-terminated, `*len` bytes long without the NUL (`len` may be NULL), to be freed
/// with `ndsr_string_free`. Never blocks (no network); thread-safe. Returns NDSR_OK,
/// NDSR_E_INVALID_ARGUMENT, NDSR_E_CLOSED (a handle already closed).
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_stats_json(
    h: *mut ndsr_t,
    out: *mut *mut c_char,
    len: *mut usize,
) -> c_int {
    // SAFETY: per the contract.
    unsafe { text_out(h, out, len, |r| r.stats_json()) }
}

/// The same stats as `ndsr_stats_json` in Prometheus' text exposition format, for a daemon that
/// serves `/metrics`: `ndsr_requests_total{kind=…}`, one `ndsr_<group>_<field>` metric per other
/// field (counters end in `_total`), and `ndsr_connected` (1 or 0, with the session and the
/// server as labels); every metric is labelled `handle="<connect string> 0x<session>"`. Output,
/// blocking and returns as `ndsr_stats_json`.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_stats_prometheus(
    h: *mut ndsr_t,
    out: *mut *mut c_char,
    len: *mut usize,
) -> c_int {
    // SAFETY: per the contract.
    unsafe { text_out(h, out, len, |r| r.stats_prometheus()) }
}

/// Stores in `*out` (and its length in `*len`, if not NULL) a copy of the text `make` gives
/// for the handle `h`.
///
/// # Safety
/// `out` is NULL or a valid `char **`, `len` NULL or a valid `size_t *`.
unsafe fn text_out(
    h: *mut ndsr_t,
    out: *mut *mut c_char,
    len: *mut usize,
    make: impl FnOnce(&Registry) -> Result<String, Error>,
) -> c_int {
    status(|| {
        let r = registry(h)?;
        let out = arg_ptr(out, "out")?;
        let text = make(&r)?;
        // SAFETY: `out` checked non-NULL; `len` NULL or valid, per the contract.
        unsafe { write_text(out, len, &text) }
    })
}

/// Stores in `*out` the id of the handle's current ZooKeeper session (as the server's `cons`
/// and logs show it, in hex). It changes when a session expires and a new one is made. Never
/// blocks. Returns NDSR_OK, NDSR_E_NO_CONNECTION (no session yet), NDSR_E_INVALID_ARGUMENT,
/// NDSR_E_CLOSED. `*out` is written only on success.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_session_id(h: *mut ndsr_t, out: *mut i64) -> c_int {
    status(|| {
        let r = registry(h)?;
        let out = arg_ptr(out, "out")?;
        let id = r.session_id();
        if id == 0 {
            return Err(Error::new(Status::NoConnection, "no ZooKeeper session yet"));
        }
        // SAFETY: checked non-NULL; the caller provides a valid int64_t.
        unsafe { *out = id };
        Ok(Status::Ok)
    })
}

/// Makes a handle inherited through `fork()` the child's own. A child never uses its parent's
/// connection: the library notices the fork (pthread_atfork) and, at the child's first call on
/// the handle (any call, this one included), gives the child a session of its own with the
/// same watches and subscriptions (their callbacks keep their userdata; the child's copy of the
/// userdata is freed in the child by `userdata_free`, the parent's in the parent). Watched
/// paths are re-read on the new session; until then gets return the parent's last documents
/// (last-known, see `ndsr_get_freshness`), and callbacks fire only for what changed.
/// Registrations made before the fork stay the parent's: the child does not re-create them
/// (a prefork server's workers must not take over the master's nodes), and closing the handle
/// in the child ends only the child's session. Locks stay the parent's too: in the child,
/// `ndsr_lock_check` says NDSR_E_LOCK_LOST and releasing them does nothing.
///
/// A child that only waits for callbacks should call this right after the fork. In the
/// process that opened the handle (or a child that has rebuilt it already) it changes nothing.
/// Then it waits up to `timeout_ms` for a connected session: NDSR_OK when there is one,
/// NDSR_QUEUED when not yet (it keeps trying in the background). Also NDSR_E_CLOSED,
/// NDSR_E_INVALID_ARGUMENT; NDSR_E_INTERNAL if the process was forked without running the fork
/// handlers (a raw `clone`), when the handle cannot be rebuilt. Thread-safe: concurrent first
/// calls in the child rebuild once.
#[no_mangle]
pub extern "C" fn ndsr_rebuild(h: *mut ndsr_t) -> c_int {
    status(|| Ok(registry(h)?.rebuild()?.status()))
}

/// The connection state of the handle (an NDSR_STATE_* value; NDSR_STATE_CLOSED for a closed or
/// NULL handle). Never blocks.
#[no_mangle]
pub extern "C" fn ndsr_state(h: *mut ndsr_t) -> c_int {
    guard(|| registry(h).map_or(NDSR_STATE_CLOSED, |r| r.state() as c_int))
}
