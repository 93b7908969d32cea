//! `ndsr_options_t`: the settings builder.

use std::ffi::{c_char, c_int};

use super::args::{arg_ptr, arg_str};
use super::{guard, status};
use crate::discovery::picker;
use crate::discovery::PickerOptions;
use crate::options::Options;
use crate::status::{Error, Status};

/// Settings for `ndsr_open` or `ndsr_picker_new`, set as string key/values. Created by
/// `ndsr_options_new`, freed by `ndsr_options_free`; both copy it, so it may be freed or reused
/// right after. Not thread-safe: use one options object from one thread at a time.
pub struct ndsr_options_t {
    pub(crate) inner: Options,
    /// The picker's settings (the keys of `discovery::picker::KEYS`).
    pub(crate) picker: PickerOptions,
    /// The first key set of each kind (handle, picker), to refuse one given to the other.
    pub(crate) first_handle_key: Option<String>,
    pub(crate) first_picker_key: Option<String>,
}

impl ndsr_options_t {
    /// The handle's options; a picker option set is refused.
    pub(crate) fn for_handle(&self) -> Result<Options, Error> {
        match &self.first_picker_key {
            Some(k) => Err(Error::invalid(format!(
                "{k:?} is a picker option (ndsr_picker_new), not a handle option"
            ))),
            None => Ok(self.inner.clone()),
        }
    }

    /// The picker's options; a handle option set is refused.
    pub(crate) fn for_picker(&self) -> Result<PickerOptions, Error> {
        match &self.first_handle_key {
            Some(k) => Err(Error::invalid(format!(
                "{k:?} is a handle option (ndsr_open), not a picker option"
            ))),
            None => Ok(self.picker.clone()),
        }
    }
}

/// Creates an options object with the defaults (timeout_ms 5000, readonly false, lazy false)
/// and stores it in `*out`. Free it with `ndsr_options_free`. Never blocks.
/// Returns NDSR_OK, or NDSR_E_INVALID_ARGUMENT if `out` is NULL.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_options_new(out: *mut *mut ndsr_options_t) -> c_int {
    status(|| {
        let out = arg_ptr(out, "out")?;
        let b = Box::new(ndsr_options_t {
            inner: Options::default(),
            picker: PickerOptions::default(),
            first_handle_key: None,
            first_picker_key: None,
        });
        // SAFETY: checked non-NULL; the caller provides writable storage.
        unsafe { *out = Box::into_raw(b) };
        Ok(Status::Ok)
    })
}

/// Sets option `key` to `value`. Keys:
/// - `timeout_ms`: session timeout in ms (100..600000, default 5000); also the longest time
///   any call blocks, the wait for the first connection included.
/// - `readonly`: `true`/`false`; writes fail with NDSR_E_READ_ONLY and read-only servers are
///   accepted.
/// - `lazy`: `true`/`false`; `ndsr_open` succeeds even if ZooKeeper cannot be reached.
/// - `username`, `password`: digest authentication, sent on every (re)connection. With both set
///   and no `acl`, created nodes get the original's ACL pair: `digest:<user>:<hash>` with all
///   permissions and `world:anyone` with read; the directories above a registration's own
///   directory are created open. The password is never logged.
/// - `tls_ca`: path of a PEM file of CA certificates; set, every server is spoken to over TLS
///   (ZooKeeper's secureClientPort) and its certificate must chain to one of them and name the
///   host (or IP) connected to. `tls_cert`, `tls_key`: PEM client certificate and key, for
///   servers that require one. The files are read by this call.
/// - `rate_limit_burst`, `rate_limit_per_sec`: a client-side limit on the requests the handle
///   sends (reads, writes, watches): bursts of up to `rate_limit_burst`, then
///   `rate_limit_per_sec` on average. Off by default; set both to turn it on.
/// - `cachefile`: path of a cache file of last known documents (JSON, mode 0600, written
///   atomically, shareable by several processes). A path read while ZooKeeper is unreachable
///   (a lazy open during an outage) is answered from it, marked last-known by
///   `ndsr_get_freshness`, and becomes live once a session exists. Missing nodes and nodes with
///   neither data nor children are not cached.
/// - `keep_last_good_ms` (default 0: off) and `keep_last_good_percent` (default 50): an update
///   of a watched path that would empty its children list, or remove more than that share of
///   it at once, is held back until it has lasted `keep_last_good_ms`; meanwhile readers and
///   callbacks keep the last good list, `ndsr_get_freshness` says 2 (held), and a log line says
///   so. An update that brings the list back ends the hold at once.
/// - `acl`: the ACL for created nodes, `scheme:id:perms[,scheme:id:perms…]` with perms from
///   `cdrwa`, e.g. `world:anyone:r,digest:bob:<base64 sha1>:cdrwa`.
///
/// Keys of a picker (`ndsr_picker_new`; an options object holds the keys of one or the other):
/// - `strategy`: `round_robin` (default), `random`, `weighted` (smooth weighted round-robin by
///   the instances' `weight`), `consistent` (rendezvous hashing of the pick's key: the same key
///   goes to the same instance in every process, and removing an instance moves only its keys).
/// - `filter`: comma-separated `key=value` matches on instance data, all required (e.g.
///   `zone=eu-1`), on top of the `state` rule.
/// - `down_errors`, `down_window_ms` (default 10000), `down_ms` (default 30000): after
///   `down_errors` failed `ndsr_pick_report`s within the window, the instance is not picked for
///   `down_ms` (0 errors, the default: never).
/// - `panic_percent` (default 50): when more than this share of the usable instances is
///   ejected, ejections are ignored (better a failing server than none).
///
/// Returns NDSR_OK, or NDSR_E_INVALID_ARGUMENT (unknown key, bad value, NULL argument; the
/// options are unchanged). Never blocks.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_options_set(
    opts: *mut ndsr_options_t,
    key: *const c_char,
    value: *const c_char,
) -> c_int {
    status(|| {
        let opts = arg_ptr(opts, "opts")?;
        // SAFETY: the caller passes valid C strings and an options object from ndsr_options_new.
        let (key, value) = unsafe { (arg_str(key, "key")?, arg_str(value, "value")?) };
        // SAFETY: checked not NULL; an options object per the contract.
        let opts = unsafe { &mut *opts };
        let first = match picker::KEYS.contains(&key) {
            true => {
                opts.picker.set(key, value)?;
                &mut opts.first_picker_key
            }
            false => {
                opts.inner.set(key, value)?;
                &mut opts.first_handle_key
            }
        };
        first.get_or_insert_with(|| key.to_string());
        Ok(Status::Ok)
    })
}

/// Frees an options object. NULL is allowed and does nothing. Never blocks.
///
/// # Safety
/// Each pointer argument is NULL or points to what the description above says.
#[no_mangle]
pub unsafe extern "C" fn ndsr_options_free(opts: *mut ndsr_options_t) {
    guard(|| {
        if !opts.is_null() {
            // SAFETY: created by ndsr_options_new and not freed before (documented contract).
            drop(unsafe { Box::from_raw(opts) });
        }
    })
}
