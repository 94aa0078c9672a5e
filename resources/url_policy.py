"""Where agents may go: a URL policy checked before every request (and every redirect hop).

Refused: schemes other than http(s); hosts off the allow-list; private, loopback, link-local,
multicast, reserved and unspecified addresses (after resolving the name, so DNS names pointing
inside and numeric tricks like ``http://2130706433/`` are caught) unless the host is explicitly
allowed; cloud metadata endpoints always.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
METADATA_IPS = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)


class BlockedUrlError(ValueError):
    """A URL the policy refuses.

    Attributes:
        url: the refused URL.
        reason: why it was refused, e.g. ``host evil.example is not on the allow-list``.
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"Refused to fetch {url[:200]!r}: {reason}.")
        self.url = url
        self.reason = reason


def _split_entry(entry: str) -> tuple[str, str | None]:
    """An allow-list entry as (host, port or None); ``[::1]:8080`` and bare IPv6 work too."""
    entry = entry.lower().strip().rstrip(".")
    if entry.startswith("["):  # [v6] or [v6]:port
        host, _, rest = entry[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, port
    return entry, None  # a name, an IPv4 address or a bare IPv6 address


def _host_matches(host: str, port: int | None, entry: str) -> bool:
    e_host, e_port = _split_entry(entry)
    if e_port is not None and str(port) != e_port:
        return False
    if e_host.startswith("*."):  # *.example.com: the domain itself and any subdomain
        return host == e_host[2:] or host.endswith(e_host[1:])
    return host == e_host


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # integer, hex and octal forms that inet_aton accepts (e.g. 2130706433, 0x7f.1)
        return ipaddress.ip_address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def _unmapped(ip: IP) -> IP:
    """``::ffff:a.b.c.d`` as ``a.b.c.d``, so mapped forms cannot dodge the rules."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def _is_internal(ip: IP) -> bool:
    ip = _unmapped(ip)
    return (
        not ip.is_global  # also shared (100.64/10), documentation and benchmark ranges
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


@dataclass(frozen=True)
class UrlPolicy:
    """An allow-list and address rules for agent requests.

    Args:
        allowed_domains: hosts (``example.com``), wildcards (``*.example.com``) or ``host:port``
            entries; empty means any public host.
        allow_private_hosts: hosts or IPs allowed although internal (``127.0.0.1`` for the
            local demo world only); metadata endpoints are never allowed.
        allowed_schemes: URL schemes allowed.
    """

    allowed_domains: tuple[str, ...] = ()
    allow_private_hosts: tuple[str, ...] = ()
    allowed_schemes: tuple[str, ...] = ("http", "https")

    def check(self, url: str) -> None:
        """Check one URL (call it again for every redirect hop).

        Args:
            url: the absolute URL about to be requested.

        Raises:
            BlockedUrlError: the scheme, host or (resolved) address is not allowed.
        """
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise BlockedUrlError(url, f"malformed URL ({exc})") from exc
        scheme = parts.scheme.lower()
        if scheme not in self.allowed_schemes:
            raise BlockedUrlError(
                url,
                f"the scheme {scheme or '(none)'}: is not allowed "
                f"(allowed: {', '.join(self.allowed_schemes)})",
            )
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise BlockedUrlError(url, "the URL has no host")
        if host in METADATA_HOSTS:
            raise BlockedUrlError(url, "cloud metadata endpoints are never allowed")
        literal = _literal_ip(host)
        if literal is not None and _unmapped(literal) in METADATA_IPS:
            raise BlockedUrlError(url, f"{literal} is a cloud metadata address")
        if self.allowed_domains and not any(
            _host_matches(host, port, e) for e in self.allowed_domains
        ):
            where = f"{host}:{port}" if port else host
            raise BlockedUrlError(url, f"host {where} is not on the allow-list")
        ips = self._resolve(url, host, port or (443 if scheme == "https" else 80))
        for ip in ips:
            if _unmapped(ip) in METADATA_IPS:
                raise BlockedUrlError(url, f"{ip} is a cloud metadata address")
            if _is_internal(ip) and not self._private_allowed(host, ip):
                raise BlockedUrlError(
                    url,
                    f"{host} resolves to the internal address {ip} (private, loopback, "
                    "link-local or reserved addresses are refused unless allowed)",
                )

    def _private_allowed(self, host: str, ip: IP) -> bool:
        allowed = {_split_entry(e)[0] for e in self.allow_private_hosts}
        return host in allowed or str(ip) in allowed

    def allows(self, url: str) -> bool:
        """Whether ``check`` passes for ``url``.

        Args:
            url: the absolute URL about to be requested.

        Returns:
            True when the URL may be requested.
        """
        try:
            self.check(url)
        except BlockedUrlError:
            return False
        return True

    @staticmethod
    def _resolve(url: str, host: str, port: int) -> list[IP]:
        literal = _literal_ip(host)
        if literal is not None:
            return [literal]
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise BlockedUrlError(url, f"cannot resolve {host}: {exc.strerror}") from exc
        return list({ipaddress.ip_address(i[4][0].split("%")[0]) for i in infos})
