"""The fleet benchmark: what a fleet of clients does to a ZooKeeper ensemble when it blips.

A 3-node ensemble on 127.0.0.1, reached through a counting TCP proxy per server; N sessions
(default 300) in several client processes, each registering one instance of /fleet/svc and
watching it, so every client sees N instances. The same fleet is built with libndsr
(member.c), kazoo and the Python original (member.py). Scenarios, one after another on one
fleet of each kind:

  1. leader   the leader killed (and started again once the fleet has converged);
  2. outage   every server killed for 20 s (sessions survive: timeout 30 s), then started;
  3. expiry   the fleet cut off from the ensemble (the proxies refuse every connection) for
              longer than the session timeout, so ZooKeeper expires every session, then let
              back. (Stopping every server does not expire sessions: a restarted ZooKeeper gives
              each known session a fresh timeout.)

Measured for each: connection attempts per client per second during the outage after its first
5 s (accepted at the proxies), the requests the ensemble received from its return until every
client has converged (`mntr` zk_packets_received, pings included), the peak rate over any 1 s,
the time to convergence, and the registrations lost and phantom instances left (from the
ensemble's own listing). A client has converged when it is connected and sees exactly the N
instances (libndsr: a live, not last-known, list).

    python3 bench/fleet/fleet.py [--clients N] [--per-proc P] [--kinds ndsr,kazoo,original]
                                 [--scenarios leader,outage,expiry] [--out FILE]
"""
import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZKSH = os.path.join(ROOT, "tests", "harness", "zk.sh")
MEMBER_C = os.path.join(ROOT, "target", "bench", "fleet-member")
MEMBER_PY = os.path.join(ROOT, "bench", "fleet", "member.py")
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
SESSION_TIMEOUT_MS = 30000
NAMES = {"ndsr": "libndsr", "kazoo": "kazoo 2.11", "original": "nd_service_registry 1.1.0"}


def log(msg):
    print("%s %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def build():
    log("building libndsr (release) and the libndsr fleet member")
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "ndsr", "--lib"], cwd=ROOT,
                   check=True)
    lib = os.path.join(ROOT, "target", "release")
    if not os.path.lexists(os.path.join(lib, "libndsr.so.0")):
        os.symlink("libndsr.so", os.path.join(lib, "libndsr.so.0"))
    os.makedirs(os.path.dirname(MEMBER_C), exist_ok=True)
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", MEMBER_C,
                    os.path.join(ROOT, "bench", "fleet", "member.c"),
                    "-I" + os.path.join(ROOT, "include"), "-L" + lib, "-lndsr",
                    "-Wl,-rpath," + lib], check=True)


class Ensemble:
    """Three ZooKeeper servers from the test harness, removed on exit."""

    def __enter__(self):
        env = dict(os.environ, ZK_TICK="1000", ZK_JVM_EXTRA="-XX:TieredStopAtLevel=4 -Xmx1g")
        out = subprocess.run([ZKSH, "start", "ensemble"], env=env, check=True,
                             capture_output=True, text=True).stdout
        info = dict(line.split("=", 1) for line in out.split() if "=" in line)
        self.base = info["BASE"]
        self.ports = [int(hp.rsplit(":", 1)[1]) for hp in info["CONNECT"].split(",")]
        self.env = env
        return self

    def cmd(self, *args):
        return subprocess.run([ZKSH, self.base] + [str(a) for a in args], env=self.env,
                              check=True, capture_output=True, text=True).stdout.strip()

    def packets(self, n):
        """zk_packets_received of node n (1-3), or None when it does not answer."""
        try:
            with socket.create_connection(("127.0.0.1", self.ports[n - 1]), timeout=0.5) as s:
                s.sendall(b"mntr")
                out = b""
                while chunk := s.recv(65536):
                    out += chunk
        except OSError:
            return None
        for line in out.decode(errors="replace").splitlines():
            if line.startswith("zk_packets_received"):
                return int(line.split()[1])
        return None

    def __exit__(self, *exc):
        subprocess.run([ZKSH, self.base, "clean"], env=self.env, capture_output=True)


class Requests:
    """Samples the ensemble's received-packet counters every 100 ms into a running total that
    survives a server's restart (its counter starts again from 0)."""

    def __init__(self, ensemble):
        self.ensemble = ensemble
        self.raw = [0, 0, 0]
        self.taken = [0, 0, 0]
        self.last = [0, 0, 0]
        self.total = 0
        self.samples = []  # (time, total)
        self.lock = threading.Lock()
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop:
            for n in range(3):
                v = self.ensemble.packets(n + 1)
                if v is None:
                    continue
                with self.lock:
                    if v < self.raw[n]:  # restarted: its counter starts from 0 again
                        self.raw[n] = self.taken[n] = self.last[n] = 0
                    self.raw[n] = v
                    # The counter includes every mntr: this sampler's own are left out.
                    self.taken[n] += 1
                    self.total += max(v - self.taken[n] - self.last[n], 0)
                    self.last[n] = v - self.taken[n]
            with self.lock:
                self.samples.append((time.monotonic(), self.total))
            time.sleep(0.1)

    def now(self):
        with self.lock:
            return self.total

    def wait_quiet(self, per_s, hold=3.0, at_most=180.0):
        """Waits until the ensemble has received fewer than `per_s` requests a second for
        `hold` seconds (the last scenario's work is over), at most `at_most`."""
        deadline = time.monotonic() + at_most
        while time.monotonic() < deadline:
            t0, n0 = time.monotonic(), self.now()
            time.sleep(hold)
            if (self.now() - n0) / (time.monotonic() - t0) < per_s:
                return
        log("  (still %d requests/s after %d s)" % (per_s, at_most))

    def peak(self, since, until):
        """The most requests received in any 1 s window between `since` and `until`."""
        with self.lock:
            before = [x for x in self.samples if x[0] < since][-1:]
            s = before + [x for x in self.samples if since <= x[0] <= until + 0.2]
        best, j = 0, 0
        for i in range(len(s)):
            while s[i][0] - s[j][0] > 1.0:
                j += 1
            best = max(best, s[i][1] - s[j][1])
        return best


class Proxies:
    """A TCP proxy in front of each server, counting the connections clients open. While
    `refusing`, every connection is closed at once (counted all the same)."""

    def __init__(self, ports):
        self.targets = ports
        self.accepts = []  # monotonic times
        self.refusing = False
        self.conns = set()
        self.loop = asyncio.new_event_loop()
        self.listen = []
        ready = threading.Event()
        threading.Thread(target=self.run, args=(ready,), daemon=True).start()
        ready.wait()

    def run(self, ready):
        asyncio.set_event_loop(self.loop)

        async def start():
            for port in self.targets:
                server = await asyncio.start_server(
                    lambda r, w, port=port: self.serve(r, w, port), "127.0.0.1", 0,
                    backlog=4096)
                self.listen.append(server.sockets[0].getsockname()[1])
        self.loop.run_until_complete(start())
        ready.set()
        self.loop.run_forever()

    @property
    def connect(self):
        return ",".join("127.0.0.1:%d" % p for p in self.listen)

    async def serve(self, reader, writer, port):
        self.accepts.append(time.monotonic())
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_w)
        self.conns.add(pair)
        await asyncio.gather(self.pipe(reader, up_w), self.pipe(up_r, writer))
        self.conns.discard(pair)

    @staticmethod
    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        writer.transport.abort()

    def refuse(self, on):
        def apply():
            self.refusing = on
            if on:
                for a, b in list(self.conns):
                    a.transport.abort()
                    b.transport.abort()
        self.loop.call_soon_threadsafe(apply)

    def attempts(self, since, until):
        return sum(1 for t in self.accepts if since <= t <= until)


class Fleet:
    """The client processes of one kind, with the number of converged clients in each."""

    def __init__(self, kind, connect, clients, per_proc):
        self.n = clients
        procs = (clients + per_proc - 1) // per_proc
        self.conv = [0] * procs
        self.cond = threading.Condition()
        self.procs = []
        for p in range(procs):
            first, count = p * per_proc, min(per_proc, clients - p * per_proc)
            args = [str(first), str(count), str(clients), str(SESSION_TIMEOUT_MS)]
            cmd = ([MEMBER_C, connect] + args if kind == "ndsr"
                   else [PYTHON, MEMBER_PY, kind, connect] + args)
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    text=True)
            self.procs.append(proc)
            threading.Thread(target=self.read, args=(p, proc), daemon=True).start()

    def read(self, p, proc):
        for line in proc.stdout:
            if line.startswith("conv "):
                with self.cond:
                    self.conv[p] = int(line.split()[1])
                    self.cond.notify_all()

    def converged(self):
        with self.cond:
            return sum(self.conv)

    def wait(self, pred, timeout):
        """Waits until pred(converged count) holds: its time, or None at the timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(sum(self.conv)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return time.monotonic()

    def close(self):
        for proc in self.procs:
            proc.stdin.close()
        deadline = time.monotonic() + 20
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def listing(ensemble, n):
    """(lost, phantom): expected registrations missing from /fleet/svc, and children there that
    are not the fleet's, read from the ensemble directly."""
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=",".join("127.0.0.1:%d" % p for p in ensemble.ports), timeout=10)
    zk.start(timeout=30)
    try:
        children = set(zk.get_children("/fleet/svc"))
    finally:
        zk.stop()
    expected = {"c%d:1" % i for i in range(n)}
    return len(expected - children), len(children - expected)


def outcome(ens, fleet, proxies, requests, back, base, out_window=None):
    """The figures of one scenario, the ensemble having returned at `back` with the request
    total at `base`."""
    done = fleet.wait(lambda k: k == fleet.n, 180)
    end = done or time.monotonic()
    r = {
        "converged_s": round(end - back, 2) if done else None,
        "converged_clients": fleet.converged(),
        "peak_per_s": requests.peak(back, end),
    }
    time.sleep(0.3)  # let the last sample land
    r["requests"] = requests.now() - base if done else None
    r["requests_per_client"] = round(r["requests"] / fleet.n, 2) if done else None
    if out_window:
        t0, t1 = out_window
        r["attempts_per_client_s"] = round(proxies.attempts(t0 + 5, t1) / fleet.n / (t1 - t0 - 5), 3)
    r["lost"], r["phantom"] = listing(ens, fleet.n)
    return r


def noticed(fleet):
    """Waits (up to 60 s more) until every client has reported the outage: a client process
    busy with a thread per watch reports late."""
    if fleet.wait(lambda k: k == 0, 60) is None:
        log("  %d clients never reported the outage" % fleet.converged())


def leader(ens, fleet, proxies, requests):
    victim = int(ens.cmd("leader"))
    base, t0 = requests.now(), time.monotonic()
    ens.cmd("kill", victim)
    fleet.wait(lambda k: k < fleet.n, 15)
    r = outcome(ens, fleet, proxies, requests, t0, base)
    ens.cmd("start", victim)
    ens.cmd("wait", victim)
    return r


def outage(ens, fleet, proxies, requests):
    t0 = time.monotonic()
    for n in (1, 2, 3):
        ens.cmd("kill", n)  # at once (a graceful stop of a loaded server can take seconds)
    time.sleep(max(0.0, 20 - (time.monotonic() - t0)))
    noticed(fleet)
    t1 = time.monotonic()
    base = requests.now()
    for n in (1, 2, 3):
        ens.cmd("start", n)
    for n in (1, 2, 3):
        ens.cmd("wait", n)
    back = time.monotonic()
    log("  ensemble serving %.1f s after the start" % (back - t1))
    # A restarted server's counter starts from 0: every request since the start counts.
    return outcome(ens, fleet, proxies, requests, back, base, (t0, t1))


def expiry(ens, fleet, proxies, requests):
    t0 = time.monotonic()
    proxies.refuse(True)
    time.sleep(SESSION_TIMEOUT_MS / 1000 + 10)
    noticed(fleet)
    t1 = time.monotonic()
    base = requests.now()
    proxies.refuse(False)
    return outcome(ens, fleet, proxies, requests, t1, base, (t0, t1))


SCENARIOS = {"leader": leader, "outage": outage, "expiry": expiry}


def run_kind(kind, args):
    results = {}
    with Ensemble() as ens:
        proxies = Proxies(ens.ports)
        requests = Requests(ens)
        # kazoo starts a thread per DataWatch when a connection comes back: 50 clients of 300
        # watches in one process pass what one process can start, so Python clients go ten to
        # a process.
        per_proc = args.per_proc if kind == "ndsr" else min(args.per_proc, 10)
        fleet = Fleet(kind, proxies.connect, args.clients, per_proc)
        log("%s: %d clients in %d processes" % (NAMES[kind], args.clients, len(fleet.procs)))
        t = time.monotonic()
        try:
            if fleet.wait(lambda k: k == args.clients, 600) is None:
                raise SystemExit("%s: the fleet never converged (%d of %d)"
                                 % (kind, fleet.converged(), args.clients))
            log("  converged in %.1f s" % (time.monotonic() - t))
            for name in args.scenarios:
                # The last scenario's (or the start's) requests die down: pings only (a ping
                # per client per 10 s), with a margin.
                requests.wait_quiet(max(20, args.clients // 5))
                log("%s: %s" % (NAMES[kind], name))
                results[name] = SCENARIOS[name](ens, fleet, proxies, requests)
                log("  %s" % json.dumps(results[name]))
                fleet.wait(lambda k: k == args.clients, 120)
        finally:
            fleet.close()
            requests.stop = True
    return results


def table(results, n):
    rows = ["| scenario | client | attempts/client/s in the outage (after 5 s) | requests to converge"
            " (per client) | peak requests/s | converged after | lost | phantom |",
            "|---|---|---|---|---|---|---|---|"]
    for scenario in SCENARIOS:
        for kind, res in results.items():
            r = res.get(scenario)
            if not r:
                continue
            att = r.get("attempts_per_client_s")
            rows.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                scenario, NAMES[kind], "-" if att is None else att,
                "%s (%s)" % (r["requests"], r["requests_per_client"]) if r["requests"] is not None
                else "not converged", r["peak_per_s"],
                "%.1f s" % r["converged_s"] if r["converged_s"] is not None
                else "%d of %d" % (r["converged_clients"], n), r["lost"], r["phantom"]))
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--per-proc", type=int, default=50,
                    help="clients per process (at most 10 for the Python kinds)")
    ap.add_argument("--kinds", default="ndsr,kazoo,original")
    ap.add_argument("--scenarios", default="leader,outage,expiry")
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench", "fleet.json"))
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    args.scenarios = args.scenarios.split(",")
    if not args.no_build:
        build()
    results = {kind: run_kind(kind, args) for kind in args.kinds.split(",")}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"clients": args.clients, "when": time.strftime("%Y-%m-%d %H:%M"),
                   "results": results}, f, indent=1)
    print(table(results, args.clients))


if __name__ == "__main__":
    main()
