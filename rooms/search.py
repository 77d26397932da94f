"""The search box: public Spaces (live, upcoming, recorded/ended) and people.

Spaces match on title, description, topic names and the host's name or @handle; people on
their name or @handle. Live Spaces come first, then upcoming, then past ones, each by
relevance. Only public Spaces are ever found (rooms.visibility.listed).

On PostgreSQL: full-text search (`django.contrib.postgres`: SearchVector / SearchQuery /
SearchRank in English, served by a GIN index on the same expression) plus trigram similarity
(pg_trgm, GIN trigram indexes on handles and names) so typos and partial handles still match.
Elsewhere (SQLite under `make run`): case-insensitive substring matches, newest first.
A page of results costs a fixed number of queries (a count and a page, plus topics).
"""

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Case, F, FloatField, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Greatest

from accounts.models import User

from .models import Room
from .visibility import listed

PER_PAGE = 20
PEOPLE_PER_PAGE = 10
MAX_QUERY = 100
# How alike (0..1) a word must be to a handle, name or title to count as a typo of it.
TRIGRAM_THRESHOLD = 0.3
SEARCH_CONFIG = "english"

_STATE_ORDER = Case(
    When(state=Room.State.LIVE, then=Value(0)),
    When(state=Room.State.SCHEDULED, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


@dataclass
class Results:
    query: str
    spaces: Page | None
    people: Page | None


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def space_vector():
    """The full-text document of a Space; the GIN index (migration 0010) is on this very
    expression, so the planner can use it."""
    from django.contrib.postgres.search import SearchVector

    return SearchVector("title", "description", config=SEARCH_CONFIG)


def _spaces_postgres(query: str) -> QuerySet[Room]:
    from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramSimilarity

    words = SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
    rooms = listed(Room.objects.exclude(state=Room.State.CANCELLED)).annotate(
        document=space_vector(),
        rank=SearchRank(space_vector(), words),
        alike=Greatest(
            TrigramSimilarity("title", query),
            TrigramSimilarity("host__username", query),
            TrigramSimilarity("host__profile__display_name", query),
            output_field=FloatField(),
        ),
    )
    topic_ids = Room.topics.through.objects.filter(
        Q(topic__name__icontains=query) | Q(topic__slug__iexact=query)
    ).values("room_id")
    return rooms.filter(
        Q(document=words)
        | Q(alike__gte=TRIGRAM_THRESHOLD)
        | Q(host__username__icontains=query.lstrip("@"))
        | Q(pk__in=topic_ids)
    ).order_by(_STATE_ORDER, F("rank").desc(), F("alike").desc(), "-created_at", "-pk")


def _spaces_simple(query: str) -> QuerySet[Room]:
    handle = query.lstrip("@")
    matching = Room.objects.filter(
        Q(title__icontains=query)
        | Q(description__icontains=query)
        | Q(topics__name__icontains=query)
        | Q(host__username__icontains=handle)
        | Q(host__profile__display_name__icontains=query)
    ).values("pk")
    return (
        listed(Room.objects.exclude(state=Room.State.CANCELLED))
        .filter(pk__in=matching)
        .order_by(_STATE_ORDER, "-created_at", "-pk")
    )


def _people(query: str) -> QuerySet[User]:
    handle = query.lstrip("@")
    people = User.objects.filter(is_active=True).select_related("profile")
    if not _postgres():
        return people.filter(
            Q(username__icontains=handle) | Q(profile__display_name__icontains=query)
        ).order_by("username")
    from django.contrib.postgres.search import TrigramSimilarity

    return (
        people.annotate(
            alike=Greatest(
                TrigramSimilarity("username", handle),
                TrigramSimilarity("profile__display_name", query),
                output_field=FloatField(),
            )
        )
        .filter(
            Q(alike__gte=TRIGRAM_THRESHOLD)
            | Q(username__icontains=handle)
            | Q(profile__display_name__icontains=query)
        )
        .order_by(F("alike").desc(), "username")
    )


def search(*, query: str, page: str | int | None = 1, people_page: str | int | None = 1) -> Results:
    """One page of Spaces and one of people for `query` (trimmed, at most MAX_QUERY characters;
    empty finds nothing)."""
    query = " ".join((query or "").split())[:MAX_QUERY]
    if not query:
        return Results(query="", spaces=None, people=None)
    rooms = _spaces_postgres(query) if _postgres() else _spaces_simple(query)
    rooms = rooms.select_related("host__profile").prefetch_related("topics")
    return Results(
        query=query,
        spaces=Paginator(rooms, PER_PAGE).get_page(page),
        people=Paginator(_people(query), PEOPLE_PER_PAGE).get_page(people_page),
    )
