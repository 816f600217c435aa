"""Outbound HTTP that connects to the address that passed the private-range check.

Checking a URL (which resolves its host name) and then letting requests resolve the name again
to connect leaves a gap: a DNS answer that changes in between — DNS rebinding — would have Vigil
post to an address the check refused, such as 127.0.0.1 or a cloud metadata service. Here the
name is looked up once, every address of the answer is checked (alerting.validators.check_url),
and the connection goes to one of exactly those addresses.

How, with requests and urllib3 as they are meant to be extended: the URL's host is replaced by the
checked address, so neither library resolves anything; the Host header carries the host name; and
for https a transport adapter hands urllib3 the host name as `server_hostname`, which urllib3 sends
as SNI and against which the ssl module (check_hostname, on whenever certificates are verified)
verifies the certificate. `server_hostname` is part of urllib3's pool key, so a kept-alive
connection is reused only for the same address and the same host name. Redirects are not
followed (a redirect would be a new, unchecked destination).
"""

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError

from .validators import UnsafeUrl, check_url

DEFAULT_PORTS = {"http": 80, "https": 443}
# A name with many addresses costs one connect timeout per address that does not answer.
MAX_ADDRESSES_TRIED = 3


class HostNotResolved(OSError):
    """The host name has no address now (retryable: DNS may answer later)."""


@dataclass(frozen=True)
class PinnedTarget:
    """A URL whose host name was looked up once, with the addresses that passed the check."""

    url: str
    host: str  # the host name in ASCII (IDNA): what Host, SNI and the certificate check use
    port: int
    addresses: tuple[str, ...]

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def url_for(self, address: str) -> str:
        """The URL with its host replaced by `address` (user info, path and query kept)."""
        parts = urlsplit(self.url)
        literal = f"[{address.replace('%', '%25')}]" if ":" in address else address
        user_info, at, _ = parts.netloc.rpartition("@")
        return urlunsplit((parts.scheme, f"{user_info}{at}{literal}:{self.port}", parts.path, parts.query, ""))


def resolve_checked(url: str) -> PinnedTarget:
    """Look the URL's host up once and check every address; raise UnsafeUrl or HostNotResolved."""
    check_url(url, resolve=False)  # the URL's form (scheme, host, a loopback name or address literal)
    parts = urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        host = parts.hostname if parts.hostname.isascii() else parts.hostname.encode("idna").decode("ascii")
    except (ValueError, UnicodeError) as exc:
        raise UnsafeUrl(f"The URL's host or port is not valid ({exc}).") from exc
    try:
        answer = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostNotResolved(f"{host} does not resolve: {exc}") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in answer))  # the resolver's order, once each
    if not addresses:
        raise HostNotResolved(f"{host} has no address")
    check_url(url, resolved=addresses)
    return PinnedTarget(url=url, host=host, port=port, addresses=tuple(addresses))


class HostNameTLSAdapter(HTTPAdapter):
    """Connects where the URL says (an address) while TLS names and verifies the request's host name."""

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        server_hostname = getattr(request, "server_hostname", None)
        if server_hostname and host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = server_hostname
        return host_params, pool_kwargs


def new_session() -> requests.Session:
    session = requests.Session()
    adapter = HostNameTLSAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when the request failed before a connection existed (refused, unreachable, connect timeout)."""
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(reason, ConnectTimeoutError)  # urllib3's NewConnectionError is one too


def post(
    session: requests.Session, target: PinnedTarget, *, data: bytes, headers: dict[str, str], timeout
) -> requests.Response:
    """POST to the first checked address that accepts a connection; never resolves the name again."""
    failure: requests.ConnectionError | None = None
    headers_for_host = {**headers, "Host": target.host_header}
    for address in target.addresses[:MAX_ADDRESSES_TRIED]:
        request = session.prepare_request(
            requests.Request("POST", target.url_for(address), data=data, headers=headers_for_host)
        )
        request.server_hostname = target.host
        environment = session.merge_environment_settings(request.url, {}, None, None, None)
        try:
            return session.send(request, timeout=timeout, allow_redirects=False, **environment)
        except requests.ConnectionError as exc:
            if not _never_connected(exc):
                raise  # the request may have reached the server: never send it to a second address
            failure = exc
    raise failure
