"""What a client trusts is loaded once per process and shared (service._tls.client_verify):
clients and the loops that poll a starting server no longer pay 30 ms of CPU each to read the
certificate authorities again, and the trust they get is the one httpx's ``verify=True`` gave.
"""

from __future__ import annotations

import ssl

import pytest

from bloom import CaselinkError
from service._tls import client_verify
from tests.service.core.test_tls import _certificates


def _subjects(ctx: ssl.SSLContext) -> set[str]:
    return {str(c["subject"]) for c in ctx.get_ca_certs()}


def test_the_default_trust_is_made_once_and_verifies(monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    first, again = client_verify(None), client_verify(None)
    assert first is again
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    assert len(first.get_ca_certs()) > 10  # certifi's bundle, as httpx's verify=True reads it


def test_ssl_cert_file_is_honoured_as_httpx_does(tmp_path, monkeypatch):
    ca, _, _ = _certificates(tmp_path)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    trust = client_verify(None)
    assert "caselink test CA" in " ".join(_subjects(trust))
    assert len(trust.get_ca_certs()) == 1
    monkeypatch.delenv("SSL_CERT_FILE")
    assert client_verify(None) is not trust


def _serials(ctx: ssl.SSLContext) -> set[str]:
    return {c["serialNumber"] for c in ctx.get_ca_certs()}


def test_a_ca_file_is_read_once_and_again_when_it_changes(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    ca, _, _ = _certificates(tmp_path / "one")
    other, _, _ = _certificates(tmp_path / "two")  # another CA (another serial number)
    first = client_verify(ca)
    assert client_verify(ca) is first
    ca.write_bytes(other.read_bytes())
    changed = client_verify(ca)
    assert changed is not first
    assert _serials(changed) == _serials(client_verify(other)) != _serials(first)


def test_a_ca_file_that_is_no_certificate_is_refused_by_name(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(CaselinkError, match=r"--ca-file: .* holds no PEM certificate"):
        client_verify(bad)
    with pytest.raises(CaselinkError, match="--ca-file: cannot read"):
        client_verify(tmp_path / "missing.pem")


def test_clients_made_one_after_another_load_no_trust_again(monkeypatch):
    """Every Client (and the service process's start-up poll) hands httpx the shared context:
    making more of them loads no certificate authorities (httpx's ``verify=True`` would, once
    per client)."""
    from service import Client

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    client_verify(None)  # the process's one load
    loads = []
    real = ssl.create_default_context
    monkeypatch.setattr(
        ssl, "create_default_context", lambda *a, **k: loads.append(1) or real(*a, **k)
    )
    for _ in range(5):
        with Client("http://127.0.0.1:9", "key"):
            pass
    assert loads == []
