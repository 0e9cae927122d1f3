"""The API's documentation pages, served whole by the service: they work with no internet.

FastAPI's own ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from a CDN (and ReDoc its
fonts from Google), so in a field office without internet they stay blank. Here the pages
load their scripts, stylesheet and icon from this service, under :data:`STATIC`, and ask
nothing of any other host:

- the files are those the ``fastapi-offline`` package ships (Swagger UI 5 — Apache-2.0 — and
  ReDoc 2 — MIT —, refreshed by that package's releases); only its files are used, not its
  app factory;
- :data:`ASSETS` names every file served, and nothing else is: no directory is mounted, so
  no other path under :data:`STATIC` reaches the disk;
- like ``/openapi.json``, the pages and their files need no key: they describe the API and
  hold no data;
- Swagger UI is told to use no online validator (``validatorUrl: null``), which it would
  otherwise send the document of any host that is not ``localhost``; ReDoc loads no Google
  fonts, and its side menu's Redocly logo — the one address its bundle fetches whatever its
  options (:data:`REWRITES`) — is an empty ``data:`` image instead;
- the pages carry a Content-Security-Policy (:data:`CSP`) that lets them load and fetch from
  this service only, so a later release of either bundle that reaches out is stopped in the
  browser (and tests/service/docs sees it).

:func:`install` adds the routes (hidden from the OpenAPI document) and reads the files at
once, so a package that moved them stops the service at start-up, not a reader later.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from service.api.errors import ServiceError

__all__ = ["ASSETS", "CSP", "DOCS", "REDOC", "REWRITES", "STATIC", "install"]

DOCS = "/docs"
REDOC = "/redoc"
STATIC = "/docs/static"
ASSETS: dict[str, str] = {  # file name: media type
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
# External addresses a bundle loads on its own, each replaced by an empty image: (old, new).
REWRITES: dict[str, tuple[tuple[bytes, bytes], ...]] = {
    "redoc.standalone.js": ((b'"https://cdn.redoc.ly/redoc/logo-mini.svg"', b'"data:,"'),),
}
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)
_FOLDER = Path(fastapi_offline.__file__).parent / "static"
_CACHE = {"Cache-Control": "public, max-age=86400"}  # a day: they change with a release only
_SWAGGER = {"validatorUrl": None}  # Swagger UI sends the document to no online validator


def _read() -> dict[str, bytes]:
    """Every file of :data:`ASSETS`, rewritten per :data:`REWRITES`."""
    missing = [name for name in ASSETS if not (_FOLDER / name).is_file()]
    if missing:
        raise RuntimeError(
            f"the documentation pages' files {', '.join(missing)} are not in {_FOLDER}: "
            "reinstall caselink's dependencies (package fastapi-offline)"
        )
    files = {}
    for name in ASSETS:
        content = (_FOLDER / name).read_bytes()
        for old, new in REWRITES.get(name, ()):
            content = content.replace(old, new)
        files[name] = content
    return files


def _url(request: Request, path: str) -> str:
    """``path`` under the prefix a proxy serves the service at (``--root-path``), if any."""
    return f"{request.scope.get('root_path', '')}{path}"


def _confined(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CSP
    return page


def install(app: FastAPI) -> None:
    """Serve Swagger UI at :data:`DOCS`, ReDoc at :data:`REDOC` and their files under
    :data:`STATIC`; ``app`` is made with ``docs_url=None, redoc_url=None``."""
    files = _read()
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    title = f"{app.title} API"
    router = APIRouter(include_in_schema=False)

    @router.get(DOCS)
    def swagger_ui(request: Request) -> HTMLResponse:
        return _confined(
            get_swagger_ui_html(
                openapi_url=_url(request, openapi_url),
                title=title,
                swagger_js_url=_url(request, f"{STATIC}/swagger-ui-bundle.js"),
                swagger_css_url=_url(request, f"{STATIC}/swagger-ui.css"),
                swagger_favicon_url=_url(request, f"{STATIC}/favicon.png"),
                oauth2_redirect_url=None,
                swagger_ui_parameters=_SWAGGER,
            )
        )

    @router.get(REDOC)
    def redoc(request: Request) -> HTMLResponse:
        return _confined(
            get_redoc_html(
                openapi_url=_url(request, openapi_url),
                title=title,
                redoc_js_url=_url(request, f"{STATIC}/redoc.standalone.js"),
                redoc_favicon_url=_url(request, f"{STATIC}/favicon.png"),
                with_google_fonts=False,
            )
        )

    @router.get(f"{STATIC}/{{asset}}")
    def asset(asset: str) -> Response:
        if asset not in files:
            detail = "no such file of the documentation pages"
            raise ServiceError(404, "not_found", detail, [f"path: {detail}"])
        return Response(files[asset], media_type=ASSETS[asset], headers=_CACHE)

    app.include_router(router)
