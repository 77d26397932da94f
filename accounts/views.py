from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render

from .forms import ProfileForm
from .models import User
from .selectors import notifications_recent
from .services import notifications_mark_read, profile_ensure, profile_update


@login_required
def profile_edit(request: HttpRequest) -> HttpResponse:
    profile = profile_ensure(user=request.user)
    form = ProfileForm(request.POST or None, request.FILES or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        avatar = form.cleaned_data["avatar"]
        profile_update(
            user=request.user,
            display_name=form.cleaned_data["display_name"],
            bio=form.cleaned_data["bio"],
            avatar=avatar if avatar is False or "avatar" in request.FILES else None,
        )
        messages.success(request, "Your profile is saved.")
        return redirect("profile_edit")
    return render(request, "accounts/profile_edit.html", {"form": form})


def profile_detail(request: HttpRequest, username: str) -> HttpResponse:
    person = get_object_or_404(User.objects.select_related("profile"), username=username)
    return render(request, "accounts/profile_detail.html", {"person": person})


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
