"""The room WebSocket, `/ws/rooms/<slug>/`: translates between socket frames and room services.

One socket per person per Space. The room comes from the URL, the actor from the session (or the
guest's signed cookie), and every role from the database. Client messages are validated by
`rooms.protocol` before anything happens; refused actions come back as `error` events and
change nothing. Room-wide events arrive once per process through `rooms.realtime.hub()`;
per-person events through the person's group. See docs/protocol.md.
"""

import asyncio
import collections
import json
import logging
import time
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from spaces_project import backpressure, daphne_compat, ratelimit

from . import events, insights, live, media_bridge, snapshot
from .exceptions import ActionRefused
from .protocol import ProtocolError, parse
from .realtime import hub
from .socket_language import socket_language

logger = logging.getLogger(__name__)


class Close:
    """Close codes; documented in docs/protocol.md."""

    LEFT = 1000  # the person left the Space (the `leave` message)
    BAD_INPUT = 4400  # kept sending messages that fail validation
    UNAUTHENTICATED = 4401  # no session and no guest cookie; signed out or password changed
    FORBIDDEN = 4403  # removed from the Space, suspended, deactivated, or guests may not listen
    NOT_FOUND = 4404  # no Space with this link
    OVER = 4410  # the Space has ended or was cancelled
    FLOOD = 4429  # sent faster than the rate limit repeatedly, or too many sockets


def live_touch_seconds() -> float:
    """How often a ping refreshes presence: often enough that a row of a socket pinging every
    SPACES_CLIENT_PING_SECONDS never looks older than SPACES_PRESENCE_STALE_SECONDS."""
    return min(settings.SPACES_PRESENCE_TOUCH_SECONDS, settings.SPACES_PRESENCE_STALE_SECONDS / 3)


class TokenBucket:
    """Per-connection rate limit: `rate` messages a second, bursts up to `burst`."""

    __slots__ = ("burst", "rate", "stamp", "tokens")  # three per socket, 10,000 sockets

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


ROLE_EVENTS = frozenset(
    {
        "speaker_promoted",
        "cohost_promoted",
        "moved_to_audience",
        "cohost_removed",
        "hand_accepted",
        "invite_accepted",
        "host_changed",
        "hand_raised",
        "hand_lowered",
        "participant_left",
        "speaker_muted",
        "speaker_unmuted",
    }
)


class GuestAdmissions:
    """Guests' admissions (a few counters in the cache each: round trips to Redis in
    production) run in a worker thread, in batches: one hop for all the joins waiting. With a
    hop per guest, a storm of joins queued thousands of hops, each waiting for the GIL behind
    the busy event loop, and snapshots waited behind them (docs/benchmarks.md, "Signaling")."""

    def __init__(self) -> None:
        self.waiting: list[tuple[dict[str, Any], asyncio.Future]] = []
        self.task: asyncio.Task | None = None

    async def admit(self, **request: Any) -> live.Viewer:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((request, future))
        task = self.task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self.task = asyncio.create_task(self.run())
        result = await future
        if isinstance(result, live.Refused):
            raise result
        return result

    async def run(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            try:
                results = await sync_to_async(live.guest_admit_all, thread_sensitive=False)(
                    [request for request, _future in batch]
                )
            except Exception as error:
                results = [error] * len(batch)
            for (_request, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception) and not isinstance(result, live.Refused):
                    future.set_exception(result)
                else:
                    future.set_result(result)


guest_admissions = GuestAdmissions()


class RoomConsumer(AsyncWebsocketConsumer):
    room_id: int | None = None
    viewer: live.Viewer | None = None
    # Room-wide frames that reach this socket before its snapshot; sent right after it.
    held: list[str] | None = None
    early_groups: list[str] = []  # noqa: RUF012 (replaced per socket, never mutated)
    worker: asyncio.Task | None = None
    # The language of the page that opened this socket: its messages are written in it.
    language: str | None = None

    # Channels runs `aclose_old_connections` in a thread for every message a consumer receives;
    # the handlers that touch the ORM do so through database_sync_to_async, which closes stale
    # connections itself, so the extra hop per message is skipped.
    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        if self.language is None:
            self.language = await socket_language(self.scope)
        with translation.override(self.language):
            await handler(message)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tasks: set[asyncio.Task] = set()

    async def __call__(self, scope, receive, send) -> None:
        # daphne may drop a consumer without `disconnect()`: unregister in `finally` too.
        try:
            user = scope.get("user")
            if user is None or not user.is_authenticated:
                await self.serve_guest(scope, receive, send)
            else:
                await super().__call__(scope, receive, send)
        finally:
            await self.cleanup()

    async def serve_guest(self, scope, receive, send) -> None:
        """A guest's socket has no channel of its own in the channel layer: everything it
        hears comes through the hub (room-wide events, the answers to its audio offers) and
        nothing is ever sent to a guest's channel. With Redis that is one SUBSCRIBE and one
        UNSUBSCRIBE less per guest, and one task less for as long as the socket is open.
        The rest is Channels' `AsyncConsumer.__call__`."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = f"spaces.guest.{uuid.uuid4().hex}"  # presence and audio key
        self.base_send = send
        try:
            await await_many_dispatch([receive], self.dispatch)
        except StopConsumer:
            pass

    async def connect(self) -> None:
        await self.accept()
        # Subscribe to the person's and the session's groups before admission checks them: a
        # suspension or sign-out that lands in between still reaches this socket (its close
        # waits in the channel until `connect` returns).
        self.early_groups = self.account_groups()
        for group in self.early_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        try:
            self.viewer, room_state = await self.admit()
        except live.Refused as refused:
            await self.refuse(refused.close_code, refused.code, refused.message)
            for group in self.early_groups:
                await self.channel_layer.group_discard(group, self.channel_name)
            return
        self.room_id = self.viewer.room_id
        self.joined_live = room_state == "live"
        self.limits = TokenBucket(settings.SPACES_SOCKET_RATE, settings.SPACES_SOCKET_BURST)
        self.reactions = TokenBucket(settings.SPACES_REACTION_RATE, settings.SPACES_REACTION_BURST)
        self.offers = TokenBucket(settings.SPACES_OFFER_RATE, settings.SPACES_OFFER_BURST)
        self.offer_since: float | None = None  # when this socket's offer in flight was sent
        # The server moved the Space's audio (`media_moved`): the re-offer it asks for is not
        # counted against the offer budgets, or a crowd behind one address would be refused.
        self.offer_credit = False
        self.bad_messages = 0
        self.flood_strikes = 0
        # Frames are counted as they arrive and handled one by one by `work`: the rate limit
        # sees the sender's pace, not the pace of the handling (which slows under load). The
        # worker runs while frames wait (a page sends one ping per 20 s: no task in between).
        self.inbox: collections.deque[str | None] = collections.deque()
        self.last_touch = time.monotonic()
        # Registered before the snapshot is read so no event is missed; events that arrive
        # meanwhile are held, or the page would get deltas before the state they apply to.
        self.held = []
        await hub().add(self.room_id, self)
        for group in self.person_groups():
            await self.channel_layer.group_add(group, self.channel_name)
        await self.send_event(await self.read_snapshot())
        held, self.held = self.held, None
        for frame in held:
            await self.send(text_data=frame)
        live.counts.mark(self.room_id)
        if room_state in ("ended", "cancelled"):
            await self.close(Close.OVER)

    async def read_snapshot(self) -> dict[str, Any]:
        """The room as this viewer sees it; guests share one read per room (Hub.guest_snapshot)."""
        viewer, room_id = self.viewer, self.room_id

        def read() -> Any:
            listeners = hub().listeners.get(room_id)
            return database_sync_to_async(snapshot.room_snapshot)(
                room_id=room_id, viewer=viewer, listeners=listeners
            )

        if viewer.user_id is None and not viewer.hidden_authors:
            return await hub().guest_snapshot(room_id, read)
        return await read()

    async def admit(self) -> tuple[live.Viewer, str]:
        """Who this socket is in the Space (joining it when live); raises live.Refused."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.admit_guest()
        return await database_sync_to_async(live.viewer_connect)(
            slug=self.scope["url_route"]["kwargs"]["slug"],
            user=self.scope.get("user"),
            guest_cookie=self.scope.get("cookies", {}).get(live.GUEST_COOKIE),
            channel_name=self.channel_name,
            client_address=(self.scope.get("client") or [None])[0],
            session=self.scope.get("session"),
        )

    async def admit_guest(self) -> tuple[live.Viewer, str]:
        """A guest's admission makes no query of its own: the Space's gate is shared by the
        process's guest joins (Hub.room_gate), the limits are counters in the cache, and the
        presence row is written with the process's next batch (rooms.presence)."""
        slug = self.scope["url_route"]["kwargs"]["slug"]
        gate = await hub().room_gate(slug, lambda: database_sync_to_async(live.room_gate)(slug))
        viewer = await guest_admissions.admit(
            gate=gate,
            guest_cookie=self.scope.get("cookies", {}).get(live.GUEST_COOKIE),
            channel_name=self.channel_name,
            client_address=(self.scope.get("client") or [None])[0],
        )
        if gate.state == "live":
            hub().presence.join(
                channel_name=self.channel_name, room_id=gate.room_id, guest_id=viewer.guest_id
            )
        return viewer, gate.state

    async def readmit(self) -> None:
        """The Space went live while this socket waited: join it now, and start afresh."""
        if self.room_id is None or self.joined_live:
            return
        self.joined_live = True
        # Admission counts the guest's socket again: give back the count it holds.
        slot, self.viewer.socket_slot = self.viewer.socket_slot, None
        await database_sync_to_async(live.release_socket_slot)(slot)
        try:
            self.viewer, _ = await self.admit()
        except live.Refused as refused:
            await self.refuse(refused.close_code, refused.code, refused.message)
            await self.cleanup()
            return
        state = await database_sync_to_async(snapshot.room_snapshot)(
            room_id=self.room_id, viewer=self.viewer
        )
        await self.send_event(state)
        live.counts.mark(self.room_id)

    def spawn(self, coroutine) -> None:
        """Run work for this socket beside its message loop (the loop keeps only weak
        references to tasks: hold one until it is done)."""
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        if self.room_id is None:  # the socket closed under it (sending failed): nothing to do
            logger.debug("Room socket task ended after close: %r", task.exception())
        else:
            logger.error("Room socket task failed", exc_info=task.exception())

    async def refuse(self, close_code: int, code: str, message: str) -> None:
        await self.send_event(
            {"v": events.VERSION, "type": "closing", "code": code, "message": message}
        )
        await self.close(close_code)

    def account_groups(self) -> list[str]:
        """All the person's sockets anywhere (closed together on suspension, deactivation or a
        password change) and all sockets of this session (closed on sign-out)."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return []
        groups = [events.person_group(user.pk)]
        session = self.scope.get("session")
        if session is not None and session.session_key:
            groups.append(events.session_group(session.session_key))
        return groups

    def person_groups(self, room_id: int | None = None) -> list[str]:
        """This person's groups: their sockets in this Space (invites, replies to them), and
        the account groups."""
        user_id = self.viewer.user_id
        if user_id is None:
            return []
        return [events.user_group(room_id or self.room_id, user_id), *self.early_groups]

    async def disconnect(self, code: int) -> None:
        await self.cleanup()

    async def cleanup(self) -> None:
        """Unregister everything this socket holds; safe to call twice (daphne may skip
        `disconnect`, so `websocket_disconnect` and `finally` paths both come here)."""
        if self.room_id is None:
            return
        room_id, self.room_id = self.room_id, None
        # The frame worker and work spawned for this socket (an offer being answered) stop
        # with it, so no audio peer is registered after the disconnect below.
        for task in [self.worker, *self.tasks]:
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        guest = self.viewer.is_guest
        if guest:  # before the hub lets go: the process's last socket writes what is pending
            hub().presence.leave(self.channel_name)
        await hub().discard(room_id, self)
        for group in self.person_groups(room_id):
            await self.channel_layer.group_discard(group, self.channel_name)
        await media_bridge.disconnect(room_id, self.viewer.peer_id, self.viewer.media_worker)
        try:
            if guest:
                await sync_to_async(live.release_socket_slot, thread_sensitive=False)(
                    self.viewer.socket_slot
                )
            else:
                await database_sync_to_async(live.viewer_disconnect)(
                    channel_name=self.channel_name, socket_slot=self.viewer.socket_slot
                )
        finally:
            live.counts.mark(room_id)

    # -- incoming -------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if self.room_id is None:
            return
        if not self.limits.take() or len(self.inbox) >= settings.SPACES_SOCKET_QUEUE:
            self.flood_strikes += 1
            if self.flood_strikes > settings.SPACES_SOCKET_FLOOD_STRIKES:
                await self.refuse(Close.FLOOD, "rate_limited", _("Too many messages; goodbye."))
                await self.cleanup()
            elif self.flood_strikes == 1 or self.flood_strikes % 10 == 0:
                await self.send_error("rate_limited", _("Slow down: too many messages."))
            return
        self.inbox.append(text_data)
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self.work())

    async def work(self) -> None:
        """Handle this socket's frames in the order they came, one at a time, until none
        waits (the next frame starts the worker again)."""
        while self.room_id is not None and self.inbox:
            text_data = self.inbox.popleft()
            try:
                await self.handle_frame(text_data)
            except Exception:  # e.g. the socket closed under it; the next frame still counts
                logger.warning("Room socket frame not handled", exc_info=True)

    async def handle_frame(self, text_data: str | None) -> None:
        try:
            message = parse(text_data)
        except ProtocolError as error:
            self.bad_messages += 1
            if self.bad_messages > settings.SPACES_SOCKET_BAD_MESSAGES:
                await self.refuse(Close.BAD_INPUT, error.code, _("Too many invalid messages."))
                await self.cleanup()
            else:
                await self.send_error(error.code, error.message)
            return
        handler = getattr(self, f"handle_{message.type}")
        try:
            await handler(message)
        except ActionRefused as refused:
            await self.send_error(refused.code.value, refused.message, ref=message.type)
        except live.Refused as refused:
            if refused.ends_socket:  # suspended, deactivated or signed out meanwhile
                await self.refuse(refused.close_code, refused.code, refused.message)
                await self.cleanup()
            else:
                await self.send_error(refused.code, refused.message, ref=message.type)
        except media_bridge.OfferRefused as refused:
            await self.send_error(refused.code, refused.message, ref=message.type)
        except Exception:
            # Actions are atomic, so a failure changed nothing; the socket stays up.
            logger.exception("Room socket message %s failed", message.type)
            await self.send_error(
                "server_error", _("Something went wrong; nothing was changed."), ref=message.type
            )

    async def act(self, operation: str, **fields: Any) -> Any:
        """Run one room action for this viewer in a worker thread (roles come from the DB)."""
        result, delivered = await database_sync_to_async(events.tracking_delivery(live.act))(
            viewer=self.viewer, operation=operation, **fields
        )
        if not delivered:
            await self.send_error(
                "delayed",
                _("Done, but others may not see it yet: they will once the connection recovers."),
                ref=operation,
            )
        return result

    async def handle_ping(self, message) -> None:
        # The pong goes first: the page's watchdog reconnects when it waits too long for it.
        await self.send_event({"v": events.VERSION, "type": "pong"})
        now = time.monotonic()
        if now - self.last_touch > live_touch_seconds():
            self.last_touch = now
            if self.viewer.is_guest:
                state = await self.guest_touch()
            else:
                state = await database_sync_to_async(live.viewer_touch)(viewer=self.viewer)
            if state in (None, "ended", "cancelled"):
                # An end this socket was not told of (from another process without a shared
                # channel layer): say so, as the event would have.
                await self.send_event({"v": events.VERSION, "type": "room_ended"})
                await self.close(Close.OVER)

    async def guest_touch(self) -> str | None:
        """A guest's heartbeat: its row is refreshed by the process's batch, which also reads
        the Space's state; a guest not counted there (it joined before the Space went live and
        missed `room_live`) reads the state itself."""
        presence = hub().presence
        if self.channel_name in presence.sockets:
            return presence.room_state(self.room_id)
        state = await database_sync_to_async(live.room_state)(self.room_id)
        if state == "live" and not self.joined_live:
            self.spawn(self.readmit())
        return state

    async def handle_resync(self, message) -> None:
        await self.resync()

    async def resync(self) -> None:
        """A fresh snapshot (the page saw a gap in `seq`, or events were lost in an outage)."""
        if self.room_id is None or self.held is not None:
            return  # the first snapshot is on its way
        await self.send_event(await self.read_snapshot())

    async def handle_hand_raise(self, message) -> None:
        await self.act("hand_raise", question=message.fields.get("question"))

    async def handle_question_upvote(self, message) -> None:
        await self.act("question_upvote", question=message["question"])

    async def handle_question_remove(self, message) -> None:
        await self.act("question_remove", question=message["question"])

    async def handle_hand_lower(self, message) -> None:
        await self.act("hand_lower")

    async def handle_hand_accept(self, message) -> None:
        await self.act("hand_accept", target=message["user"])

    async def handle_hand_decline(self, message) -> None:
        await self.act("hand_decline", target=message["user"])

    async def handle_invite(self, message) -> None:
        await self.act("invite", target=message["user"], role=message["role"])

    async def handle_invite_accept(self, message) -> None:
        await self.act("invite_accept", invite=message["invite"])

    async def handle_invite_decline(self, message) -> None:
        await self.act("invite_decline", invite=message["invite"])

    async def handle_invite_revoke(self, message) -> None:
        await self.act("invite_revoke", invite=message["invite"])

    async def handle_promote(self, message) -> None:
        await self.act("promote", target=message["user"], role=message["role"])

    async def handle_move_to_audience(self, message) -> None:
        await self.act("move_to_audience", target=message["user"])

    async def handle_cohost_remove(self, message) -> None:
        await self.act("cohost_remove", target=message["user"])

    async def handle_mute(self, message) -> None:
        await self.act("mute", target=message["user"], muted=message["muted"])

    async def handle_recording_consent(self, message) -> None:
        await self.act("recording_consent", consent=message["consent"])

    async def handle_remove(self, message) -> None:
        await self.act("remove", target=message["user"])

    async def handle_end(self, message) -> None:
        await self.act("end")

    async def handle_leave(self, message) -> None:
        await self.act("leave")
        # Leaving the Space ends this socket: a person who left is not listening any more.
        await self.refuse(Close.LEFT, "left", _("You left the Space."))
        await self.cleanup()

    async def handle_post(self, message) -> None:
        await self.act("post", text=message["text"])

    async def handle_post_pin(self, message) -> None:
        await self.act("post_pin", post=message["post"], pinned=message["pinned"])

    async def handle_post_delete(self, message) -> None:
        await self.act("post_delete", post=message["post"])

    async def handle_react(self, message) -> None:
        if not self.reactions.take():
            await self.send_error("rate_limited", _("Easy on the reactions."), ref="react")
            return
        live.reactions.add(self.room_id, message["emoji"])

    async def handle_rtc_offer(self, message) -> None:
        """Answer an offer beside the message loop: one in flight per socket, within budgets
        per socket, per person and (guests) per address."""
        now = time.monotonic()
        if self.offer_since is not None and now - self.offer_since < settings.SPACES_OFFER_TIMEOUT:
            raise media_bridge.OfferRefused(
                "offer_busy", _("Your previous audio offer is still being answered.")
            )
        credited, self.offer_credit = self.offer_credit, False
        if not credited and (not self.offers.take() or not await self.offer_budget()):
            raise media_bridge.OfferRefused(
                "rate_limited", _("Too many audio offers; try again in a moment.")
            )
        sdp = media_bridge.checked_offer(message["sdp"])  # shape refused here: bad_offer
        self.offer_since = now
        self.spawn(self.answer_offer(sdp))

    async def offer_budget(self) -> bool:
        """The offer budget shared by all of a person's (or a guest address's) sockets."""
        if self.viewer.user_id is not None:
            key, limit = f"u{self.viewer.user_id}", settings.SPACES_OFFER_PERSON_LIMIT
        else:
            address = (self.scope.get("client") or [None])[0]
            key, limit = ratelimit.client_key(address), settings.SPACES_OFFER_ADDRESS_LIMIT
        return await database_sync_to_async(ratelimit.allow)(
            "rtc_offer", key, limit=limit, seconds=60
        )

    async def answer_offer(self, sdp: str) -> None:
        try:
            answer = await media_bridge.offer(self.viewer, sdp)
        except media_bridge.OfferRefused as refused:
            self.offer_since = None
            if refused.code == "use_hls":  # WebRTC is full: the page plays the HLS stream
                await self.send_use_hls(refused.message)
            else:
                await self.send_error(refused.code, refused.message, ref="rtc_offer")
            return
        except Exception:
            self.offer_since = None
            logger.exception("Audio offer failed")
            await self.send_error(
                "server_error", _("Audio could not start; try again."), ref="rtc_offer"
            )
            return
        if answer is not None:  # in media worker mode it arrives as `media.answer`
            self.offer_since = None
            await self.send_event({"v": events.VERSION, "type": "rtc_answer", "sdp": answer})
            await self.set_listening(True)

    async def handle_rtc_close(self, message) -> None:
        await media_bridge.disconnect(self.room_id, self.viewer.peer_id, self.viewer.media_worker)
        await self.set_listening(False)

    async def send_use_hls(self, message: str) -> None:
        slug = self.scope["url_route"]["kwargs"]["slug"]
        await self.send_event(
            {
                "v": events.VERSION,
                "type": "error",
                "code": "use_hls",
                "message": message,
                "ref": "rtc_offer",
                "hls": reverse("space_live_playlist", args=[slug]),
            }
        )

    async def handle_hls_listening(self, message) -> None:
        """The page plays the Space's HLS stream (or stopped): it listens like a WebRTC one."""
        await self.set_listening(message["listening"])

    async def set_listening(self, listening: bool) -> None:
        """Listener counts count sockets whose audio is on, not pages that are only open."""
        if self.room_id is None:
            return
        if self.viewer.is_guest:  # written with the process's next batch (rooms.presence)
            presence = hub().presence
            if self.channel_name in presence.sockets:
                self.viewer.listening = listening
                presence.set_listening(self.channel_name, listening)
                if listening:  # counted in memory for the host's insights, flushed in bulk
                    await database_sync_to_async(insights.note_listener)(
                        self.room_id, user_id=None, guest_id=self.viewer.guest_id
                    )
        else:
            await database_sync_to_async(live.viewer_listening)(
                viewer=self.viewer, listening=listening
            )
        live.counts.mark(self.room_id)

    async def media_answer(self, message: dict[str, Any]) -> None:
        """A media worker's answer to this socket's offer."""
        self.offer_since = None
        if message.get("error"):
            await self.send_error("bad_offer", message["error"], ref="rtc_offer")
        else:
            await self.send_event(
                {"v": events.VERSION, "type": "rtc_answer", "sdp": message["sdp"]}
            )
            await self.set_listening(True)

    # -- outgoing -------------------------------------------------------------------------
    async def send_event(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event, separators=(",", ":")))

    async def send_error(self, code: str, message: str, ref: str | None = None) -> None:
        error = {"v": events.VERSION, "type": "error", "code": code, "message": message}
        if ref:
            error["ref"] = ref
        await self.send_event(error)

    # Called by the hub for every room-wide event in this socket's room (frame built once).
    def wants(self, event: dict[str, Any]) -> bool:
        return self.viewer is not None and self.viewer.wants(event)

    def write_now(self, wire: bytes) -> bool:
        if self.held is not None:  # its snapshot is not out yet: the frame waits in `held`
            return False
        connection = self.scope.get(daphne_compat.CONNECTION_KEY)
        return connection is not None and connection.write(wire)

    async def send_frame(self, frame: str) -> None:
        if self.held is not None:
            self.held.append(frame)
            return
        if backpressure.buffered_bytes(self.scope) > settings.SPACES_SOCKET_SEND_BUFFER_BYTES:
            # The client stopped reading: drop it rather than buffer without end.
            logger.info("Dropping a room socket that stopped reading")
            backpressure.abort(self.scope)
            return
        await self.send(text_data=frame)

    async def observe(self, event: dict[str, Any]) -> None:
        """React to room-wide events about this viewer: removal closes the socket; a role
        change refreshes what they may do."""
        me = self.viewer.user_id
        about_me = me is not None and (event.get("user") or {}).get("id") == me
        kind = event["type"]
        if kind in ("room_ended", "room_cancelled"):
            await self.close(Close.OVER)
        elif about_me and kind == "participant_removed":
            await self.refuse(Close.FORBIDDEN, "removed", _("You were removed from this Space."))
        elif kind == "room_live":
            self.spawn(self.readmit())
        elif kind == "media_moved":
            self.offer_credit = True
        elif about_me and kind in ROLE_EVENTS:
            self.spawn(self.refresh_you())
        elif kind == "host_changed" and me == (event.get("previous_host") or {}).get("id"):
            self.spawn(self.refresh_you())

    async def refresh_you(self) -> None:
        if self.room_id is None:
            return
        you = await database_sync_to_async(snapshot.viewer_state)(
            room_id=self.room_id, viewer=self.viewer
        )
        self.viewer.role = you["role"]
        await self.send_event({"v": events.VERSION, "type": "you", "you": you})

    # Per-person channel-layer messages (groups `events.user_group` and `events.person_group`).
    async def room_event(self, message: dict[str, Any]) -> None:
        if message.get("room_id") not in (None, self.room_id):
            return
        await self.send_event(message["event"])
        if message["event"]["type"] in ("invite_received", "invite_revoked"):
            await self.refresh_you()

    async def person_changed(self, message: dict[str, Any]) -> None:
        """Something about this person changed elsewhere (they blocked someone): reload it."""
        if self.viewer is not None and message.get("what") == "blocks":
            self.viewer.hidden_authors = await database_sync_to_async(live.blocked_by)(
                self.viewer.user_id
            )

    async def person_close(self, message: dict[str, Any]) -> None:
        """Close this person's sockets (suspension, removal by staff)."""
        if message.get("room_id") not in (None, self.room_id):
            return
        close_code = message.get("close_code", Close.FORBIDDEN)
        # Sent in English (gettext_noop where it is written): said in this socket's language.
        await self.refuse(close_code, message["code"], _(message["message"]))
        await self.cleanup()
