"""Finding the Chromium to drive: :func:`find_chromium`, the launch arguments, and
:class:`BrowserNotAvailableError` with its install hint."""

from __future__ import annotations

import os
import shutil

INSTALL_HINT = (
    "install Chromium with `sudo apt-get install -y chromium` (Debian/Ubuntu) or set the "
    "CHROMIUM_PATH environment variable to a Chromium executable"
)
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-quic",
    # WebRTC would open UDP to any address, unseen by request routing: no UDP without a proxy.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
]


class BrowserNotAvailableError(RuntimeError):
    """No usable Chromium: the message says how to install one."""


def find_chromium() -> str:
    """The Chromium to drive.

    Looks at ``$CHROMIUM_PATH``, then /usr/bin/chromium, /usr/bin/chromium-browser,
    /usr/bin/google-chrome, then those names on the PATH.

    Returns:
        The executable's path.

    Raises:
        BrowserNotAvailableError: none found (or CHROMIUM_PATH points nowhere); the message
            names ``sudo apt-get install -y chromium`` and CHROMIUM_PATH.
    """
    env = os.environ.get("CHROMIUM_PATH")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return env
        raise BrowserNotAvailableError(
            f"CHROMIUM_PATH={env} is not an executable file: {INSTALL_HINT}"
        )
    for cand in CHROMIUM_CANDIDATES:
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotAvailableError(f"No Chromium browser found: {INSTALL_HINT}")
