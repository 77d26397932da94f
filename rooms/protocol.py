"""Client messages on the room WebSocket: their schemas, and validation before anything happens.

Every client message is a JSON object with a `type` and the fields its schema lists; unknown
types, missing or extra fields, wrong types and oversized values are refused with a
`ProtocolError` whose code and message go back to the client in an `error` event. The room
comes from the URL, the actor from the session or guest cookie, and roles from the database:
no schema carries a role claim about the sender. See docs/protocol.md.
"""

import json
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

MAX_FRAME_BYTES = 64 * 1024
MAX_POST_CHARS = 280
MAX_SDP_CHARS = 32 * 1024
MAX_QUESTION_CHARS = 140
REACTIONS = ("👏", "❤️", "😂", "🔥", "💯", "🙌", "🤔", "😮")


class ProtocolError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Field:
    kind: type
    max_length: int | None = None
    choices: tuple[Any, ...] | None = None
    optional: bool = False

    def check(self, name: str, value: Any) -> Any:
        # bool is an int in Python; an id must not be `true`.
        if not isinstance(value, self.kind) or (self.kind is int and isinstance(value, bool)):
            raise ProtocolError(
                "invalid_field",
                _("'%(name)s' must be %(kind)s.") % {"name": name, "kind": self.kind.__name__},
            )
        if self.kind is int and not 0 < value < 2**63:
            raise ProtocolError("invalid_field", _("'%(name)s' is out of range.") % {"name": name})
        # Text is stored and sent on: no NUL (PostgreSQL refuses it) and no lone surrogates
        # (JSON can carry them, UTF-8 cannot).
        if self.kind is str and ("\x00" in value or not _encodable(value)):
            raise ProtocolError(
                "invalid_field", _("'%(name)s' is not valid text.") % {"name": name}
            )
        if self.max_length is not None and len(value) > self.max_length:
            raise ProtocolError(
                "invalid_field",
                _("'%(name)s' is longer than %(max)s.") % {"name": name, "max": self.max_length},
            )
        if self.choices is not None and value not in self.choices:
            raise ProtocolError(
                "invalid_field",
                _("'%(name)s' must be one of %(choices)s.")
                % {"name": name, "choices": list(self.choices)},
            )
        return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


USER = Field(int)
ID = Field(int)

SCHEMAS: dict[str, dict[str, Field]] = {
    "ping": {},
    "resync": {},
    "hand_raise": {"question": Field(str, max_length=MAX_QUESTION_CHARS, optional=True)},
    "hand_lower": {},
    "hand_accept": {"user": USER},
    "hand_decline": {"user": USER},
    "invite": {"user": USER, "role": Field(str, choices=("speaker", "cohost"))},
    "invite_accept": {"invite": ID},
    "invite_decline": {"invite": ID},
    "invite_revoke": {"invite": ID},
    "promote": {"user": USER, "role": Field(str, choices=("speaker", "cohost"))},
    "move_to_audience": {"user": USER},
    "cohost_remove": {"user": USER},
    "mute": {"user": USER, "muted": Field(bool)},
    "remove": {"user": USER},
    "end": {},
    "leave": {},
    "post": {"text": Field(str, max_length=MAX_POST_CHARS)},
    "post_pin": {"post": ID, "pinned": Field(bool)},
    "post_delete": {"post": ID},
    "react": {"emoji": Field(str, choices=REACTIONS)},
    "question_upvote": {"question": ID},
    "question_remove": {"question": ID},
    "rtc_offer": {"sdp": Field(str, max_length=MAX_SDP_CHARS)},
    "rtc_close": {},
    "hls_listening": {"listening": Field(bool)},
    "recording_consent": {"consent": Field(bool)},
}


@dataclass(frozen=True)
class Message:
    type: str
    fields: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]


def parse(frame: str | bytes | None) -> Message:
    """Turn one WebSocket frame into a validated message, or raise ProtocolError."""
    if not isinstance(frame, str):
        raise ProtocolError("not_text", _("Messages are JSON text frames."))
    # A character is up to 4 bytes in UTF-8: only long frames need encoding to be measured.
    if len(frame) > MAX_FRAME_BYTES or (
        len(frame) * 4 > MAX_FRAME_BYTES
        and len(frame.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES
    ):
        raise ProtocolError(
            "too_large", _("Messages are at most %(n)s bytes.") % {"n": MAX_FRAME_BYTES}
        )
    try:
        data = json.loads(frame)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_json", _("The message is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", _("A message is a JSON object with a 'type'."))
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in SCHEMAS:
        raise ProtocolError("unknown_type", _("Unknown message type."))
    schema = SCHEMAS[kind]
    extra = set(data) - set(schema) - {"type"}
    if extra:
        raise ProtocolError(
            "invalid_field", _("Unexpected field '%(name)s'.") % {"name": sorted(extra)[0]}
        )
    fields = {}
    for name, field in schema.items():
        if name not in data:
            if field.optional:
                continue
            raise ProtocolError("invalid_field", _("'%(name)s' is required.") % {"name": name})
        fields[name] = field.check(name, data[name])
    if kind == "post" and not fields["text"].strip():
        raise ProtocolError("invalid_field", _("A post needs some text."))
    return Message(kind, fields)
