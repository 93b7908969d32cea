#!/usr/bin/env python3
"""Writes the man pages into DIR: ndsr.3 (the C API) from include/ndsr.h's own comments, and
ndsr.1 (the CLI) from the built tool's --help texts, so that neither can drift from what it
documents. `make` runs it.

    scripts/gen-man.py DIR [NDSR_BINARY]
"""
import datetime
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def roff(text):
    """Escapes text for roff: backslashes, and lines that start with a dot or a quote."""
    text = text.replace("\\", "\\e")
    return "\n".join(("\\&" + l if l.startswith((".", "'")) else l) for l in text.split("\n"))


def comment_text(block):
    """The text of a /** … */ comment, without its stars."""
    lines = []
    for line in block.strip().split("\n"):
        line = re.sub(r"^\s*/?\*+/?\s?", "", line.rstrip())
        lines.append(line.rstrip("/").rstrip() if line.endswith("*/") else line)
    return "\n".join(lines).strip()


def api_page(version):
    header = open(os.path.join(ROOT, "include", "ndsr.h")).read()
    preamble = comment_text(re.match(r"\s*/\*(.*?)\*/", header, re.S).group(1))
    # Each function: the comment right above its prototype.
    items = re.findall(r"/\*\*((?:(?!\*/).)*)\*/\s*\n((?:const )?[a-z_0-9 ]+\**\s*\**(ndsr_[a-z_0-9]+)\([^;]*\);)",
                       header, re.S)
    codes = re.findall(r"#define (NDSR_(?:OK|QUEUED|E_[A-Z_]+|STATE_[A-Z_]+)) (-?\d+)", header)
    date = datetime.date.today().isoformat()
    out = [f'.TH NDSR 3 "{date}" "libndsr {version}" "libndsr C API"',
           ".SH NAME", "ndsr \\- service registry and dynamic configuration on Apache ZooKeeper (C API)",
           ".SH SYNOPSIS", ".nf", ".B #include <ndsr.h>", ".sp",
           "cc app.c $(pkg-config --cflags --libs ndsr)", ".fi",
           ".SH DESCRIPTION", ".nf", roff(preamble), ".fi", ".SH FUNCTIONS"]
    for doc, proto, name in items:
        out += [".TP", ".B " + roff(" ".join(proto.split())), roff(comment_text(doc))]
    out += [".SH STATUS CODES AND STATES", ".nf"]
    out += [f"{name} {value}" for name, value in codes]
    out += [".fi", ".SH SEE ALSO", "ndsr(1); the README of libndsr."]
    return "\n".join(out) + "\n"


def cli_page(binary, version):
    def helptext(*args):
        return subprocess.run([binary, *args, "--help"], capture_output=True, text=True,
                              check=True).stdout.strip()
    main = helptext()
    commands = re.findall(r"^\s{2}([a-z]+)\s{2,}", main.split("Commands:")[1].split("Options:")[0], re.M)
    date = datetime.date.today().isoformat()
    out = [f'.TH NDSR 1 "{date}" "libndsr {version}" "User Commands"',
           ".SH NAME", "ndsr \\- read, write, watch and lock ZooKeeper paths the way ndServiceRegistry does",
           ".SH SYNOPSIS", ".B ndsr", "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]",
           ".SH DESCRIPTION", ".nf", roff(main), ".fi"]
    for c in commands:
        if c == "help":
            continue
        out += [".SH COMMAND: " + c.upper(), ".nf", roff(helptext(c)), ".fi"]
    out += [".SH SEE ALSO", "ndsr(3)"]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    outdir = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) == 3 else os.path.join(ROOT, "target", "release", "ndsr")
    cargo = open(os.path.join(ROOT, "Cargo.toml")).read()
    version = re.search(r'^version = "(.*)"', cargo, re.M).group(1)
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "ndsr.3"), "w") as f:
        f.write(api_page(version))
    with open(os.path.join(outdir, "ndsr.1"), "w") as f:
        f.write(cli_page(binary, version))


if __name__ == "__main__":
    main()
