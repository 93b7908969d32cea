"""libndsr for Python: a service registry and dynamic configuration on Apache ZooKeeper.

    import ndsr
    with ndsr.Registry("zk1:2181", timeout=5) as r:
        r.set_node("/services/web/host1:80", {"weight": 10})
        doc = r.get("/services/web")            # {"path", "stat", "data", "children": {name: data}}
        sub = r.on_change("/services/web", print)
        print(r.picker("/services/web").pick())  # "host1:80"

Everything goes through libndsr's C ABI (ctypes), so Python shares one registry, and one set
of behaviours, with C, C++ and Go programs and with the original nd_service_registry (whose
drop-in is `ndsr.compat.KazooServiceRegistry`). Callbacks run on the library's callback
thread; an exception a callback raises is logged to the "ndsr" logger. The library's own log
goes to `logging` ("ndsr.<component>").
"""

from ._callbacks import route_log as set_log_level
from .errors import (AuthFailed, Closed, Conflict, Internal, InvalidArgument, LockLost,
                     NdsrError, NoAuth, NoConnection, NotFound, ReadOnly,
                     ServiceRegistryException, Timeout, TooLarge, ZooKeeperError)
from .registry import (Document, Lock, Picker, Registry, Snapshot, State, Subscription,
                       version)

__all__ = [
    "Registry", "Subscription", "Snapshot", "Picker", "Lock", "State", "Document", "version",
    "set_log_level", "NdsrError", "ServiceRegistryException", "InvalidArgument",
    "NoConnection", "ReadOnly", "NoAuth", "AuthFailed", "TooLarge", "Timeout", "Closed",
    "Internal", "NotFound", "ZooKeeperError", "LockLost", "Conflict",
]
__version__ = "0.1.0"
