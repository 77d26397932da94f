from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Notification, OutboxEmail, Profile, User


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [ProfileInline]
    list_display = ["email", "username", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "username", "profile__display_name"]
    ordering = ["-date_joined"]
    # Email is how people sign in; the username is their public @handle.
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "username", "usable_password", "password1", "password2"),
            },
        ),
    )


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["user", "text", "created_at", "read_at"]
    list_select_related = ["user"]
    search_fields = ["user__email", "text"]
    readonly_fields = ["user", "text", "url", "key", "created_at", "read_at"]


@admin.register(OutboxEmail)
class OutboxEmailAdmin(admin.ModelAdmin):
    """Mail the site decided to send; unsent rows with an error are the ones to look at."""

    list_display = ["to", "subject", "created_at", "sent_at", "attempts"]
    list_filter = [("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["to", "subject", "key"]
    readonly_fields = [
        "user",
        "to",
        "subject",
        "body",
        "key",
        "created_at",
        "attempted_at",
        "attempts",
        "sent_at",
        "last_error",
    ]

    def has_add_permission(self, request) -> bool:
        return False
