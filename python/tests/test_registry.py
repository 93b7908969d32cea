"""The Pythonic API against real ZooKeeper."""

import json
import logging
import queue
import threading
import time

import pytest

import ndsr


def wait(q, pred, timeout=15.0):
    """Takes items from `q` until one satisfies `pred`; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        item = q.get(timeout=max(0.01, deadline - time.monotonic()))
        if pred(item):
            return item


def test_registrations_reads_and_errors(zk, base):
    with ndsr.Registry(zk, timeout=5) as r, ndsr.Registry(zk, timeout=5) as other:
        assert r.state is ndsr.State.CONNECTED
        assert r.set_node(base + "/svc/a:1", {"weight": 10})
        assert r.registration_status(base + "/svc/a:1") == "registered"
        assert r.set_data(base + "/cfg", {"threads": 8})
        doc = other.get(base + "/svc")
        assert doc["path"] == base + "/svc"
        assert doc["children"]["a:1"]["weight"] == 10
        assert other.get(base + "/cfg")["data"]["threads"] == 8
        assert json.loads(other.get_json(base + "/cfg")) == other.get(base + "/cfg")
        assert other.freshness(base + "/svc")[0] == "live"
        with pytest.raises(ndsr.InvalidArgument) as e:
            r.set_node("relative", None)
        assert e.value.code == -1 and "path" in str(e.value)
        with pytest.raises(ndsr.NotFound):
            r.registration_status(base + "/never")
        assert isinstance(e.value, ndsr.ServiceRegistryException)
        assert r.unset(base + "/svc/a:1")
        assert r.session_id() != 0
        stats = r.stats()
        assert stats["registrations"]["count"] >= 1 and stats["requests"]["total"] > 0
        assert "ndsr_connected{" in r.stats_prometheus()
    with pytest.raises(ndsr.Closed):
        r.get(base)
    assert r.state is ndsr.State.CLOSED


def test_no_connection_and_read_only(zk, base):
    with pytest.raises(ndsr.NoConnection):
        ndsr.Registry("127.0.0.1:1", timeout=0.3)
    with ndsr.Registry(zk, readonly=True) as r:
        with pytest.raises(ndsr.ReadOnly):
            r.set_node(base + "/x:1")
    with pytest.raises(ndsr.InvalidArgument):
        ndsr.Registry(zk, no_such_option=1)


def test_changes_diffs_state_and_stats_callbacks(zk, base):
    with ndsr.Registry(zk) as r, ndsr.Registry(zk) as writer:
        docs, diffs, states, stats = (queue.Queue() for _ in range(4))
        sub = r.on_change(base + "/svc", docs.put)
        dsub = r.on_diff(base + "/svc", diffs.put)
        ssub = r.on_state(states.put)
        tsub = r.on_stats(0.05, stats.put)
        assert wait(docs, lambda d: d["children"] == {})["path"] == base + "/svc"
        writer.set_node(base + "/svc/b:2", {"port": 2})
        wait(docs, lambda d: "b:2" in d["children"])
        assert wait(diffs, lambda d: "b:2" in d["added"])["added"]["b:2"]["port"] == 2
        assert states.get(timeout=5) is ndsr.State.CONNECTED
        assert "requests" in stats.get(timeout=5)
        for s in (sub, dsub, ssub, tsub):
            s.close()
            s.close()  # again: nothing


def test_snapshots_pickers_wait_for_and_drain(zk, base):
    with ndsr.Registry(zk) as r:
        r.set_node(base + "/pick/a:1", {"weight": 1, "zone": "eu"})
        r.set_node(base + "/pick/b:2", {"weight": 3, "zone": "us"})
        r.wait_for(base + "/pick", 2, timeout=10)
        with pytest.raises(ndsr.Timeout):
            r.wait_for(base + "/pick", 3, timeout=0.2)
        with r.snapshot(base + "/pick") as s:
            assert len(s) == 2 and list(s.names()) == ["a:1", "b:2"]
            assert s.child_str(1, "zone") == "us" and s.child_int(0, "weight") == 1
            assert s.child(0)["zone"] == "eu" and s.document()["path"] == base + "/pick"
            with pytest.raises(ndsr.NotFound):
                s.child_int(0, "nope")
        picker = r.picker(base + "/pick", strategy="consistent")
        assert picker.pick("user-1") == picker.pick("user-1")
        only_us = r.picker(base + "/pick", filter="zone=us")
        assert {only_us.pick() for _ in range(10)} == {"b:2"}
        only_us.report("b:2", True)
        r.drain(base + "/pick/b:2", 0.1)
        deadline = time.monotonic() + 10
        while "b:2" in r.get(base + "/pick")["children"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_locks(zk, base):
    with ndsr.Registry(zk) as a, ndsr.Registry(zk) as b:
        with a.lock(base + "/lock", name="a") as held:
            assert held.held()
            with pytest.raises(ndsr.Timeout):
                b.lock(base + "/lock", wait=0.1)
        with b.lock(base + "/lock", wait=5) as second:
            assert second.held()
        a.acquire_lock(base + "/plock")
        with pytest.raises(ndsr.Timeout):
            b.acquire_lock(base + "/plock", wait=0)
        a.release_lock(base + "/plock")
        b.acquire_lock(base + "/plock", wait=5)


def test_a_raising_callback_is_logged_and_the_rest_go_on(zk, base, caplog):
    with ndsr.Registry(zk) as r:
        got = queue.Queue()

        def bad(doc):
            got.put(doc)
            raise ValueError("boom in a callback")

        with caplog.at_level(logging.ERROR, logger="ndsr"):
            r.on_change(base + "/bad", bad)
            got.get(timeout=5)
            r.set_data(base + "/bad", {"v": 1})
            wait(got, lambda d: d["data"] and d["data"]["v"] == 1)
            deadline = time.monotonic() + 5
            while not any("boom in a callback" in (rec.exc_text or "") for rec in caplog.records):
                assert time.monotonic() < deadline, caplog.records
                time.sleep(0.01)
        assert any(rec.name == "ndsr" and rec.exc_info for rec in caplog.records)


def test_callbacks_under_load_from_several_threads(zk, base):
    with ndsr.Registry(zk) as r, ndsr.Registry(zk) as w:
        seen = {}
        lock = threading.Lock()
        done = threading.Event()

        def count(doc):
            with lock:
                for name in doc["children"]:
                    seen[name] = True
                if len(seen) == 40:
                    done.set()

        subs = [r.on_change(base + "/load", count) for _ in range(4)]

        def writer(t):
            for i in range(10):
                w.set_node("%s/load/t%d-%d:1" % (base, t, i), {"i": i})

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert done.wait(15)
        for s in subs:
            s.close()
        assert len(r.get(base + "/load")["children"]) == 40


def test_the_library_logs_to_logging(caplog):
    import socket
    with socket.socket() as sock:  # a port nothing listens on, this test's own
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with caplog.at_level(logging.INFO, logger="ndsr"):
        ndsr.set_log_level(logging.INFO)
        with pytest.raises(ndsr.NoConnection):
            ndsr.Registry("127.0.0.1:%d" % port, timeout=0.3)
    assert any(rec.name == "ndsr.session" and rec.levelno == logging.WARNING
               and "cannot connect to 127.0.0.1:%d" % port in rec.getMessage()
               for rec in caplog.records), caplog.records


def test_get_parses_once_per_version(zk, base):
    with ndsr.Registry(zk) as r, ndsr.Registry(zk) as w:
        w.set_data(base + "/cfg", {"v": 1})
        changes = queue.Queue()
        r.on_change(base + "/cfg", changes.put)
        wait(changes, lambda d: d["data"] and d["data"]["v"] == 1)
        first = r.get(base + "/cfg")
        assert r.get(base + "/cfg") is first  # the same version: parsed once, shared
        w.set_data(base + "/cfg", {"v": 2})
        wait(changes, lambda d: d["data"]["v"] == 2)
        second = r.get(base + "/cfg")
        assert second is not first and second["data"]["v"] == 2
        assert first["data"]["v"] == 1  # the old version is left as it was
