"""One TLS context per process for the platform's HTTP clients.

``httpx.Client()`` builds a new ``ssl.SSLContext`` and loads the whole CA bundle into it every
time: about 70 ms of CPU on this machine, against under 0.1 ms for a client given a ready
context. The fetchers open a client per page, so on the production stack this was a third of a
step worker's CPU (``benchmarks/stack_load.py`` profile). The context is built on first use in
each process (so a forked worker builds its own) and shared by every client after it; an
``SSLContext`` may be used from many threads.
"""

import functools
import ssl

import httpx


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    """The process's TLS context with the default CA bundle (built once, on first use)."""
    return httpx.create_ssl_context()
