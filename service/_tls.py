"""TLS for the service and its clients: the server's certificate, the client's trust.

:func:`server_tls` checks the PEM certificate chain and private key ``caselink serve`` was
given (both or neither) and returns uvicorn's settings for them; a file that is missing or is
no certificate is refused before the service starts, by name. :func:`client_verify` is what
the client trusts: the system's certificate authorities, or the one in ``--ca-file``
(``CASELINK_CA_FILE``) for a service whose certificate an organisation signed itself.
:func:`transport_problem` turns a failed connection into a sentence that says what to do
(an untrusted certificate, plain http to a TLS port, https to a plain port).
"""

from __future__ import annotations

import functools
import os
import ssl
from pathlib import Path

import httpx

from bloom import CaselinkError

__all__ = ["client_verify", "server_tls", "transport_problem", "untrusted_certificate"]


def server_tls(cert: Path | None, key: Path | None) -> dict[str, str]:
    """uvicorn's ``ssl_certfile``/``ssl_keyfile`` for these files ({}: plain http)."""
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise CaselinkError(
            "--tls-cert and --tls-key go together (CASELINK_TLS_CERT_FILE, "
            "CASELINK_TLS_KEY_FILE): give both, or neither to serve plain http behind a proxy"
        )
    try:  # an empty passphrase: an encrypted key fails here instead of prompting on a terminal
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as e:
        raise CaselinkError(
            f"--tls-cert/--tls-key: {cert} and {key} are not a PEM certificate chain and its "
            f"unencrypted private key ({e.reason or e.__class__.__name__})"
        ) from None
    except OSError as e:
        raise CaselinkError(
            f"--tls-cert/--tls-key: cannot read {e.filename or cert} ({e.strerror})"
        ) from None
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


def client_verify(ca_file: Path | None) -> ssl.SSLContext:
    """What a client trusts: the CA certificates in ``ca_file``, or (None) the defaults.

    One context per trust, made once per process and shared by every client that asks for it
    (``ssl.SSLContext`` may serve many connections): loading the certificate authorities
    costs about 30 ms of CPU, which a client made per request, or a loop polling a starting
    server, otherwise pays each time. A ``ca_file`` changed on disk is read again."""
    if ca_file is None:
        return _default_trust(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    try:
        stat = ca_file.stat()
        return _file_trust(str(ca_file), stat.st_mtime_ns, stat.st_size)
    except ssl.SSLError as e:
        raise CaselinkError(f"--ca-file: {ca_file} holds no PEM certificate ({e.reason})") from None
    except OSError as e:
        raise CaselinkError(f"--ca-file: cannot read {ca_file} ({e.strerror})") from None


@functools.lru_cache(maxsize=4)
def _default_trust(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """The defaults httpx uses for ``verify=True``: SSL_CERT_FILE, else SSL_CERT_DIR, else
    certifi's bundle."""
    if cert_file:
        return ssl.create_default_context(cafile=cert_file)
    if cert_dir:
        return ssl.create_default_context(capath=cert_dir)
    import certifi  # httpx's own dependency

    return ssl.create_default_context(cafile=certifi.where())


@functools.lru_cache(maxsize=16)
def _file_trust(ca_file: str, mtime_ns: int, size: int) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


def _causes(exc: BaseException):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def untrusted_certificate(exc: BaseException) -> bool:
    """The connection failed because the client did not trust the server's certificate."""
    return any(isinstance(c, ssl.SSLCertVerificationError) for c in _causes(exc))


def transport_problem(exc: Exception, url: httpx.URL) -> str:
    """A failed connection to ``url``, said so that the reader knows what to change."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"the service at {url} presented a certificate this client does not trust "
                f"({cause.verify_message}); pass --ca-file (or CASELINK_CA_FILE) with the "
                "certificate of the authority that signed it"
            )
        if isinstance(cause, ssl.SSLError):
            return (
                f"the TLS handshake with {url} failed ({cause.reason or type(cause).__name__}); "
                "if the service serves plain http, use an http:// URL"
            )
    if url.scheme == "http" and isinstance(exc, httpx.RemoteProtocolError):
        return (
            f"the service at {url} closed the connection without an answer; if it serves TLS "
            "(caselink serve --tls-cert), use an https:// URL"
        )
    return (
        f"cannot reach the caselink service at {url} ({type(exc).__name__}); check --url or "
        "CASELINK_URL and that the service runs"
    )
