"""Client messages are validated before anything happens; bad input gets a clear error."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.protocol import MAX_FRAME_BYTES, SCHEMAS, ProtocolError, parse


def test_a_valid_message_parses_to_its_fields():
    message = parse(json.dumps({"type": "promote", "user": 7, "role": "speaker"}))
    assert message.type == "promote"
    assert message["user"] == 7 and message["role"] == "speaker"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (None, "not_text"),
        ("not json", "bad_json"),
        ("[1, 2]", "bad_message"),
        ('{"no": "type"}', "unknown_type"),
        ('{"type": "become_host"}', "unknown_type"),
        ('{"type": "promote", "user": "7", "role": "speaker"}', "invalid_field"),
        ('{"type": "promote", "user": true, "role": "speaker"}', "invalid_field"),
        ('{"type": "promote", "user": -1, "role": "speaker"}', "invalid_field"),
        ('{"type": "promote", "user": 7, "role": "host"}', "invalid_field"),
        ('{"type": "promote", "user": 7}', "invalid_field"),
        ('{"type": "hand_raise", "role": "host"}', "invalid_field"),
        ('{"type": "post", "text": "   "}', "invalid_field"),
        (json.dumps({"type": "post", "text": "x" * 281}), "invalid_field"),
        (json.dumps({"type": "react", "emoji": "<script>"}), "invalid_field"),
        ("[" * 100_000, "too_large"),
        ("[" * 5_000 + "]" * 5_000, "bad_json"),
    ],
)
def test_bad_frames_are_refused_with_a_code(frame, code):
    with pytest.raises(ProtocolError) as refused:
        parse(frame)
    assert refused.value.code == code
    assert refused.value.message


def test_frames_over_64_kib_are_refused_before_parsing():
    frame = json.dumps({"type": "post", "text": "a" * MAX_FRAME_BYTES})
    with pytest.raises(ProtocolError) as refused:
        parse(frame)
    assert refused.value.code == "too_large"


def test_no_message_lets_the_client_claim_a_role_or_a_room():
    for fields in SCHEMAS.values():
        assert "room" not in fields and "actor" not in fields and "as" not in fields


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_random_frames_never_raise_anything_but_protocol_errors(frame):
    try:
        parse(frame)
    except ProtocolError:
        pass


@given(
    st.sampled_from(sorted(SCHEMAS)), st.dictionaries(st.text(max_size=10), json_values, max_size=4)
)
def test_random_fields_for_real_types_parse_or_fail_cleanly(kind, fields):
    try:
        message = parse(json.dumps({**fields, "type": kind}))
    except ProtocolError:
        return
    assert set(message.fields) <= set(SCHEMAS[kind])
