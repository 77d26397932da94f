"""Reporting (anyone, guests included) and blocking (signed-in people). Thin: targets come from
selectors, changes from services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from rooms.selectors import visible_room_by_slug

from . import selectors, services
from .exceptions import ModerationRefused
from .forms import ReportForm
from .models import TargetType
from .selectors import ReportTarget

# Guests are told apart by a random id in a signed cookie (and their IP address's hash).
REPORTER_COOKIE = "spaces_reporter"
REPORTER_SALT = "moderation.reporter"
REPORTER_COOKIE_AGE = 60 * 60 * 24 * 365


def _guest_key(request: HttpRequest) -> tuple[str, bool]:
    """The guest's reporter id from their signed cookie, or a new one (True: set the cookie)."""
    signer = signing.get_cookie_signer(salt=REPORTER_SALT)
    try:
        return signer.unsign(request.COOKIES.get(REPORTER_COOKIE, ""), REPORTER_COOKIE_AGE), False
    except signing.BadSignature:
        return services.new_guest_key(), True


def report_space(request: HttpRequest, slug: str) -> HttpResponse:
    """Report a Space (`/s/<slug>/report/`), a post in it (`?post=<id>`), someone in it
    (`?person=<user id>`) or a question on a raised hand (`?question=<id>`)."""
    visible_room_by_slug(slug, request.user)  # a private Space is reported only by those in it
    target = selectors.report_target(
        slug=slug,
        post_id=request.GET.get("post"),
        person=request.GET.get("person"),
        question_id=request.GET.get("question"),
        clip_slug=request.GET.get("clip"),
    )
    if target.post is not None and not request.user.is_authenticated:
        if not target.room.guests_may_listen:
            # The report page quotes the post: guests see no more of the Space than its page.
            raise Http404(_("Sign in to report posts in this Space."))
    return _report(request, target, back=reverse("space_public", args=[slug]))


def report_person(request: HttpRequest, username: str) -> HttpResponse:
    """Report a person from their profile (`/u/<username>/report/`)."""
    target = selectors.report_target(person=username)
    return _report(request, target, back=reverse("profile_detail", args=[target.person.username]))


def _report(request: HttpRequest, target: ReportTarget, back: str) -> HttpResponse:
    form = ReportForm(request.POST or None, initial={"offset": request.GET.get("offset")})
    context = {"form": form, "target": target, "back": back, "what": _what(target)}
    if request.method != "POST" or not form.is_valid():
        return render(request, "moderation/report_form.html", context)
    signed_in = request.user.is_authenticated
    guest_key, new_cookie = ("", False) if signed_in else _guest_key(request)
    try:
        outcome = services.report_create(
            target=target,
            category=form.cleaned_data["category"],
            text=form.cleaned_data["text"],
            reporter=request.user if signed_in else None,
            guest_key=guest_key,
            ip_hash=services.ip_fingerprint(request.META.get("REMOTE_ADDR", "")),
            offset=form.cleaned_data.get("offset"),
        )
    except ModerationRefused as refused:
        form.add_error(None, refused.message)
        status = 429 if refused.code == "rate_limited" else 400
        response = render(request, "moderation/report_form.html", context, status=status)
    else:
        response = render(
            request,
            "moderation/report_sent.html",
            {**context, "already": not outcome.created, "report": outcome.report},
        )
    if new_cookie:
        response.set_cookie(
            REPORTER_COOKIE,
            signing.get_cookie_signer(salt=REPORTER_SALT).sign(guest_key),
            max_age=REPORTER_COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response


def _what(target: ReportTarget) -> str:
    if target.question is not None:
        return "question"
    if target.type == TargetType.SPACE:
        return "Space"
    if target.type == TargetType.POST:
        return "post"
    if target.type == TargetType.CLIP:
        return "clip"
    return "person"


@login_required
@require_POST
def person_block(request: HttpRequest, username: str) -> HttpResponse:
    person = get_object_or_404(User, username__iexact=username)  # handles ignore case
    try:
        services.block_create(blocker=request.user, blocked=person)
    except ModerationRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(
            request,
            _(
                "You blocked %(name)s. They can't be brought on stage by you or ask to "
                "speak in your Spaces, and you won't see their posts."
            )
            % {"name": person.display_name},
        )
    return redirect("profile_detail", username=person.username)


@login_required
@require_POST
def person_unblock(request: HttpRequest, username: str) -> HttpResponse:
    person = get_object_or_404(User, username__iexact=username)
    if services.block_delete(blocker=request.user, blocked=person):
        messages.success(request, _("You unblocked %(name)s.") % {"name": person.display_name})
    return redirect("profile_detail", username=person.username)
