"""Prints, as one JSON object, what the Python original's `ndsr get PATH [flags]` prints for
every combination of --data, --recursive and --outputformat, using the original's own Get class
(nd_service_registry.bin.ndsr.get) and node decoding. Children are read with kazoo and handed
over in the pre-1.0 dict form that the original's --recursive expects (its bug: it iterates the
1.0+ list as a dict).

usage: cli_expected.py SERVER PATH
"""
import json
import sys

from kazoo.client import KazooClient
from nd_service_registry import funcs
from nd_service_registry.bin.ndsr.get import Get

server, path = sys.argv[1], sys.argv[2]
zk = KazooClient(hosts=server)
zk.start()


class Tree(object):
    def get(self, p):
        data, _ = zk.get(p)
        children = {name: None for name in sorted(zk.get_children(p))}
        return {"path": p, "data": funcs.decode(data), "children": children}


class Flags(object):
    pass


out = {}
for data in (False, True):
    for recursive in (False, True):
        for fmt in ("yaml", "json", "dir"):
            f = Flags()
            f.data, f.recursive, f.outputformat = data, recursive, fmt
            # print() adds a newline to what execute() returns.
            out["%s %s %s" % (data, recursive, fmt)] = Get(Tree()).execute(["ndsr", "get", path], f) + "\n"
zk.stop()
print(json.dumps(out))
