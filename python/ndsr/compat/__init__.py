"""A drop-in for code written against nd_service_registry 1.1 (Nextdoor's original):

    from ndsr.compat import KazooServiceRegistry
    nd = KazooServiceRegistry(server="zk1:2181", timeout=5)
    nd.set_node("/services/web/host1:80", {"weight": 10})
    nd.get("/services/web", callback=on_change)

The original's constructor arguments, methods, return values and its two exceptions
(`NoConnection`, `ReadOnly`, from `ndsr.compat.exceptions` as from
`nd_service_registry.exceptions`), on libndsr. Where it deliberately differs (README, "Python"):
`get()`'s `children` maps each child to its data (the original lists names only; iterating
gives the names, `sorted(children)` the original's list); writes while disconnected are kept
and applied on reconnection instead of raising `NoConnection`; callbacks run on the library's
callback thread (the first call too); a forked child keeps the parent's registrations without
re-creating them in every worker; the cache file is libndsr's JSON file, not a pickle; the rate
limit is off unless `rate_limit_calls`/`rate_limit_time` are given; a waiting `acquire_lock`
takes the lock as soon as it is free (the original waits out `wait`).
"""

import collections
import threading
from typing import Any, Callable, Dict, List, Optional

from .. import errors
from ..registry import Lock as _HeldLock
from ..registry import Registry, State
from . import exceptions

__all__ = ["KazooServiceRegistry", "exceptions", "NoConnection", "ReadOnly",
           "ServiceRegistryException", "TIMEOUT", "SERVER", "LOCK_WAIT"]

NoConnection = exceptions.NoConnection
ReadOnly = exceptions.ReadOnly
ServiceRegistryException = exceptions.ServiceRegistryException

TIMEOUT = 5
SERVER = "localhost:2181"
LOCK_WAIT = 300

# kazoo's ZnodeStat: the same fields in the same order (so the two compare equal).
ZnodeStat = collections.namedtuple(
    "ZnodeStat", "czxid mzxid ctime mtime version cversion aversion ephemeralOwner "
                 "dataLength numChildren pzxid")

_PERMS = (("c", 4), ("d", 8), ("r", 1), ("w", 2), ("a", 16))


def _acl_text(acl: Any) -> Optional[str]:
    """The ACL as libndsr takes it (`scheme:id:perms,…`): given so, or as kazoo ACL objects."""
    if acl is None or isinstance(acl, str):
        return acl
    return ",".join("%s:%s:%s" % (a.id.scheme, a.id.id,
                                  "".join(l for l, bit in _PERMS if a.perms & bit))
                    for a in acl)


def _original_shape(doc: Dict[str, Any]) -> Dict[str, Any]:
    """libndsr's document as the original's `get()` gives it (stat as kazoo's ZnodeStat)."""
    stat = doc.get("stat")
    return {
        "path": doc["path"],
        "stat": ZnodeStat(*(stat[f] for f in ZnodeStat._fields)) if stat else None,
        "data": doc.get("data"),
        "children": doc.get("children") or {},
    }


class _Lock:
    """The original's Lock: `acquire()` → bool, `release()` → bool, `status()`, and a context
    manager whose block runs whether or not the lock was acquired."""

    def __init__(self, registry: "KazooServiceRegistry", path: str, name: Optional[str],
                 simultaneous: int, wait: float) -> None:
        self._registry, self._path = registry, path
        self._name, self._simultaneous, self._wait = name, simultaneous, wait
        self._held: Optional[_HeldLock] = None

    def acquire(self) -> bool:
        if self.status():
            return True
        try:
            self._held = self._registry._r().lock(self._path, self._name,
                                                  self._simultaneous, self._wait)
        except errors.Timeout:
            return False
        return True

    def release(self) -> bool:
        held, self._held = self._held, None
        if held is None:
            return False
        held.free()
        return True

    def status(self) -> bool:
        try:
            return self._held is not None and self._held.held()
        except errors.ServiceRegistryException:
            return False

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


class KazooServiceRegistry:
    """nd_service_registry's `KazooServiceRegistry` on libndsr. A process-wide singleton, as
    the original: every construction after the first returns the same object and ignores its
    arguments (until a construction fails)."""

    _instance = None
    _initialized = False

    def __new__(cls, **kwargs: Any) -> "KazooServiceRegistry":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __init__(self, server: str = SERVER, readonly: bool = False, timeout: float = TIMEOUT,
                 cachefile: Optional[str] = None, username: Optional[str] = None,
                 password: Optional[str] = None, acl: Any = None, lazy: bool = False,
                 rate_limit_calls: Optional[int] = None,
                 rate_limit_time: Optional[int] = None) -> None:
        if self._initialized:
            return
        self._server, self._readonly, self._timeout = server, readonly, timeout
        self._cachefile, self._acl, self._lazy = cachefile, acl, lazy
        self._username, self._password = username, password
        self._rate = (rate_limit_calls, rate_limit_time)
        self._mu = threading.RLock()
        self._callbacks: Dict[str, List[Callable[[Dict[str, Any]], Any]]] = {}
        self._subscriptions: Dict[str, Any] = {}
        self._state_callbacks: List[Callable[[bool], Any]] = []
        self._state_sub = None
        self._registrations: Dict[str, Any] = {}
        self._locks: Dict[str, _Lock] = {}
        self._registry: Optional[Registry] = None
        self.start()
        type(self)._initialized = True

    # The session.

    def start(self) -> None:
        """Connects (again), with the settings given at construction; registrations, watched
        paths and state callbacks carry over."""
        with self._mu:
            if self._registry is not None:
                return
            options: Dict[str, Any] = {"timeout": self._timeout, "readonly": self._readonly,
                                       "lazy": self._lazy, "cachefile": self._cachefile or None,
                                       "acl": _acl_text(self._acl)}
            if self._username and self._password:
                options.update(username=self._username, password=self._password)
            calls, seconds = self._rate
            if isinstance(calls, int) and isinstance(seconds, int) and calls and seconds:
                options.update(rate_limit_burst=calls, rate_limit_per_sec=1.0 / seconds)
            try:
                self._registry = Registry(self._server, **options)
            except errors.NoConnection:
                raise NoConnection("Could not connect to Zookeeper", errors.NoConnection.code)
            self._restore()

    def _restore(self) -> None:
        """After `start()` following a `stop()`: registrations and subscriptions again."""
        for path, (kind, data) in list(self._registrations.items()):
            self._set(path, data, True, kind)
        paths = list(self._callbacks)
        self._subscriptions.clear()
        for path in paths:
            self._watch(path)
        if self._state_callbacks:
            self._state_sub = self._r().on_state(self._on_state)

    def stop(self) -> None:
        """Closes the session (its ephemeral nodes go at once); what was registered and watched
        is kept for `start()`. Never raises."""
        with self._mu:
            r, self._registry = self._registry, None
        if r is not None:
            try:
                r.close()
            except Exception:
                pass

    def rebuild(self) -> None:
        """A forked child's own session (libndsr also does it by itself on the next call)."""
        self._r().rebuild()

    def _r(self) -> Registry:
        r = self._registry
        if r is None:
            raise NoConnection("Service is down. Try again later.", errors.NoConnection.code)
        return r

    # Registrations.

    def set_node(self, node: str, data: Any = None, state: bool = True) -> bool:
        return self._set(node, data, state, "node")

    def set_data(self, node: str, data: Any = None, state: bool = True) -> bool:
        return self._set(node, data, state, "data")

    def unset(self, node: str, type: Any = None) -> bool:
        return self._set(node, None, False, "data")

    def _set(self, node: str, data: Any, state: bool, kind: str) -> bool:
        r = self._r()
        try:
            if not state:
                self._registrations.pop(node, None)
                r.unset(node)
            elif kind == "node":
                r.set_node(node, data or None)
                self._registrations[node] = (kind, data)
            else:
                r.set_data(node, data or None)
                self._registrations[node] = (kind, data)
        except errors.ReadOnly:
            raise ReadOnly("In read-only mode, no writes allowed", errors.ReadOnly.code)
        return True

    # Reads and callbacks.

    def get(self, path: str, callback: Optional[Callable[[Dict[str, Any]], Any]] = None) -> Any:
        """The original's dict for `path` (`path`, `stat`, `data`, `children`); `callback`, if
        given, is called with it now and after every change. False when the path was never
        read and ZooKeeper cannot be reached now."""
        if callback is not None:
            self.add_callback(path, callback)
        try:
            return _original_shape(self._r().get(path))
        except errors.NoConnection:
            return False

    def add_callback(self, path: str, callback: Callable[[Dict[str, Any]], Any]) -> None:
        with self._mu:
            callbacks = self._callbacks.setdefault(path, [])
            if callback in callbacks:
                return
            callbacks.append(callback)
            if path in self._subscriptions:
                self._call_now(path, callback)
            else:
                self._watch(path)

    def _watch(self, path: str) -> None:
        def changed(doc: Dict[str, Any]) -> None:
            shaped = _original_shape(doc)
            for cb in list(self._callbacks.get(path, [])):
                cb(shaped)
        self._subscriptions[path] = self._r().on_change(path, changed)

    def _call_now(self, path: str, callback: Callable[[Dict[str, Any]], Any]) -> None:
        """A callback added to a watched path is called at once, with the document now."""
        try:
            callback(_original_shape(self._r().get(path)))
        except errors.NoConnection:
            pass

    def get_state(self, callback: Optional[Callable[[bool], Any]] = None) -> bool:
        """Whether connected; `callback(bool)` now and after every change."""
        with self._mu:
            if callback is not None and callback not in self._state_callbacks:
                self._state_callbacks.append(callback)
                if self._state_sub is None:
                    self._state_sub = self._r().on_state(self._on_state)
                else:
                    callback(self._connected())
        return self._connected()

    def _connected(self) -> bool:
        r = self._registry
        return r is not None and r.state in (State.CONNECTED, State.CONNECTED_READ_ONLY)

    def _on_state(self, state: State) -> None:
        up = state in (State.CONNECTED, State.CONNECTED_READ_ONLY)
        for cb in list(self._state_callbacks):
            cb(up)

    # Locks.

    def get_lock(self, path: str, name: Optional[str] = None, simultaneous: int = 1,
                 wait: float = LOCK_WAIT) -> _Lock:
        """The lock of `path` (one per path: later calls give the same object and ignore the
        other arguments, as the original)."""
        self._r()
        with self._mu:
            if path not in self._locks:
                self._locks[path] = _Lock(self, path, name, simultaneous, wait)
            return self._locks[path]

    def acquire_lock(self, path: str, name: Optional[str] = None, simultaneous: int = 1,
                     wait: float = LOCK_WAIT) -> bool:
        lock = self.get_lock(path, name, simultaneous, wait)
        lock.acquire()
        return lock.status()

    def release_lock(self, path: str) -> bool:
        lock = self._locks.get(path)
        if lock is None:
            return True
        lock.release()
        return not lock.status()

    # Credentials.

    def username(self) -> Optional[str]:
        return self._username

    def password(self) -> Optional[str]:
        return self._password

    def set_username(self, username: str) -> None:
        if username != self._username:
            self._username = username
            self._authenticate()

    def set_password(self, password: str) -> None:
        if password != self._password:
            self._password = password
            self._authenticate()

    def _authenticate(self) -> None:
        if self._username and self._password:
            self._r().set_credentials(self._username, self._password)

    def __repr__(self) -> str:
        return "KazooServiceRegistry(server=%r) on libndsr" % (self._server,)
