import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from . import webpush
from .forms import ProfileForm
from .models import User
from .selectors import (
    follow_counts,
    followers_page,
    following_page,
    is_following,
    notifications_recent,
)
from .services import (
    follow_create,
    follow_delete,
    handle_change,
    handle_next_change_at,
    notifications_mark_read,
    profile_ensure,
    profile_language_set,
    profile_update,
    push_subscribe,
    push_unsubscribe,
)


@login_required
def profile_edit(request: HttpRequest) -> HttpResponse:
    profile = profile_ensure(user=request.user)
    form = ProfileForm(
        request.POST or None,
        request.FILES or None,
        instance=profile,
        initial={"handle": request.user.username, "follow_email": profile.follow_email},
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
                    follow_email=form.cleaned_data["follow_email"] or None,
                )
        except ValidationError as error:
            form.add_error("handle", error)
        else:
            messages.success(request, _("Your profile is saved."))
            return redirect("profile_edit")
    context = {
        "form": form,
        "handle_next_change_at": handle_next_change_at(user=request.user),
        "push_key": webpush.public_key(),
    }
    return render(request, "accounts/profile_edit.html", context)


def profile_detail(request: HttpRequest, username: str) -> HttpResponse:
    """A profile by @handle, ignoring case. A handle someone gave up answers 404 (it may be
    someone else's tomorrow, so redirecting it would send visitors to the wrong person)."""
    from rooms.feeds import feed_recordings  # rooms builds on accounts

    person = get_object_or_404(User.objects.select_related("profile"), username__iexact=username)
    followers, following = follow_counts(person=person)
    context = {
        "person": person,
        "followers_count": followers,
        "following_count": following,
        "is_following": is_following(follower=request.user, followee=person),
        # Their replays (public, guests may listen): the same list as their podcast feed.
        "recorded": [recording.room for recording in feed_recordings(person)[:10]],
    }
    return render(request, "accounts/profile_detail.html", context)


@login_required
@require_POST
def person_follow(request: HttpRequest, username: str) -> HttpResponse:
    """Follow (or, with `follow=off`, stop following) someone; back to where the button was."""
    person = get_object_or_404(User, username__iexact=username)
    try:
        if request.POST.get("follow") == "off":
            follow_delete(follower=request.user, followee=person)
            messages.success(
                request, _("You no longer follow %(name)s.") % {"name": person.display_name}
            )
        else:
            follow_create(follower=request.user, followee=person)
            messages.success(
                request,
                _("You follow %(name)s: you will hear when they go live.")
                % {"name": person.display_name},
            )
    except ValidationError as error:
        messages.error(request, error.messages[0])
    back = request.POST.get("next", "")
    if back.startswith("/") and not back.startswith("//"):
        return redirect(back)
    return redirect("profile_detail", username=person.username)


def _follow_list(request: HttpRequest, username: str, which: str) -> HttpResponse:
    person = get_object_or_404(User.objects.select_related("profile"), username__iexact=username)
    pick = followers_page if which == "followers" else following_page
    page = pick(person=person, page=request.GET.get("page"))
    return render(
        request, "accounts/follow_list.html", {"person": person, "page": page, "which": which}
    )


def person_followers(request: HttpRequest, username: str) -> HttpResponse:
    return _follow_list(request, username, "followers")


def person_following(request: HttpRequest, username: str) -> HttpResponse:
    return _follow_list(request, username, "following")


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


@login_required
@require_POST
def push_subscription(request: HttpRequest) -> HttpResponse:
    """The page's push subscription (JSON: `endpoint`, `keys.p256dh`, `keys.auth`);
    `{"endpoint": …, "remove": true}` forgets it."""
    try:
        data = json.loads(request.body or b"{}")
        endpoint = str(data["endpoint"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": _("This browser's subscription is not usable.")}, status=400)
    if data.get("remove"):
        push_unsubscribe(user=request.user, endpoint=endpoint)
        return JsonResponse({"ok": True})
    keys = data.get("keys") or {}
    try:
        push_subscribe(
            user=request.user,
            endpoint=endpoint,
            p256dh=str(keys.get("p256dh", "")),
            auth=str(keys.get("auth", "")),
        )
    except ValidationError as error:
        return JsonResponse({"error": error.messages[0]}, status=400)
    return JsonResponse({"ok": True})
