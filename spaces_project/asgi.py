"""HTTP and WebSockets in one ASGI app, served by daphne."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings.local")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import CookieMiddleware, SessionMiddleware  # noqa: E402
from django.contrib.auth.models import AnonymousUser  # noqa: E402

from rooms.routing import websocket_urlpatterns  # noqa: E402
from spaces_project.backpressure import SendBufferMiddleware  # noqa: E402
from spaces_project.origins import OriginValidator  # noqa: E402


class SocketAuthMiddleware(AuthMiddleware):
    """Channels' AuthMiddleware, without its worker-thread hop for a socket that carries no
    session (a guest): it is anonymous, and no database is needed to say so."""

    async def resolve_scope(self, scope) -> None:
        if scope["session"].session_key is None:
            scope["user"]._wrapped = AnonymousUser()
        else:
            await super().resolve_scope(scope)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SendBufferMiddleware(
            OriginValidator(
                CookieMiddleware(
                    SessionMiddleware(SocketAuthMiddleware(URLRouter(websocket_urlpatterns)))
                )
            )
        ),
    }
)
