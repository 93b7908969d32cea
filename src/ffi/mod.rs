//! The C ABI. Every function here is thin glue: it checks its arguments, catches panics,
//! records an error message for `ndsr_last_error`, and calls the Rust core.
//!
//! Handles are not pointers to memory: `ndsr_t *` carries a handle number looked up in a table,
//! so a call racing `ndsr_close` (or made after it) finds nothing and gets `NDSR_E_CLOSED`
//! instead of touching freed memory.
#![allow(non_camel_case_types)]

pub mod callbacks;
pub mod handle;
pub mod lock;
pub mod misc;
pub mod options;

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};

use crate::status::{Error, NDSR_E_INTERNAL, NDSR_E_INVALID_ARGUMENT};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `err` as this thread's last error and returns its code.
pub(crate) fn fail(err: Error) -> i32 {
    let text = CString::new(err.message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
    err.code
}

/// A pointer to this thread's last error message (valid until the next failing call here).
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Runs `body`, turning a panic into `NDSR_E_INTERNAL` (and an error into its code).
pub(crate) fn guard(body: impl FnOnce() -> Result<i32, Error>) -> i32 {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => fail(e),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            log::error!("internal error (panic): {what}");
            fail(Error::new(
                NDSR_E_INTERNAL,
                format!("internal error: {what}"),
            ))
        }
    }
}

/// Borrows a C string argument as UTF-8.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(Error::new(
            NDSR_E_INVALID_ARGUMENT,
            format!("argument {name} is NULL"),
        ));
    }
    CStr::from_ptr(p).to_str().map_err(|_| {
        Error::new(
            NDSR_E_INVALID_ARGUMENT,
            format!("argument {name} is not valid UTF-8"),
        )
    })
}

/// Checks that an output pointer is not NULL.
pub(crate) fn arg_out<T>(p: *mut T, name: &str) -> Result<(), Error> {
    if p.is_null() {
        Err(Error::new(
            NDSR_E_INVALID_ARGUMENT,
            format!("argument {name} is NULL"),
        ))
    } else {
        Ok(())
    }
}
