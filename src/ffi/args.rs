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

/// A required string argument as bytes, not checked to be UTF-8: for names and keys only
/// compared with stored ones on a hot path (a stored one is valid UTF-8, so an equal one is).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
pub(crate) unsafe fn arg_bytes<'a>(p: *const c_char, name: &str) -> Result<&'a [u8], Error> {
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: not NULL, and NUL-terminated per the contract.
    Ok(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// A short string argument as bytes (see [`arg_bytes`]), its length found inline: a key of a
/// typed getter is a few bytes, and for those `strlen` costs more as a call (a quarter of the
/// getter's time, measured) than the bytes cost to test one by one. None when it is 16 bytes
/// or longer (the caller takes its slow path). The loop is bounded so that the compiler does
/// not turn it back into a call.
///
/// # Safety
/// `p` is a NUL-terminated string valid for the call (not NULL).
#[inline(always)]
pub(crate) unsafe fn short_arg_bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    const INLINE: usize = 16;
    let bytes = p.cast::<u8>();
    let mut len = 0;
    // SAFETY: each byte read is at or before the NUL (the loop stops at it).
    while len < INLINE && unsafe { *bytes.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL.
    (len < INLINE).then(|| unsafe { std::slice::from_raw_parts(bytes, len) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    #[test]
    fn a_short_argument_is_its_bytes_up_to_the_nul_at_any_length() {
        for n in 0..40 {
            let s: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            let c = CString::new(s.clone()).unwrap();
            // SAFETY: a NUL-terminated string.
            let short = unsafe { short_arg_bytes(c.as_ptr()) };
            assert_eq!(short, (n < 16).then_some(&s[..]), "length {n}");
        }
    }
}
