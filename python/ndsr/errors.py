"""Exceptions: one class per libndsr status code, each carrying `.code` (the NDSR_E_* value)
and the library's message. `NoConnection` and `ReadOnly` are also what the original
nd_service_registry calls its two exceptions; all derive from `ServiceRegistryException`
as the original's do."""

from ._lib import lib

OK = 0
QUEUED = 1


class ServiceRegistryException(Exception):
    """Base of every ndsr error (the original's base class name). `.code` is the status code,
    `.value` the message (as the original keeps it)."""

    code = None

    def __init__(self, message, code=None):
        super().__init__(message)
        self.value = message
        if code is not None:
            self.code = code

    def __str__(self):
        return self.value


NdsrError = ServiceRegistryException


def _error(name, code, doc):
    cls = type(name, (ServiceRegistryException,), {"code": code, "__doc__": doc})
    return cls


InvalidArgument = _error("InvalidArgument", -1, "A bad path, JSON, option or argument.")
NoConnection = _error("NoConnection", -2, "No connection to ZooKeeper (or none in time).")
ReadOnly = _error("ReadOnly", -3, "A write on a read-only handle.")
NoAuth = _error("NoAuth", -4, "ZooKeeper refused the request: not authorised.")
AuthFailed = _error("AuthFailed", -5, "ZooKeeper refused the credentials.")
TooLarge = _error("TooLarge", -6, "More than one ZooKeeper packet can carry.")
Timeout = _error("Timeout", -7, "Not done within the time given.")
Closed = _error("Closed", -8, "The handle is closed.")
Internal = _error("Internal", -9, "An internal error of the library.")
NotFound = _error("NotFound", -10, "No such node, registration, lock or subscription.")
ZooKeeperError = _error("ZooKeeperError", -11, "Another error from ZooKeeper.")
LockLost = _error("LockLost", -12, "The lock's session ended: someone else may hold it.")
Conflict = _error("Conflict", -13, "Another live session holds the path.")

BY_CODE = {c.code: c for c in (InvalidArgument, NoConnection, ReadOnly, NoAuth, AuthFailed,
                               TooLarge, Timeout, Closed, Internal, NotFound, ZooKeeperError,
                               LockLost, Conflict)}


def check(rc):
    """Raises the exception of status `rc` (with this thread's last error message) if it is an
    error; returns `rc` otherwise."""
    if rc >= 0:
        return rc
    raise error(rc)


def error(rc, message=None):
    """The exception for status `rc`."""
    if message is None:
        detail = lib.ndsr_last_error()
        message = detail.decode("utf-8", "replace") if detail else ""
    name = lib.ndsr_status_str(rc).decode()
    cls = BY_CODE.get(rc, ServiceRegistryException)
    return cls("%s: %s" % (name, message) if message else name, rc)
