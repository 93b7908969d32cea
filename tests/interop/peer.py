"""A Python process running the original nd_service_registry, for the interop test.

Registers NODE with DATA (JSON) (with digest credentials from PEER_USER/PEER_PASSWORD if
set), prints one JSON line with what it reads at READ (the libndsr
process's node) and at DIR, then keeps its registration until stdin closes.
"""
import json
import logging
import os
import sys

from nd_service_registry import KazooServiceRegistry

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
server, node, data, read, directory = sys.argv[1:6]
nd = KazooServiceRegistry(server=server, rate_limit_calls=0, rate_limit_time=0, timeout=10)
if os.environ.get("PEER_USER"):
    nd.set_username(os.environ["PEER_USER"])
    nd.set_password(os.environ["PEER_PASSWORD"])
nd.set_node(node, data=json.loads(data))
seen = nd.get(read)
listing = nd.get(directory)
print(json.dumps({"read": seen["data"], "children": listing["children"]}), flush=True)
sys.stdin.read()
nd.stop()
