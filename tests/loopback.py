"""Loopback HTTP servers for tests, on ports the kernel never hands out for port 0."""

from __future__ import annotations

import random
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Prefect's test server takes a free port the kernel assigns (the ephemeral range, 32768-60999 on Linux); a test
# server of another worker given that same port between Prefect's check and its bind would answer Prefect's client
# in its place. Ports below the ephemeral range are never assigned that way.
PORTS = range(20000, 30000)


def loopback_server(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A threading HTTP server on 127.0.0.1 at a free port below the ephemeral range."""
    for _ in range(100):
        try:
            return ThreadingHTTPServer(("127.0.0.1", random.choice(PORTS)), handler)
        except OSError:  # in use by another test's server
            continue
    raise RuntimeError(f"no free loopback port in {PORTS.start}-{PORTS.stop - 1}")
