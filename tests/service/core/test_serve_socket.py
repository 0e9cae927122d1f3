"""`caselink serve` listens on a socket whose connections send without Nagle's delay.

The command binds its socket itself and hands it to uvicorn. A socket made without naming
IPPROTO_TCP reports protocol 0, asyncio then leaves TCP_NODELAY off on every connection it
accepts, and each answer after the first on a kept-alive connection waited for the client's
delayed ACK: 40 ms a request, whatever the route. Checked on the socket itself, not by timing.
"""

from __future__ import annotations

import asyncio
import signal
import socket

import uvicorn

from service import _logging, cli
from service._process import free_port
from service._settings import get_settings


def _nodelay_of_accepted(sock: socket.socket) -> int:
    """TCP_NODELAY of a connection asyncio accepts on ``sock``, as uvicorn's server does."""

    async def main() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                conn = transport.get_extra_info("socket")
                seen.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        host, port = sock.getsockname()[:2]
        _, writer = await asyncio.open_connection(host, port)
        try:
            return await asyncio.wait_for(seen, 30)
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


def test_serve_listens_on_a_tcp_socket_whose_connections_have_nodelay(monkeypatch):
    """``serve`` up to the point where uvicorn would take the socket over."""
    handed: list[socket.socket] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: handed.extend(sockets))
    monkeypatch.setattr(_logging, "configure_logging", lambda *args: None)  # keep pytest's
    monkeypatch.setenv("CASELINK_DATABASE_URL", "sqlite://")
    sigterm = signal.getsignal(signal.SIGTERM)
    get_settings.cache_clear()
    try:
        cli.serve(host="127.0.0.1", port=free_port(), tls_cert=None, tls_key=None)
    finally:
        get_settings.cache_clear()
        signal.signal(signal.SIGTERM, sigterm)
    (sock,) = handed
    with sock:
        assert sock.proto == socket.IPPROTO_TCP
        assert _nodelay_of_accepted(sock) == 1
