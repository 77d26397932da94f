"""Deployment settings of the audio router as plain data (Django settings fill it elsewhere)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer

_ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")
LISTENER_PACKET_MS = (20, 40, 60)  # whole router ticks that Opus can carry in one frame


@dataclass(frozen=True)
class MediaConfig:
    """How the router's peer connections reach the network, and how the room is encoded.

    ice_servers: STUN/TURN servers in the browser's RTCIceServer shape
        (`{"urls": "turn:host:3478", "username": ..., "credential": ...}`), so the same list can
        be handed to clients. Used exactly as given: the empty default contacts nothing outside
        (aiortc would otherwise fall back to a public Google STUN server). aiortc uses the first
        STUN and the first TURN URL only.
    bind_addresses: local IPs to gather host candidates on (e.g. `["127.0.0.1"]` in tests, the
        private NIC address in production). Empty means every non-loopback interface.
    announce_addresses: public IPs to advertise instead of the bound ones, same ports, for a
        server behind 1:1 NAT. Empty means advertise the bound addresses.
    opus_bitrate: bits per second of every mono Opus stream the router sends.
    listener_packet_ms: Opus frame length of the stream every listener and guest hears: 20, 40
        or 60, or None (the default) for a length that follows the crowd. Longer packets mean
        fewer of them (a half or a third), and the server's cost per listener is mostly per
        packet, at 20 or 40 ms more delay for listeners. Speakers always hear their mix-minus in
        20 ms packets.
    listener_packet_up_at, listener_packet_down_at: with listener_packet_ms None, listeners get
        20 ms packets until the Space has `up_at` listeners, then 60 ms packets until it is down
        to `down_at` (the gap between them keeps a crowd near one threshold from flapping).
    connect_timeout: seconds a peer has, after its answer, to complete ICE and DTLS.
    close_timeout: seconds to wait for one peer connection to close before giving up on it.
    levels_interval: seconds between speaking-level reports (0.2 s is 5 per second).
    """

    ice_servers: Sequence[Mapping[str, Any]] = field(default_factory=list)
    bind_addresses: Sequence[str] = field(default_factory=list)
    announce_addresses: Sequence[str] = field(default_factory=list)
    opus_bitrate: int = 32_000
    listener_packet_ms: int | None = None
    listener_packet_up_at: int = 250
    listener_packet_down_at: int = 150
    connect_timeout: float = 20.0
    close_timeout: float = 5.0
    levels_interval: float = 0.2

    def __post_init__(self) -> None:
        for server in self.ice_servers:
            urls = server.get("urls")
            for url in [urls] if isinstance(urls, str) else list(urls or []):
                if not isinstance(url, str) or not url.startswith(_ICE_SCHEMES):
                    raise ValueError(
                        f"ICE server URL must be stun:, stuns:, turn: or turns:: {url!r}"
                    )
            if not urls:
                raise ValueError(f"ICE server without urls: {server!r}")
        for address in [*self.bind_addresses, *self.announce_addresses]:
            ipaddress.ip_address(address)  # a typo fails at startup, not at the first join
        if not 6_000 <= self.opus_bitrate <= 510_000:
            raise ValueError("opus_bitrate must be within Opus' 6-510 kbps")
        fixed = self.listener_packet_ms
        if fixed is not None and fixed not in LISTENER_PACKET_MS:
            raise ValueError(f"listener_packet_ms must be one of {LISTENER_PACKET_MS} or None")
        if not 0 <= self.listener_packet_down_at < self.listener_packet_up_at:
            raise ValueError("listener_packet_down_at must be below listener_packet_up_at")
        if self.levels_interval <= 0 or self.connect_timeout <= 0 or self.close_timeout <= 0:
            raise ValueError("intervals and timeouts must be positive")

    @classmethod
    def loopback(cls, **overrides: Any) -> MediaConfig:
        """Loopback only, no ICE servers: tests, benchmarks and single-machine development."""
        return cls(bind_addresses=["127.0.0.1"], **overrides)

    def rtc_configuration(self) -> RTCConfiguration:
        """aiortc configuration with exactly the configured ICE servers (possibly none)."""
        servers = [
            RTCIceServer(
                urls=server["urls"] if isinstance(server["urls"], str) else list(server["urls"]),
                username=server.get("username"),
                credential=server.get("credential"),
            )
            for server in self.ice_servers
        ]
        return RTCConfiguration(iceServers=servers)
