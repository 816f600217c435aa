"""Outbound notifications connect to the address that passed the private-range check.

DNS is faked by replacing socket.getaddrinfo (a DNS answer comes from outside the machine); a
connection to a public address is faked by refusing it (it would leave the machine); everything on
127.0.0.1 is real: the HTTP sink, a TLS server with its own certificate, and the client's sockets.
"""

import datetime as dt
import socket
import ssl
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alerting.transport import post_json
from alerting.validators import check_url

pytestmark = pytest.mark.django_db  # a refused URL is recorded as a security event

PUBLIC = "93.184.215.14"  # a global address: the check passes it, the fake outside world refuses it
BODY = b'{"event": "incident.declared"}'


class FakeDns:
    """Answers for the names it is given — one answer per lookup, the last one repeated — and counts
    lookups; address literals and every other name go to the real resolver."""

    def __init__(self, real, answers: dict[str, list[list[str]]]):
        self.real = real
        self.answers = {name: list(sequence) for name, sequence in answers.items()}
        self.lookups: Counter[str] = Counter()

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        if host not in self.answers:
            return self.real(host, port, family, type, proto, flags)
        self.lookups[host] += 1
        sequence = self.answers[host]
        addresses = sequence.pop(0) if len(sequence) > 1 else sequence[0]
        port = int(port)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]


@pytest.fixture
def fake_dns(monkeypatch):
    def install(answers: dict[str, list[list[str]]]) -> FakeDns:
        dns = FakeDns(socket.getaddrinfo, answers)
        monkeypatch.setattr(socket, "getaddrinfo", dns)
        return dns

    return install


@pytest.fixture
def connects(monkeypatch) -> list[tuple]:
    """Every address a client socket connects to; only loopback connections really happen."""
    attempts: list[tuple] = []
    real_connect = socket.socket.connect

    def connect(sock, address):
        attempts.append(address)
        if not str(address[0]).startswith("127."):
            raise ConnectionRefusedError(111, "Connection refused (the test's stand-in for the outside world)")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


@pytest.fixture
def pinned_settings(settings):
    settings.ALERT_DELIVERY_TIMEOUT = 3.0
    return settings


def _port(sink) -> int:
    return int(sink.url.rsplit(":", 1)[1])


def test_a_name_that_rebinds_to_loopback_after_the_check_is_not_reached(http_sink, fake_dns, connects, pinned_settings):
    pinned_settings.ALERT_ALLOW_PRIVATE_URLS = False
    dns = fake_dns({"hooks.example.test": [[PUBLIC], ["127.0.0.1"]]})
    port = _port(http_sink)

    result = post_json(f"http://hooks.example.test:{port}/hook", BODY, {})

    assert http_sink.received() == []
    assert dns.lookups["hooks.example.test"] == 1
    assert connects == [(PUBLIC, port)]
    assert not result.ok
    assert result.retryable  # the checked address did not answer: a network error, tried again later


def test_the_fake_resolver_rebinds_a_client_that_looks_the_name_up_again(
    http_sink, fake_dns, connects, pinned_settings
):
    """The attack the test above defends against is real under this fake: check, then resolve again."""
    pinned_settings.ALERT_ALLOW_PRIVATE_URLS = False
    fake_dns({"hooks.example.test": [[PUBLIC], ["127.0.0.1"]]})
    url = f"http://hooks.example.test:{_port(http_sink)}/hook"

    check_url(url)  # passes: the name resolves to a public address now
    requests.post(url, data=BODY, timeout=3)

    assert len(http_sink.received()) == 1


def test_every_address_of_the_answer_is_checked(http_sink, fake_dns, connects, pinned_settings):
    pinned_settings.ALERT_ALLOW_PRIVATE_URLS = False
    fake_dns({"hooks.example.test": [[PUBLIC, "10.1.2.3"]]})

    result = post_json(f"http://hooks.example.test:{_port(http_sink)}/hook", BODY, {})

    assert not result.ok
    assert not result.retryable
    assert "10.1.2.3" in result.error
    assert connects == []


def test_a_name_that_does_not_resolve_is_retried_later(fake_dns, connects, pinned_settings):
    pinned_settings.ALERT_ALLOW_PRIVATE_URLS = False
    fake_dns({"hooks.example.test": [[]]})

    result = post_json("http://hooks.example.test/hook", BODY, {})

    assert not result.ok
    assert result.retryable
    assert "does not resolve" in result.error or "no address" in result.error
    assert connects == []


def test_delivers_to_the_local_sink_by_address(http_sink, connects, pinned_settings):
    pinned_settings.ALERT_ALLOW_PRIVATE_URLS = True

    result = post_json(f"{http_sink.url}/hook", BODY, {"X-Vigil-Event": "incident.declared"})

    assert result.ok
    [received] = http_sink.received()
    assert received.body == BODY
    assert received.path == "/hook"
    assert received.headers["Host"] == f"127.0.0.1:{_port(http_sink)}"
    assert received.headers["X-Vigil-Event"] == "incident.declared"


def test_delivers_to_the_checked_address_with_the_host_name_in_the_host_header(
    http_sink, fake_dns, connects, pinned_settings
):
    pinned_settings.ALERT_ALLOW_PRIVATE_URLS = True
    dns = fake_dns({"sink.example.test": [["127.0.0.1"]]})
    port = _port(http_sink)

    result = post_json(f"http://sink.example.test:{port}/hook?channel=7", BODY, {})

    assert result.ok
    [received] = http_sink.received()
    assert received.headers["Host"] == f"sink.example.test:{port}"
    assert received.path == "/hook?channel=7"
    assert connects == [("127.0.0.1", port)]
    assert dns.lookups["sink.example.test"] == 1


def test_an_address_that_refuses_the_connection_gives_way_to_the_next_checked_one(
    http_sink, fake_dns, connects, pinned_settings
):
    pinned_settings.ALERT_ALLOW_PRIVATE_URLS = True
    fake_dns({"sink.example.test": [[PUBLIC, "127.0.0.1"]]})
    port = _port(http_sink)

    result = post_json(f"http://sink.example.test:{port}/hook", BODY, {})

    assert result.ok
    assert connects == [(PUBLIC, port), ("127.0.0.1", port)]
    assert len(http_sink.received()) == 1


# --- https: SNI and the certificate are the host name's, the connection the checked address's ---------------


@pytest.fixture
def tls_sink(tmp_path):
    """A TLS server on 127.0.0.1 whose certificate names only hooks.example.test; records SNI and requests."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.example.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.example.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    seen = {"sni": [], "hosts": []}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen["hosts"].append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.sni_callback = lambda sock, server_name, ctx: seen["sni"].append(server_name)

    class TlsServer(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # a client refusing the certificate ends its handshake: expected in one test

    server = TlsServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"port": server.server_port, "ca_bundle": str(cert_path), "seen": seen}
    server.shutdown()
    server.server_close()


def test_https_sends_the_host_name_as_sni_and_verifies_the_certificate_against_it(
    tls_sink, fake_dns, connects, pinned_settings, monkeypatch
):
    pinned_settings.ALERT_ALLOW_PRIVATE_URLS = True
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_sink["ca_bundle"])  # trust the test certificate only
    fake_dns({"hooks.example.test": [["127.0.0.1"]]})
    port = tls_sink["port"]

    result = post_json(f"https://hooks.example.test:{port}/hook", BODY, {})

    assert result.ok, result.error
    assert tls_sink["seen"]["sni"] == ["hooks.example.test"]
    assert tls_sink["seen"]["hosts"] == [f"hooks.example.test:{port}"]
    assert connects == [("127.0.0.1", port)]


def test_https_refuses_a_certificate_for_another_name_at_the_same_address(
    tls_sink, fake_dns, connects, pinned_settings, monkeypatch
):
    pinned_settings.ALERT_ALLOW_PRIVATE_URLS = True
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_sink["ca_bundle"])
    fake_dns({"other.example.test": [["127.0.0.1"]]})

    result = post_json(f"https://other.example.test:{tls_sink['port']}/hook", BODY, {})

    assert not result.ok
    assert "certificate" in result.error.lower() or "hostname" in result.error.lower()
    assert tls_sink["seen"]["sni"] == ["other.example.test"]
    assert tls_sink["seen"]["hosts"] == []


@pytest.mark.parametrize(("header", "seconds"), [("120", 120.0), (" 7 ", 7.0), ("³", None), ("1.5", None), ("", None)])
def test_a_retry_after_header_is_read_only_when_it_is_plain_seconds(header, seconds):
    import requests

    from alerting.transport import _retry_after

    response = requests.Response()
    response.headers["Retry-After"] = header
    assert _retry_after(response) == seconds
