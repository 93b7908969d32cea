"""A real ZooKeeper for the package's tests: one standalone server started with the
repository's harness (free ports, a temp dir, removed at the end)."""

import os
import subprocess
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS = os.path.join(ROOT, "tests", "harness", "zk.sh")


@pytest.fixture(scope="session")
def zk():
    out = subprocess.run(["bash", HARNESS, "start", "standalone"], check=True,
                         capture_output=True, text=True).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    yield env["CONNECT"]
    subprocess.run(["bash", HARNESS, env["BASE"], "clean"], check=False)


@pytest.fixture
def base():
    """A path of this test's own."""
    return "/pytest/" + uuid.uuid4().hex[:12]
