"""HTTP to the tests' servers over loopback, every request with the process's one trust.

httpx's module functions (``httpx.get``, ``httpx.post``...) and a bare ``httpx.Client()``
each build an SSL context and load the certificate authorities into it: about 20 ms of CPU a
call on these 2-core machines (more under load), spent on plain-http loopback calls that
never use it, thousands of times a suite. These do what those do (a client per call, httpx's
default timeout of 5 s unless given) with :func:`service._tls.client_verify`'s shared
context instead, as the service's own client does.
"""

from __future__ import annotations

import functools
from typing import Any

import httpx

from service._tls import client_verify

__all__ = ["client", "get", "patch", "post", "put", "request"]


def client(**kwargs: Any) -> httpx.Client:
    """``httpx.Client(**kwargs)`` trusting what the process trusts, loaded once."""
    return httpx.Client(verify=client_verify(None), **kwargs)


def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """``httpx.request(method, url, **kwargs)`` through :func:`client`."""
    with client() as http:
        return http.request(method, url, **kwargs)


# httpx's module functions of the verbs the tests send
get = functools.partial(request, "GET")
post = functools.partial(request, "POST")
put = functools.partial(request, "PUT")
patch = functools.partial(request, "PATCH")
