"""The console's static files, served by the service itself: one stylesheet, one script.

:data:`ASSETS` names every file served, and nothing else is (no directory is mounted). They
are read once, at start-up: a package that lost one stops the service there, naming it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from service.api.errors import ServiceError

__all__ = ["ASSETS", "STATIC", "read_assets", "router_for"]

STATIC = Path(__file__).parent / "static"
ASSETS: dict[str, str] = {  # file name: media type
    "console.css": "text/css; charset=utf-8",
    "progress.js": "text/javascript; charset=utf-8",
}
_CACHE = {"Cache-Control": "public, max-age=3600"}


def read_assets() -> dict[str, bytes]:
    missing = [name for name in ASSETS if not (STATIC / name).is_file()]
    if missing:
        raise RuntimeError(
            f"the console's files {', '.join(missing)} are not in {STATIC}: reinstall caselink"
        )
    return {name: (STATIC / name).read_bytes() for name in ASSETS}


def router_for(files: dict[str, bytes]) -> APIRouter:
    """``/static/{name}`` for each of ``files`` (the prefix /console is added on install)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/static/{name}")
    def asset(name: str) -> Response:
        if name not in files:
            detail = "no such file of the console"
            raise ServiceError(404, "not_found", detail, [f"path: {detail}"])
        return Response(files[name], media_type=ASSETS[name], headers=_CACHE)

    return router
