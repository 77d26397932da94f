"""End to end, with real sockets: a report goes through the admin queue to a suspension that
closes the person's live socket with the reason, turns their sign-in away, and ends on time."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from moderation.models import ModerationAction, Report, Suspension
from moderation.selectors import explain
from tests.factories import BlockFactory
from tests.rooms.live_helpers import join

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-test-password"  # UserFactory's


def sign_in(client, user):
    return client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})


async def test_report_queue_suspend_socket_closes_sign_in_refused_then_allowed_on_time(
    space, moderator, monkeypatch
):
    troll = space.listener
    socket, snapshot = await join(space.room, troll)
    assert snapshot["you"]["role"] == "listener"

    # A guest reports the troll's post from the public link.
    guest = Client()
    url = reverse("space_report", args=[space.room.slug]) + f"?post={space.post.pk}"
    sent = await sync_to_async(guest.post)(url, {"category": "spam", "text": "Spamming links"})
    assert "Thanks, we got your report" in sent.content.decode()
    report = await Report.objects.aget()

    # Staff see it in the queue and suspend the author for a day with a reason.
    staff = Client()
    await sync_to_async(staff.force_login)(moderator)
    queue = await sync_to_async(staff.get)(reverse("admin:moderation_report_changelist"))
    assert "Spamming links" not in queue.content.decode()  # details live on the report page
    assert "a post by" in queue.content.decode()
    done = await sync_to_async(staff.post)(
        reverse("admin:moderation_report_changelist"),
        {
            "action": "suspend_accused",
            "_selected_action": [report.pk],
            "apply": "1",
            "hours": 24,
            "reason": "Spamming links in Spaces",
        },
    )
    assert done.status_code == 302

    # Their live socket is told why and closed.
    assert await socket.wait_closed() == 4403
    suspension = await Suspension.objects.aget(user=troll)
    closing = [e for e in socket.events if e["type"] == "closing"]
    assert closing == [
        {
            "v": 1,
            "type": "closing",
            "code": "suspended",
            "message": explain(suspension.until, "Spamming links in Spaces"),
        }
    ]
    assert closing[0]["message"].startswith("Your account is suspended until ")
    assert closing[0]["message"].endswith(": Spamming links in Spaces.")
    assert await ModerationAction.objects.filter(kind="suspend", actor=moderator).aexists()
    assert (await Report.objects.aget()).status == "actioned"

    # They cannot sign in, and are told why and until when.
    person = Client()
    refused = await sync_to_async(sign_in)(person, troll)
    assert refused.status_code == 403
    assert "Spamming links in Spaces" in refused.content.decode()

    # A reconnecting socket is refused too.
    again, _ = await _refused_socket(space.room, troll)
    assert again == 4403

    # A day later the suspension is over by itself.
    later = timezone.now() + timedelta(hours=24, minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    allowed = await sync_to_async(sign_in)(person, troll)
    assert allowed.status_code == 302 and allowed.url == reverse("home")
    await socket.close()


async def _refused_socket(room, user):
    from tests.rooms.live_helpers import open_socket

    socket = await open_socket(room, user)
    code = await socket.wait_closed()
    await socket.close()
    return code, socket.events


async def test_posts_of_people_you_blocked_do_not_reach_you(space):
    await sync_to_async(BlockFactory)(blocker=space.host, blocked=space.listener)
    host, host_snapshot = await join(space.room, space.host)
    speaker, speaker_snapshot = await join(space.room, space.speaker)
    listener, _ = await join(space.room, space.listener)
    assert space.post.pk not in [p["id"] for p in host_snapshot["posts"]]
    assert space.post.pk in [p["id"] for p in speaker_snapshot["posts"]]

    await listener.send(type="post", text="Can you hear me?")
    seen = await speaker.wait_for("post_created")
    assert seen["post"]["text"] == "Can you hear me?"
    assert "post_created" not in [e["type"] for e in await host.quiet(0.5)]
    for socket in (host, speaker, listener):
        await socket.close()
