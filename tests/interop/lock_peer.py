"""Drives nd_service_registry's locks (kazoo Semaphore) from stdin, for the lock interop test.

Commands, one per line: "acquire PATH WAIT_SECONDS" -> prints True/False; "release PATH" ->
prints True/False; "quit".
"""
import logging
import sys

from nd_service_registry import KazooServiceRegistry

logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
nd = KazooServiceRegistry(server=sys.argv[1], rate_limit_calls=0, rate_limit_time=0, timeout=10)
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if not cmd or cmd[0] == "quit":
        break
    if cmd[0] == "acquire":
        print(nd.acquire_lock(cmd[1], name="python", wait=float(cmd[2])), flush=True)
    elif cmd[0] == "release":
        print(nd.release_lock(cmd[1]), flush=True)
nd.stop()
