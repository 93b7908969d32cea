#!/usr/bin/env python3
"""Python targets of the Python issue, side by side with the original nd_service_registry in one
run on one throw-away ZooKeeper (bench/python/run.sh starts it):

  P1  cached get() of a 10-child service (libndsr: children with data; the original: names)
  P2  cached get() of a 1,000-child service
  P3  set_node() of new paths, one after another (the original with its rate limiter off)

Each figure is the median of 7 repetitions. Usage: bench.py SERVER [--out FILE]."""

import json
import os
import statistics
import sys
import time
import timeit
import uuid

import nd_service_registry

import ndsr

REPS = 7


def per_call_us(fn, calls):
    runs = [timeit.timeit(fn, number=calls) / calls * 1e6 for _ in range(REPS)]
    return statistics.median(runs)


def fill(server, path, n):
    writer = ndsr.Registry(server, timeout=10)
    for i in range(n):
        writer.set_node("%s/host%04d:%d" % (path, i, 8000 + i),
                        {"weight": i % 7, "zone": "eu-%d" % (i % 3)})
    return writer


def until(pred, timeout=30):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the services to fill")
        time.sleep(0.05)


def set_node_rate(set_node, base, n):
    """New paths per second, median of a few runs of n each."""
    rates = []
    for rep in range(3):
        started = time.perf_counter()
        for i in range(n):
            set_node("%s/r%d/n%d:1" % (base, rep, i), {"i": i})
        rates.append(n / (time.perf_counter() - started))
    return statistics.median(rates)


def main():
    server = sys.argv[1]
    out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else None
    base = "/bench-py/" + uuid.uuid4().hex[:8]
    writers = [fill(server, base + "/s10", 10), fill(server, base + "/s1000", 1000)]
    ours = ndsr.Registry(server, timeout=10)
    original = nd_service_registry.KazooServiceRegistry(server=server, rate_limit_time=0)
    results = {}
    for name, path, n, calls in (("P1", base + "/s10", 10, 20000),
                                 ("P2", base + "/s1000", 1000, 2000)):
        until(lambda: len(ours.get(path)["children"]) == n)
        until(lambda: len(original.get(path)["children"]) == n)
        results[name] = {"libndsr_us": per_call_us(lambda: ours.get(path), calls),
                         "original_us": per_call_us(lambda: original.get(path), calls)}
    results["P3"] = {"libndsr_per_s": set_node_rate(ours.set_node, base + "/w-ours", 200),
                     "original_per_s": set_node_rate(original.set_node, base + "/w-orig", 200)}
    original.stop()
    ours.close()
    for w in writers:
        w.close()
    p1, p2, p3 = results["P1"], results["P2"], results["P3"]
    print("| figure | libndsr | original | ratio | target |")
    print("|---|---|---|---|---|")
    print("| P1 cached get, 10 children | %.2f µs | %.2f µs | %.2fx | libndsr ≤ 5 µs |"
          % (p1["libndsr_us"], p1["original_us"], p1["original_us"] / p1["libndsr_us"]))
    print("| P2 cached get, 1,000 children | %.2f µs | %.2f µs | %.1fx | ≥ 10x |"
          % (p2["libndsr_us"], p2["original_us"], p2["original_us"] / p2["libndsr_us"]))
    print("| P3 set_node of new paths | %.0f/s | %.0f/s | %.2fx | ≥ 3x |"
          % (p3["libndsr_per_s"], p3["original_per_s"],
             p3["libndsr_per_s"] / p3["original_per_s"]))
    if out:
        with open(out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
