from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.i18n import JavaScriptCatalog
from django.views.static import serve

from accounts import views as accounts_views

from . import site

# The admin signs in through allauth, so its login gets the same rate limits.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Spaces administration"
admin.site.site_title = "Spaces admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # The language switcher posts here (Django's set_language, which also remembers a signed-in
    # person's choice for their emails); the page's JavaScript strings.
    path("i18n/setlang/", accounts_views.language_set, name="set_language"),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript_catalog"),
    path("favicon.ico", site.favicon, name="favicon"),
    path("manifest.webmanifest", site.manifest, name="manifest"),
    path("sw.js", site.service_worker, name="service_worker"),
    path("offline/", site.offline, name="offline"),
    path("", include("accounts.urls")),
    path("", include("rooms.urls")),
    path("", include("moderation.urls")),
]
if settings.DEBUG or settings.SERVE_MEDIA:
    # Uploaded avatars under `make run`; production's proxy serves MEDIA_ROOT/avatars/
    # (docs/deploy/nginx.conf). Never the recordings or the live HLS files: only their views
    # (rooms/recording_views.py, rooms/hls_views.py) ask who may hear them.
    prefix = settings.MEDIA_URL.lstrip("/")
    urlpatterns += [
        re_path(
            rf"^{prefix}(?!recordings/|hls/)(?P<path>.*)$",
            serve,
            {"document_root": settings.MEDIA_ROOT},
        )
    ]

# A database outage answers 503 with a friendly page (spaces_project/errors.py).
handler500 = "spaces_project.errors.server_error"
