"""How much is waiting to be sent on a WebSocket, so a socket whose reader stopped can be dropped.

daphne writes every frame straight into its Twisted transport, which buffers without limit what
the kernel does not take: a client that stops reading (but keeps its connection, even keeps
sending pings) made daphne grow ~0.3 MB/s for as long as it stayed. `SendBufferMiddleware` puts
the socket's transport in the scope (daphne passes it as the first argument of its `send`);
`buffered_bytes(scope)` says how many bytes wait in it. Under another server, or in tests
without one, there is no transport and nothing is ever over the limit. It also puts daphne's
connection there for the hub's direct writes (`spaces_project.daphne_compat`), which are made
only while nothing waits in these buffers.
"""

import logging
from typing import Any

from . import daphne_compat

logger = logging.getLogger(__name__)

TRANSPORT_KEY = "spaces.transport"


class SendBufferMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> Any:
        protocol = daphne_compat.protocol_from_send(send)
        transport = getattr(protocol, "transport", None)
        if transport is not None and hasattr(transport, "dataBuffer"):
            # daphne builds a scope per connection: filled in, not copied (a copy would live
            # as long as the socket).
            scope[TRANSPORT_KEY] = transport
            if scope.get("type") == "websocket":
                scope[daphne_compat.CONNECTION_KEY] = daphne_compat.Connection.of(send)
        return await self.app(scope, receive, send)


def buffered_bytes(scope: dict[str, Any]) -> int:
    """Bytes written to this socket that the kernel has not taken yet (0 if unknown)."""
    transport = scope.get(TRANSPORT_KEY)
    if transport is None:
        return 0
    # Twisted's FileDescriptor: unsent bytes are dataBuffer[offset:] plus the not yet joined
    # writes in _tempDataBuffer (_tempDataLen bytes).
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def abort(scope: dict[str, Any]) -> None:
    """Drop the connection at once (a close frame would wait behind the unread bytes)."""
    transport = scope.get(TRANSPORT_KEY)
    if transport is not None:
        transport.abortConnection()
