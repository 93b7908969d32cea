//! The C ABI. Every function here is thin glue: it checks its arguments, catches panics,
//! records an error message for `ndsr_last_error`, and calls the Rust API.
//!
//! Rules for every function:
//! - a function that reads or writes through a pointer the caller gives (a string, an output,
//!   an options object, a lock) is `unsafe extern "C"` with a `# Safety` section; one that takes
//!   only a handle (`ndsr_t *`, a number looked up in a table, never dereferenced) and values is
//!   safe;
//! - arguments are checked with the helpers of `args` before anything else is done;
//! - the body runs under [`guard`] (any return type) or [`status`] (a status code): a panic
//!   becomes `NDSR_E_INTERNAL` (or the type's own value), an error is recorded for
//!   `ndsr_last_error` and returned as its code.
#![allow(non_camel_case_types)]

mod args;
pub mod callbacks;
pub mod consts;
pub mod handle;
pub mod lock;
pub mod misc;
pub mod options;
pub mod picker;
pub mod snapshot;

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};

use crate::status::{Error, Status};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `err` as this thread's last error and returns its code.
pub(crate) fn fail(err: Error) -> c_int {
    let text = CString::new(err.message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
    err.code.code()
}

/// A pointer to this thread's last error message (valid until the next failing call here).
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// What a C function returns when its body panicked.
pub(crate) trait OnPanic {
    /// The value, once the panic is recorded as this thread's last error.
    fn on_panic() -> Self;
}

impl OnPanic for c_int {
    fn on_panic() -> c_int {
        Status::Internal.code()
    }
}

impl OnPanic for usize {
    fn on_panic() -> usize {
        0
    }
}

impl OnPanic for () {
    fn on_panic() {}
}

impl<T> OnPanic for *const T {
    fn on_panic() -> *const T {
        std::ptr::null()
    }
}

/// Runs `body`; a panic is logged, recorded for `ndsr_last_error`, and becomes the return type's
/// [`OnPanic`] value. A panic must never unwind into C.
#[inline]
pub(crate) fn guard<T: OnPanic>(body: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(panic) => {
            report_panic(&*panic);
            T::on_panic()
        }
    }
}

/// Logs a caught panic and records it for `ndsr_last_error`. Out of line: inlined, its
/// formatting would give every extern function a large stack frame to set up on each call.
#[cold]
#[inline(never)]
fn report_panic(panic: &(dyn std::any::Any + Send)) {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    log::error!("internal error (panic): {what}");
    fail(Error::new(
        Status::Internal,
        format!("internal error: {what}"),
    ));
}

/// Runs `body` under [`guard`] and returns its status code; an error is recorded for
/// `ndsr_last_error`.
pub(crate) fn status(body: impl FnOnce() -> Result<Status, Error>) -> c_int {
    guard(|| match body() {
        Ok(s) => s.code(),
        Err(e) => fail(e),
    })
}
