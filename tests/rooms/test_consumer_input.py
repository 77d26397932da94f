"""Bad input on the room socket: malformed, oversized, binary and random frames get an `error`
event, never crash the consumer (it still answers a ping) and never change the Space; a socket
that keeps sending bad input or floods is closed with its documented code."""

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rooms.protocol import MAX_FRAME_BYTES, SCHEMAS, ProtocolError, parse

from .live_helpers import (
    eventually,
    join,
    room_state,
    settled_ticks,  # noqa: F401 (a fixture)
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settled_ticks")]

BIG = "a" * (MAX_FRAME_BYTES + 1)

MALFORMED = [
    ("not json", "bad_json"),
    ("", "bad_json"),
    ('{"type": "ping"', "bad_json"),
    ("[" * 20000, "bad_json"),  # nested deeper than the parser goes
    ("[]", "bad_message"),
    ("42", "bad_message"),
    ("null", "bad_message"),
    ('"ping"', "bad_message"),
    ("{}", "unknown_type"),
    ('{"type": 5}', "unknown_type"),
    ('{"type": ["ping"]}', "unknown_type"),
    ('{"type": "PING"}', "unknown_type"),
    ('{"type": "__init__"}', "unknown_type"),
    ('{"type": "dispatch"}', "unknown_type"),
    ('{"type": "hand_accept"}', "invalid_field"),
    ('{"type": "hand_accept", "user": "7"}', "invalid_field"),
    ('{"type": "hand_accept", "user": true}', "invalid_field"),
    ('{"type": "hand_accept", "user": 0}', "invalid_field"),
    ('{"type": "hand_accept", "user": -3}', "invalid_field"),
    ('{"type": "hand_accept", "user": 1.5}', "invalid_field"),
    ('{"type": "hand_accept", "user": null}', "invalid_field"),
    ('{"type": "hand_accept", "user": [7]}', "invalid_field"),
    ('{"type": "hand_accept", "user": 9223372036854775808}', "invalid_field"),
    ('{"type": "hand_accept", "user": 1' + "0" * 5000 + "}", "bad_json"),
    ('{"type": "mute", "user": 7, "muted": "yes"}', "invalid_field"),
    ('{"type": "promote", "user": 7, "role": "host"}', "invalid_field"),
    ('{"type": "ping", "extra": 1}', "invalid_field"),
    ('{"type": "post", "text": ""}', "invalid_field"),
    ('{"type": "post", "text": "   \\n "}', "invalid_field"),
    ('{"type": "post", "text": 280}', "invalid_field"),
    (json.dumps({"type": "post", "text": "x" * 281}), "invalid_field"),
    ('{"type": "post", "text": "lone \\ud800 surrogate"}', "invalid_field"),
    ('{"type": "post", "text": "nul \\u0000 inside"}', "invalid_field"),
    ('{"type": "react", "emoji": "💩"}', "invalid_field"),
    ('{"type": "react", "emoji": ["👏"]}', "invalid_field"),
    ('{"type": "post_pin", "post": 1, "pinned": 1}', "invalid_field"),
    ('{"type": "rtc_offer", "sdp": null}', "invalid_field"),
    (json.dumps({"type": "post", "text": BIG}), "too_large"),
    (json.dumps({"type": "post", "text": "€" * 25000}, ensure_ascii=False), "too_large"),
    (BIG, "too_large"),
]


async def no_presence(room) -> bool:
    return not await room.presences.aexists()


@pytest.fixture
def lenient(settings):
    """Room for many bad messages on one socket (the limits have their own tests)."""
    settings.SPACES_SOCKET_BAD_MESSAGES = 10_000
    settings.SPACES_SOCKET_RATE = 10_000
    settings.SPACES_SOCKET_BURST = 10_000
    return settings


async def test_malformed_frames_get_an_error_and_change_nothing(lenient, live_space):
    socket, _ = await join(live_space.room, live_space.listener)
    before = await room_state(live_space.room)
    for frame, code in MALFORMED:
        await socket.send_raw(text=frame)
        error = await socket.wait_for("error")
        assert (frame[:60], error["code"]) == (frame[:60], code)
        assert error["message"] and "ref" not in error
    for data in (b'{"type": "ping"}', b"\x00\xff" * 100, BIG.encode()):
        await socket.send_raw(data=data)
        assert (await socket.wait_for("error"))["code"] in ("not_text", "too_large")
    assert await socket.roundtrip() == []
    assert await room_state(live_space.room) == before
    await socket.close()


def test_frames_are_measured_in_bytes_not_characters():
    text = "€" * (MAX_FRAME_BYTES // 3 + 1)  # fewer characters than the limit, more bytes
    with pytest.raises(ProtocolError) as refused:
        parse(json.dumps({"type": "post", "text": text}, ensure_ascii=False))
    assert refused.value.code == "too_large"
    assert parse(json.dumps({"type": "post", "text": "€" * 280}, ensure_ascii=False))


async def test_a_socket_that_keeps_sending_bad_input_is_closed_with_4400(settings, live_space):
    socket, _ = await join(live_space.room, live_space.listener)
    for _ in range(settings.SPACES_SOCKET_BAD_MESSAGES):
        await socket.send_raw(text="{oops")
        assert (await socket.wait_for("error"))["code"] == "bad_json"
    await socket.send_raw(text="{oops")
    closing = await socket.wait_for("closing")
    assert closing["code"] == "bad_json" and closing["message"]
    assert await socket.wait_closed() == 4400
    await eventually(lambda: no_presence(live_space.room))
    await socket.close()


async def test_a_flood_gets_warnings_then_is_closed_with_4429(settings, live_space):
    settings.SPACES_SOCKET_FLOOD_STRIKES = 20
    socket, _ = await join(live_space.room, None)
    for _ in range(settings.SPACES_SOCKET_BURST + settings.SPACES_SOCKET_FLOOD_STRIKES + 5):
        await socket.send(type="ping")
    assert await socket.wait_closed() == 4429
    kinds = [e["type"] for e in socket.events]
    warnings = [e for e in socket.events if e.get("code") == "rate_limited"]
    assert kinds.count("pong") >= settings.SPACES_SOCKET_BURST
    assert warnings[0]["type"] == "error" and warnings[-1]["type"] == "closing"
    assert len(warnings) < 10  # warned, not answered message by message
    await eventually(lambda: no_presence(live_space.room))
    await socket.close()


async def test_a_burst_of_messages_within_the_limit_is_served(live_space):
    socket, _ = await join(live_space.room, live_space.listener)
    for _ in range(20):
        await socket.send(type="ping")
    for _ in range(20):
        await socket.wait_for("pong")
    assert not [e for e in socket.events if e["type"] == "error"]
    await socket.close()


async def test_reactions_are_rate_limited_and_arrive_as_bursts(settings, live_space):
    watcher, _ = await join(live_space.room, live_space.host)
    guest, _ = await join(live_space.room, None)
    sent = 12
    for _ in range(sent):
        await guest.send(type="react", emoji="👏")
    await guest.send(type="react", emoji="🔥")
    errors = [e for e in await guest.roundtrip() if e["type"] == "error"]
    allowed = settings.SPACES_REACTION_BURST
    assert len(errors) == sent + 1 - allowed
    assert {(e["code"], e["ref"]) for e in errors} == {("rate_limited", "react")}
    counted: dict[str, int] = {}
    while sum(counted.values()) < allowed:
        burst = await watcher.wait_for("reactions")
        for emoji, n in burst["counts"].items():
            counted[emoji] = counted.get(emoji, 0) + n
    assert counted == {"👏": allowed}
    # The allowance comes back with time.
    await asyncio.sleep(1 / settings.SPACES_REACTION_RATE + 0.05)
    await guest.send(type="react", emoji="🔥")
    assert await guest.roundtrip() == []
    assert (await watcher.wait_for("reactions"))["counts"] == {"🔥": 1}
    await watcher.close()
    await guest.close()


# Random frames (hypothesis), one listener's socket and one guest's reused for every example.

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
FIELD_NAMES = sorted({name for schema in SCHEMAS.values() for name in schema} | {"type", "room"})


def field_value(field):
    if field.choices:
        return st.sampled_from(field.choices)
    if field.kind is int:
        return st.integers(1, 2**63 - 1)
    if field.kind is bool:
        return st.booleans()
    return st.text(max_size=min(field.max_length or 300, 300))


WELL_FORMED = st.sampled_from(sorted(SCHEMAS)).flatmap(
    lambda kind: st.fixed_dictionaries(
        {"type": st.just(kind), **{n: field_value(f) for n, f in SCHEMAS[kind].items()}}
    )
)
MUTATED = st.tuples(WELL_FORMED, st.dictionaries(st.sampled_from(FIELD_NAMES), JSON, max_size=2))
FRAMES = st.one_of(
    st.text(max_size=120),
    st.binary(max_size=120),
    JSON.map(json.dumps),
    WELL_FORMED.map(json.dumps),
    MUTATED.map(lambda pair: json.dumps({**pair[0], **pair[1]})),
)


def validity(frame) -> str | None:
    """The message type if the frame is a valid message, else None."""
    try:
        return parse(frame).type if isinstance(frame, str) else None
    except ProtocolError:
        return None


async def exchange(socket, frame, kind: str | None) -> list[dict]:
    """Send one frame and return what came back for it (a ping frame is answered first)."""
    if isinstance(frame, bytes):
        await socket.send_raw(data=frame)
    else:
        await socket.send_raw(text=frame)
    if kind == "ping":
        await socket.wait_for("pong")
    return await socket.roundtrip()


async def test_random_frames_never_crash_the_socket_or_change_the_space(lenient, live_space):
    listener, _ = await join(live_space.room, live_space.listener)
    guest, _ = await join(live_space.room, None)
    before = await room_state(live_space.room)
    loop = asyncio.get_running_loop()

    def run(coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=20)

    @hypothesis_settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(frame=FRAMES)
    def probe(frame):
        kind = validity(frame)
        if kind is None:  # the listener may act, so only invalid frames for them
            got = run(exchange(listener, frame, kind))
            assert [e["type"] for e in got] == ["error"], (frame, got)
        # A guest can send anything valid: every action is refused, nothing changes.
        got = run(exchange(guest, frame, kind))
        if kind == "resync":  # answered with a fresh snapshot; changes nothing
            assert [e["type"] for e in got] == ["snapshot"], (frame, got)
            return
        assert all(e["type"] == "error" for e in got), (frame, got)
        if kind not in (None, "ping", "react", "rtc_offer", "rtc_close", "hls_listening"):
            assert [e["code"] for e in got] == ["not_signed_in"], (frame, got)

    await asyncio.to_thread(probe)
    assert await room_state(live_space.room) == before
    assert await listener.roundtrip() == [] and await guest.roundtrip() == []
    await listener.close()
    await guest.close()


async def test_an_unexpected_failure_is_an_error_event_not_a_dead_socket(monkeypatch, live_space):
    from rooms import live

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    socket, _ = await join(live_space.room, live_space.listener)
    before = await room_state(live_space.room)
    monkeypatch.setattr(live, "act", broken)
    await socket.send(type="hand_raise")
    error = await socket.wait_for("error")
    assert (error["code"], error["ref"]) == ("server_error", "hand_raise")
    assert await socket.roundtrip() == []
    assert await room_state(live_space.room) == before
    await socket.close()
