//! Locks: `ndsr_lock_t` handles and the path-keyed forms.

use std::ffi::{c_char, c_int};
use std::time::Duration;

use parking_lot::Mutex;

use super::args::{arg_opt_str, arg_ptr, arg_str};
use super::handle::{ndsr_t, registry};
use super::status;
use crate::lock::Lease;
use crate::status::{Error, Status};

/// A held lock, from `ndsr_lock_acquire`. Release it with `ndsr_lock_release` and free it with
/// `ndsr_lock_free` (which releases it if needed). Thread-safe. If the handle's session ends
/// (expiry, close), the lock is lost: `ndsr_lock_check` says so.
pub struct ndsr_lock_t {
    handle: usize,
    lease: Mutex<Option<Lease>>,
}

/// The lock arguments every acquiring call takes: the path, the holder's name (NULL: none),
/// the number of holders and the wait.
struct LockArgs<'a> {
    path: &'a str,
    name: &'a str,
    simultaneous: u32,
    wait: Duration,
}

/// # Safety
/// `path` and `name` are NULL or NUL-terminated strings valid for the call.
unsafe fn lock_args<'a>(
    path: *const c_char,
    name: *const c_char,
    simultaneous: c_int,
    wait_ms: i64,
) -> Result<LockArgs<'a>, Error> {
    // SAFETY: per the contract.
    let (path, name) = unsafe { (arg_str(path, "path")?, arg_opt_str(name, "name")?) };
    if simultaneous < 1 {
        return Err(Error::invalid("simultaneous must be at least 1"));
    }
    if wait_ms < 0 {
        return Err(Error::invalid("wait_ms must not be negative"));
    }
    Ok(LockArgs {
        path,
        name: name.unwrap_or(""),
        simultaneous: simultaneous as u32,
        wait: Duration::from_millis(wait_ms as u64),
    })
}

/// The lock behind `lock`, or NDSR_E_INVALID_ARGUMENT for NULL.
///
/// # Safety
/// `lock` is NULL or a lock from `ndsr_lock_acquire` not yet freed.
unsafe fn lock_ref<'a>(lock: *const ndsr_lock_t) -> Result<&'a ndsr_lock_t, Error> {
    // SAFETY: checked not NULL; a live lock per the contract.
    Ok(unsafe { &*arg_ptr(lock, "lock")? })
}

/// The lease a lock holds, or NDSR_E_NOT_FOUND once released.
fn held(lock: &ndsr_lock_t, take: bool) -> Result<Lease, Error> {
    let mut lease = lock.lease.lock();
    let found = if take { lease.take() } else { lease.clone() };
    found.ok_or_else(|| Error::new(Status::NotFound, "the lock is not held"))
}

/// Acquires the lock `path`, allowing `simultaneous` holders at once (1 = a mutex), under the
/// holder name `name` (may be NULL). Waits up to `wait_ms` ms (0 = one attempt) and takes the
/// lock as soon as a holder releases it. The ZooKeeper layout is kazoo's Semaphore, so Python
/// processes using nd_service_registry's locks and libndsr processes exclude each other.
///
/// Blocks up to `wait_ms` (plus the time to reach ZooKeeper, at most `timeout_ms`; and, while a
/// lease is free but another contender is taking one, up to 2 s for its turn in the queue: a
/// free lease is never refused for that). Returns
/// NDSR_OK and a lock in `*out`; NDSR_E_TIMEOUT if not acquired in time (nothing is left in
/// ZooKeeper); NDSR_E_INVALID_ARGUMENT (bad path, `simultaneous` < 1, negative wait, or a lock
/// created with another `simultaneous`); NDSR_E_READ_ONLY; NDSR_E_NO_CONNECTION; NDSR_E_CLOSED.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_lock_acquire(
    h: *mut ndsr_t,
    path: *const c_char,
    name: *const c_char,
    simultaneous: c_int,
    wait_ms: i64,
    out: *mut *mut ndsr_lock_t,
) -> c_int {
    status(|| {
        let r = registry(h)?;
        let out = arg_ptr(out, "out")?;
        // SAFETY: per the contract.
        let a = unsafe { lock_args(path, name, simultaneous, wait_ms)? };
        let lease = r.lock(a.path, a.name, a.simultaneous, a.wait)?;
        let lock = Box::new(ndsr_lock_t {
            handle: h as usize,
            lease: Mutex::new(Some(lease)),
        });
        // SAFETY: checked not NULL.
        unsafe { *out = Box::into_raw(lock) };
        Ok(Status::Ok)
    })
}

/// Releases a lock (others may take it at once). Returns NDSR_OK; NDSR_E_NOT_FOUND if it was
/// released already; NDSR_E_CLOSED if its handle is closed (the lock went with the session).
/// Blocks at most `timeout_ms`.
///
/// # Safety
/// `lock` is NULL or a lock from `ndsr_lock_acquire` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ndsr_lock_release(lock: *mut ndsr_lock_t) -> c_int {
    status(|| {
        // SAFETY: per the contract.
        let lock = unsafe { lock_ref(lock)? };
        let lease = held(lock, true)?;
        registry(lock.handle as *const ndsr_t)?.unlock(&lease)?;
        Ok(Status::Ok)
    })
}

/// Tells whether the lock is still held: NDSR_OK; NDSR_E_LOCK_LOST when its session ended
/// (expired, or the handle closed): someone else may hold it now; NDSR_E_NO_CONNECTION while
/// the connection is down (the session may survive; until it is known to, do not act as the
/// holder); NDSR_E_NOT_FOUND after `ndsr_lock_release`. Never blocks.
///
/// # Safety
/// `lock` is NULL or a lock from `ndsr_lock_acquire` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ndsr_lock_check(lock: *const ndsr_lock_t) -> c_int {
    status(|| {
        // SAFETY: per the contract.
        let lock = unsafe { lock_ref(lock)? };
        let lease = held(lock, false)?;
        let state = match registry(lock.handle as *const ndsr_t) {
            Ok(r) => r.lock_status(&lease),
            Err(_) => Status::LockLost,
        };
        // An error state is reported as such (with its message), not as a success.
        match state {
            Status::Ok => Ok(Status::Ok),
            s => Err(Error::new(s, format!("{}: {}", lease.node, s.text()))),
        }
    })
}

/// Frees a lock, releasing it first if it is held. NULL is allowed. May block up to
/// `timeout_ms` for the release.
///
/// # Safety
/// `lock` is NULL or a lock from `ndsr_lock_acquire` not yet freed; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn ndsr_lock_free(lock: *mut ndsr_lock_t) {
    if lock.is_null() {
        return;
    }
    // SAFETY: from ndsr_lock_acquire, freed only here (documented contract).
    let lock = unsafe { Box::from_raw(lock) };
    status(|| {
        if let (Ok(lease), Ok(r)) = (held(&lock, true), registry(lock.handle as *const ndsr_t)) {
            r.unlock(&lease)?;
        }
        Ok(Status::Ok)
    });
}

/// The path-keyed form (the original's `acquire_lock`): acquires the lock `path` as
/// `ndsr_lock_acquire` does, but the handle keeps it until `ndsr_release_lock(h, path)` or
/// `ndsr_close`. Acquiring a path this handle holds already returns NDSR_OK at once.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_acquire_lock(
    h: *mut ndsr_t,
    path: *const c_char,
    name: *const c_char,
    simultaneous: c_int,
    wait_ms: i64,
) -> c_int {
    status(|| {
        let r = registry(h)?;
        // SAFETY: per the contract.
        let a = unsafe { lock_args(path, name, simultaneous, wait_ms)? };
        r.acquire_lock(a.path, a.name, a.simultaneous, a.wait)?;
        Ok(Status::Ok)
    })
}

/// Releases a lock taken with `ndsr_acquire_lock`. A path this handle does not hold is not an
/// error. Blocks at most `timeout_ms`.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_release_lock(h: *mut ndsr_t, path: *const c_char) -> c_int {
    status(|| {
        let r = registry(h)?;
        // SAFETY: per the contract.
        r.release_lock(unsafe { arg_str(path, "path")? })?;
        Ok(Status::Ok)
    })
}
