"""Reads for accounts pages."""

from django.core.paginator import Page, Paginator

from .models import Follow, Notification, User

FOLLOWS_PER_PAGE = 50


def notifications_recent(*, user: User, limit: int = 50) -> list[Notification]:
    return list(Notification.objects.filter(user=user)[:limit])


def notifications_unread_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def is_following(*, follower: User, followee: User) -> bool:
    if not follower.is_authenticated:
        return False
    return Follow.objects.filter(follower=follower, followee=followee).exists()


def follow_counts(*, person: User) -> tuple[int, int]:
    """(followers, following) of a person."""
    return (
        Follow.objects.filter(followee=person).count(),
        Follow.objects.filter(follower=person).count(),
    )


def followers_page(*, person: User, page: str | int | None) -> Page:
    """People following `person`, newest first, with their profiles (one page)."""
    people = User.objects.filter(following__followee=person).select_related("profile")
    return Paginator(people.order_by("-following__created_at", "-pk"), FOLLOWS_PER_PAGE).get_page(
        page
    )


def following_page(*, person: User, page: str | int | None) -> Page:
    """People `person` follows, newest first, with their profiles (one page)."""
    people = User.objects.filter(followers__follower=person).select_related("profile")
    return Paginator(people.order_by("-followers__created_at", "-pk"), FOLLOWS_PER_PAGE).get_page(
        page
    )
