"""HTTP and WebSockets in one ASGI app, served by daphne."""

import os
from importlib import import_module

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings.local")
django_asgi_app = get_asgi_application()

from channels.auth import UserLazyObject, get_user  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import AnonymousUser  # noqa: E402
from django.http.cookie import parse_cookie  # noqa: E402

from rooms.routing import websocket_urlpatterns  # noqa: E402
from spaces_project.backpressure import SendBufferMiddleware  # noqa: E402
from spaces_project.origins import OriginValidator  # noqa: E402


class SocketSessionMiddleware:
    """The cookies, the session and the person for a socket, as Channels' AuthMiddlewareStack
    gives them (`scope["cookies"]`, `["session"]`, `["user"]`), in one copy of the scope.

    Channels' three middlewares each copy the scope, and every copy lives as long as the socket
    (held by their frames); its session wrapper checks the session on every frame sent, though
    it only ever saves on an HTTP response. A socket without a session cookie (a guest) is
    anonymous without the worker-thread hop that reading a session takes.
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope, receive, send):
        cookies = {}
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                cookies = parse_cookie(value.decode("latin1"))
                break
        session_key = cookies.get(settings.SESSION_COOKIE_NAME)
        user = UserLazyObject()
        scope = {
            **scope,
            "cookies": cookies,
            "session": self.session_store(session_key),
            "user": user,
        }
        user._wrapped = AnonymousUser() if session_key is None else await get_user(scope)
        return await self.inner(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SendBufferMiddleware(
            OriginValidator(SocketSessionMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
