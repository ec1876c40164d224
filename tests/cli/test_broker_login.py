"""A broker that asks for a login, over TLS: every vigil client connects to
mqtts://user:password@host:port with a CA of its own, a wrong or missing password is
refused, and no password shows in an error, a health report or Mosquitto's files."""

from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from actors.edge.mqtt import Mqtt
from cli.broker import Mosquitto, free_port
from cli.health import check_broker
from core.broker import BrokerAddress
from core.credentials import Account
from core.errors import ConfigError
from core.loops import Threads
from core.settings import Settings
from simulator.events import Outgoing
from simulator.publish import Publisher, SimulatorError, broker_address
from tests.actors.edge.test_mqtt import Subscriber
from tests.conftest import wait_for

VIGIL_PASSWORD = "vigil:p@ss/w%rd ü"  # every character a URL must quote
DEVICE_PASSWORD = "dev-" + uuid.uuid4().hex


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA of the test's own and a server certificate it signed for localhost/127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("vigil test CA"))
        .issuer_name(_name("vigil test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mosquitto, Path]]:
    folder = tmp_path_factory.mktemp("secured-broker")
    ca, cert, key = make_certificates(folder)
    broker = Mosquitto(
        folder / "mosquitto",
        free_port(),
        persistence=False,
        accounts=[
            Account("vigil", VIGIL_PASSWORD, publish=("#",), subscribe=("#",)),
            Account("dev-1", DEVICE_PASSWORD, publish=("device/#",)),
        ],
        tls_port=free_port(),
        certfile=str(cert),
        keyfile=str(key),
    ).start()
    yield broker, ca
    broker.stop()


def tls_url(broker: Mosquitto, user: str | None, password: str | None) -> str:
    return BrokerAddress("127.0.0.1", broker.tls_port or 0, True, user, password).url


def test_vigils_client_and_a_device_meet_over_tls_with_their_logins(
    secured: tuple[Mosquitto, Path],
) -> None:
    broker, ca = secured
    settings = Settings(broker_url=tls_url(broker, "vigil", VIGIL_PASSWORD), broker_ca_file=str(ca))
    root = f"device/dev-1-{uuid.uuid4().hex[:6]}"
    sub = Subscriber(settings, f"vigil-probe-{uuid.uuid4().hex[:6]}", root)
    device = broker_address(tls_url(broker, "dev-1", DEVICE_PASSWORD), ca_file=str(ca))
    publisher = Publisher(device, client_id="dev-1")
    try:
        publisher.send(Outgoing(topic=f"{root}/telemetry", payload={"battery": 80}, ts=0.0))
        assert publisher.close(10) == 0
        (got,) = sub.take(1)
        assert got.topic == f"{root}/telemetry" and b'"battery"' in got.payload
    finally:
        sub.stop()
    assert check_broker(settings.broker_url, str(ca)).ok


@pytest.mark.parametrize(
    ("user", "password"),
    [("dev-1", "wrong-" + DEVICE_PASSWORD), (None, None), ("stranger", DEVICE_PASSWORD)],
)
def test_a_wrong_or_missing_login_is_refused_and_never_shown(
    secured: tuple[Mosquitto, Path], user: str | None, password: str | None
) -> None:
    broker, ca = secured
    for url in (tls_url(broker, user, password), f"mqtt://127.0.0.1:{broker.port}"):
        address = broker_address(url, user, password, str(ca) if "mqtts" in url else "")
        with pytest.raises(SimulatorError, match="refused") as refused:
            Publisher(address)
        health = check_broker(address.url, address.ca_file)
        assert not health.ok and "refused" in health.detail
        for said in (str(refused.value), health.detail):
            assert DEVICE_PASSWORD not in said


def test_vigils_own_client_with_a_wrong_password_never_connects(
    secured: tuple[Mosquitto, Path],
) -> None:
    broker, ca = secured
    settings = Settings(broker_url=tls_url(broker, "vigil", "wrong"), broker_ca_file=str(ca))
    threads = Threads("wrong-login")
    client = Mqtt(settings, f"vigil-wrong-{uuid.uuid4().hex[:6]}", threads)
    try:
        wait_for(lambda: client.stats["refused"] > 0, 10, "the broker refused the login")
        assert not client.connected and client.stats["connects"] == 0
    finally:
        client.stop()


def test_tls_is_checked_against_the_ca(secured: tuple[Mosquitto, Path]) -> None:
    broker, _ = secured
    untrusted = tls_url(broker, "vigil", VIGIL_PASSWORD)  # the system's CAs: not ours
    health = check_broker(untrusted)
    assert not health.ok and "CERTIFICATE_VERIFY_FAILED" in health.detail
    assert VIGIL_PASSWORD not in health.detail


def test_mosquitto_keeps_only_hashes_of_the_passwords(secured: tuple[Mosquitto, Path]) -> None:
    broker, _ = secured
    written = "".join(p.read_text(errors="replace") for p in broker.folder.iterdir() if p.is_file())
    assert "allow_anonymous false" in written
    assert VIGIL_PASSWORD not in written and DEVICE_PASSWORD not in written
    assert (broker.folder / "dynamic-security.json").stat().st_mode & 0o077 == 0


LOGIN = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@given(LOGIN, LOGIN, st.booleans(), st.integers(1, 65535))
def test_an_address_survives_its_url_and_its_redaction_hides_the_password(
    user: str, password: str, tls: bool, port: int
) -> None:
    address = BrokerAddress("broker.example", port, tls, user, password)
    assert BrokerAddress.parse(address.url) == address
    assert address.redacted.endswith(f":***@broker.example:{port}")
    assert address.redacted.count(":***@") == 1


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://u:secret-1@broker", "expected mqtt://host:port or mqtts://"),
        ("mqtt://u:secret-1@broker:port", "is not a number"),
        ("mqtts://u:secret-1@", "expected mqtt://host:port"),
    ],
)
def test_a_bad_broker_url_is_named_without_its_password(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match="broker_url") as bad:
        BrokerAddress.parse(url)
    assert says in str(bad.value) and "secret-1" not in str(bad.value)


def test_a_ca_file_is_refused_for_a_plain_broker() -> None:
    with pytest.raises(ConfigError, match="mqtts:// only"):
        Settings(broker_url="mqtt://broker", broker_ca_file="ca.pem").broker_address  # noqa: B018
