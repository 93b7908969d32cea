"""The Pythonic API: `Registry` and what it hands out (subscriptions, snapshots, pickers,
locks). Every method is one call of the C ABI; errors are exceptions carrying the status code
(see `ndsr.errors`)."""

import ctypes
import enum
import json
import threading
from ctypes import byref, c_int, c_int64, c_size_t, c_uint64, c_void_p
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from . import _callbacks
from ._lib import lib, take_text, text
from .errors import QUEUED, Closed, NotFound, TooLarge, check, error

Document = Dict[str, Any]


class State(enum.IntEnum):
    """A connection state (the NDSR_STATE_* values)."""

    DISCONNECTED = 0
    CONNECTED = 1
    CONNECTED_READ_ONLY = 2
    EXPIRED = 3
    AUTH_FAILED = 4
    CLOSED = 5


# Options given in seconds in Python, in milliseconds in C.
_SECONDS = {"timeout": "timeout_ms", "keep_last_good": "keep_last_good_ms"}


def _c(s: Optional[str]) -> Optional[bytes]:
    return None if s is None else s.encode("utf-8")


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def _options(options: Dict[str, Any]) -> c_void_p:
    """A C options object from keyword options (the caller frees it)."""
    opts = c_void_p()
    check(lib.ndsr_options_new(byref(opts)))
    try:
        for key, value in options.items():
            if value is None:
                continue
            if key in _SECONDS:
                key, value = _SECONDS[key], int(round(float(value) * 1000))
            if isinstance(value, bool):
                value = "true" if value else "false"
            check(lib.ndsr_options_set(opts, _c(key), _c(str(value))))
    except BaseException:
        lib.ndsr_options_free(opts)
        raise
    return opts


class Registry:
    """A handle on ZooKeeper: registrations, watched paths, locks, one session.

    `Registry(server="zk1:2181,zk2:2181", timeout=5, lazy=False, readonly=False, username=…,
    password=…, acl=…, cachefile=…, keep_last_good=…, rate_limit_burst=…, …)`: the options of
    `ndsr_options_set` (durations in seconds). Blocks until a session exists, at most `timeout`
    (not at all with `lazy=True`); raises `NoConnection` otherwise. A context manager: leaving
    it closes the handle (ZooKeeper removes its ephemeral nodes at once).
    """

    def __init__(self, server: Optional[str] = None, **options: Any) -> None:
        _callbacks.route_log()
        opts = _options(options)
        handle = c_void_p()
        try:
            check(lib.ndsr_open(_c(server), opts, byref(handle)))
        finally:
            lib.ndsr_options_free(opts)
        self._h = handle
        # Per path: the snapshot of the document last parsed, and the parsed dict (see `get`).
        self._parsed: Dict[str, Tuple[c_void_p, int, int, Document]] = {}
        self._parsed_lock = threading.Lock()
        _callbacks.open_registries.add(self)

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Closes the handle; calling it again does nothing. Blocks at most about `timeout`."""
        h, self._h = self._h, None
        if h is not None:
            lib.ndsr_close(h)
            with self._parsed_lock:
                kept, self._parsed = list(self._parsed.values()), {}
            for snapshot, *_ in kept:
                lib.ndsr_snapshot_release(snapshot)

    def _handle(self) -> c_void_p:
        if self._h is None:
            raise Closed("the registry is closed", -8)
        return self._h

    # Registrations and data.

    def set_node(self, path: str, data: Any = None) -> bool:
        """Registers `path` as an ephemeral node holding `data` (a dict, a str, or None), kept
        for as long as the handle lives (made again after a session expiry). True when done,
        False when queued until the connection is back."""
        return check(lib.ndsr_set_node(self._handle(), _c(path), _json(data))) != QUEUED

    def set_data(self, path: str, data: Any = None) -> bool:
        """Stores `data` in the persistent node `path` (created with its parents)."""
        return check(lib.ndsr_set_data(self._handle(), _c(path), _json(data))) != QUEUED

    def unset(self, path: str) -> bool:
        """Removes `path` and this handle's registration of it."""
        return check(lib.ndsr_unset(self._handle(), _c(path))) != QUEUED

    def get(self, path: str) -> Document:
        """The document of `path`: `{"path", "stat", "data", "children": {name: data}}`, from
        the cache when the path is watched (it is from then on), else read first.

        The dict is parsed once per version of the document and shared by every `get` until
        the document changes (a few microseconds from the cache): treat it as read-only, and
        `copy.deepcopy` it to change it."""
        s = c_void_p()
        check(lib.ndsr_snapshot_get(self._handle(), _c(path), byref(s)))
        n = c_size_t()
        ptr = lib.ndsr_snapshot_json(s, byref(n))
        with self._parsed_lock:
            kept = self._parsed.get(path)
            # The same document: its JSON is where it was (the snapshot kept below holds it,
            # so the address cannot have been reused).
            if kept is not None and kept[1] == ptr and kept[2] == n.value:
                lib.ndsr_snapshot_release(s)
                return kept[3]
            doc = json.loads(ctypes.string_at(ptr, n.value))
            self._parsed[path] = (s, ptr, n.value, doc)
        if kept is not None:
            lib.ndsr_snapshot_release(kept[0])
        return doc

    def get_json(self, path: str) -> str:
        """The document of `path` as JSON text (a fresh copy), for passing on unparsed."""
        return self._text(lambda h, out, n: lib.ndsr_get_json(h, _c(path), out, n))

    def freshness(self, path: str) -> Tuple[str, float]:
        """Whether `get(path)` is "live", "last-known" or "held" (keep last good), and since
        when (Unix seconds)."""
        live, since = c_int(), c_int64()
        check(lib.ndsr_get_freshness(self._handle(), _c(path), byref(live), byref(since)))
        return ({0: "last-known", 1: "live", 2: "held"}.get(live.value, "last-known"),
                since.value / 1000.0)

    def registration_status(self, path: str) -> str:
        """"registered" or "queued"; raises Conflict (another live session holds it),
        NotFound (not registered here) or the error ZooKeeper refused it with."""
        rc = check(lib.ndsr_registration_status(self._handle(), _c(path)))
        return "queued" if rc == QUEUED else "registered"

    # Callbacks: on the library's callback thread, one at a time, in order.

    def on_change(self, path: str, fn: Callable[[Document], None]) -> "Subscription":
        """Calls `fn(document)` now and after every change of `path`."""
        return self._subscribe(lib.ndsr_on_change, _c(path), _callbacks.change_trampoline,
                               lambda _path, doc: fn(json.loads(doc)))

    def on_diff(self, path: str, fn: Callable[[Document], None]) -> "Subscription":
        """Calls `fn(diff)` with what changed in `path` (`added`, `removed`, `changed`, `data`);
        the first call has every child in `added`."""
        return self._subscribe(lib.ndsr_on_diff, _c(path), _callbacks.change_trampoline,
                               lambda _path, diff: fn(json.loads(diff)))

    def on_state(self, fn: Callable[[State], None]) -> "Subscription":
        """Calls `fn(state)` with the connection state now and after every change."""
        return self._subscribe(lib.ndsr_on_state, None, _callbacks.state_trampoline,
                               lambda s: fn(State(s)))

    def on_stats(self, interval: float, fn: Callable[[Dict[str, Any]], None]) -> "Subscription":
        """Calls `fn(stats)` every `interval` seconds with what `stats()` gives."""
        return self._subscribe(lib.ndsr_on_stats, int(round(interval * 1000)),
                               _callbacks.stats_trampoline, lambda s: fn(json.loads(s)))

    def _subscribe(self, call: Any, first: Any, trampoline: Any,
                   fn: Callable[..., None]) -> "Subscription":
        """`call(handle, [first,] trampoline, key, free, &id)`: every ndsr_on_* function. From
        the call on, the library owns `fn`'s key (it frees it even when the call fails)."""
        h = self._handle()
        key = _callbacks.keep(fn)
        sub = c_uint64()
        leading = () if first is None else (first,)
        check(call(h, *leading, trampoline, c_void_p(key),
                   _callbacks.free_trampoline, byref(sub)))
        return Subscription(self, sub.value)

    # Discovery.

    def snapshot(self, path: str) -> "Snapshot":
        """A read-only view of the document of `path`, without a copy (release it, or use it
        as a context manager)."""
        s = c_void_p()
        check(lib.ndsr_snapshot_get(self._handle(), _c(path), byref(s)))
        return Snapshot(s)

    def picker(self, path: str, **options: Any) -> "Picker":
        """A picker of the instances of `path`: `strategy` ("random", "round_robin",
        "weighted", "consistent"), `filter` ("zone=eu-1"), `down_errors`, `down_window_ms`,
        `down_ms`, `panic_percent`."""
        opts = _options(options)
        p = c_void_p()
        try:
            check(lib.ndsr_picker_new(self._handle(), _c(path), opts, byref(p)))
        finally:
            lib.ndsr_options_free(opts)
        return Picker(p)

    def wait_for(self, path: str, min_instances: int = 1, timeout: float = 10.0) -> None:
        """Waits until `path` has `min_instances` usable instances; raises Timeout."""
        check(lib.ndsr_wait_for(self._handle(), _c(path), min_instances,
                                int(round(timeout * 1000))))

    def drain(self, path: str, grace: float) -> None:
        """Marks this handle's registration of `path` `state: draining`, and removes it after
        `grace` seconds. Returns at once."""
        check(lib.ndsr_drain(self._handle(), _c(path), int(round(grace * 1000))))

    # Locks (kazoo's Semaphore layout, shared with the original).

    def lock(self, path: str, name: Optional[str] = None, simultaneous: int = 1,
             wait: float = 0.0) -> "Lock":
        """Acquires the lock `path`, waiting up to `wait` seconds; raises Timeout. Use it as a
        context manager: `with registry.lock("/locks/job"): …`."""
        out = c_void_p()
        check(lib.ndsr_lock_acquire(self._handle(), _c(path), _c(name), simultaneous,
                                    int(round(wait * 1000)), byref(out)))
        return Lock(out)

    def acquire_lock(self, path: str, name: Optional[str] = None, simultaneous: int = 1,
                     wait: float = 0.0) -> None:
        """Acquires the lock `path`, kept by the handle until `release_lock(path)`."""
        check(lib.ndsr_acquire_lock(self._handle(), _c(path), _c(name), simultaneous,
                                    int(round(wait * 1000))))

    def release_lock(self, path: str) -> None:
        check(lib.ndsr_release_lock(self._handle(), _c(path)))

    # The session.

    @property
    def state(self) -> State:
        """The connection state now."""
        return State(lib.ndsr_state(self._h) if self._h is not None else State.CLOSED)

    def session_id(self) -> int:
        out = c_int64()
        check(lib.ndsr_session_id(self._handle(), byref(out)))
        return out.value

    def set_credentials(self, username: str, password: str) -> None:
        """Digest credentials, now and on every later session."""
        check(lib.ndsr_set_credentials(self._handle(), _c(username), _c(password)))

    def rebuild(self) -> bool:
        """A forked child's own session now (any call does it too). True when done."""
        return check(lib.ndsr_rebuild(self._handle())) != QUEUED

    def stats(self) -> Dict[str, Any]:
        """Counters and gauges (see `ndsr_stats_json`)."""
        return json.loads(self._text(lib.ndsr_stats_json))

    def stats_prometheus(self) -> str:
        """The same in Prometheus' text format."""
        return self._text(lib.ndsr_stats_prometheus)

    def _text(self, call: Any) -> str:
        h = self._handle()
        rc, out = take_text(lambda o, n: call(h, o, n))
        check(rc)
        return out


class Subscription:
    """A callback registration; `close()` ends it (no new call starts after it returns)."""

    def __init__(self, registry: Registry, sub_id: int) -> None:
        self._registry = registry
        self.id = sub_id

    def close(self) -> None:
        """Ends the subscription; again, or after the registry closed, does nothing."""
        h = self._registry._h
        if h is not None:
            rc = lib.ndsr_off(h, self.id)
            if rc not in (0, NotFound.code, Closed.code):
                raise error(rc)

    def debounce(self, interval: float) -> None:
        """At most one call per `interval` seconds, always the latest (0: every change)."""
        check(lib.ndsr_set_debounce(self._registry._handle(), self.id,
                                    int(round(interval * 1000))))

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Snapshot:
    """An immutable view of a watched path's document, children in name order. Released by
    `release()`, leaving a `with` block, or when collected."""

    def __init__(self, ptr: c_void_p) -> None:
        self._s = ptr

    def _ptr(self) -> c_void_p:
        if self._s is None:
            raise NotFound("the snapshot is released", -10)
        return self._s

    def release(self) -> None:
        s, self._s = self._s, None
        if s is not None:
            lib.ndsr_snapshot_release(s)

    __del__ = release

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __len__(self) -> int:
        return lib.ndsr_snapshot_count(self._ptr())

    def names(self) -> Iterator[str]:
        """The children's names, in order."""
        s = self._ptr()
        return (text(lib.ndsr_snapshot_name(s, i)) for i in range(len(self)))

    def json(self) -> str:
        n = c_size_t()
        return text(lib.ndsr_snapshot_json(self._ptr(), byref(n)), n.value)

    def document(self) -> Document:
        return json.loads(self.json())

    def child(self, i: int) -> Any:
        """Child `i`'s data."""
        n = c_size_t()
        raw = lib.ndsr_snapshot_child_json(self._ptr(), i, byref(n))
        if not raw:
            raise IndexError(i)
        return json.loads(text(raw, n.value))

    def child_str(self, i: int, key: str) -> Optional[str]:
        """The string `key` of child `i`'s data (None when absent or not a string)."""
        return text(lib.ndsr_snapshot_child_str(self._ptr(), i, _c(key)))

    def child_int(self, i: int, key: str) -> int:
        """The integer `key` of child `i`'s data; raises NotFound."""
        out = c_int64()
        check(lib.ndsr_snapshot_child_int(self._ptr(), i, _c(key), byref(out)))
        return out.value


class Picker:
    """Picks an instance of a service: `pick()` gives its name (`host:port`)."""

    def __init__(self, ptr: c_void_p) -> None:
        self._p = ptr

    def pick(self, key: Optional[str] = None) -> str:
        """One usable instance; raises NotFound when there is none."""
        buf = ctypes.create_string_buffer(256)
        n = c_size_t()
        rc = lib.ndsr_pick(self._p, _c(key), buf, len(buf), byref(n))
        if rc == TooLarge.code:  # longer than the buffer: n says how long
            buf = ctypes.create_string_buffer(n.value + 1)
            rc = lib.ndsr_pick(self._p, _c(key), buf, len(buf), byref(n))
        check(rc)
        return buf.raw[:n.value].decode("utf-8")

    def report(self, name: str, ok: bool) -> None:
        """How a request to `name` went (for the down-instance policy)."""
        check(lib.ndsr_pick_report(self._p, _c(name), 1 if ok else 0))

    def close(self) -> None:
        p, self._p = self._p, None
        if p is not None:
            lib.ndsr_picker_free(p)

    __del__ = close


class Lock:
    """A held lock: `release()`, `held()`; leaving a `with` block releases it."""

    def __init__(self, ptr: c_void_p) -> None:
        self._l = ptr

    def release(self) -> None:
        """Releases the lock (others may take it at once)."""
        if self._l is not None:
            check(lib.ndsr_lock_release(self._l))

    def held(self) -> bool:
        """True while held; raises LockLost once its session ended."""
        rc = lib.ndsr_lock_check(self._l) if self._l is not None else NotFound.code
        if rc == NotFound.code:
            return False
        check(rc)
        return True

    def __enter__(self) -> "Lock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.free()

    def free(self) -> None:
        """Releases (if held) and frees the lock."""
        l, self._l = self._l, None
        if l is not None:
            lib.ndsr_lock_free(l)

    __del__ = free


def version() -> str:
    """The library's version."""
    return lib.ndsr_version().decode()
