"""The app in this process (httpx's ASGI transport, the service's real parts from
:func:`service.api.state.start_services`) and a visitor that keeps its cookies, as a browser
would: the console's tests of sessions, forms and pages without a server on a port.

:func:`console_world` builds two agencies linked under one agreement (``agency-a`` and
``agency-b``, with the three people of ``PLANTED`` at both), an outsider ``agency-c``, keys of
every role, and a succeeded first run.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

import bloom
from service._admin import bootstrap_agency
from service._settings import Settings
from service.api.app import create_app
from service.api.state import ServiceState, start_services
from tests.service.servers import PLANTED, agreement_body

AGENCIES = ("agency-a", "agency-b")
OUTSIDER = "agency-c"
RUN_TIMEOUT = 180.0  # a cap on waiting for a run, polled; never a fixed sleep
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def call(app: Any, method: str, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
    """One API call (Bearer ``key``) to the app in this process."""
    headers = dict(kwargs.pop("headers", {}))
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            return await c.request(method, path, headers=headers, **kwargs)

    return asyncio.run(go())


@dataclass
class Visitor:
    """A browser's view of the console: its cookies kept from one request to the next."""

    app: Any
    base_url: str = "http://app"
    headers: dict[str, str] = field(default_factory=dict)
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(
                app=self.app, raise_app_exceptions=False, client=("10.0.0.7", 50000)
            )
            async with httpx.AsyncClient(
                transport=transport, base_url=self.base_url, cookies=self.cookies
            ) as c:
                response = await c.request(method, path, headers=self.headers, **kwargs)
                self.cookies = httpx.Cookies(c.cookies)
                return response

        return asyncio.run(go())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        return self.request("POST", path, data=data or {})

    @staticmethod
    def token(page: httpx.Response) -> str:
        """The CSRF token the forms of ``page`` carry."""
        found = _TOKEN.search(page.text)
        assert found is not None, page.text
        return found.group(1)

    def sign_in(self, key: str) -> httpx.Response:
        form = self.get("/console/sign-in")
        return self.post("/console/sign-in", {"api_key": key, "csrf_token": self.token(form)})

    def form(self, path: str, form_page: str, **fields: str) -> httpx.Response:
        """POST ``fields`` to ``path`` with the CSRF token of the page at ``form_page``."""
        token = self.token(self.get(form_page))
        return self.post(path, {"csrf_token": token, **fields})


@dataclass
class World:
    app: Any
    state: ServiceState
    agreement_id: str
    keys: dict[str, str]  # "<agency>/<role>" -> key; "admin"
    refs: dict[str, list[str]]  # agency -> the refs it uploaded
    run_id: str

    def visitor(self, key: str | None = None, **headers: str) -> Visitor:
        v = Visitor(self.app, headers=headers)
        if key is not None:
            assert v.sign_in(self.keys[key]).status_code == 303
        return v

    def call(self, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return call(self.app, method, path, self.keys[key], **kwargs)

    def audit(self, scope: str | None = None) -> list[dict]:
        """The entries of a chain (the agreement's by default), as the API shows them to
        the agreement's steward (or the service's chain to the admin)."""
        if scope == "":
            base, key = "/v1/audit", self.keys["admin"]
        else:
            base = f"/v1/agreements/{scope or self.agreement_id}/audit"
            key = self.keys["agency-a/steward"]
        items: list[dict] = []
        after: int | None = 0
        while after is not None:
            r = call(self.app, "GET", f"{base}?after={after}&limit=1000", key)
            assert r.status_code == 200, r.text
            items += r.json()["items"]
            after = r.json()["next_after"]
        return items


def _registers(seed: int = 11) -> dict[str, pd.DataFrame]:
    from evaluation import generate_synthetic

    data = generate_synthetic(30, len(AGENCIES), seed=seed)
    out = {}
    for k, agency in enumerate(AGENCIES):
        refs = [f"{'AB'[k]}-PLANTED-{j}" for j in range(len(PLANTED))]
        own = data.agencies[agency].assign(
            record_ref=[f"{'AB'[k]}-{j:03d}" for j in range(len(data.agencies[agency]))]
        )
        out[agency] = pd.concat([own, PLANTED.assign(record_ref=refs)], ignore_index=True)
    return out


def console_world(work: Path, schema: bloom.Schema, secret: bloom.Secret) -> World:
    """The app on a fresh SQLite database with the world of the module docstring."""
    (work / "keys").mkdir()
    settings = Settings(
        database_url=f"sqlite:///{work / 'caselink.db'}",
        state_dir=work / "state",
        data_key_file=work / "keys" / "data-keys",
        ray_num_cpus=1,
        retention_sweep_seconds=3600,
        console_sign_ins_per_minute=10_000,  # the limit has a test of its own
    )
    state = start_services(settings)
    try:
        app = create_app(settings, cipher=state.cipher)
        app.state.service = state
        return _populate(app, state, work, schema, secret)
    except BaseException:
        state.stop()
        raise


def _populate(app: Any, state: ServiceState, work: Path, schema, secret) -> World:
    keys = {"admin": bootstrap_agency(state.engine, "operators", "admin").api_key}
    for agency in (*AGENCIES, OUTSIDER):
        assert call(app, "POST", "/v1/agencies", keys["admin"], json={"name": agency}).is_success
        for role in ("steward", "submitter", "tracer", "evaluator"):
            r = call(app, "POST", f"/v1/agencies/{agency}/keys", keys["admin"], json={"role": role})
            assert r.status_code == 201, r.text
            keys[f"{agency}/{role}"] = r.json()["api_key"]
    body = agreement_body(schema, list(AGENCIES), name="families")
    r = call(app, "POST", "/v1/agreements", keys["agency-a/steward"], json=body)
    assert r.status_code == 201, r.text
    agreement_id = r.json()["agreement_id"]
    refs = {}
    for agency, df in _registers().items():
        path = work / f"{agency}.parquet"
        bloom.encode(df, schema, secret, agency=agency, id_column="record_ref").write(path)
        r = call(
            app,
            "POST",
            f"/v1/agreements/{agreement_id}/batches",
            keys[f"{agency}/submitter"],
            content=path.read_bytes(),
            headers={"Content-Type": "application/vnd.apache.parquet"},
        )
        assert r.status_code == 201, r.text
        refs[agency] = list(df["record_ref"])
    run = call(app, "POST", f"/v1/agreements/{agreement_id}/runs", keys["agency-a/submitter"])
    assert run.status_code == 202, run.text
    run_id = run.json()["run_id"]
    wait_run(app, keys["agency-a/submitter"], agreement_id, run_id)
    return World(app, state, agreement_id, keys, refs, run_id)


def wait_run(app: Any, key: str, agreement_id: str, run_id: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        run = call(app, "GET", f"/v1/agreements/{agreement_id}/runs/{run_id}", key).json()
        if run["status"] in ("succeeded", "failed"):
            assert run["status"] == "succeeded", run
            return run
        assert time.monotonic() < deadline, f"run not done after {RUN_TIMEOUT} s: {run}"
        time.sleep(0.2)
