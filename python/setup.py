"""Builds the wheel with libndsr.so inside: `pip install ./python` from the checkout builds the
library with cargo (release) when it is missing or older than the sources, and copies it into
the package. The wheel is platform-specific (it carries a native library) but has no Python
extension module: the binding is ctypes over the C ABI."""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILT = os.path.join(ROOT, "target", "release", "libndsr.so")


def newest_source():
    newest = 0.0
    for top in ("src", "vendor"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                newest = max(newest, os.path.getmtime(os.path.join(dirpath, f)))
    return newest


class BuildWithLibrary(build_py):
    def run(self):
        if os.environ.get("NDSR_SKIP_CARGO") != "1" and (
                not os.path.exists(BUILT) or os.path.getmtime(BUILT) < newest_source()):
            cargo = shutil.which("cargo") or os.path.expanduser("~/.cargo/bin/cargo")
            subprocess.check_call([cargo, "build", "--release", "-p", "ndsr", "--lib"], cwd=ROOT)
        target = os.path.join(HERE, "ndsr", "_native")
        os.makedirs(target, exist_ok=True)
        shutil.copy2(BUILT, os.path.join(target, "libndsr.so"))
        super().run()


class NativeDistribution(Distribution):
    def has_ext_modules(self):
        return True  # a platform wheel: it carries libndsr.so


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=NativeDistribution)
