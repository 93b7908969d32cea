"""One process of a Python fleet (bench/fleet/fleet.py), the twin of member.c: `count` clients,
client i registers /fleet/svc/c<first+i>:1 and watches /fleet/svc. Prints "ready", then
"conv K" whenever K, the number of its clients that are connected and see exactly the fleet's
`total` instances, changes. Exits when its standard input ends.

    member.py kazoo|original CONNECT FIRST COUNT TOTAL SESSION_TIMEOUT_MS

kazoo: a KazooClient with a ChildrenWatch on the service and a DataWatch per child, and the
registration made again after a session loss, as a kazoo user writes it. original: the Python
original, nd_service_registry 1.1.0 (set_node, and get with a callback)."""
import functools
import logging
import select
import sys
import threading

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NodeExistsError

SERVICE = "/fleet/svc"
DATA = b'{"weight":1}'


class KazooMember:
    def __init__(self, connect, i, timeout):
        self.path = "%s/c%d:1" % (SERVICE, i)
        self.children = frozenset()
        self.data = {}
        self.watched = set()
        self.lost = False
        self.zk = KazooClient(hosts=connect, timeout=timeout)
        self.zk.add_listener(self.on_state)
        self.zk.start(timeout=120)
        self.register()
        self.zk.ChildrenWatch(SERVICE, self.on_children)

    def register(self):
        try:
            self.zk.create(self.path, DATA, ephemeral=True, makepath=True)
        except NodeExistsError:
            pass

    def on_state(self, state):
        if state == KazooState.LOST:
            self.lost = True
        elif state == KazooState.CONNECTED and self.lost:
            self.lost = False
            # A listener must not block: register from a thread of its own.
            threading.Thread(target=self.register, daemon=True).start()

    def on_children(self, children):
        for c in set(children) - self.watched:
            self.watched.add(c)
            self.zk.DataWatch("%s/%s" % (SERVICE, c), functools.partial(self.on_data, c))
        self.children = frozenset(children)

    def on_data(self, child, data, _stat):
        if data is None:  # deleted: stop watching it (a new node gets a new watch)
            self.data.pop(child, None)
            self.watched.discard(child)
            return False
        self.data[child] = data
        return None

    def converged(self, expected):
        return (self.zk.state == KazooState.CONNECTED and self.children == expected
                and all(c in self.data for c in expected))

    def stop(self):
        self.zk.stop()


class OriginalMember:
    def __init__(self, connect, i, timeout):
        from nd_service_registry import KazooServiceRegistry
        self.nd = KazooServiceRegistry(server=connect, timeout=timeout)
        self.nd.set_node("%s/c%d:1" % (SERVICE, i), data={"weight": 1})
        self.children = frozenset()
        self.nd.get(SERVICE, callback=self.on_change)

    def on_change(self, doc):
        self.children = frozenset(doc.get("children") or ())

    def converged(self, expected):
        return self.nd.get_state() and self.children == expected

    def stop(self):
        self.nd.stop()


def main():
    kind, connect, first, count, total, timeout_ms = sys.argv[1:]
    first, count, total = int(first), int(count), int(total)
    logging.basicConfig(level=logging.CRITICAL)
    make = {"kazoo": KazooMember, "original": OriginalMember}[kind]
    members = [make(connect, first + i, int(timeout_ms) / 1000.0) for i in range(count)]
    expected = frozenset("c%d:1" % i for i in range(total))
    print("ready", flush=True)
    last = None
    while True:
        k = sum(m.converged(expected) for m in members)
        if k != last:
            print("conv %d" % k, flush=True)
            last = k
        if select.select([sys.stdin], [], [], 0.02)[0] and not sys.stdin.buffer.read1(64):
            break
    for m in members:
        m.stop()


if __name__ == "__main__":
    main()
