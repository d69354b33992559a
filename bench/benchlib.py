# SPDX-License-Identifier: GPL-3.0-or-later
"""What bench/bench.py (mail path) and bench/api.py (HTTP API) share: messages, free ports and
CPU time read from /proc."""

import os
import socket
import sys

PROG = os.path.splitext(os.path.basename(sys.argv[0]))[0]


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def die(msg):
    print(f"{PROG}: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_ticks(pid):
    """utime + stime of one process, in clock ticks; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return 0


def machine_ticks():
    """(busy, total) CPU ticks of the whole machine (all cores) since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total
