"""Pages for Spaces. Thin: read through selectors, write through services, ask permissions."""

import json
import re
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from spaces_project import ratelimit

from . import cards, ice, insights, live, replay, replay_views, selectors, services
from . import search as space_search
from .calendar import space_ics
from .exceptions import ActionRefused
from .forms import SpaceForm
from .models import Invite, Role, Room, SpaceAccess
from .permissions import Action, Standing, can, is_staff_moderator
from .visibility import room_visible_to

PERSON_LABELS = {
    "hand_accept": gettext_lazy("Bring up to speak"),
    "hand_decline": gettext_lazy("Decline"),
    "invite_speaker": gettext_lazy("Invite to speak"),
    "invite_cohost": gettext_lazy("Invite to co-host"),
    "mute": gettext_lazy("Mute"),
    "move_to_audience": gettext_lazy("Move to audience"),
    "cohost_remove": gettext_lazy("Remove as co-host"),
    "remove": gettext_lazy("Remove from Space"),
}
SELF_LABELS = {
    "hand_raise": gettext_lazy("Raise hand"),
    "hand_lower": gettext_lazy("Lower hand"),
    "mute": gettext_lazy("Mute"),
    "unmute": gettext_lazy("Unmute"),
    "move_to_audience": gettext_lazy("Become a listener"),
    "leave": gettext_lazy("Leave"),
    "end": gettext_lazy("End Space"),
}
DANGER = {"remove", "end"}


def home(request: HttpRequest) -> HttpResponse:
    data = selectors.home(topic_slug=request.GET.get("topic"))
    return render(request, "rooms/home.html", {"home": data})


@login_required
def room_create(request: HttpRequest) -> HttpResponse:
    form = SpaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            room = services.room_create(
                host=request.user,
                title=data["title"],
                description=data["description"],
                topics=data["topics"],
                scheduled_for=data["scheduled_for"],
                guests_may_listen=data["guests_may_listen"],
                visibility=data["visibility"],
                record=data["record"],
            )
        except ActionRefused as refused:
            form.add_error(None, refused.message)
        else:
            if room.is_live:
                _open_mic_on_arrival(request, room)
            else:
                messages.success(request, _("Your Space is scheduled."))
            return redirect("room_detail", slug=room.slug)
    return render(request, "rooms/space_form.html", {"form": form, "room": None})


@login_required
def room_edit(request: HttpRequest, slug: str) -> HttpResponse:
    room = selectors.room_by_slug(slug)
    if not room_visible_to(room, request.user):
        return private_page(request, room)
    if not can(request.user, Action.EDIT, room):
        return _refused_page(request, room, _("Only the host can edit a Space, before it starts."))
    form = SpaceForm.for_room(room, request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.room_update(
                room=room,
                actor=request.user,
                title=data["title"],
                description=data["description"],
                topics=data["topics"],
                scheduled_for=data["scheduled_for"],
                guests_may_listen=data["guests_may_listen"],
                visibility=data["visibility"],
                record=data["record"],
            )
        except ActionRefused as refused:
            form.add_error(None, refused.message)
        else:
            messages.success(request, _("Your changes are saved."))
            return redirect("room_detail", slug=room.slug)
    return render(request, "rooms/space_form.html", {"form": form, "room": room})


@login_required
def room_cancel(request: HttpRequest, slug: str) -> HttpResponse:
    room = selectors.room_by_slug(slug)
    if not room_visible_to(room, request.user):
        return private_page(request, room)
    if not can(request.user, Action.CANCEL, room):
        return _refused_page(
            request, room, _("Only the host can cancel a Space, before it starts.")
        )
    if request.method == "POST":
        try:
            services.room_cancel(room=room, actor=request.user)
        except ActionRefused as refused:
            messages.error(request, refused.message)
            return redirect("room_detail", slug=room.slug)
        messages.success(request, _("The Space is cancelled."))
        return redirect("my_spaces")
    return render(request, "rooms/room_cancel.html", {"room": room})


# The host's click on *Start now* / *Go live now* is their go-ahead to speak: the room page
# they land on opens the microphone and unmutes them at once, only on that first load.
OPEN_MIC_KEY = "spaces_open_mic"


def _open_mic_on_arrival(request: HttpRequest, room: Room) -> None:
    request.session[OPEN_MIC_KEY] = room.slug


def _refused_page(request: HttpRequest, room: Room, message: str) -> HttpResponse:
    return render(request, "rooms/refused.html", {"room": room, "message": message}, status=403)


def private_page(request: HttpRequest, room: Room) -> HttpResponse:
    """What someone not let into a private Space gets instead of it: who hosts it and, signed
    in, a button to ask to join (or where their request stands). Nothing else about it."""
    access = None
    if request.user.is_authenticated:
        access = SpaceAccess.objects.filter(room=room, user=request.user).first()
    return render(
        request,
        "rooms/space_private.html",
        {"private_room": room, "access": access, "login_next": request.get_full_path()},
        status=403,
    )


@login_required
def room_detail(request: HttpRequest, slug: str) -> HttpResponse:
    room = selectors.room_by_slug(slug, viewer=request.user)
    if not room_visible_to(room, request.user):
        return private_page(request, room)
    page = selectors.room_page(slug=slug, viewer=request.user, room=room)
    if page.viewer == Standing.REMOVED:
        return _refused_page(request, page.room, _("You were removed from this Space."))
    for person in page.stage + page.hands + page.audience:
        person.buttons = [(a, PERSON_LABELS[a], a in DANGER) for a in person.actions]
    self_buttons = [(a, SELF_LABELS[a], a in DANGER) for a in page.self_actions]
    return render(
        request,
        "rooms/room_detail.html",
        {
            "page": page,
            "room": page.room,
            "self_buttons": self_buttons,
            "can_manage": page.may(Action.EDIT),
            "share_url": request.build_absolute_uri(reverse("space_public", args=[slug])),
            "ice_servers": _ice_servers(request),
            # REC and the live clip button: not once staff took the recording down
            "recorded": page.room.shows_rec,
            **unfurl_context(request, page.room),
            "open_mic": request.session.pop(OPEN_MIC_KEY, None) == slug,
            "access": selectors.access_requests(room=page.room, viewer=request.user),
            "follows_host": getattr(room, "viewer_follows_host", False),
        },
    )


# The room's actions, by the name a form (or later a script) posts. Each takes the Space, the
# person acting, and the person acted on (themselves when the form names nobody).
RoomAction = Callable[[Room, User, User], object]
ROOM_ACTIONS: dict[str, RoomAction] = {
    "join": lambda room, actor, _: services.participant_join(room=room, user=actor),
    "leave": lambda room, actor, _: services.participant_leave(room=room, user=actor),
    "go_live": lambda room, actor, _: services.room_go_live(room=room, actor=actor),
    "end": lambda room, actor, _: services.room_end(room=room, actor=actor),
    "hand_raise": lambda room, actor, _: services.hand_raise(room=room, user=actor),
    "hand_lower": lambda room, actor, _: services.hand_lower(room=room, user=actor),
    "hand_accept": lambda room, actor, who: services.hand_accept(room=room, user=who, actor=actor),
    "hand_decline": lambda room, actor, who: services.hand_decline(
        room=room, user=who, actor=actor
    ),
    "invite_speaker": lambda room, actor, who: services.invite_create(
        room=room, invitee=who, inviter=actor, role=Role.SPEAKER
    ),
    "invite_cohost": lambda room, actor, who: services.invite_create(
        room=room, invitee=who, inviter=actor, role=Role.COHOST
    ),
    "speaker_promote": lambda room, actor, who: services.speaker_promote(
        room=room, user=who, actor=actor
    ),
    "cohost_promote": lambda room, actor, who: services.cohost_promote(
        room=room, user=who, actor=actor
    ),
    "move_to_audience": lambda room, actor, who: services.participant_move_to_audience(
        room=room, user=who, actor=actor
    ),
    "cohost_remove": lambda room, actor, who: services.cohost_remove(
        room=room, user=who, actor=actor
    ),
    "mute": lambda room, actor, who: services.speaker_mute(room=room, user=who, actor=actor),
    "unmute": lambda room, actor, who: services.speaker_unmute(room=room, user=who, actor=actor),
    "remove": lambda room, actor, who: services.participant_remove(
        room=room, user=who, actor=actor
    ),
}
DONE = {
    "join": gettext_lazy("You joined the Space."),
    "leave": gettext_lazy("You left the Space."),
    "go_live": gettext_lazy("You are live."),
    "end": gettext_lazy("The Space has ended."),
    "invite_speaker": gettext_lazy("Invite sent."),
    "invite_cohost": gettext_lazy("Invite sent."),
    "remove": gettext_lazy("Removed from the Space."),
}


@login_required
@require_POST
def room_action(request: HttpRequest, slug: str) -> HttpResponse:
    """One form endpoint for every button on the room page; works without JavaScript."""
    room = selectors.room_by_slug(slug)
    if not room_visible_to(room, request.user):
        return private_page(request, room)
    name = request.POST.get("action", "")
    back = redirect("room_detail", slug=room.slug)
    if name in ("invite_accept", "invite_decline"):
        return _answer_invite(request, room, name)
    action = ROOM_ACTIONS.get(name)
    if action is None:
        messages.error(request, _("Unknown action."))
        return back
    target = request.user
    if request.POST.get("user"):
        target = User.objects.filter(pk=_int(request.POST["user"])).first()
        if target is None:
            messages.error(request, _("That person is not in this Space."))
            return back
    try:
        action(room, request.user, target)
    except ActionRefused as refused:
        messages.error(request, refused.message)
        return back
    if name == "go_live":
        _open_mic_on_arrival(request, room)
    elif name in DONE:
        messages.success(request, str(DONE[name]))
    if name == "leave":
        return redirect("home")
    return back


def _answer_invite(request: HttpRequest, room: Room, name: str) -> HttpResponse:
    invite = Invite.objects.filter(pk=_int(request.POST.get("invite")), room=room).first()
    try:
        if invite is None:
            raise ActionRefused("invite_used", _("That invite no longer exists."))
        if name == "invite_accept":
            services.invite_accept(invite=invite, user=request.user)
            messages.success(request, _("You are on stage. Unmute when you are ready."))
        else:
            services.invite_decline(invite=invite, user=request.user)
    except ActionRefused as refused:
        messages.error(request, refused.message)
    return redirect("room_detail", slug=room.slug)


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


@ratelimit.per_ip("space_public", setting="SPACES_PUBLIC_PAGE_RATE")
def space_public(request: HttpRequest, slug: str) -> HttpResponse:
    """The link people share: works for anyone, signed in or not."""
    room = selectors.room_by_slug(slug, viewer=request.user)
    if not room_visible_to(room, request.user):
        return private_page(request, room)
    page = selectors.public_page(slug=slug, viewer=request.user, room=room)
    share_url = request.build_absolute_uri(reverse("space_public", args=[slug]))
    context = {
        "page": page,
        "room": room,
        "share_url": share_url,
        "og_description": _og_description(page),
        "ends_estimate": (room.scheduled_for or room.started_at or room.created_at)
        + timedelta(hours=1),
        "ice_servers": _ice_servers(request),
        "follows_host": getattr(room, "viewer_follows_host", False),
        **unfurl_context(request, room),
    }
    if room.record and room.state == Room.State.ENDED:
        # The same link becomes the replay (rooms/replay_views.py).
        response = replay_views.replay_page(request, room, context)
        if not request.user.is_authenticated and room.guests_may_listen:
            _give_guest_cookie(request, response)  # plays are counted once a day per guest
        return response
    response = render(request, "rooms/space_public.html", context)
    if not request.user.is_authenticated and room.guests_may_listen and not room.is_over:
        _give_guest_cookie(request, response)
    return response


def _give_guest_cookie(request: HttpRequest, response: HttpResponse) -> None:
    """Guests are known to the room socket by a signed id in a cookie set here."""
    if live.guest_id_from_cookie(request.COOKIES.get(live.GUEST_COOKIE)) is not None:
        return
    response.set_cookie(
        live.GUEST_COOKIE,
        live.guest_cookie_value(live.new_guest_id()),
        max_age=settings.SPACES_GUEST_COOKIE_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )


def _ice_servers(request: HttpRequest) -> str:
    """The ICE servers this browser uses, TURN credentials included (short-lived)."""
    identity = str(request.user.pk) if request.user.is_authenticated else "guest"
    return json.dumps(ice.ice_servers_for(identity))


def _og_description(page: selectors.PublicPage) -> str:
    room = page.room
    host = room.host.display_name
    recorded = " · Recorded" if room.shows_rec else ""
    if room.is_live:
        listening = f"{page.listener_count} listening"
        return f"Live now on Spaces, hosted by {host} · {listening}{recorded}"
    if room.is_scheduled:
        when = room.scheduled_for.strftime("%a %d %b %Y, %H:%M UTC")
        return f"A Space hosted by {host} · starts {when}{recorded}"
    if room.record and room.state == Room.State.ENDED:
        recording = replay.recording_of(room)
        if recording is not None and recording.is_playable:
            return f"Replay of a Space hosted by {host} · Recorded"
    return f"A Space hosted by {host} · ended{recorded}"


@login_required
@require_POST
def space_remind(request: HttpRequest, slug: str) -> HttpResponse:
    room = selectors.room_by_slug(slug)
    if not room_visible_to(room, request.user):
        return private_page(request, room)
    try:
        if request.POST.get("remind") == "off":
            services.reminder_clear(room=room, user=request.user)
            messages.success(request, _("Reminder removed."))
        else:
            services.reminder_set(room=room, user=request.user)
            messages.success(request, _("We will remind you when it starts."))
    except ActionRefused as refused:
        messages.error(request, refused.message)
    if request.POST.get("next") == "room":
        return redirect("room_detail", slug=room.slug)
    return redirect("space_public", slug=room.slug)


@ratelimit.per_ip("space_calendar", setting="SPACES_PUBLIC_PAGE_RATE")
def space_calendar(request: HttpRequest, slug: str) -> HttpResponse:
    """An .ics file for a scheduled or live Space, for anyone with the link."""
    room = selectors.visible_room_by_slug(slug, request.user)
    if room.is_over:
        return render(request, "404.html", status=404)
    url = request.build_absolute_uri(reverse("space_public", args=[slug]))
    response = HttpResponse(
        space_ics(room, url=url, domain=request.get_host()),
        content_type="text/calendar; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="space-{room.slug}.ics"'
    return response


@login_required
def my_spaces(request: HttpRequest) -> HttpResponse:
    return render(request, "rooms/my_spaces.html", {"mine": selectors.my_spaces(user=request.user)})


# Links that unfurl: the card picture, oEmbed, and the embeddable player page.


def _card_url(request: HttpRequest, room: Room) -> str:
    """Absolute URL of the Space's card, versioned by what is drawn on it."""
    path = reverse("space_card", args=[room.slug])
    return request.build_absolute_uri(f"{path}?v={cards.card_data(room).key}")


def unfurl_context(request: HttpRequest, room: Room) -> dict:
    """What base.html needs for the picture, the oEmbed discovery link and the lock screen."""
    card = _card_url(request, room)
    page_url = request.build_absolute_uri(reverse("space_public", args=[room.slug]))
    host = room.host.display_name
    return {
        "og_image": card,
        "og_image_alt": _("%(title)s, a Space hosted by %(host)s")
        % {"title": room.title, "host": host},
        "oembed_url": request.build_absolute_uri(reverse("oembed"))
        + "?"
        + urlencode({"url": page_url, "format": "json"}),
        "media_session": {"title": room.title, "host": host, "artwork": card},
    }


@ratelimit.per_ip("space_card", setting="SPACES_PUBLIC_PAGE_RATE")
@require_GET
def space_card(request: HttpRequest, slug: str) -> HttpResponse:
    """The Space's 1200×630 PNG card. With the current `?v=` it may be cached for good (a
    change makes a new URL); without it, or with an old one, for five minutes."""
    room = selectors.visible_room_by_slug(slug, request.user)
    data = cards.card_data(room)
    response = HttpResponse(cards.card_png(data), content_type="image/png")
    response["ETag"] = f'"{data.key}"'
    if request.GET.get("v") == data.key:
        response["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response["Cache-Control"] = "public, max-age=300"
    response["Vary"] = "Accept-Language, Cookie"
    return response


EMBED_WIDTH, EMBED_HEIGHT = 480, 200


@ratelimit.per_ip("oembed", setting="SPACES_PUBLIC_PAGE_RATE")
@require_GET
def oembed(request: HttpRequest) -> HttpResponse:
    """oEmbed (https://oembed.com) for `/s/<slug>/` links: a rich embed of the player page."""
    if request.GET.get("format", "json") != "json":
        return HttpResponse("Only format=json is supported.", status=501)
    match = re.fullmatch(r"/s/([\w-]+)/?", urlsplit(request.GET.get("url", "")).path)
    if match is None:
        return HttpResponse("Not a Space link.", status=404, content_type="text/plain")
    room = selectors.visible_room_by_slug(match.group(1), request.user)
    width, height = EMBED_WIDTH, EMBED_HEIGHT
    if request.GET.get("maxwidth", "").isdigit():
        width = max(200, min(width, int(request.GET["maxwidth"])))
    if request.GET.get("maxheight", "").isdigit():
        height = max(120, min(height, int(request.GET["maxheight"])))
    src = request.build_absolute_uri(reverse("space_embed", args=[room.slug]))
    html = format_html(
        '<iframe src="{}" width="{}" height="{}" title="{}" frameborder="0" '
        'allow="autoplay" loading="lazy"></iframe>',
        src,
        width,
        height,
        room.title,
    )
    return JsonResponse(
        {
            "version": "1.0",
            "type": "rich",
            "provider_name": "Spaces",
            "provider_url": request.build_absolute_uri("/"),
            "title": room.title,
            "author_name": room.host.display_name,
            "author_url": request.build_absolute_uri(
                reverse("profile_detail", args=[room.host.username])
            ),
            "html": html,
            "width": width,
            "height": height,
            "thumbnail_url": _card_url(request, room),
            "thumbnail_width": cards.WIDTH,
            "thumbnail_height": cards.HEIGHT,
            "cache_age": 300,
        },
        json_dumps_params={"ensure_ascii": False},
    )


@ratelimit.per_ip("space_public", setting="SPACES_PUBLIC_PAGE_RATE")
@xframe_options_exempt
@require_GET
def space_embed(request: HttpRequest, slug: str) -> HttpResponse:
    """The listen-only player other sites put in an iframe. The only page that may be framed:
    no X-Frame-Options, and a CSP that allows any site as frame ancestor."""
    room = selectors.visible_room_by_slug(slug, request.user)
    page = selectors.public_page(slug=slug, room=room)
    context = {"page": page, "room": page.room, **unfurl_context(request, page.room)}
    context["replay"] = replay_views.embed_replay(request, page.room)
    response = render(request, "rooms/space_embed.html", context)
    response["Content-Security-Policy"] = "frame-ancestors *"
    return response


# Private Spaces: asking to join, and the host letting people in.


@login_required
@require_POST
def space_ask(request: HttpRequest, slug: str) -> HttpResponse:
    """Ask the host of a private Space to let you in."""
    room = selectors.room_by_slug(slug)
    try:
        services.access_request(room=room, user=request.user)
    except ActionRefused as refused:
        messages.error(request, refused.message)
    else:
        if room_visible_to(room, request.user):
            return redirect("room_detail", slug=room.slug)
        messages.success(request, _("Your request is sent to the host."))
    return redirect("space_public", slug=room.slug)


@login_required
@require_POST
def room_access(request: HttpRequest, slug: str) -> HttpResponse:
    """The host answers a request to join (`user`, `decision`), or lets someone in by handle."""
    room = selectors.room_by_slug(slug)
    if not room_visible_to(room, request.user):
        return private_page(request, room)
    handle = request.POST.get("handle", "").strip().lstrip("@")
    if handle:
        person = User.objects.filter(username__iexact=handle).first()
    else:
        person = User.objects.filter(pk=_int(request.POST.get("user"))).first()
    try:
        if person is None:
            raise ActionRefused("invalid", _("There is nobody with that handle."))
        approve = request.POST.get("decision", "approve") == "approve"
        services.access_decide(room=room, actor=request.user, user=person, approve=approve)
    except ActionRefused as refused:
        messages.error(request, refused.message)
    else:
        if approve:
            messages.success(request, _("%(name)s can now join.") % {"name": person.display_name})
        else:
            messages.success(request, _("Request declined."))
    return redirect("room_detail", slug=room.slug)


@ratelimit.per_ip("search", setting="SPACES_PUBLIC_PAGE_RATE")
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """The header's search box: public Spaces (live first) and people, a page of each."""
    results = space_search.search(
        query=request.GET.get("q", ""),
        page=request.GET.get("page"),
        people_page=request.GET.get("people"),
    )
    return render(request, "rooms/search.html", {"results": results})


# The host's insights about a Space.


def _insights_room(request: HttpRequest, slug: str) -> Room:
    """The Space, if the viewer hosts it (or is staff); 404 for everyone else."""
    room = selectors.visible_room_by_slug(slug, request.user)
    if room.host_id != request.user.pk and not is_staff_moderator(request.user):
        raise Http404("No such Space")
    return room


@login_required
def room_insights(request: HttpRequest, slug: str) -> HttpResponse:
    room = _insights_room(request, slug)
    data = insights.space_insights(room=room)
    return render(request, "rooms/insights.html", {"room": room, "insights": data})


@login_required
def room_insights_csv(request: HttpRequest, slug: str) -> HttpResponse:
    room = _insights_room(request, slug)
    response = HttpResponse(
        insights.insights_csv(insights.space_insights(room=room)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="space-{room.slug}-insights.csv"'
    return response
