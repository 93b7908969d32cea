"""Process life: the interpreter exiting with handles open and callbacks pending, and
`os.fork()` in a process that owns a handle (gunicorn's pattern)."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import ndsr

EXITING = textwrap.dedent("""
    import sys, time, ndsr
    server, base, how = sys.argv[1], sys.argv[2], sys.argv[3]
    handles = [ndsr.Registry(server, timeout=10) for _ in range(3)]
    handles[0].set_node(base + "/exit/me:1", {"pid": 1})

    def slow(doc):
        time.sleep(0.2)  # callbacks pile up behind this one

    for h in handles:
        for _ in range(3):
            h.on_change(base + "/exit", slow)
    for i in range(20):
        handles[1].set_data(base + "/exit", {"i": i})
    print("ready", flush=True)
    if how == "raise":
        raise SystemExit(3)
""")


def run_exiting(zk, base, how):
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", EXITING, zk, base, how], capture_output=True,
                         text=True, timeout=60)
    return out, time.monotonic() - started


def test_interpreter_exit_with_open_handles_and_pending_callbacks(zk, base):
    with ndsr.Registry(zk) as watcher:
        for how, code in (("end", 0), ("raise", 3)):
            out, took = run_exiting(zk, base + how, how)
            assert out.returncode == code, out.stderr
            assert out.stdout.strip() == "ready"
            assert "Fatal" not in out.stderr and "Traceback" not in out.stderr, out.stderr
            assert took < 30
            # Closed at exit, not left to the session timeout (10 s): the node is gone now.
            assert watcher.get(base + how + "/exit")["children"] == {}


def test_fork_in_a_process_that_owns_a_handle(zk, base):
    with ndsr.Registry(zk) as r, ndsr.Registry(zk) as observer:
        r.set_node(base + "/fork/parent:1", {"who": "parent"})
        parent_session = r.session_id()
        pid = os.fork()
        if pid == 0:  # the child: its own session, the parent's registration left alone
            code = 1
            try:
                connected = threading.Event()
                r.on_state(lambda s: s is ndsr.State.CONNECTED and connected.set())
                assert connected.wait(10), "the child has no session of its own"
                r.set_node(base + "/fork/child:1", {"who": "child"})
                ok = (r.session_id() != parent_session
                      and set(r.get(base + "/fork")["children"]) == {"parent:1", "child:1"})
                r.close()
                code = 0 if ok else 2
            except BaseException as e:  # noqa: B902 - the child reports and exits
                sys.stderr.write("child: %r\n" % (e,))
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        deadline = time.monotonic() + 10
        while "child:1" in observer.get(base + "/fork")["children"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # The parent: same session, its registration intact, still working.
        assert r.session_id() == parent_session
        assert r.registration_status(base + "/fork/parent:1") == "registered"
        assert observer.get(base + "/fork")["children"]["parent:1"]["who"] == "parent"
        r.set_node(base + "/fork/after:1")
