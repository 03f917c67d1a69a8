"""Refuse to start when a port the stack needs is taken (usually: a previous run is still up)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping

from stack.errors import StackError


class PortInUseError(StackError):
    pass


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def require_free(ports: Mapping[str, int], host: str = "127.0.0.1") -> None:
    """`ports` maps what needs the port (e.g. "API") to its number."""
    taken = [f"{port} ({what})" for what, port in ports.items() if not is_free(port, host)]
    if taken:
        noun = "ports" if len(taken) > 1 else "port"
        raise PortInUseError(
            f"{noun} {', '.join(taken)} already in use on {host}: is a previous "
            "`python -m stack` still running? Stop it, or choose other ports "
            "(API_PORT, PAYMENT_SANDBOX_PORT, TEMPORAL_DEV_PORT, TEMPORAL_UI_PORT, "
            "or an external TEMPORAL_ADDRESS)."
        )
