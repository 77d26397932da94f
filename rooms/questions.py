"""Questions on raised hands: a listener raises a hand with a short question, signed-in people
in the Space upvote it, the host and co-hosts see the queue sorted by votes then waiting time
and bring the asker on stage from it (`services.hand_accept` marks the question answered).

Each change writes one RoomEvent row and is broadcast after commit:
`question_voted` {question, votes}, `question_removed` {question}, and the question rides on
`hand_raised` (`question`) and `question_answered` {question}.
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from spaces_project import ratelimit

from . import events
from .exceptions import ActionRefused, Code
from .models import Question, QuestionVote, Room, RoomEvent
from .permissions import MODERATORS, PRESENT, Standing, is_staff_moderator, standing_of

ANSWERED_SHOWN = 20


def question_payload(question: Question, voted: bool = False) -> dict:
    return {
        "id": question.pk,
        "text": question.text,
        "votes": question.votes,
        "voted": voted,
        "state": question.state,
        "author": events.person(question.author),
    }


def clean_text(text: str | None) -> str:
    """The question's text, trimmed; "" for none. Refuses more than Question.MAX_CHARS."""
    text = (text or "").strip()
    if len(text) > Question.MAX_CHARS:
        raise ActionRefused(
            Code.INVALID,
            _("A question has at most %(count)d characters.") % {"count": Question.MAX_CHARS},
        )
    return text


def question_open(*, room: Room, author, text: str) -> Question:
    """Called by `services.hand_raise` inside its transaction (Space locked): a new question.
    Rate-limited per person (SPACES_QUESTION_RATE a minute), like posts."""
    if not ratelimit.allow(
        "question", str(author.pk), limit=settings.SPACES_QUESTION_RATE, seconds=60
    ):
        raise ActionRefused(Code.RATE_LIMITED, _("Too many questions; wait a minute."))
    Question.objects.filter(room=room, author=author, state=Question.State.OPEN).update(
        state=Question.State.WITHDRAWN, closed_at=timezone.now()
    )
    question = Question.objects.create(room=room, author=author, text=text)
    RoomEvent.objects.create(
        room=room, verb="question_asked", actor=author, target=author, data={"id": question.pk}
    )
    return question


def question_close(*, room: Room, author_id: int, state: str) -> Question | None:
    """The asker's open question is answered (brought on stage) or withdrawn (hand down);
    called by the hand services inside their transaction."""
    question = (
        Question.objects.select_for_update(of=("self",))
        .filter(room=room, author_id=author_id, state=Question.State.OPEN)
        .select_related("author__profile")
        .first()
    )
    if question is None:
        return None
    question.state, question.closed_at = state, timezone.now()
    question.save(update_fields=["state", "closed_at"])
    if state == Question.State.ANSWERED:
        events.emit(
            room.pk,
            "question_answered",
            {"room": room.slug, "actor": None, "question": question_payload(question)},
        )
    return question


def _open_question(room: Room, question_id: int) -> Question:
    question = (
        Question.objects.select_for_update(of=("self",))
        .filter(pk=question_id, room=room)
        .select_related("author__profile")
        .first()
    )
    if question is None or question.state == Question.State.REMOVED:
        raise ActionRefused(Code.NOT_IN_SPACE, _("There is no such question in this Space."))
    return question


def _live(room: Room) -> Room:
    room = Room.objects.select_for_update(of=("self",)).get(pk=room.pk)
    if room.state != Room.State.LIVE:
        raise ActionRefused(Code.WRONG_STATE, _("Questions are open while the Space is live."))
    return room


@transaction.atomic
def question_upvote(*, room: Room, question_id: int, user) -> Question:
    """A signed-in person in the Space upvotes an open question (not their own); once each.
    Logs `question_upvoted`; broadcasts `question_voted` with the new count."""
    if user is None or not user.is_authenticated:
        raise ActionRefused(Code.NOT_SIGNED_IN, _("Sign in to upvote questions."))
    room = _live(room)
    standing = standing_of(user, room)
    if standing == Standing.REMOVED:
        raise ActionRefused(Code.REMOVED, _("You were removed from this Space."))
    if standing not in PRESENT:
        raise ActionRefused(Code.NOT_IN_SPACE, _("Join the Space first."))
    question = _open_question(room, question_id)
    if question.state != Question.State.OPEN:
        raise ActionRefused(Code.WRONG_STATE, _("That question is no longer waiting."))
    if question.author_id == user.pk:
        raise ActionRefused(Code.NOT_ALLOWED, _("You can't upvote your own question."))
    if not ratelimit.allow(
        "question_vote", str(user.pk), limit=settings.SPACES_QUESTION_VOTE_RATE, seconds=60
    ):
        raise ActionRefused(Code.RATE_LIMITED, _("Too many upvotes; wait a minute."))
    try:
        with transaction.atomic():
            QuestionVote.objects.create(question=question, user=user)
    except IntegrityError:
        return question  # already upvoted: nothing changes
    Question.objects.filter(pk=question.pk).update(votes=F("votes") + 1)
    question.refresh_from_db(fields=["votes"])
    RoomEvent.objects.create(
        room=room, verb="question_upvoted", actor=user, data={"id": question.pk}
    )
    events.emit(
        room.pk,
        "question_voted",
        {"room": room.slug, "actor": user.pk, "question": question.pk, "votes": question.votes},
    )
    return question


@transaction.atomic
def question_remove(*, room: Room, question_id: int, actor) -> Question:
    """The host, a co-host, staff or its author removes a question (the hand stays up). The
    text is kept for reports. Logs `question_removed`; broadcasts `question_removed`."""
    if actor is None or not actor.is_authenticated:
        raise ActionRefused(Code.NOT_SIGNED_IN, _("Sign in to do that."))
    room = _live(room)
    question = _open_question(room, question_id)
    if question.author_id != actor.pk and not is_staff_moderator(actor):
        standing = standing_of(actor, room)
        if standing not in MODERATORS:
            raise ActionRefused(
                Code.NOT_ALLOWED, _("Only the host and co-hosts can remove questions.")
            )
    question.state, question.closed_at, question.removed_by = (
        Question.State.REMOVED,
        timezone.now(),
        actor,
    )
    question.save(update_fields=["state", "closed_at", "removed_by"])
    RoomEvent.objects.create(
        room=room,
        verb="question_removed",
        actor=actor,
        target=question.author,
        data={"id": question.pk},
    )
    events.emit(
        room.pk, "question_removed", {"room": room.slug, "actor": actor.pk, "question": question.pk}
    )
    return question


def room_questions(*, room: Room, viewer_id: int | None) -> tuple[dict[int, dict], list[dict]]:
    """For the snapshot: open questions by asker id, and the latest answered ones; `voted`
    says whether the viewer upvoted each. Three queries."""
    rows = list(
        Question.objects.filter(room=room, state__in=[Question.State.OPEN, Question.State.ANSWERED])
        .select_related("author__profile")
        .order_by("-created_at")[:500]
    )
    voted = set()
    if viewer_id is not None and rows:
        voted = set(
            QuestionVote.objects.filter(
                user_id=viewer_id, question_id__in=[q.pk for q in rows]
            ).values_list("question_id", flat=True)
        )
    open_by_author = {
        q.author_id: question_payload(q, q.pk in voted)
        for q in rows
        if q.state == Question.State.OPEN
    }
    answered = [
        question_payload(q, q.pk in voted) for q in rows if q.state == Question.State.ANSWERED
    ][:ANSWERED_SHOWN]
    return open_by_author, answered
