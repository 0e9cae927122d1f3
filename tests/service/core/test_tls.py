"""The service over TLS: a real server with a certificate for 127.0.0.1 signed by a CA made
here; the client trusts it only given that CA, and every wrong turn is a clear error.

TLS is the transport, the same for either database: one server, on SQLite.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service import Client, ClientError, ServiceProcess
from service._admin import bootstrap_agency, open_database
from tests import forkserver
from tests.cli import caselink
from tests.service.servers import ray_settings


def _certificates(where: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 (IP SAN) it signed: (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "caselink test CA")])

    def build(subject, public_key):
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )

    ca = (
        build(ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), True
        )
        .sign(ca_key, hashes.SHA256())
    )
    host = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (
        build(host, key.public_key())
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = (where / "ca.pem", where / "server.pem", where / "server.key")
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(paths[2], 0o600)
    return paths


@pytest.fixture(scope="module")
def tls(tmp_path_factory, ray_session):
    work = tmp_path_factory.mktemp("tls")
    ca, cert, key = _certificates(work)
    url = f"sqlite:///{work / 'caselink.db'}"
    engine = open_database(url)
    operator = bootstrap_agency(engine, "operator", "admin").api_key
    engine.dispose()
    (work / "operator.key").write_text(operator)
    env = {
        **ray_settings(ray_session.address),
        "CASELINK_DATA_KEY_FILE": str(work / "keys" / "data-keys"),
    }
    svc = ServiceProcess(
        url, log=work / "service.log", env=env, tls=(cert, key), ca_file=ca, startup_timeout=600
    )
    with svc:
        yield {"svc": svc, "ca": ca, "cert": cert, "key": key, "operator": operator, "work": work}


def _caselink(*args: str, **env: str) -> subprocess.CompletedProcess:
    """The command's entry function in this process (tests/cli.py)."""
    return caselink(*args, env={"COLUMNS": "200", **env})


def _serve(*args: object, **env: str) -> forkserver.Captured:
    """``caselink serve`` in a process of its own (tests/forkserver.py), started (read it
    with ``communicate``)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CASELINK_")}
    return forkserver.popen(["caselink", "serve", *args], env={**clean, "COLUMNS": "200", **env})


def test_the_client_given_the_ca_talks_to_the_service_over_tls(tls):
    assert tls["svc"].url.startswith("https://127.0.0.1:")
    with Client(tls["svc"].url, tls["operator"], ca_file=tls["ca"]) as c:
        assert c.me()["agency"] == "operator"


def test_a_client_without_the_ca_is_refused_with_a_clear_error(tls):
    with Client(tls["svc"].url, tls["operator"]) as c, pytest.raises(ClientError) as e:
        c.me()
    assert e.value.status == 0
    assert "presented a certificate this client does not trust" in str(e.value)
    assert "--ca-file" in str(e.value) and "CASELINK_CA_FILE" in str(e.value)


def test_plain_http_to_the_tls_port_is_refused_with_a_clear_error(tls):
    plain = tls["svc"].url.replace("https://", "http://")
    with Client(plain, tls["operator"]) as c, pytest.raises(ClientError) as e:
        c.me()
    assert e.value.status == 0 and "use an https:// URL" in str(e.value)


def test_the_cli_trusts_the_ca_from_its_option_or_the_environment(tls):
    work, url = tls["work"], tls["svc"].url
    common = ["--url", url, "--api-key-file", work / "operator.key"]
    refused = _caselink("agency", "add", "aga", "--key-out", work / "a.key", *common)
    assert refused.returncode == 2 and "does not trust" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    by_option = _caselink(
        "agency", "add", "aga", "--key-out", work / "a.key", *common, "--ca-file", tls["ca"]
    )
    assert by_option.returncode == 0, by_option.stderr
    by_env = _caselink(
        "agency",
        "add",
        "agb",
        "--key-out",
        work / "b.key",
        *common,
        CASELINK_CA_FILE=str(tls["ca"]),
    )
    assert by_env.returncode == 0, by_env.stderr


def test_serve_refuses_unusable_certificate_files_before_it_starts(tls, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    db = {"CASELINK_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    starts = [  # three at once: each refuses by itself, before it binds the port
        _serve("--port", port, "--tls-cert", tmp_path / "none.pem", "--tls-key", tls["key"], **db),
        _serve("--port", port, "--tls-cert", tls["key"], "--tls-key", tls["cert"], **db),
        _serve("--port", port, "--tls-cert", tls["cert"], **db),
    ]
    (_, missing), (_, swapped), (_, alone) = (p.communicate(timeout=300) for p in starts)
    assert starts[0].returncode == 2 and "cannot read" in missing, missing
    assert starts[1].returncode == 2 and "not a PEM certificate chain" in swapped
    assert starts[2].returncode == 2 and "go together" in alone
    assert not (tmp_path / "x.db").exists()  # refused before anything was made
