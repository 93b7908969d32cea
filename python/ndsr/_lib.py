"""The C ABI of libndsr through ctypes: the library, its functions' signatures, and the
callback types. Everything in the package goes through here, so Python exercises the same
library as C, C++ and Go."""

import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, c_char_p, c_int, c_int64, c_size_t, c_uint64,
                    c_void_p)

c_int_p = POINTER(c_int)
c_int64_p = POINTER(c_int64)
c_size_t_p = POINTER(c_size_t)
c_uint64_p = POINTER(c_uint64)
c_char_pp = POINTER(c_void_p)  # char ** filled by the library (freed with ndsr_string_free)
handle_pp = POINTER(c_void_p)

CHANGE_FN = CFUNCTYPE(None, c_void_p, c_char_p, c_void_p, c_size_t)
STATE_FN = CFUNCTYPE(None, c_void_p, c_int)
STATS_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_size_t)
FREE_FN = CFUNCTYPE(None, c_void_p)
LOG_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p)
LOG_HANDLER_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p, c_char_p)

# Every function of include/ndsr.h: (name, result, arguments). tests/parity.rs checks the list
# against the header.
SIGNATURES = [
    ("ndsr_open", c_int, [c_char_p, c_void_p, handle_pp]),
    ("ndsr_close", None, [c_void_p]),
    ("ndsr_set_node", c_int, [c_void_p, c_char_p, c_char_p]),
    ("ndsr_set_data", c_int, [c_void_p, c_char_p, c_char_p]),
    ("ndsr_unset", c_int, [c_void_p, c_char_p]),
    ("ndsr_get_json", c_int, [c_void_p, c_char_p, c_char_pp, c_size_t_p]),
    ("ndsr_get_freshness", c_int, [c_void_p, c_char_p, c_int_p, c_int64_p]),
    ("ndsr_string_free", None, [c_void_p]),
    ("ndsr_registration_status", c_int, [c_void_p, c_char_p]),
    ("ndsr_set_credentials", c_int, [c_void_p, c_char_p, c_char_p]),
    ("ndsr_stats_json", c_int, [c_void_p, c_char_pp, c_size_t_p]),
    ("ndsr_stats_prometheus", c_int, [c_void_p, c_char_pp, c_size_t_p]),
    ("ndsr_session_id", c_int, [c_void_p, c_int64_p]),
    ("ndsr_rebuild", c_int, [c_void_p]),
    ("ndsr_state", c_int, [c_void_p]),
    ("ndsr_on_change", c_int, [c_void_p, c_char_p, CHANGE_FN, c_void_p, FREE_FN, c_uint64_p]),
    ("ndsr_on_diff", c_int, [c_void_p, c_char_p, CHANGE_FN, c_void_p, FREE_FN, c_uint64_p]),
    ("ndsr_on_state", c_int, [c_void_p, STATE_FN, c_void_p, FREE_FN, c_uint64_p]),
    ("ndsr_on_stats", c_int, [c_void_p, c_int, STATS_FN, c_void_p, FREE_FN, c_uint64_p]),
    ("ndsr_off", c_int, [c_void_p, c_uint64]),
    ("ndsr_set_debounce", c_int, [c_void_p, c_uint64, c_int]),
    ("ndsr_lock_acquire", c_int, [c_void_p, c_char_p, c_char_p, c_int, c_int64, handle_pp]),
    ("ndsr_lock_release", c_int, [c_void_p]),
    ("ndsr_lock_check", c_int, [c_void_p]),
    ("ndsr_lock_free", None, [c_void_p]),
    ("ndsr_acquire_lock", c_int, [c_void_p, c_char_p, c_char_p, c_int, c_int64]),
    ("ndsr_release_lock", c_int, [c_void_p, c_char_p]),
    ("ndsr_version", c_char_p, []),
    ("ndsr_status_str", c_char_p, [c_int]),
    ("ndsr_last_error", c_char_p, []),
    ("ndsr_set_logger", c_int, [LOG_FN, c_void_p, c_int]),
    ("ndsr_set_log_handler", c_int, [LOG_HANDLER_FN, c_void_p, c_int]),
    ("ndsr_options_new", c_int, [handle_pp]),
    ("ndsr_options_set", c_int, [c_void_p, c_char_p, c_char_p]),
    ("ndsr_options_free", None, [c_void_p]),
    ("ndsr_picker_new", c_int, [c_void_p, c_char_p, c_void_p, handle_pp]),
    ("ndsr_pick", c_int, [c_void_p, c_char_p, c_void_p, c_size_t, c_size_t_p]),
    ("ndsr_pick_report", c_int, [c_void_p, c_char_p, c_int]),
    ("ndsr_picker_free", None, [c_void_p]),
    ("ndsr_wait_for", c_int, [c_void_p, c_char_p, c_size_t, c_int]),
    ("ndsr_drain", c_int, [c_void_p, c_char_p, c_int]),
    ("ndsr_snapshot_get", c_int, [c_void_p, c_char_p, handle_pp]),
    ("ndsr_snapshot_release", c_int, [c_void_p]),
    ("ndsr_snapshot_json", c_void_p, [c_void_p, c_size_t_p]),
    ("ndsr_snapshot_count", c_size_t, [c_void_p]),
    ("ndsr_snapshot_name", c_void_p, [c_void_p, c_size_t]),
    ("ndsr_snapshot_child_json", c_void_p, [c_void_p, c_size_t, c_size_t_p]),
    ("ndsr_snapshot_child_str", c_void_p, [c_void_p, c_size_t, c_char_p]),
    ("ndsr_snapshot_child_int", c_int, [c_void_p, c_size_t, c_char_p, c_int64_p]),
]


def _path():
    """The library: $NDSR_LIBRARY, else the copy bundled in the package."""
    given = os.environ.get("NDSR_LIBRARY")
    if given:
        return given
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_native", "libndsr.so")


def _load():
    lib = ctypes.CDLL(_path())
    for name, restype, argtypes in SIGNATURES:
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = argtypes
    return lib


lib = _load()


def text(ptr, length=None):
    """A str from a borrowed C string (`length` bytes, or up to the NUL)."""
    if not ptr:
        return None
    raw = ctypes.string_at(ptr, length) if length is not None else ctypes.string_at(ptr)
    return raw.decode("utf-8")


def take_text(call):
    """Runs `call(out, out_len)` for a string the library allocates; returns (status, str)."""
    out, length = c_void_p(), c_size_t()
    rc = call(ctypes.byref(out), ctypes.byref(length))
    if rc < 0 or not out.value:
        return rc, None
    try:
        return rc, ctypes.string_at(out.value, length.value).decode("utf-8")
    finally:
        lib.ndsr_string_free(out)
