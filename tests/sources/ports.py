"""Loopback ports for servers that tests stop and restart on the same port.

A port picked with bind(0) is an ephemeral port: while our server is down, another
process may be handed it, and a client connecting to it may even be given it as its
own source port and connect to itself. A port below the ephemeral range avoids both.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def stable_port() -> int:
    """A free loopback port below the ephemeral range."""
    top = _ephemeral_start()
    for _ in range(200):
        port = random.randrange(max(top - 12000, 1024), top)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")
