from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

# The admin signs in through allauth, so its login gets the same rate limits.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Spaces administration"
admin.site.site_title = "Spaces admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("rooms.urls")),
    path("", include("moderation.urls")),
]
# A database outage answers 503 with a friendly page (spaces_project/errors.py).
handler500 = "spaces_project.errors.server_error"

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
