"""Network probes shared by the command line and the resources."""

from __future__ import annotations

import socket

__all__ = ["port_open"]


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    """Whether something accepts TCP connections on ``host:port``.

    A closed port is not necessarily free to bind (another process may hold it without
    listening, or it may be in TIME_WAIT); this only says whether a connection succeeds.

    Args:
        host: Host name or address.
        port: TCP port.
        timeout: Seconds to wait for the connection.

    Returns:
        True when a connection was accepted within ``timeout``.
    """
    with socket.socket() as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0
