"""Site-wide files that belong to no app: the installable-app files (manifest, service worker,
favicon) and the offline page. The error pages are templates/{403,404,429,500}.html."""

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

# Bump when the shell's list or the worker's code changes: old caches are dropped on activate.
SHELL_VERSION = "1"


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    return redirect(static("favicon.ico"), permanent=True)


@require_GET
@cache_control(max_age=3600, public=True)
def manifest(request: HttpRequest) -> JsonResponse:
    """The web app manifest: "Add to home screen" installs Spaces as a standalone app."""
    icon = {"type": "image/png", "purpose": "any"}
    data = {
        "id": "/",
        "name": "Spaces",
        "short_name": "Spaces",
        "description": _("Live audio rooms: host a Space, listen from any browser."),
        "lang": request.LANGUAGE_CODE if hasattr(request, "LANGUAGE_CODE") else "en",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f6f5fb",
        "theme_color": "#1d1b3a",
        "icons": [
            {**icon, "src": static("icons/icon-192.png"), "sizes": "192x192"},
            {**icon, "src": static("icons/icon-512.png"), "sizes": "512x512"},
            {
                **icon,
                "src": static("icons/icon-maskable-512.png"),
                "sizes": "512x512",
                "purpose": "maskable",
            },
        ],
    }
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json"
    return response


def shell_urls() -> list[str]:
    """What the service worker keeps for offline use: the look of the site, nothing else
    (no audio, no page of a Space, no API or socket response)."""
    return [
        reverse("offline"),
        static("css/app.css"),
        static("favicon.ico"),
        static("icons/icon-192.png"),
    ]


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """Served from the root so its scope covers every page; never cached by the browser's HTTP
    cache, so a new version is picked up on the next visit."""
    response = render(
        request,
        "sw.js",
        {
            "version": SHELL_VERSION,
            "shell_json": json.dumps(shell_urls()),
            "static_prefix_json": json.dumps(settings.STATIC_URL),
            "static_icon": static("icons/icon-192.png"),
        },
        content_type="text/javascript; charset=utf-8",
    )
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    return render(request, "offline.html")
