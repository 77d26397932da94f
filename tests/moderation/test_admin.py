"""Staff review in the admin: the queue, its filters and counts, each action through its service,
who may act (with and without the Moderators group), and the audit log nobody can edit."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from moderation.models import ModerationAction, Report, Suspension
from moderation.permissions import MODERATOR_PERMISSIONS
from rooms import services as room_services
from rooms.models import Participant, Post, Room, RoomEvent
from tests.factories import ReportFactory, SuspensionFactory, UserFactory, moderators_group

from .conftest import fresh

pytestmark = pytest.mark.django_db

QUEUE = "admin:moderation_report_changelist"


def run_action(client, action: str, reports, **extra):
    data = {"action": action, "_selected_action": [r.pk for r in reports], **extra}
    return client.post(reverse(QUEUE), data, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def post_report(space, **fields):
    return ReportFactory(
        target_type="post",
        room=space.room,
        post=space.post,
        target_key=f"post:{space.post.pk}",
        accused=space.listener,
        snapshot={"post": {"text": space.post.text, "author": {"name": "Listener"}}},
        **fields,
    )


def test_the_moderators_group_holds_exactly_what_the_actions_need(db):
    group = Group.objects.get(name="Moderators")
    held = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert held == set(MODERATOR_PERMISSIONS)
    assert ("moderation", "delete_report") not in held
    assert ("moderation", "change_moderationaction") not in held


def test_the_queue_shows_flagged_first_with_open_counts_per_target(client_for, moderator, space):
    plain = ReportFactory(room=space.room)
    ReportFactory(room=space.room)  # the same Space, another reporter
    flagged = post_report(space, flagged=True)
    ReportFactory(room=space.room, status="dismissed")

    response = client_for(moderator).get(reverse(QUEUE))
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert rows[0] == flagged
    counts = {r.pk: r.open_on_target_count for r in rows}
    assert counts[plain.pk] == 2  # two open reports about the Space; the dismissed one is not
    assert counts[flagged.pk] == 1


@pytest.mark.parametrize(
    "query, expected",
    [
        ("status__exact=dismissed", {"dismissed"}),
        ("category__exact=hate", {"hate"}),
        ("target_type__exact=post", {"post"}),
        ("age=1d", {"new", "dismissed", "post"}),
        ("age=older", {"old"}),
    ],
)
def test_the_queue_filters(client_for, moderator, space, now, query, expected):
    ReportFactory(room=space.room, category="hate", text="new")
    ReportFactory(room=space.room, status="dismissed", text="dismissed")
    old = ReportFactory(room=space.room, text="old")
    Report.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=9))
    post_report(space, text="post")

    rows = client_for(moderator).get(reverse(QUEUE) + "?" + query).context["cl"].result_list
    seen = {
        "status__exact=dismissed": lambda r: r.status,
        "category__exact=hate": lambda r: r.category,
        "target_type__exact=post": lambda r: r.target_type,
    }.get(query, lambda r: r.text)
    assert {seen(r) for r in rows} == expected


def test_the_queue_costs_the_same_queries_however_long(
    client_for, moderator, space, django_assert_max_num_queries
):
    client = client_for(moderator)
    ReportFactory.create_batch(3, room=space.room)
    with django_assert_max_num_queries(20) as few:
        client.get(reverse(QUEUE))
    ReportFactory.create_batch(30, room=space.room)
    post_report(space)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse(QUEUE))


def test_a_report_page_shows_the_evidence_and_the_event_log(client_for, moderator, space):
    room_services.hand_raise(room=space.room, user=space.listener)
    before = RoomEvent.objects.get(verb="hand_raised")
    report = post_report(space, last_event=before)
    room_services.hand_lower(room=space.room, user=space.listener)  # after the report

    page = client_for(moderator).get(reverse("admin:moderation_report_change", args=[report.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Buy cheap followers at spam.example" in body
    assert "hand_raised" in body and "hand_lowered" not in body


def test_dismiss(client_for, moderator, space):
    report = ReportFactory(room=space.room)
    response = run_action(client_for(moderator), "dismiss", [report])
    assert "Reports dismissed: 1." in messages_of(response)
    report.refresh_from_db()
    assert (report.status, report.resolved_by) == ("dismissed", moderator)
    entry = ModerationAction.objects.get()
    assert (entry.kind, entry.actor, entry.report) == ("dismiss", moderator, report)


def test_end_the_space(client_for, moderator, space):
    first, second = ReportFactory(room=space.room), ReportFactory(room=space.room)
    run_action(client_for(moderator), "end_space", [first])
    assert Room.objects.get(pk=space.room.pk).state == "ended"
    # Every open report about the Space is done.
    assert set(Report.objects.values_list("status", flat=True)) == {"actioned"}
    entry = ModerationAction.objects.get()
    assert entry.kind == "end_space" and entry.data["reports"] == sorted([first.pk, second.pk])


def test_remove_the_person(client_for, moderator, space):
    report = post_report(space)
    run_action(client_for(moderator), "remove_person", [report])
    row = Participant.objects.get(room=space.room, user=space.listener)
    assert row.removed_at is not None
    assert ModerationAction.objects.get().kind == "remove_person"


def test_delete_the_post(client_for, moderator, space):
    report = post_report(space)
    run_action(client_for(moderator), "delete_post", [report])
    post = Post.objects.get(pk=space.post.pk)
    assert post.deleted_by == moderator and post.text  # the text stays for the record
    assert ModerationAction.objects.get().kind == "delete_post"
    # Doing it again changes nothing and writes nothing.
    run_action(client_for(moderator), "delete_post", [report])
    assert ModerationAction.objects.count() == 1


def test_an_action_that_does_not_fit_the_report_explains_itself(client_for, moderator, space):
    report = ReportFactory(room=space.room)  # about the Space: no post
    response = run_action(client_for(moderator), "delete_post", [report])
    assert f"Report #{report.pk} (the Space “Night talk”): This report is not about a post." in (
        messages_of(response)
    )
    assert Report.objects.get().status == "open"
    assert not ModerationAction.objects.exists()


def test_suspend_asks_for_a_period_and_a_reason_first(client_for, moderator, space):
    client = client_for(moderator)
    report = post_report(space)
    page = client.post(
        reverse(QUEUE), {"action": "suspend_accused", "_selected_action": [report.pk]}
    )
    assert page.status_code == 200
    body = page.content.decode()
    assert "csrfmiddlewaretoken" in body
    assert space.listener.email in body
    assert not Suspension.objects.exists()

    # A missing reason shows the form again.
    page = client.post(
        reverse(QUEUE),
        {"action": "suspend_accused", "_selected_action": [report.pk], "apply": "1", "hours": 24},
    )
    assert "This field is required." in page.content.decode()
    assert not Suspension.objects.exists()

    response = run_action(client, "suspend_accused", [report], apply="1", hours=24, reason="spam")
    assert "Accounts suspended: 1." in messages_of(response)
    suspension = Suspension.objects.get()
    assert suspension.user == space.listener and suspension.reason == "spam"
    assert suspension.report == report
    assert timedelta(hours=23) < suspension.until - suspension.created_at <= timedelta(hours=24)
    assert Report.objects.get().status == "actioned"


def test_the_suspend_form_is_csrf_protected(moderator, space):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(moderator)
    report = post_report(space)
    response = client.post(
        reverse(QUEUE),
        {
            "action": "suspend_accused",
            "_selected_action": [report.pk],
            "apply": "1",
            "hours": 24,
            "reason": "spam",
        },
    )
    assert response.status_code == 403
    assert not Suspension.objects.exists()


def test_lift_from_the_queue_and_from_the_suspensions_list(client_for, moderator, space):
    client = client_for(moderator)
    report = post_report(space)
    suspension = SuspensionFactory(user=space.listener)
    run_action(client, "lift_suspension", [report])
    suspension.refresh_from_db()
    assert suspension.lifted_by == moderator

    other = SuspensionFactory()
    client.post(
        reverse("admin:moderation_suspension_changelist"),
        {"action": "lift", "_selected_action": [other.pk]},
    )
    other.refresh_from_db()
    assert other.lifted_at is not None
    assert list(ModerationAction.objects.values_list("kind", flat=True)) == ["lift", "lift"]


def test_suspend_an_account_without_a_report(client_for, moderator):
    person = UserFactory(email="troll@example.org")
    client = client_for(moderator)
    add = reverse("admin:moderation_suspension_add")
    assert client.get(add).status_code == 200
    response = client.post(
        add, {"email": "troll@example.org", "hours": 24 * 7, "reason": "ban evasion"}
    )
    assert response.status_code == 302
    assert Suspension.objects.get().user == person
    response = client.post(add, {"email": "nobody@example.org", "hours": 24, "reason": "x"})
    assert "There is no account with this email." in response.content.decode()


# Who may act.

ACTIONS = {
    "dismiss": lambda: Report.objects.filter(status="dismissed").exists(),
    "end_space": lambda: Room.objects.filter(state="ended").exists(),
    "remove_person": lambda: Participant.objects.exclude(removed_at=None).exists(),
    "delete_post": lambda: Post.objects.exclude(deleted_at=None).exists(),
    "suspend_accused": lambda: Suspension.objects.exists(),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("who", ["moderator", "staff_without_group", "superuser"])
def test_permission_matrix(client_for, request, space, action, who):
    if who == "superuser":
        actor = UserFactory(is_staff=True, is_superuser=True)
    else:
        actor = request.getfixturevalue(who)
    report = post_report(space)
    extra = {"apply": "1", "hours": 24, "reason": "spam"} if action == "suspend_accused" else {}
    response = run_action(client_for(actor), action, [report], **extra)

    allowed = who != "staff_without_group"
    assert ACTIONS[action]() is allowed
    assert ModerationAction.objects.filter(actor=actor).exists() is allowed
    if not allowed:
        assert "You don't have the permission to do that." in messages_of(response)


def test_the_group_is_what_grants_the_actions(client_for, space):
    person = UserFactory(is_staff=True)
    client = client_for(person)
    assert client.get(reverse(QUEUE)).status_code == 403  # staff with no permissions at all
    person.groups.add(moderators_group())
    client = client_for(fresh(person))
    report = post_report(space)
    run_action(client, "dismiss", [report])
    assert Report.objects.get().status == "dismissed"


def test_inactive_or_non_staff_members_of_the_group_cannot_act(space):
    from moderation import services
    from moderation.exceptions import ModerationRefused

    group = moderators_group()
    report = post_report(space)
    for person in (UserFactory(is_staff=False), UserFactory(is_staff=True, is_active=False)):
        person.groups.add(group)
        with pytest.raises(ModerationRefused):
            services.report_dismiss(report=report, actor=fresh(person))
    assert Report.objects.get().status == "open"


def test_nobody_adds_changes_or_deletes_reports_in_the_admin(client_for, space):
    report = ReportFactory(room=space.room)
    client = client_for(UserFactory(is_staff=True, is_superuser=True))
    assert client.get(reverse("admin:moderation_report_add")).status_code == 403
    delete = reverse("admin:moderation_report_delete", args=[report.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    change = reverse("admin:moderation_report_change", args=[report.pk])
    client.post(change, {"status": "dismissed", "category": "hate"})
    assert Report.objects.get().status == "open"


# The audit log.


@pytest.mark.parametrize("who", ["moderator", "superuser"])
def test_the_audit_log_cannot_be_added_edited_or_deleted(client_for, request, space, who):
    actor = (
        UserFactory(is_staff=True, is_superuser=True)
        if who == "superuser"
        else request.getfixturevalue(who)
    )
    client = client_for(actor)
    run_action(client, "dismiss", [ReportFactory(room=space.room)])
    entry = ModerationAction.objects.get()

    listing = client.get(reverse("admin:moderation_moderationaction_changelist"))
    assert listing.status_code == 200
    assert entry.summary in listing.content.decode()
    assert 'name="action"' not in listing.content.decode()  # no bulk delete
    change = reverse("admin:moderation_moderationaction_change", args=[entry.pk])
    delete = reverse("admin:moderation_moderationaction_delete", args=[entry.pk])
    add = reverse("admin:moderation_moderationaction_add")
    assert client.get(change).status_code == 403
    assert client.post(change, {"summary": "nothing happened"}).status_code == 403
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(add).status_code == 403
    assert ModerationAction.objects.get().summary == entry.summary
