"""Site-wide pages: the friendly error pages, the favicon, the installable-app files."""

import json

import pytest
from django.test import override_settings
from django.urls import reverse
from PIL import Image

from spaces_project.settings import local

pytestmark = pytest.mark.django_db


def test_local_settings_show_the_friendly_pages_unless_debug_is_asked_for(monkeypatch):
    # `make run` uses settings/local.py: DEBUG must be off unless DEBUG=1 is set.
    assert local.DEBUG is False


@pytest.mark.parametrize("path", ["/s/no-such-space/", "/rooms/nope/edit/x/", "/u/nobody_here/"])
def test_a_mistyped_link_gets_the_friendly_404_with_a_way_home(client, path):
    response = client.get(path)
    assert response.status_code == 404
    page = response.content.decode()
    assert "Nothing here" in page
    assert f'href="{reverse("home")}"' in page
    assert "Traceback" not in page


def test_the_500_page_is_friendly_and_renders_without_a_database(client):
    from django.template import loader

    page = loader.get_template("500.html").render()
    assert "Something went wrong" in page
    assert 'href="/"' in page


def test_the_403_page_has_a_way_home(client):
    from django.core.exceptions import PermissionDenied
    from django.views.defaults import permission_denied

    request = client.get("/").wsgi_request
    response = permission_denied(request, PermissionDenied())
    assert response.status_code == 403
    assert "open this page" in response.content.decode()


def test_every_page_links_a_favicon_and_favicon_ico_answers(client):
    page = client.get(reverse("home")).content.decode()
    assert 'rel="icon"' in page
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_the_manifest_lists_installable_icons(client, settings):
    page = client.get(reverse("home")).content.decode()
    assert f'rel="manifest" href="{reverse("manifest")}"' in page
    response = client.get(reverse("manifest"))
    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert manifest["name"] == "Spaces"
    assert manifest["start_url"] == "/"
    assert manifest["display"] == "standalone"
    sizes = {}
    for icon in manifest["icons"]:
        served = client.get(icon["src"])
        assert served.status_code == 200
        with Image.open(_file(served)) as image:
            assert icon["sizes"] == f"{image.width}x{image.height}"
            assert image.format == "PNG"
        sizes[icon["sizes"]] = icon.get("purpose", "any")
    assert {"192x192", "512x512"} <= set(sizes)


def _file(response):
    import io

    body = b"".join(response.streaming_content) if response.streaming else response.content
    return io.BytesIO(body)


def test_the_service_worker_caches_only_the_shell(client):
    response = client.get(reverse("service_worker"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Cache-Control"] == "no-cache"
    script = response.content.decode()
    shell = json.loads(script.split("const SHELL = ", 1)[1].split(";\n", 1)[0])
    assert reverse("offline") in shell
    assert not any(url.startswith(("/s/", "/ws/", "/rooms/", "/media/")) for url in shell)
    # Non-GET requests and anything outside the shell go to the network uncached.
    assert 'if (request.method !== "GET") return;' in script
    assert "if (!isShell(url)) return;" in script


@override_settings(SPACES_PUBLIC_PAGE_RATE=1)
def test_the_429_page_has_a_way_home(client):
    from tests.factories import RoomFactory

    room = RoomFactory()
    client.get(reverse("space_public", args=[room.slug]))
    response = client.get(reverse("space_public", args=[room.slug]))
    assert response.status_code == 429
    assert "Too many requests" in response.content.decode()
    assert f'href="{reverse("home")}"' in response.content.decode()
