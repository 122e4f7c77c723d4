"""Outbound webhook POSTs that a user cannot aim at the tokenapp host's neighbours.

A user picks the URL and the tokenapp host makes the call, so without a policy
anyone could reach loopback services, the cloud metadata address or the
intranet (SSRF). Hence:

- only public addresses, unless an administrator allows a network
  (TOKENAPP_WEBHOOK_ALLOWED_NETWORKS, e.g. the intranet's chat server);
- the name is resolved once and every address it has is checked; the socket
  connects to a checked address (no second lookup that DNS could answer
  differently), and the peer is checked again once connected; Host and TLS
  (SNI, certificate verification) still use the name;
- redirects are never followed (a 3xx is a failed delivery), no proxy is taken
  from the environment, each socket operation times out after 5 s and a
  receiver that trickles its answer is cut off after 15 s in all.

When a URL is saved, only what needs no DNS is checked: literal addresses
(in any form the resolver accepts: 2130706433, 127.1, ::ffff:127.0.0.1) and
`localhost` names. Names are checked at each delivery, where it counts.
"""

import http.client
import ipaddress
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app

from . import validation

TIMEOUT = 5  # seconds per connect and per read: a slow receiver must not hold the timer up
DEADLINE = 15  # seconds for a whole delivery once connected, however the bytes trickle in
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_LOOPBACK_NAME = ipaddress.ip_address("127.0.0.1")


class DeliveryError(Exception):
    """A webhook call failed; the message names no more of the URL than its host."""


class NotAllowed(DeliveryError, ValueError):
    """The destination is not one webhooks may reach."""


@dataclass(frozen=True)
class Target:
    https: bool
    host: str  # lower-case name or bare IP address, as http.client wants it
    port: int
    path: str  # path and query: the fragment is never sent

    @classmethod
    def of(cls, url: str) -> "Target":
        """The parts of a URL validation.webhook_url accepts (ValueError otherwise)."""
        clean = validation.webhook_url(url)
        if clean is None:
            raise ValueError("No URL.")
        parts = urlsplit(clean)
        host, port = validation.split_netloc(parts.netloc)
        https = parts.scheme == "https"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(https, host, port or (443 if https else 80), path)


def why_forbidden(address: Address) -> str | None:
    """None when webhooks may reach address, else what kind of address it is."""
    candidates = [address]
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address inside IPv6 (mapped, 6to4) is judged as that IPv4 address too.
        candidates += [v4 for v4 in (address.ipv4_mapped, address.sixtofour) if v4]
    for network in allowed_networks():
        if any(candidate in network for candidate in candidates):
            return None
    for candidate in candidates:
        for kind in ("loopback", "link_local", "unspecified", "multicast", "reserved", "private"):
            if getattr(candidate, f"is_{kind}"):
                return kind.replace("_", "-")
        if not candidate.is_global:
            return "not public"
    return None


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n) for n in current_app.config["WEBHOOK_ALLOWED_NETWORKS"]]


def check_saved(url: str) -> None:
    """At save time: refuse literal addresses and localhost names webhooks may not reach."""
    target = Target.of(url)
    if target.host.rstrip(".") == "localhost" or target.host.rstrip(".").endswith(".localhost"):
        _check(target.host, [_LOOPBACK_NAME])  # RFC 6761: always loopback
        return
    try:
        found = socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
        )
    except (socket.gaierror, UnicodeError):
        return  # a name: resolved and checked at each delivery
    _check(target.host, [ipaddress.ip_address(info[4][0]) for info in found])


def post_json(url: str, body: dict) -> int:
    """POST body to url under the policy above; returns the 2xx status or raises DeliveryError."""
    try:
        target = Target.of(url)
    except ValueError as exc:
        raise DeliveryError(f"the stored URL is invalid: {exc}") from None
    addresses = _resolve(target)
    _check(target.host, [ipaddress.ip_address(sockaddr[0]) for _, sockaddr in addresses])
    kind = _PinnedHTTPS if target.https else _PinnedHTTP
    connection = kind(target.host, target.port, addresses)
    cut = threading.Event()
    cutoff = threading.Timer(DEADLINE, _cut, [connection, cut])
    cutoff.start()
    try:
        connection.request(
            "POST",
            target.path,
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "tokenapp"},
        )
        response = connection.getresponse()
        response.read(1024)
        status = response.status
    finally:
        cutoff.cancel()
        connection.close()
    if cut.is_set():  # what was read before the cut proves nothing
        raise DeliveryError(f"{target.host} took more than {DEADLINE} s")
    if 300 <= status < 400:
        raise DeliveryError(f"{target.host} answered {status}: redirects are not followed")
    if not 200 <= status < 300:
        raise DeliveryError(f"{target.host} answered {status}")
    return status


def _cut(connection: http.client.HTTPConnection, cut: threading.Event) -> None:
    cut.set()
    sock = connection.sock
    if sock is not None:
        try:
            # The plain socket's shutdown, also under TLS: the reader then sees EOF.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


def _check(host: str, addresses: list[Address]) -> None:
    for address in addresses:
        reason = why_forbidden(address)
        if reason:
            raise NotAllowed(
                f"Webhooks are not allowed to reach {host} ({address}, {reason}); an "
                "administrator can allow its network with TOKENAPP_WEBHOOK_ALLOWED_NETWORKS."
            )


def _resolve(target: Target) -> list[tuple[int, tuple]]:
    try:
        found = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DeliveryError(f"{target.host} does not resolve: {exc}") from None
    addresses = [
        (family, sockaddr)
        for family, _, _, _, sockaddr in found
        if family in (socket.AF_INET, socket.AF_INET6)
    ]
    if not addresses:
        raise DeliveryError(f"{target.host} has no IP address")
    return addresses


def _open(host: str, addresses: list[tuple[int, tuple]], timeout: float) -> socket.socket:
    """A socket connected to one of the checked addresses, the peer checked again."""
    error: OSError | None = None
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
            _check(host, [ipaddress.ip_address(sock.getpeername()[0])])
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    assert error is not None
    raise error


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, addresses: list[tuple[int, tuple]]):
        super().__init__(host, port, timeout=TIMEOUT)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _open(self.host, self._addresses, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, addresses: list[tuple[int, tuple]]):
        super().__init__(host, port, timeout=TIMEOUT, context=ssl.create_default_context())
        self._addresses = addresses

    def connect(self) -> None:
        sock = _open(self.host, self._addresses, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
