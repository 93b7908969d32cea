//! Locks: `ndsr_lock_t` handles and the path-keyed forms.

use std::ffi::{c_char, c_int};
use std::time::Duration;

use parking_lot::Mutex;

use super::handle::{ndsr_t, registry};
use super::{arg_out, arg_str, guard};
use crate::lock::Lease;
use crate::status::{Error, NDSR_E_INVALID_ARGUMENT, NDSR_E_NOT_FOUND, NDSR_OK};

/// A held lock, from `ndsr_lock_acquire`. Release it with `ndsr_lock_release` and free it with
/// `ndsr_lock_free` (which releases it if needed). Thread-safe. If the handle's session ends
/// (expiry, close), the lock is lost: `ndsr_lock_check` says so.
pub struct ndsr_lock_t {
    handle: usize,
    lease: Mutex<Option<Lease>>,
}

fn lock_args(simultaneous: c_int, wait_ms: i64) -> Result<(u32, Duration), Error> {
    if simultaneous < 1 {
        return Err(Error::new(
            NDSR_E_INVALID_ARGUMENT,
            "simultaneous must be at least 1",
        ));
    }
    if wait_ms < 0 {
        return Err(Error::new(
            NDSR_E_INVALID_ARGUMENT,
            "wait_ms must not be negative",
        ));
    }
    Ok((simultaneous as u32, Duration::from_millis(wait_ms as u64)))
}

/// Acquires the lock `path`, allowing `simultaneous` holders at once (1 = a mutex), under the
/// holder name `name` (may be NULL). Waits up to `wait_ms` ms (0 = one attempt) and takes the
/// lock as soon as a holder releases it. The ZooKeeper layout is kazoo's Semaphore, so Python
/// processes using nd_service_registry's locks and libndsr processes exclude each other.
///
/// Blocks up to `wait_ms` (plus the time to reach ZooKeeper, at most `timeout_ms`). Returns
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
    guard(|| {
        let r = registry(h)?;
        arg_out(out, "out")?;
        let path = arg_str(path, "path")?;
        let name = if name.is_null() {
            ""
        } else {
            arg_str(name, "name")?
        };
        let (simultaneous, wait) = lock_args(simultaneous, wait_ms)?;
        let lease = r.lock(path, name, simultaneous, wait)?;
        *out = Box::into_raw(Box::new(ndsr_lock_t {
            handle: h as usize,
            lease: Mutex::new(Some(lease)),
        }));
        Ok(NDSR_OK)
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
    guard(|| {
        arg_out(lock, "lock")?;
        let lock = &*lock;
        let lease = lock
            .lease
            .lock()
            .take()
            .ok_or_else(|| Error::new(NDSR_E_NOT_FOUND, "the lock is not held"))?;
        registry(lock.handle as *const ndsr_t)?.unlock(&lease)?;
        Ok(NDSR_OK)
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
    guard(|| {
        if lock.is_null() {
            return Err(Error::invalid("argument lock is NULL"));
        }
        let lock = &*lock;
        let lease = lock
            .lease
            .lock()
            .clone()
            .ok_or_else(|| Error::new(NDSR_E_NOT_FOUND, "the lock is not held"))?;
        Ok(match registry(lock.handle as *const ndsr_t) {
            Ok(r) => r.lock_status(&lease),
            Err(_) => crate::status::NDSR_E_LOCK_LOST,
        })
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
    let lock = Box::from_raw(lock);
    guard(|| {
        if let (Some(lease), Ok(r)) = (
            lock.lease.lock().take(),
            registry(lock.handle as *const ndsr_t),
        ) {
            r.unlock(&lease)?;
        }
        Ok(NDSR_OK)
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
    guard(|| {
        let r = registry(h)?;
        let path = arg_str(path, "path")?;
        let name = if name.is_null() {
            ""
        } else {
            arg_str(name, "name")?
        };
        let (simultaneous, wait) = lock_args(simultaneous, wait_ms)?;
        r.acquire_lock(path, name, simultaneous, wait)?;
        Ok(NDSR_OK)
    })
}

/// Releases a lock taken with `ndsr_acquire_lock`. A path this handle does not hold is not an
/// error. Blocks at most `timeout_ms`.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_release_lock(h: *mut ndsr_t, path: *const c_char) -> c_int {
    guard(|| {
        let r = registry(h)?;
        r.release_lock(arg_str(path, "path")?)?;
        Ok(NDSR_OK)
    })
}
