"""Random frames on the room socket (hypothesis): whatever a listener or a guest sends, the server
logs no traceback, answers or closes that socket with a documented code, and everyone else in
the Space keeps their socket."""

import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms.protocol import SCHEMAS
from tests.media.test_offer_shapes import mutated_offers

from .live_helpers import join, open_socket, settle_ticks

pytestmark = [pytest.mark.django_db(transaction=True)]

CLOSE_CODES = {1000, 4400, 4401, 4403, 4429}
VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=50),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
FIELDS = st.sampled_from(
    ["user", "muted", "role", "text", "post", "pinned", "invite", "emoji", "sdp"]
)
MESSAGES = st.fixed_dictionaries(
    {"type": st.sampled_from([*sorted(SCHEMAS), "nope", ""])},
    optional={field: VALUES for field in ("user", "muted", "role", "text", "post", "invite")},
).flatmap(
    lambda base: st.dictionaries(FIELDS, VALUES, max_size=3).map(lambda extra: {**extra, **base})
)
FRAMES = st.one_of(
    MESSAGES.map(lambda m: json.dumps(m, allow_nan=True)),
    mutated_offers().map(lambda sdp: json.dumps({"type": "rtc_offer", "sdp": sdp})),
    st.text(max_size=200),
    st.binary(max_size=50),
)


class Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frames=st.lists(FRAMES, max_size=25), as_guest=st.booleans())
async def test_random_frames_cause_no_traceback_and_cost_nobody_else_their_socket(
    live_space, frames, as_guest
):
    tracebacks = Tracebacks()
    logging.getLogger().addHandler(tracebacks)
    bystander, _ = await join(live_space.room, live_space.hand)
    if as_guest:
        attacker = await open_socket(live_space.room, guest_id="guest-fuzz")
    else:
        attacker = await open_socket(live_space.room, live_space.listener)
    try:
        for frame in frames:
            if isinstance(frame, bytes):
                await attacker.send_raw(data=frame)
            else:
                await attacker.send_raw(text=frame)
        if not attacker.communicator.future.done():
            await attacker.send(type="ping")
        try:
            while (await attacker.next(10))["type"] != "pong":
                pass
        except ConnectionError:
            assert attacker.closed_with in CLOSE_CODES
        await bystander.roundtrip()  # the bystander is still served
        assert not tracebacks.records, [r.getMessage() for r in tracebacks.records]
    finally:
        logging.getLogger().removeHandler(tracebacks)
        await attacker.close()
        await bystander.close()
        await settle_ticks()
