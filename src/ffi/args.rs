//! Checks of the arguments C callers give, each failing with `NDSR_E_INVALID_ARGUMENT` and a
//! message naming the argument.

use std::ffi::{c_char, CStr};

use crate::status::Error;

fn null(name: &str) -> Error {
    Error::invalid(format!("argument {name} is NULL"))
}

/// A required string argument, as UTF-8.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, Error> {
    // SAFETY: per the contract.
    unsafe { arg_opt_str(p, name) }?.ok_or_else(|| null(name))
}

/// A string argument that may be NULL (None).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
pub(crate) unsafe fn arg_opt_str<'a>(
    p: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, Error> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: not NULL, and NUL-terminated per the contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map(Some)
        .map_err(|_| Error::invalid(format!("argument {name} is not valid UTF-8")))
}

/// A required pointer argument (an input object or an output), checked not NULL.
pub(crate) fn arg_ptr<P: Pointer>(p: P, name: &str) -> Result<P, Error> {
    if p.is_null() {
        Err(null(name))
    } else {
        Ok(p)
    }
}

/// A required function argument.
pub(crate) fn arg_fn<F>(f: Option<F>, name: &str) -> Result<F, Error> {
    f.ok_or_else(|| null(name))
}

/// Raw pointers, const or mut.
pub(crate) trait Pointer: Copy {
    /// Whether it is NULL.
    fn is_null(self) -> bool;
}

impl<T> Pointer for *const T {
    fn is_null(self) -> bool {
        <*const T>::is_null(self)
    }
}

impl<T> Pointer for *mut T {
    fn is_null(self) -> bool {
        <*mut T>::is_null(self)
    }
}

/// A C caller's NUL-terminated string compared byte by byte with stored names, without a
/// `strlen` first: on the hot paths of snapshots a key or path is compared, not kept.
#[derive(Clone, Copy)]
pub(crate) struct CName(*const c_char);

impl CName {
    /// # Safety
    /// `p` is not NULL and is a NUL-terminated string valid while the `CName` is used.
    pub(crate) unsafe fn new(p: *const c_char) -> CName {
        CName(p)
    }
}

impl crate::document::Given for CName {
    fn is(&self, stored: &[u8]) -> bool {
        for (i, b) in stored.iter().enumerate() {
            // SAFETY: the bytes before index i were equal to `stored`'s and not NUL, so the
            // string goes on at least to index i (its NUL included).
            let c = unsafe { *self.0.add(i) } as u8;
            if c != *b || c == 0 {
                return false;
            }
        }
        // SAFETY: as above, index `stored.len()` is within the string.
        unsafe { *self.0.add(stored.len()) == 0 }
    }
}
