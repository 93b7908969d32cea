//! Version, status names, last error, logging.

use std::ffi::{c_char, c_int, c_void};

use super::{guard, status};
use crate::logging::{self, SinkFn};
use crate::status::Status;

/// Major version of the library; equal to the major of `ndsr_version()`.
pub const NDSR_VERSION_MAJOR: c_int = 0;
/// Minor version of the library.
pub const NDSR_VERSION_MINOR: c_int = 1;
/// Patch version of the library.
pub const NDSR_VERSION_PATCH: c_int = 0;

/// A version number of Cargo.toml's, at compile time.
const fn number(text: &str) -> c_int {
    let (bytes, mut i, mut n) = (text.as_bytes(), 0, 0);
    while i < bytes.len() {
        n = n * 10 + (bytes[i] - b'0') as c_int;
        i += 1;
    }
    n
}

// The macros are Cargo.toml's version: a release that forgets them does not build.
const _: () = assert!(NDSR_VERSION_MAJOR == number(env!("CARGO_PKG_VERSION_MAJOR")));
const _: () = assert!(NDSR_VERSION_MINOR == number(env!("CARGO_PKG_VERSION_MINOR")));
const _: () = assert!(NDSR_VERSION_PATCH == number(env!("CARGO_PKG_VERSION_PATCH")));

/// cbindgen:ignore
static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version as "MAJOR.MINOR.PATCH". Static string; never free it. Thread-safe,
/// never blocks.
#[no_mangle]
pub extern "C" fn ndsr_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// The name and meaning of a status code ("NDSR_E_TIMEOUT: timed out"), or "unknown status
/// code". Static string; never free it. Thread-safe, never blocks.
#[no_mangle]
pub extern "C" fn ndsr_status_str(status: c_int) -> *const c_char {
    guard(|| {
        Status::from_code(status)
            .map_or(c"unknown status code", Status::c_text)
            .as_ptr()
    })
}

/// The message of the last failed ndsr call on the calling thread ("" if none failed yet). The
/// string belongs to the library and stays valid until the next failing ndsr call on this
/// thread; copy it to keep it. Never blocks.
#[no_mangle]
pub extern "C" fn ndsr_last_error() -> *const c_char {
    super::last_error_ptr()
}

/// A log callback: `level` is 1 = error, 2 = warn, 3 = info, 4 = debug, 5 = trace; `message`
/// ("component: text", e.g. "session: [zk1:2181 0x1000] connection lost; reconnecting") is valid
/// for the call only. It may be called from any library thread, and from the thread of a call in
/// progress, concurrently; it must return, and must not call the library.
pub type ndsr_log_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: c_int, message: *const c_char)>;

/// A log callback with the component as an argument of its own: `component` is the part of
/// libndsr the line comes from (`session`, `registration`, `cache`, `events`, `lock`, …) and
/// `message` the text, each valid for the call only. Same threading rules as `ndsr_log_fn`.
pub type ndsr_log_handler_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: c_int,
        component: *const c_char,
        message: *const c_char,
    ),
>;

/// Sends the library's log lines with a level up to `max_level` (0 = none … 5 = trace) to `fn`,
/// or to stderr when `fn` is NULL (the default: stderr at level 2, warn). Process-wide. Lines
/// about a handle name it (`[connect string 0x<session id>]`); repeated failures are summarised
/// ("… (12 more in the last 10 s)"); what the ZooKeeper client library logs comes through at
/// debug level only. Passwords are never logged. `userdata` is passed to `fn` as is and must
/// stay valid until the logger is replaced. Never blocks; returns NDSR_OK.
#[no_mangle]
pub extern "C" fn ndsr_set_logger(
    func: ndsr_log_fn,
    userdata: *mut c_void,
    max_level: c_int,
) -> c_int {
    status(|| {
        let sink = func.map_or(SinkFn::Stderr, SinkFn::Message);
        logging::set_log_sink(sink, userdata, max_level);
        Ok(Status::Ok)
    })
}

/// As `ndsr_set_logger`, for a callback that takes the component as an argument of its own
/// (NULL: stderr). Replaces any logger set before, by either function. Never blocks; returns
/// NDSR_OK.
#[no_mangle]
pub extern "C" fn ndsr_set_log_handler(
    func: ndsr_log_handler_fn,
    userdata: *mut c_void,
    max_level: c_int,
) -> c_int {
    status(|| {
        let sink = func.map_or(SinkFn::Stderr, SinkFn::Handler);
        logging::set_log_sink(sink, userdata, max_level);
        Ok(Status::Ok)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_match_cargo_toml() {
        assert_eq!(
            NDSR_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            NDSR_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            NDSR_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        let v = unsafe { std::ffi::CStr::from_ptr(ndsr_version()) }
            .to_str()
            .unwrap();
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
    }
}
