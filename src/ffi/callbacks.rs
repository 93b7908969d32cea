//! Change and state callbacks.

use std::ffi::{c_char, c_int, c_void, CString};

use super::args::{arg_fn, arg_str};
use super::handle::{ndsr_t, registry};
use super::status;
use crate::events::subscription::{Callback, Event, Form, Handler};
use crate::status::{Error, Status};

// Callbacks may unwind: a callback that ends the callback thread (`pthread_exit`, a
// cancellation, a C++ exception it throws on purpose) unwinds through the library's frames as
// the platform intends instead of aborting the process. The thread then takes no more callbacks.

/// Called with the document of a watched path: `path` and `json` (NUL-terminated, `json_len`
/// bytes without the NUL) are valid for the call only.
pub type ndsr_change_fn = Option<
    unsafe extern "C-unwind" fn(
        userdata: *mut c_void,
        path: *const c_char,
        json: *const c_char,
        json_len: usize,
    ),
>;
/// Called with what changed in a watched path: `path` and `diff_json` (NUL-terminated,
/// `diff_len` bytes without the NUL) are valid for the call only. See `ndsr_on_diff`.
pub type ndsr_diff_fn = Option<
    unsafe extern "C-unwind" fn(
        userdata: *mut c_void,
        path: *const c_char,
        diff_json: *const c_char,
        diff_len: usize,
    ),
>;
/// Called with a connection state (an NDSR_STATE_* value).
pub type ndsr_state_fn = Option<unsafe extern "C-unwind" fn(userdata: *mut c_void, state: c_int)>;
/// Called with the handle's stats: `json` (NUL-terminated, `json_len` bytes without the NUL),
/// as `ndsr_stats_json` gives them, valid for the call only. See `ndsr_on_stats`.
pub type ndsr_stats_fn = Option<
    unsafe extern "C-unwind" fn(userdata: *mut c_void, json: *const c_char, json_len: usize),
>;
/// Releases a callback's userdata; called exactly once, after the callback's last call.
pub type ndsr_free_fn = Option<unsafe extern "C-unwind" fn(userdata: *mut c_void)>;

/// The C side of a subscription: the userdata and its free function, run on drop.
struct Userdata {
    ptr: *mut c_void,
    free: ndsr_free_fn,
}

// SAFETY: the C caller hands the userdata over to the callback thread (documented contract).
unsafe impl Send for Userdata {}
unsafe impl Sync for Userdata {}

impl Userdata {
    /// A forked child's own reference to the same userdata: the child frees its copy of the
    /// memory once, the parent its own.
    fn for_child(&self) -> Userdata {
        Userdata {
            ptr: self.ptr,
            free: self.free,
        }
    }
}

impl Drop for Userdata {
    fn drop(&mut self) {
        if let Some(f) = self.free {
            // SAFETY: the caller's free function, called once with its userdata.
            unsafe { f(self.ptr) };
        }
    }
}

type ChangeFn = unsafe extern "C-unwind" fn(*mut c_void, *const c_char, *const c_char, usize);
type StateFn = unsafe extern "C-unwind" fn(*mut c_void, c_int);
type StatsFn = unsafe extern "C-unwind" fn(*mut c_void, *const c_char, usize);

struct ChangeCallback(ChangeFn, Userdata);

impl Handler for ChangeCallback {
    fn call(&self, event: Event<'_>) {
        // A subscription is given one form (see its `Form`): documents or diffs.
        if let Event::Document { path, json } | Event::Diff { path, json } = event {
            let (p, j) = (
                CString::new(path).unwrap_or_default(),
                CString::new(json).unwrap_or_default(),
            );
            // SAFETY: the caller's callback with its userdata and strings valid for the call.
            unsafe { (self.0)(self.1.ptr, p.as_ptr(), j.as_ptr(), json.len()) };
        }
    }

    fn for_child(&self) -> Callback {
        Box::new(ChangeCallback(self.0, self.1.for_child()))
    }
}

struct StateCallback(StateFn, Userdata);

impl Handler for StateCallback {
    fn call(&self, event: Event<'_>) {
        if let Event::State(s) = event {
            // SAFETY: the caller's callback with its userdata.
            unsafe { (self.0)(self.1.ptr, s as c_int) };
        }
    }

    fn for_child(&self) -> Callback {
        Box::new(StateCallback(self.0, self.1.for_child()))
    }
}

struct StatsCallback(StatsFn, Userdata);

impl Handler for StatsCallback {
    fn call(&self, event: Event<'_>) {
        if let Event::Stats { json } = event {
            let j = CString::new(json).unwrap_or_default();
            // SAFETY: the caller's callback with its userdata and a string valid for the call.
            unsafe { (self.0)(self.1.ptr, j.as_ptr(), json.len()) };
        }
    }

    fn for_child(&self) -> Callback {
        Box::new(StatsCallback(self.0, self.1.for_child()))
    }
}

/// Calls `func(userdata, path, json, json_len)` with the document of `path` (as `ndsr_get_json`
/// gives it): first with the current document, then after every change, never twice in a row
/// with the same document. Every call, the first included, is made on the handle's callback
/// thread, never on the calling thread: the first may come just before or just after this
/// function returns (use `ndsr_get_json` for the document now). A callback that falls behind
/// gets the latest document, not every intermediate one. Calls run one at a time, in order; a
/// callback may call any ndsr function, including `ndsr_off` and `ndsr_close`, but should not
/// block for long, since it holds up every other callback of the handle. A callback may end its
/// thread (`pthread_exit`, a cancellation): the process goes on, and the handle's later
/// callbacks are not made. `userdata_free(userdata)` (may be NULL) runs
/// exactly once, on the callback thread, after the last call: after `ndsr_off`, or `ndsr_close`.
/// The userdata belongs to the library from this call on: if the call fails, `userdata_free` has
/// run before it returns.
///
/// Stores the subscription id in `*subscription` (may be NULL if not needed). Blocks at most
/// `timeout_ms` for the first read of the path. Returns NDSR_OK; NDSR_QUEUED when the path could
/// not be read yet (no session): the subscription stands and the first call comes with the first
/// read; NDSR_E_INVALID_ARGUMENT, NDSR_E_CLOSED.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_on_change(
    h: *mut ndsr_t,
    path: *const c_char,
    func: ndsr_change_fn,
    userdata: *mut c_void,
    userdata_free: ndsr_free_fn,
    subscription: *mut u64,
) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        subscribe(
            h,
            path,
            func,
            (userdata, userdata_free),
            subscription,
            Form::Document,
        )
    }
}

/// Calls `func(userdata, path, diff_json, diff_len)` with what changed in `path`, as JSON:
/// `{"path":…,"stat":{…}|null,"added":{name:data,…},"removed":{name:data,…},
/// "changed":{name:{"old":data,"new":data},…},"data":null|{"old":…,"new":…}}`, where `stat`
/// is the node's stat now and `data` is set only when the node's own data changed (a
/// node that does not exist has `stat` null, no children and data null). The first call has
/// every current child in `added`, so that a consumer can build its state from diffs alone:
/// applying the diffs in order gives every document `ndsr_get_json` gives. A callback that falls
/// behind gets one diff covering everything it missed. No call for a change that leaves the
/// document as it was. Otherwise the rules of `ndsr_on_change`: the callback thread, the order,
/// `userdata_free`, `ndsr_off`, the return values and how long it may block.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_on_diff(
    h: *mut ndsr_t,
    path: *const c_char,
    func: ndsr_diff_fn,
    userdata: *mut c_void,
    userdata_free: ndsr_free_fn,
    subscription: *mut u64,
) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        subscribe(
            h,
            path,
            func,
            (userdata, userdata_free),
            subscription,
            Form::Diff,
        )
    }
}

/// `ndsr_on_change` and `ndsr_on_diff`.
///
/// # Safety
/// As theirs.
unsafe fn subscribe(
    h: *mut ndsr_t,
    path: *const c_char,
    func: ndsr_change_fn,
    userdata: (*mut c_void, ndsr_free_fn),
    subscription: *mut u64,
    form: Form,
) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        subscribe_with(h, userdata, subscription, |r, ud| {
            let path = arg_str(path, "path")?;
            let callback = Box::new(ChangeCallback(arg_fn(func, "func")?, ud));
            let (id, applied) = match form {
                Form::Document => r.on_change(path, callback)?,
                Form::Diff => r.on_diff(path, callback)?,
            };
            Ok((id, applied.status()))
        })
    }
}

/// What every subscribing function does around `make`: takes the userdata first (so that
/// `userdata_free` runs exactly once on every path, failures included), finds the handle, and
/// stores the id `make` gives in `*subscription` (may be NULL).
///
/// # Safety
/// `subscription` is NULL or points to a `uint64_t`.
unsafe fn subscribe_with(
    h: *mut ndsr_t,
    (userdata, userdata_free): (*mut c_void, ndsr_free_fn),
    subscription: *mut u64,
    make: impl FnOnce(&std::sync::Arc<crate::Registry>, Userdata) -> Result<(u64, Status), Error>,
) -> c_int {
    let ud = Userdata {
        ptr: userdata,
        free: userdata_free,
    };
    status(move || {
        let (id, status) = make(&registry(h)?, ud)?;
        // SAFETY: NULL or a valid uint64_t per the contract.
        if let Some(out) = unsafe { subscription.as_mut() } {
            *out = id;
        }
        Ok(status)
    })
}

/// Calls `func(userdata, state)` with the connection state (NDSR_STATE_*): first with the state
/// now, then after every change, on the handle's callback thread, with the same rules as
/// `ndsr_on_change` (`userdata_free` included; a callback that falls behind gets the last few
/// states, in order).
/// Stores the subscription id in `*subscription` (may be NULL). Never blocks. Returns NDSR_OK,
/// NDSR_E_INVALID_ARGUMENT, NDSR_E_CLOSED.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_on_state(
    h: *mut ndsr_t,
    func: ndsr_state_fn,
    userdata: *mut c_void,
    userdata_free: ndsr_free_fn,
    subscription: *mut u64,
) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        subscribe_with(h, (userdata, userdata_free), subscription, |r, ud| {
            let id = r.on_state(Box::new(StateCallback(arg_fn(func, "func")?, ud)))?;
            Ok((id, Status::Ok))
        })
    }
}

/// Calls `func(userdata, json, json_len)` with the handle's stats (what `ndsr_stats_json`
/// gives) every `interval_ms` milliseconds, the first after one interval, on the handle's
/// callback thread, until `ndsr_off` or `ndsr_close` (librdkafka's `statistics.interval.ms`).
/// A callback that falls behind skips ticks (at most one call waits). The other rules of
/// `ndsr_on_change` apply (`userdata_free` included). A forked child's handle does not carry it
/// over. Stores the subscription id in `*subscription` (may be NULL). Never blocks. Returns
/// NDSR_OK, NDSR_E_INVALID_ARGUMENT (NULL `func`, `interval_ms` below 1), NDSR_E_CLOSED.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_on_stats(
    h: *mut ndsr_t,
    interval_ms: c_int,
    func: ndsr_stats_fn,
    userdata: *mut c_void,
    userdata_free: ndsr_free_fn,
    subscription: *mut u64,
) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        subscribe_with(h, (userdata, userdata_free), subscription, |r, ud| {
            let f = arg_fn(func, "func")?;
            let ms = u64::try_from(interval_ms)
                .ok()
                .filter(|ms| *ms > 0)
                .ok_or_else(|| Error::invalid("interval_ms must be 1 or more"))?;
            let interval = std::time::Duration::from_millis(ms);
            Ok((
                r.on_stats(interval, Box::new(StatsCallback(f, ud)))?,
                Status::Ok,
            ))
        })
    }
}

/// Ends a subscription made by `ndsr_on_change`, `ndsr_on_diff`, `ndsr_on_state` or
/// `ndsr_on_stats`. Once it
/// returns, no new call of the callback starts (a call already running on the callback thread
/// finishes); its `userdata_free` runs afterwards on the callback thread. Never blocks. Returns
/// NDSR_OK, NDSR_E_NOT_FOUND (unknown or already ended), NDSR_E_INVALID_ARGUMENT,
/// NDSR_E_CLOSED.
#[no_mangle]
pub extern "C" fn ndsr_off(h: *mut ndsr_t, subscription: u64) -> c_int {
    status(|| {
        registry(h)?.off(subscription)?;
        Ok(Status::Ok)
    })
}

/// Delivers at most one call of the document (or diff) subscription `subscription` per
/// `interval_ms`: a change within the interval waits for its end, and then the latest state is
/// delivered (for a diff subscription, one diff covering everything since the last call); the
/// last change is never lost. 0 delivers every change again (the default). State subscriptions
/// are not debounced. Never blocks. Returns NDSR_OK, NDSR_E_NOT_FOUND (not a document or diff
/// subscription of this handle), NDSR_E_INVALID_ARGUMENT (a negative interval), NDSR_E_CLOSED.
#[no_mangle]
pub extern "C" fn ndsr_set_debounce(
    h: *mut ndsr_t,
    subscription: u64,
    interval_ms: c_int,
) -> c_int {
    status(|| {
        let ms = u64::try_from(interval_ms)
            .map_err(|_| Error::invalid("interval_ms must not be negative"))?;
        registry(h)?.set_debounce(subscription, std::time::Duration::from_millis(ms))?;
        Ok(Status::Ok)
    })
}
