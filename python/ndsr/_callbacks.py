"""How Python callables cross the C ABI: each callback is kept in a table under an integer id,
the id is the C userdata, and one trampoline per callback type looks it up. The library calls
`userdata_free` exactly once after a subscription's last call, which drops the table entry.
Exceptions raised by callbacks are logged through `logging` ("ndsr" logger), never lost and
never passed into C. The library's own log goes to `logging` too ("ndsr.<component>")."""

import atexit
import ctypes
import itertools
import logging
import threading
import weakref

from ._lib import (CHANGE_FN, FREE_FN, LOG_HANDLER_FN, STATE_FN, STATS_FN, lib)

log = logging.getLogger("ndsr")

_table = {}
_ids = itertools.count(1)
_table_lock = threading.Lock()


def keep(fn):
    """Keeps `fn` until the library frees its id; returns the id (the C userdata)."""
    with _table_lock:
        key = next(_ids)
        _table[key] = fn
    return key


def _call(key, *args):
    fn = _table.get(key)
    if fn is None:
        return
    try:
        fn(*args)
    except BaseException:  # noqa: B902 - nothing may unwind into C
        log.exception("a callback raised (the library carries on)")


@FREE_FN
def free_trampoline(key):
    with _table_lock:
        _table.pop(key, None)


@CHANGE_FN
def change_trampoline(key, path, data, length):
    _call(key, path.decode("utf-8"), ctypes.string_at(data, length).decode("utf-8"))


@STATE_FN
def state_trampoline(key, state):
    _call(key, state)


@STATS_FN
def stats_trampoline(key, data, length):
    _call(key, ctypes.string_at(data, length).decode("utf-8"))


# The library's levels (1 error ... 5 trace) and logging's.
_LEVELS = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG, 5: 5}


@LOG_HANDLER_FN
def _log_handler(_userdata, level, component, message):
    try:
        name = "ndsr." + component.decode("utf-8", "replace")
        logging.getLogger(name).log(_LEVELS.get(level, logging.INFO),
                                    message.decode("utf-8", "replace"))
    except BaseException:  # noqa: B902 - nothing may unwind into C
        pass


def library_level(python_level):
    """The library's level that lets through what `python_level` shows."""
    for lib_level in (5, 4, 3, 2, 1):
        if _LEVELS[lib_level] >= python_level:
            return lib_level
    return 1


def route_log(level=None):
    """Sends the library's log lines to `logging`, up to `level` (a logging level; None: what
    the "ndsr" logger shows now)."""
    if level is None:
        level = log.getEffectiveLevel()
    lib.ndsr_set_log_handler(_log_handler, None, library_level(level))


# Open registries, closed at interpreter exit before Python goes away (no callback may run
# into a finalizing interpreter).
open_registries = weakref.WeakSet()


@atexit.register
def _close_at_exit():
    for r in list(open_registries):
        try:
            r.close()
        except BaseException:  # noqa: B902
            pass
    lib.ndsr_set_log_handler(LOG_HANDLER_FN(), None, 3)  # back to stderr
