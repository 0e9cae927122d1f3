"""The HTTP API of the matching service (FastAPI): :func:`create_app`."""

from service.api.app import create_app

__all__ = ["create_app"]
