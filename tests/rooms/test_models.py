import math
import string

import pytest

from rooms.models import Room, new_share_slug
from tests.factories import RoomFactory

URL_SAFE = set(string.ascii_letters + string.digits + "-_")


def test_share_slugs_carry_at_least_128_bits():
    slugs = [new_share_slug() for _ in range(2000)]
    assert len(set(slugs)) == len(slugs)
    for slug in slugs:
        assert set(slug) <= URL_SAFE
        # 24 characters from a 64-character alphabet: 144 bits.
        assert len(slug) * math.log2(len(URL_SAFE)) >= 128
        assert len(slug) == 24


def test_share_slug_is_unique_and_indexed():
    field = Room._meta.get_field("slug")
    assert field.unique and field.max_length >= 24 and not field.editable


@pytest.mark.django_db
def test_every_space_gets_its_own_slug():
    first, second = RoomFactory(), RoomFactory()
    assert first.slug != second.slug and len(first.slug) == 24
