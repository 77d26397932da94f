from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.i18n import set_language as django_set_language

from .forms import ProfileForm
from .models import User
from .selectors import notifications_recent
from .services import (
    handle_change,
    handle_next_change_at,
    notifications_mark_read,
    profile_ensure,
    profile_language_set,
    profile_update,
)


@login_required
def profile_edit(request: HttpRequest) -> HttpResponse:
    profile = profile_ensure(user=request.user)
    form = ProfileForm(
        request.POST or None,
        request.FILES or None,
        instance=profile,
        initial={"handle": request.user.username},
    )
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                if form.cleaned_data["handle"]:
                    handle_change(user=request.user, handle=form.cleaned_data["handle"])
                avatar = form.cleaned_data["avatar"]
                profile_update(
                    user=request.user,
                    display_name=form.cleaned_data["display_name"],
                    bio=form.cleaned_data["bio"],
                    avatar=avatar if avatar is False or "avatar" in request.FILES else None,
                )
        except ValidationError as error:
            form.add_error("handle", error)
        else:
            messages.success(request, _("Your profile is saved."))
            return redirect("profile_edit")
    context = {"form": form, "handle_next_change_at": handle_next_change_at(user=request.user)}
    return render(request, "accounts/profile_edit.html", context)


def profile_detail(request: HttpRequest, username: str) -> HttpResponse:
    """A profile by @handle, ignoring case. A handle someone gave up answers 404 (it may be
    someone else's tomorrow, so redirecting it would send visitors to the wrong person)."""
    person = get_object_or_404(User.objects.select_related("profile"), username__iexact=username)
    return render(request, "accounts/profile_detail.html", {"person": person})


def language_set(request: HttpRequest) -> HttpResponse:
    """Django's language switcher (`set_language`), and for a signed-in person, the language
    their later emails are written in."""
    response = django_set_language(request)
    if request.method == "POST" and request.user.is_authenticated:
        profile_language_set(user=request.user, language=request.POST.get("language", ""))
    return response


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    """The person's recent notifications. Reading changes nothing; the "Mark as read" button
    POSTs the newest id shown, and everything up to it is marked read."""
    if request.method == "POST":
        try:
            up_to_id = int(request.POST.get("up_to", ""))
        except ValueError:
            return HttpResponseBadRequest("Which notifications? The form names the newest one.")
        notifications_mark_read(user=request.user, up_to_id=up_to_id)
        return redirect("notifications")
    shown = notifications_recent(user=request.user)
    unread = [n for n in shown if n.read_at is None]
    newest = max((n.pk for n in shown), default=None)
    return render(
        request,
        "accounts/notifications.html",
        {"notifications": shown, "unread": unread, "newest": newest},
    )
