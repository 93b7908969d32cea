//! `ndsr_snapshot_t`: shared, immutable views of a watched path's document, without a copy.
//!
//! A snapshot is a number, like `ndsr_t` (see `held`): a released (or never issued) number
//! finds nothing, so a second release, or a use after release, is reported
//! (NDSR_E_INVALID_ARGUMENT, NULL, 0), never a crash.

use std::ffi::{c_char, c_int, CStr};
use std::sync::Arc;

use super::args::{arg_bytes, arg_ptr, arg_str, short_arg_bytes};
use super::handle::{ndsr_t, registry};
use super::{guard, status};
use crate::document::Document;
use crate::fork::Registry;
use crate::held;
use crate::status::{Error, Status};

/// A snapshot: the document of a watched path at one moment, immutable. Made by
/// `ndsr_snapshot_get`, released by `ndsr_snapshot_release`; in between it and every string it
/// gives are valid, from any thread, whatever happens to the handle (closing it included).
pub struct ndsr_snapshot_t {
    _private: [u8; 0],
}

/// Runs `f` on the document `s` holds; None when `s` is not a held snapshot.
fn with<T>(s: *const ndsr_snapshot_t, f: impl FnOnce(&Document) -> T) -> Option<T> {
    held::with(s as usize, f)
}

/// The document of `path` for a C caller: the one this thread read last if it is still
/// current (no lock taken), else the cache's, else read (within `timeout_ms`).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string valid for the call.
pub(super) unsafe fn document_for_c(
    h: *mut ndsr_t,
    path: *const c_char,
) -> Result<Arc<Document>, Error> {
    // SAFETY: per the contract.
    let name = unsafe { arg_bytes(path, "path")? };
    if let Some(doc) = Registry::recalled_for_c(h as usize, name) {
        return Ok(doc);
    }
    // SAFETY: per the contract.
    unsafe { cached_or_read_for_c(h, path) }
}

/// The document of `path` for a C caller past this thread's memo: the cache's, else read
/// (within `timeout_ms`).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string valid for the call.
unsafe fn cached_or_read_for_c(
    h: *mut ndsr_t,
    path: *const c_char,
) -> Result<Arc<Document>, Error> {
    // SAFETY: per the contract.
    let path = unsafe { arg_str(path, "path")? };
    match Registry::cached_for_c(h as usize, path) {
        Some(doc) => Ok(doc),
        None => registry(h)?.snapshot(path),
    }
}

/// Stores in `*out` a snapshot of the document of `path` (the one `ndsr_get_json` gives, without
/// copying it): read and watched on first use, like `ndsr_get_json`, and from the cache after
/// that. The snapshot never changes; take a new one for a newer document. Release it with
/// `ndsr_snapshot_release`. Blocks at most `timeout_ms` on the first read of a path, never
/// after. Returns NDSR_OK, or an error as `ndsr_get_json`; NDSR_E_TOO_LARGE when millions of
/// snapshots are held at once. `*out` is written only on success.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string, `out` NULL or a valid `ndsr_snapshot_t *`.
#[no_mangle]
pub unsafe extern "C" fn ndsr_snapshot_get(
    h: *mut ndsr_t,
    path: *const c_char,
    out: *mut *mut ndsr_snapshot_t,
) -> c_int {
    guard(|| {
        // The hot path, without a Result that may carry a message: the document this thread
        // read last, still current, held at once.
        if !path.is_null() && !out.is_null() {
            // SAFETY: not NULL, NUL-terminated per the contract.
            let name = unsafe { CStr::from_ptr(path) }.to_bytes();
            if let Some(number) = held::hold_recalled(h as usize, name) {
                // SAFETY: not NULL; valid per the contract.
                unsafe { *out = number as *mut ndsr_snapshot_t };
                return Status::Ok.code();
            }
        }
        // SAFETY: per the contract.
        unsafe { snapshot_get_slow(h, path, out) }
    })
}

/// `ndsr_snapshot_get` past its hot path (which asked the memo already): the cache, or a
/// read; every error reported.
///
/// # Safety
/// As `ndsr_snapshot_get`.
#[cold]
#[inline(never)]
unsafe fn snapshot_get_slow(
    h: *mut ndsr_t,
    path: *const c_char,
    out: *mut *mut ndsr_snapshot_t,
) -> c_int {
    status(|| {
        let out = arg_ptr(out, "out")?;
        // SAFETY: per the contract.
        let doc = unsafe { cached_or_read_for_c(h, path)? };
        let number = held::hold(doc)
            .ok_or_else(|| Error::new(Status::TooLarge, "too many snapshots held at once"))?;
        // SAFETY: checked not NULL; valid per the contract.
        unsafe { *out = number as *mut ndsr_snapshot_t };
        Ok(Status::Ok)
    })
}

/// Releases a snapshot: the strings it gave are invalid from now on. Releasing NULL does
/// nothing and returns NDSR_OK; releasing a snapshot twice (or a pointer that is not a snapshot)
/// does nothing and returns NDSR_E_INVALID_ARGUMENT. May be called from any thread, after the
/// handle is closed too. Never blocks.
#[no_mangle]
pub extern "C" fn ndsr_snapshot_release(s: *mut ndsr_snapshot_t) -> c_int {
    guard(|| {
        if s.is_null() || held::release(s as usize) {
            return Status::Ok.code();
        }
        not_a_snapshot()
    })
}

/// The refusal of a release of something that is not a held snapshot: out of the hot path.
#[cold]
#[inline(never)]
fn not_a_snapshot() -> c_int {
    status(|| {
        Err(Error::invalid(
            "not a snapshot (released already, or never taken)",
        ))
    })
}

/// The whole document, as `ndsr_get_json` gives it: NUL-terminated, `*len` bytes without the
/// NUL (`len` may be NULL), borrowed from the snapshot until its release. NULL when `s` is not
/// a held snapshot.
///
/// # Safety
/// `len` is NULL or a valid `size_t *`.
#[no_mangle]
pub unsafe extern "C" fn ndsr_snapshot_json(
    s: *const ndsr_snapshot_t,
    len: *mut usize,
) -> *const c_char {
    guard(|| {
        let Some((ptr, n)) = with(s, |d| (d.json_c(), d.json().len())) else {
            return std::ptr::null();
        };
        // SAFETY: NULL or valid per the contract.
        if let Some(len) = unsafe { len.as_mut() } {
            *len = n;
        }
        ptr
    })
}

/// How many children the document has (0 when `s` is not a held snapshot).
#[no_mangle]
pub extern "C" fn ndsr_snapshot_count(s: *const ndsr_snapshot_t) -> usize {
    guard(|| with(s, Document::count).unwrap_or(0))
}

/// The name of child `i` (children are in name order, 0 to count - 1), NUL-terminated,
/// borrowed until the snapshot's release. NULL when `i` is out of range or `s` is not a held
/// snapshot.
#[no_mangle]
pub extern "C" fn ndsr_snapshot_name(s: *const ndsr_snapshot_t, i: usize) -> *const c_char {
    guard(|| {
        with(s, |d| d.name(i).map(|n| n.as_ptr()))
            .flatten()
            .unwrap_or(std::ptr::null())
    })
}

/// The data of child `i` as JSON (what the document has under its name), `*len` bytes,
/// borrowed until the snapshot's release. NOT NUL-terminated (it is a slice of the document):
/// use `*len`, which must not be NULL. NULL when `i` is out of range, `len` is NULL or `s` is
/// not a held snapshot.
///
/// # Safety
/// `len` is NULL or a valid `size_t *`.
#[no_mangle]
pub unsafe extern "C" fn ndsr_snapshot_child_json(
    s: *const ndsr_snapshot_t,
    i: usize,
    len: *mut usize,
) -> *const c_char {
    guard(|| {
        // SAFETY: NULL or valid per the contract.
        let Some(len) = (unsafe { len.as_mut() }) else {
            return std::ptr::null();
        };
        let Some(value) = with(s, |d| d.child_json(i).map(|v| (v.as_ptr(), v.len()))).flatten()
        else {
            return std::ptr::null();
        };
        *len = value.1;
        value.0.cast()
    })
}

/// The string value of the top-level key `key` of child `i`'s data (a JSON object), decoded
/// and NUL-terminated, borrowed until the snapshot's release: for a child whose data is
/// `{"host":"10.0.0.1","port":80}`, key "host" gives "10.0.0.1". NULL when the child or the key
/// is missing, the value is not a string (or holds a NUL), `key` is NULL, or `s` is not a held
/// snapshot. A child's keys are parsed at the first typed read of that child, once.
///
/// # Safety
/// `key` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ndsr_snapshot_child_str(
    s: *const ndsr_snapshot_t,
    i: usize,
    key: *const c_char,
) -> *const c_char {
    guard(|| {
        // SAFETY: per the contract.
        if let Some(value) = unsafe { parsed_child_str(s, i, key) } {
            return value;
        }
        // SAFETY: per the contract.
        unsafe { child_str_slow(s, i, key) }
    })
}

/// `ndsr_snapshot_child_str`'s common case: a key shorter than 16 bytes, of a child whose keys
/// are parsed already. It calls nothing, and the getter only jumps to its slow path, so the
/// getter needs no stack frame of its own.
///
/// # Safety
/// As `ndsr_snapshot_child_str`.
#[inline(always)]
unsafe fn parsed_child_str(
    s: *const ndsr_snapshot_t,
    i: usize,
    key: *const c_char,
) -> Option<*const c_char> {
    if key.is_null() {
        return None;
    }
    // SAFETY: not NULL, NUL-terminated per the contract.
    let key = unsafe { short_arg_bytes(key) }?;
    with(s, |d| d.parsed_child_str(i, key).map(CStr::as_ptr)).flatten()
}

/// `ndsr_snapshot_child_str` past its common case. `extern "C"` (not exported): it cannot
/// unwind, so the getter can jump to it rather than call it.
///
/// # Safety
/// As `ndsr_snapshot_child_str`.
#[cold]
#[inline(never)]
unsafe extern "C" fn child_str_slow(
    s: *const ndsr_snapshot_t,
    i: usize,
    key: *const c_char,
) -> *const c_char {
    guard(|| {
        // SAFETY: per the contract.
        let Ok(key) = (unsafe { arg_bytes(key, "key") }) else {
            return std::ptr::null();
        };
        with(s, |d| d.child_str(i, key).map(CStr::as_ptr))
            .flatten()
            .unwrap_or(std::ptr::null())
    })
}

/// Stores in `*out` the integer value of the top-level key `key` of child `i`'s data (a JSON
/// object): for `{"port":80}`, key "port" gives 80. Returns NDSR_OK; NDSR_E_NOT_FOUND when the
/// child or the key is missing; NDSR_E_INVALID_ARGUMENT when the value is not an integer that
/// fits in 64 bits, an argument is NULL, or `s` is not a held snapshot. Never blocks.
///
/// # Safety
/// `key` is NULL or a NUL-terminated string, `out` NULL or a valid `int64_t *`.
#[no_mangle]
pub unsafe extern "C" fn ndsr_snapshot_child_int(
    s: *const ndsr_snapshot_t,
    i: usize,
    key: *const c_char,
    out: *mut i64,
) -> c_int {
    guard(|| {
        if !out.is_null() {
            // SAFETY: per the contract.
            if let Some(value) = unsafe { parsed_child_int(s, i, key) } {
                // SAFETY: not NULL; valid per the contract.
                unsafe { *out = value };
                return Status::Ok.code();
            }
        }
        // SAFETY: per the contract.
        unsafe { child_int_slow(s, i, key, out) }
    })
}

/// `ndsr_snapshot_child_int`'s common case (see `parsed_child_str`).
///
/// # Safety
/// As `ndsr_snapshot_child_int`.
#[inline(always)]
unsafe fn parsed_child_int(s: *const ndsr_snapshot_t, i: usize, key: *const c_char) -> Option<i64> {
    if key.is_null() {
        return None;
    }
    // SAFETY: not NULL, NUL-terminated per the contract.
    let key = unsafe { short_arg_bytes(key) }?;
    with(s, |d| d.parsed_child_int(i, key)).flatten()
}

/// `ndsr_snapshot_child_int` past its common case: the value, or why there is none (its
/// message recorded). `extern "C"` (not exported): see `child_str_slow`.
///
/// # Safety
/// As `ndsr_snapshot_child_int`.
#[cold]
#[inline(never)]
unsafe extern "C" fn child_int_slow(
    s: *const ndsr_snapshot_t,
    i: usize,
    key: *const c_char,
    out: *mut i64,
) -> c_int {
    status(|| {
        // SAFETY: per the contract.
        let key = unsafe { arg_bytes(key, "key")? };
        let code = match with(s, |d| d.child_int(i, key)) {
            None => {
                return Err(Error::invalid(
                    "not a snapshot (released already, or never taken)",
                ))
            }
            Some(Ok(value)) => {
                let out = arg_ptr(out, "out")?;
                // SAFETY: checked not NULL; valid per the contract.
                unsafe { *out = value };
                return Ok(Status::Ok);
            }
            Some(Err(code)) => code,
        };
        let key = String::from_utf8_lossy(key);
        Err(match code {
            Status::NotFound => Error::new(code, format!("child {i} has no key {key:?}")),
            _ => Error::new(
                code,
                format!("{key:?} of child {i} is not a 64-bit integer"),
            ),
        })
    })
}
