"""Plain-text SDP checks and edits the router needs before and after aiortc sees a description.

Kept as string functions (no aiortc types) so offers from browsers can be judged and tested in
isolation: which sections a peer offers, in which direction, and which addresses we announce.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


class OfferError(ValueError):
    """The offer cannot be answered by a Space's audio router (the message says why)."""


@dataclass(frozen=True, slots=True)
class MediaSection:
    """One m= section of an offer, seen from the offering peer."""

    kind: str  # "audio", "video", "application", ...
    direction: str  # the offerer's direction: sendrecv, sendonly, recvonly or inactive
    rejected: bool  # port 0 without bundle-only

    @property
    def peer_sends(self) -> bool:
        return not self.rejected and self.direction in ("sendrecv", "sendonly")

    @property
    def peer_receives(self) -> bool:
        return not self.rejected and self.direction in ("sendrecv", "recvonly")


def _lines(sdp: str) -> list[str]:
    return [line.rstrip("\r") for line in sdp.split("\n")]


def media_sections(sdp: str) -> list[MediaSection]:
    """The offer's m= sections in order, with their effective direction."""
    session_direction = "sendrecv"
    sections: list[dict[str, object]] = []
    for line in _lines(sdp):
        if line.startswith("m="):
            parts = line[2:].split()
            if len(parts) < 3:
                raise OfferError(f"malformed media line: {line!r}")
            try:
                port = int(parts[1].split("/")[0])
            except ValueError as exc:
                raise OfferError(f"malformed media line: {line!r}") from exc
            sections.append({"kind": parts[0], "port": port, "direction": None, "bundle": False})
        elif line.startswith("a="):
            attribute = line[2:]
            if attribute in DIRECTIONS:
                if sections:
                    sections[-1]["direction"] = attribute
                else:
                    session_direction = attribute
            elif attribute == "bundle-only" and sections:
                sections[-1]["bundle"] = True
    return [
        MediaSection(
            kind=str(s["kind"]),
            direction=str(s["direction"] or session_direction),
            rejected=s["port"] == 0 and not s["bundle"],
        )
        for s in sections
    ]


def audio_only_sections(sdp: str) -> list[MediaSection]:
    """Sections of an offer the router accepts: audio only, at least one section."""
    sections = media_sections(sdp)
    if not sections:
        raise OfferError("the offer has no media sections")
    for section in sections:
        if section.kind != "audio":
            raise OfferError(f"a Space carries audio only; the offer has {section.kind}")
    return sections


def announce_host_candidates(sdp: str, addresses: Sequence[str]) -> str:
    """Advertise host candidates at `addresses` (same ports) instead of the bound addresses.

    For servers behind 1:1 NAT (cloud VMs): sockets bind on the private address, peers are told
    the public one. The first announced address also replaces bound addresses in c= lines.
    """
    if not addresses:
        return sdp
    for address in addresses:
        ipaddress.ip_address(address)  # raises ValueError on a typo
    out: list[str] = []
    bound: set[str] = set()
    for line in _lines(sdp):
        if line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) >= 8 and fields[6] == "typ" and fields[7] == "host":
                bound.add(fields[4])
                foundation = fields[0][len("a=candidate:") :]
                priority = int(fields[3])
                for index, address in enumerate(addresses):
                    copy = list(fields)
                    copy[0] = "a=candidate:" + (foundation + (str(index) if index else ""))
                    copy[3] = str(max(priority - index, 0))
                    copy[4] = address
                    out.append(" ".join(copy))
                continue
        out.append(line)
    rewritten: list[str] = []
    first = addresses[0]
    family = "IP6" if ipaddress.ip_address(first).version == 6 else "IP4"
    for line in out:
        if line.startswith("c=IN "):
            parts = line.split()
            if len(parts) == 3 and parts[2] in bound:
                line = f"c=IN {family} {first}"
        rewritten.append(line)
    return "\r\n".join(rewritten)
