"""A Python client of the caselink service (httpx), with the verbs the CLI uses.

::

    from service.client import Client
    with Client("http://127.0.0.1:8000", api_key) as c:
        batch = c.upload(agreement_id, "unhcr.parquet")
        run = c.wait_run(agreement_id, c.start_run(agreement_id)["run_id"])
        for row in c.iter_cases(agreement_id):
            ...

Every error answer becomes a :class:`ClientError` carrying the status, the service's error
code, its message and every problem it listed. An https service's certificate is verified:
against the system's certificate authorities, or the one in ``ca_file`` for a certificate an
organisation signed itself; a failed connection (untrusted certificate, plain http to a TLS
port) is a ClientError with status 0 that says what to change.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import EllipsisType
from typing import Any, BinaryIO

import httpx

from caselink_errors import ClientError
from service._tls import client_verify, transport_problem

__all__ = ["Client", "ClientError"]

_CHUNK = 1 << 20


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk


class Client:
    """One API key talking to one service."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        purpose: str | None = None,
        timeout: float = 60.0,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"}
        if purpose:
            headers["X-Caselink-Purpose"] = purpose
        verify = client_verify(Path(ca_file) if ca_file is not None else None)
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, verify=verify
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._reachable():
            response = self._http.request(method, path, **kwargs)
        if response.is_error:
            self._raise(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(method, path, **kwargs).json()

    # -- principals -------------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        return self._json("GET", "/v1/me")

    def create_agency(self, name: str) -> dict[str, Any]:
        return self._json("POST", "/v1/agencies", json={"name": name})

    def agencies(self) -> list[dict[str, Any]]:
        """Every agency's name (admins and stewards)."""
        return self._json("GET", "/v1/agencies")

    def create_key(self, agency: str, role: str) -> dict[str, Any]:
        """A new key for ``agency``; its ``api_key`` is in this answer only."""
        return self._json("POST", f"/v1/agencies/{agency}/keys", json={"role": role})

    def list_keys(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/keys")

    def rotate_key(self, key_id: str) -> dict[str, Any]:
        return self._json("POST", f"/v1/keys/{key_id}/rotate")

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/v1/keys/{key_id}")

    # -- agreements -------------------------------------------------------------------
    def create_agreement(
        self,
        *,
        name: str,
        parties: list[str],
        purposes: list[str],
        schema_fingerprint: str,
        filter_bits: int,
        segments: Sequence[tuple[str, int]] | Sequence[Mapping[str, Any]],
        retention_days: int,
        threshold: float | str = "auto",
        allow_duplicates_within_agency: bool = False,
        key_check: str | None = None,
        auditors: Sequence[str] = (),
        purpose_scopes: Mapping[str, str] | None = None,
        review_band: Sequence[float] | EllipsisType | None = ...,
    ) -> dict[str, Any]:
        """Create an agreement (stewards). ``segments`` is the schema's layout, in order:
        ``schema.layout`` of a :class:`bloom.Schema`, or ``{"name", "bits"}`` objects.
        ``key_check`` is the secret's :func:`bloom.key_check_value` (else the first batch's).
        ``auditors`` names the agencies whose ``auditor`` keys will oversee it;
        ``purpose_scopes`` the consent scope each purpose needs (``{"tracing": "tracing"}``).
        ``review_band``: ``(low, high)`` queued for clerical review, None for no queue, ``...``
        for the service's default."""
        body = {
            "name": name,
            "parties": parties,
            "purposes": purposes,
            "schema_fingerprint": schema_fingerprint,
            "filter_bits": filter_bits,
            "segments": [
                dict(s) if isinstance(s, Mapping) else {"name": s[0], "bits": s[1]}
                for s in segments
            ],
            "retention_days": retention_days,
            "linkage": {
                "threshold": threshold,
                "allow_duplicates_within_agency": allow_duplicates_within_agency,
            },
        }
        if review_band is not ...:
            body["linkage"]["review_band"] = None if review_band is None else list(review_band)
        if key_check is not None:
            body["key_check"] = key_check
        if auditors:
            body["auditors"] = list(auditors)
        if purpose_scopes:
            body["purpose_scopes"] = dict(purpose_scopes)
        return self._json("POST", "/v1/agreements", json=body)

    def list_agreements(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/agreements")

    def agreement(self, agreement_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/agreements/{agreement_id}")

    def amend_agreement(
        self,
        agreement_id: str,
        *,
        add_parties: Sequence[str] = (),
        remove_parties: Sequence[str] = (),
        purposes: Sequence[str] | None = None,
        retention_days: int | None = None,
        add_auditors: Sequence[str] = (),
        remove_auditors: Sequence[str] = (),
        purpose_scopes: Mapping[str, str] | None = None,
        review_band: Sequence[float] | EllipsisType | None = ...,
    ) -> dict[str, Any]:
        """Amend an agreement (stewards of a party); what is not given stays as it is. The
        purposes, and the consent scope of each purpose, when given, replace what was there;
        ``review_band`` (None: no queue) replaces the band from the next run on. Returns the
        agreement as amended."""
        body: dict[str, Any] = {}
        for field, names in (
            ("add_parties", add_parties),
            ("remove_parties", remove_parties),
            ("add_auditors", add_auditors),
            ("remove_auditors", remove_auditors),
        ):
            if names:
                body[field] = list(names)
        if purposes is not None:
            body["purposes"] = list(purposes)
        if retention_days is not None:
            body["retention_days"] = retention_days
        if purpose_scopes is not None:
            body["purpose_scopes"] = dict(purpose_scopes)
        if review_band is not ...:
            body["review_band"] = None if review_band is None else list(review_band)
        return self._json("PATCH", f"/v1/agreements/{agreement_id}", json=body)

    # -- batches and runs -------------------------------------------------------------
    def upload(self, agreement_id: str, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Stream an encoded batch file to the service; the same file twice is idempotent."""
        p = Path(path)
        headers = {
            "Content-Type": "application/vnd.apache.parquet",
            "Content-Length": str(p.stat().st_size),
        }
        return self._json(
            "POST",
            f"/v1/agreements/{agreement_id}/batches",
            content=_file_chunks(p),
            headers=headers,
        )

    def batches(self, agreement_id: str) -> list[dict[str, Any]]:
        return self._json("GET", f"/v1/agreements/{agreement_id}/batches")

    def start_run(self, agreement_id: str) -> dict[str, Any]:
        return self._json("POST", f"/v1/agreements/{agreement_id}/runs")

    def run(self, agreement_id: str, run_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/agreements/{agreement_id}/runs/{run_id}")

    def runs(self, agreement_id: str) -> list[dict[str, Any]]:
        return self._json("GET", f"/v1/agreements/{agreement_id}/runs")

    def wait_run(
        self,
        agreement_id: str,
        run_id: str,
        *,
        timeout: float = 600.0,
        poll: float = 1.0,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll a run until it has succeeded or failed (``TimeoutError`` after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(agreement_id, run_id)
            if on_progress is not None:
                on_progress(run)
            if run["status"] in ("succeeded", "failed"):
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} has not finished after {timeout:.0f} s")
            time.sleep(poll)

    def withdraw(
        self, agreement_id: str, record_ref: str, reason: str, *, agency: str | None = None
    ) -> dict[str, Any]:
        """Withdraw a record (consent, correction, erasure); the service's receipt."""
        body: dict[str, Any] = {"record_ref": record_ref, "reason": reason}
        if agency is not None:
            body["agency"] = agency
        return self._json("POST", f"/v1/agreements/{agreement_id}/withdrawals", json=body)

    def set_consent(
        self, agreement_id: str, record_refs: Sequence[str], scopes: Sequence[str] | None
    ) -> dict[str, Any]:
        """Give your agency's records ``record_refs`` the consent ``scopes`` from now on
        (``[]``: none; ``None``: nothing said, every purpose); the service's counts."""
        body = {
            "record_refs": list(record_refs),
            "scopes": None if scopes is None else list(scopes),
        }
        return self._json("PUT", f"/v1/agreements/{agreement_id}/records/consent", json=body)

    def query(
        self,
        agreement_id: str,
        batch: str | os.PathLike[str] | bytes,
        *,
        purpose: str,
        top_k: int = 5,
        min_confidence: float | None = None,
    ) -> dict[str, Any]:
        """Send an encoded batch (a file or its bytes) as a tracing query (tracers); each of
        ``results`` holds a query record's candidate cases. A 429 carries the wait in its
        detail."""
        body = batch if isinstance(batch, bytes) else Path(batch).read_bytes()
        params: dict[str, Any] = {"top_k": top_k}
        if min_confidence is not None:
            params["min_confidence"] = min_confidence
        headers = {"Content-Type": "application/vnd.apache.parquet", "X-Caselink-Purpose": purpose}
        return self._json(
            "POST",
            f"/v1/agreements/{agreement_id}/queries",
            content=body,
            params=params,
            headers=headers,
        )

    # -- clerical review --------------------------------------------------------------
    def reviews(
        self,
        agreement_id: str,
        *,
        status: Sequence[str] = (),
        offset: int = 0,
        limit: int = 100,
    ) -> dict[str, Any]:
        """One page of the caller's side of the review queue (submitters), oldest first;
        only the ``status`` values given, if any."""
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if status:
            params["status"] = list(status)
        return self._json("GET", f"/v1/agreements/{agreement_id}/reviews", params=params)

    def iter_reviews(
        self, agreement_id: str, *, status: Sequence[str] = (), page: int = 500
    ) -> Iterator[dict[str, Any]]:
        """Every item of the caller's side of the review queue, page after page."""
        offset: int | None = 0
        while offset is not None:
            got = self.reviews(agreement_id, status=status, offset=offset, limit=page)
            yield from got["items"]
            offset = got["next_offset"]

    def decide_review(self, agreement_id: str, review_id: str, decision: str) -> dict[str, Any]:
        """Record the caller's agency's decision (``same``, ``different``, ``unsure``) on an
        item; the item as the agency sees it now."""
        path = f"/v1/agreements/{agreement_id}/reviews/{review_id}/decision"
        return self._json("POST", path, json={"decision": decision})

    def review_labels(self, agreement_id: str) -> dict[str, Any]:
        """The reviewed pairs as labels (evaluators, stewards): probabilities and decisions."""
        return self._json("GET", f"/v1/agreements/{agreement_id}/reviews/labels")

    # -- results ----------------------------------------------------------------------
    def cases(self, agreement_id: str, *, offset: int = 0, limit: int = 1000) -> dict[str, Any]:
        """One page of the caller's case assignments."""
        return self._json(
            "GET", f"/v1/agreements/{agreement_id}/cases", params={"offset": offset, "limit": limit}
        )

    def iter_cases(self, agreement_id: str, *, page: int = 5000) -> Iterator[dict[str, Any]]:
        """Every case assignment of the caller's records, page by page."""
        offset: int | None = 0
        while offset is not None:
            body = self.cases(agreement_id, offset=offset, limit=page)
            yield from body["items"]
            offset = body["next_offset"]

    def cases_csv(self, agreement_id: str, dest: str | os.PathLike[str]) -> Path:
        """Stream all the caller's case assignments as CSV into ``dest`` (a file made only
        once the service has answered)."""
        out = Path(dest)
        with self._cases_csv(agreement_id) as chunks, out.open("wb") as f:
            for chunk in chunks:
                f.write(chunk)
        return out

    def write_cases_csv(self, agreement_id: str, sink: BinaryIO) -> None:
        """Stream all the caller's case assignments as CSV into an open binary file."""
        with self._cases_csv(agreement_id) as chunks:
            for chunk in chunks:
                sink.write(chunk)

    @contextlib.contextmanager
    def _cases_csv(self, agreement_id: str) -> Iterator[Iterator[bytes]]:
        url = f"/v1/agreements/{agreement_id}/cases"
        with self._reachable(), self._http.stream("GET", url, params={"format": "csv"}) as response:
            if response.is_error:
                response.read()
                self._raise(response)
            yield response.iter_bytes()

    @contextlib.contextmanager
    def _reachable(self) -> Iterator[None]:
        """A network failure as a ClientError that names the service (status 0)."""
        try:
            yield
        except (httpx.TransportError, httpx.UnsupportedProtocol) as e:
            problem = transport_problem(e, self._http.base_url)
            raise ClientError(0, "unreachable", problem, []) from e

    @staticmethod
    def _raise(response: httpx.Response) -> None:
        try:
            body = response.json()
        except ValueError:
            body = {}
        raise ClientError(
            response.status_code,
            body.get("error", "http_error"),
            body.get("detail", response.reason_phrase),
            list(body.get("problems", [])),
        )

    def summary(self, agreement_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/agreements/{agreement_id}/summary")

    def metrics(self) -> str:
        """The Prometheus text of ``/metrics``: this client's key must be an ``admin`` key,
        or the service's metrics token given in its place."""
        return self._call("GET", "/metrics").text

    # -- audit ------------------------------------------------------------------------
    def audit(
        self, agreement_id: str | None = None, *, after: int = 0, limit: int = 1000
    ) -> dict[str, Any]:
        path = f"/v1/agreements/{agreement_id}/audit" if agreement_id else "/v1/audit"
        return self._json("GET", path, params={"after": after, "limit": limit})

    def verify_audit(self, agreement_id: str | None = None) -> dict[str, Any]:
        path = f"/v1/agreements/{agreement_id}/audit/verify" if agreement_id else "/v1/audit/verify"
        return self._json("GET", path)

    def audit_checkpoint(self, agreement_id: str | None = None) -> dict[str, Any]:
        """The chain's head signed by the service: keep it (``verify-audit --against``)."""
        path = (
            f"/v1/agreements/{agreement_id}/audit/checkpoint"
            if agreement_id
            else "/v1/audit/checkpoint"
        )
        return self._json("GET", path)
