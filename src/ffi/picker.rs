//! Discovery: `ndsr_picker_t` (choose an instance of a service) and `ndsr_wait_for`.

use std::ffi::{c_char, c_int, CStr};
use std::time::Duration;

use super::args::{arg_bytes, arg_ptr, arg_str};
use super::handle::{ndsr_t, registry};
use super::options::ndsr_options_t;
use super::{guard, status};
use crate::discovery::{Picker, PickerOptions};
use crate::status::{Error, Status};

/// A picker of one service's instances, from `ndsr_picker_new`; free it with
/// `ndsr_picker_free`. A plain pointer (not a table id): using it after its free is undefined.
/// Thread-safe: any number of threads may pick and report at once. It keeps its handle's
/// session alive: picks after `ndsr_close` of the handle fail with NDSR_E_CLOSED.
pub struct ndsr_picker_t {
    picker: Picker,
}

/// Makes a picker of the instances of `path` (its children, read as instances: see the README's
/// "Discovery") and stores it in `*out`. `opts` holds picker keys only (`strategy`, `filter`,
/// `down_errors`, `down_window_ms`, `down_ms`, `panic_percent`; see `ndsr_options_set`); NULL
/// means round-robin, no filter beyond the `state` rule, no down policy. Reads and watches
/// `path` like `ndsr_get_json`: blocks at most `timeout_ms` on the first read of a path, never
/// after. Returns NDSR_OK, or an error as `ndsr_get_json`; NDSR_E_INVALID_ARGUMENT for an
/// options object with handle keys. `*out` is written only on success.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string, `opts` NULL or an options object, `out` NULL or
/// a valid `ndsr_picker_t *`.
#[no_mangle]
pub unsafe extern "C" fn ndsr_picker_new(
    h: *mut ndsr_t,
    path: *const c_char,
    opts: *const ndsr_options_t,
    out: *mut *mut ndsr_picker_t,
) -> c_int {
    status(|| {
        let out = arg_ptr(out, "out")?;
        // SAFETY: per the contract.
        let path = unsafe { arg_str(path, "path")? };
        // SAFETY: NULL or an options object per the contract.
        let options = match unsafe { opts.as_ref() } {
            Some(o) => o.for_picker()?,
            None => PickerOptions::default(),
        };
        let picker = registry(h)?.picker(path, options)?;
        let p = Box::into_raw(Box::new(ndsr_picker_t { picker }));
        // SAFETY: checked not NULL; valid per the contract.
        unsafe { *out = p };
        Ok(Status::Ok)
    })
}

/// Picks an instance and copies its name (`host:port`, as the child is named) into `buf`,
/// NUL-terminated, with its length (without the NUL) in `*len`. `key` is required by the
/// `consistent` strategy (the same key picks the same instance) and ignored by the others.
/// Never blocks and allocates nothing, except when the service changed since the last pick (one
/// rebuild of the picker's table, from the cache). Returns NDSR_OK; NDSR_E_NOT_FOUND when no
/// instance is usable; NDSR_E_TOO_LARGE when `cap` is too short for the name and its NUL
/// (`*len` is set: retry with `*len + 1` bytes); NDSR_E_INVALID_ARGUMENT; NDSR_E_CLOSED once the
/// handle is closed.
///
/// # Safety
/// `p` is NULL or a live picker; `key` NULL or a NUL-terminated string; `buf` NULL or `cap`
/// writable bytes; `len` NULL or a valid `size_t *`.
#[no_mangle]
pub unsafe extern "C" fn ndsr_pick(
    p: *const ndsr_picker_t,
    key: *const c_char,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> c_int {
    status(|| {
        // SAFETY: NULL or a live picker per the contract.
        let p = unsafe { p.as_ref() }.ok_or_else(|| Error::invalid("argument p is NULL"))?;
        let buf = arg_ptr(buf, "buf")?;
        let len = arg_ptr(len, "len")?;
        // SAFETY: NULL or a NUL-terminated string per the contract.
        let key = (!key.is_null()).then(|| unsafe { CStr::from_ptr(key) }.to_bytes());
        p.picker.pick(key, |name| {
            let name = name.to_bytes_with_nul();
            // SAFETY: `len` checked not NULL; valid per the contract.
            unsafe { *len = name.len() - 1 };
            if name.len() > cap {
                return Err(Error::new(
                    Status::TooLarge,
                    format!("the name needs {} bytes, the buffer has {cap}", name.len()),
                ));
            }
            // SAFETY: `buf` has `cap` >= name.len() writable bytes per the contract.
            unsafe { std::ptr::copy_nonoverlapping(name.as_ptr(), buf.cast::<u8>(), name.len()) };
            Ok(Status::Ok)
        })?
    })
}

/// Reports the outcome of a request to the instance `name` (as `ndsr_pick` gave it): `ok` 0
/// for a failure, anything else for a success. With the `down_errors` option, an instance that
/// fails that many times within `down_window_ms` is not picked for `down_ms`; a success clears
/// its failures. Never blocks (beyond a short internal lock). Returns NDSR_OK or
/// NDSR_E_INVALID_ARGUMENT.
///
/// # Safety
/// `p` is NULL or a live picker; `name` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ndsr_pick_report(
    p: *const ndsr_picker_t,
    name: *const c_char,
    ok: c_int,
) -> c_int {
    status(|| {
        // SAFETY: NULL or a live picker per the contract.
        let p = unsafe { p.as_ref() }.ok_or_else(|| Error::invalid("argument p is NULL"))?;
        // SAFETY: per the contract.
        let name = unsafe { arg_bytes(name, "name")? };
        p.picker.report(&String::from_utf8_lossy(name), ok != 0);
        Ok(Status::Ok)
    })
}

/// Frees a picker. NULL is allowed and does nothing. Never blocks.
///
/// # Safety
/// `p` is NULL or a picker from `ndsr_picker_new` not yet freed; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn ndsr_picker_free(p: *mut ndsr_picker_t) {
    guard(|| {
        if !p.is_null() {
            // SAFETY: made by Box::into_raw in ndsr_picker_new, freed once per the contract.
            drop(unsafe { Box::from_raw(p) });
        }
    })
}

/// Waits until the cached list of `path` has at least `min_instances` usable instances (children
/// read as instances whose own data lets them be picked: `state` up, weight above 0), reading and
/// watching `path` first if need be. Blocks at most `timeout_ms` (0: looks once). Returns
/// NDSR_OK, NDSR_E_TIMEOUT when the time runs out first, or an error as `ndsr_get_json`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ndsr_wait_for(
    h: *mut ndsr_t,
    path: *const c_char,
    min_instances: usize,
    timeout_ms: c_int,
) -> c_int {
    status(|| {
        // SAFETY: per the contract.
        let path = unsafe { arg_str(path, "path")? };
        let timeout = u64::try_from(timeout_ms)
            .map_err(|_| Error::invalid("timeout_ms must not be negative"))?;
        registry(h)?.wait_for(path, min_instances, Duration::from_millis(timeout))?;
        Ok(Status::Ok)
    })
}

/// Drains this handle's registration of `path` (an ephemeral node from `ndsr_set_node`): its
/// data gets `"state":"draining"` at once, so pickers (of any process) stop choosing it while
/// requests in flight finish, and after `grace_ms` it is removed and forgotten: never re-created,
/// not even after a session expiry. Returns at once; the rest happens on a thread of its own
/// (log lines say when it is done). A new `ndsr_set_node` of the path before the removal cancels
/// it. Returns NDSR_OK; NDSR_E_NOT_FOUND when `path` is not an ephemeral registration of this
/// handle; NDSR_E_INVALID_ARGUMENT; NDSR_E_CLOSED.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ndsr_drain(h: *mut ndsr_t, path: *const c_char, grace_ms: c_int) -> c_int {
    status(|| {
        // SAFETY: per the contract.
        let path = unsafe { arg_str(path, "path")? };
        let grace =
            u64::try_from(grace_ms).map_err(|_| Error::invalid("grace_ms must not be negative"))?;
        registry(h)?.drain(path, Duration::from_millis(grace))?;
        Ok(Status::Ok)
    })
}
