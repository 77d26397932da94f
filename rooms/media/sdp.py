"""Plain-text SDP checks and edits the router needs before and after aiortc sees a description.

Kept as string functions (no aiortc types) so offers from browsers can be judged and tested in
isolation: which sections a peer offers, in which direction, and which addresses we announce.
"""

from __future__ import annotations

import ipaddress
import re
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


# -- The shape check every offer passes before aiortc parses it ------------------------------
#
# aiortc's parser asserts (and raises KeyError, IndexError, ValueError) on shapes a browser never
# sends, and it makes one transceiver per m-line. So an offer is read here line by line against a
# strict grammar, and what aiortc gets is rebuilt from the lines that passed: one audio m-line,
# bounded sizes, candidates capped and filtered by address. Anything else is an OfferError with a
# message a person can read.

MAX_OFFER_CHARS = 12 * 1024  # a browser's audio-only offer is 2-6 KB
MAX_OFFER_LINES = 150
MAX_LINE_CHARS = 1024
MAX_CANDIDATE_LINES = 32  # more and the offer is refused
MAX_CANDIDATES = 8  # usable candidates kept; the rest are dropped
MAX_FORMATS = 32
PROFILES = frozenset({"UDP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP", "RTP/SAVPF"})
SETUPS = frozenset({"actpass", "active", "passive"})
HASHES = frozenset({"sha-1", "sha-224", "sha-256", "sha-384", "sha-512"})
CANDIDATE_TYPES = frozenset({"host", "srflx", "prflx", "relay"})
FORMAT_INT_PARAMETERS = frozenset(
    {"apt", "max-fr", "max-fs", "maxplaybackrate", "minptime", "stereo", "useinbandfec"}
)
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]{1,64}")
_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]{4,256}")
_HEX_PAIRS = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){15,63}")


@dataclass(frozen=True, slots=True)
class OfferLimits:
    """What an offer may contain. `candidate_networks` are the non-public networks (loopback,
    private, link-local) whose candidates are kept; public addresses always are."""

    candidate_networks: tuple[str, ...] = ()
    max_chars: int = MAX_OFFER_CHARS
    max_lines: int = MAX_OFFER_LINES
    max_candidate_lines: int = MAX_CANDIDATE_LINES
    max_candidates: int = MAX_CANDIDATES


def _payload_type(text: str) -> int:
    # RTP payload types are 7 bits; 72-76 would be taken for RTCP packets (RFC 5761).
    if not text.isdigit() or len(text) > 3:
        raise OfferError(f"payload type {text[:8]!r} is not a number")
    value = int(text)
    if value > 127 or 72 <= value <= 76:
        raise OfferError(f"payload type {value} is not allowed")
    return value


def _int(text: str, low: int, high: int, what: str) -> int:
    if not text.isdigit() or len(text) > 10 or not low <= int(text) <= high:
        raise OfferError(f"{what} must be a number from {low} to {high}")
    return int(text)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise OfferError(f"{text[:64]!r} is not an IP address") from None


def _connection(value: str) -> None:
    parts = value.split(" ")
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise OfferError("a connection line must read IN IP4|IP6 <address>")
    address = _ip(parts[2])
    if address.version != int(parts[1][2]):
        raise OfferError("the connection address does not match its family")


def _allowed(address, networks) -> bool:
    if address.is_global and not address.is_multicast:
        return True
    return any(address in network for network in networks)


def _candidate(value: str, networks) -> tuple[bool, str]:
    """(usable, the line) for an a=candidate value; OfferError if its shape is wrong."""
    bits = value.split(" ")
    if len(bits) < 8 or len(bits) % 2 or bits[6] != "typ":
        raise OfferError(
            "a candidate needs foundation, component, transport, priority, address, port and type"
        )
    if not _TOKEN.fullmatch(bits[0]) or len(bits[0]) > 32:
        raise OfferError("a candidate's foundation is malformed")
    component = _int(bits[1], 1, 256, "a candidate's component")
    transport = bits[2].lower()
    if transport not in ("udp", "tcp"):
        raise OfferError("a candidate's transport must be udp or tcp")
    _int(bits[3], 0, 2**32 - 1, "a candidate's priority")
    _int(bits[5], 0, 65535, "a candidate's port")
    if bits[7] not in CANDIDATE_TYPES:
        raise OfferError("a candidate's type must be host, srflx, prflx or relay")
    for key, item in zip(bits[8::2], bits[9::2], strict=True):
        if key == "rport":
            _int(item, 0, 65535, "a candidate's rport")
        elif key == "raddr":
            if not (item.endswith(".local") and _TOKEN.fullmatch(item)):
                _ip(item)
        elif not (_TOKEN.fullmatch(key) and _TOKEN.fullmatch(item)):
            raise OfferError("a candidate's extension is malformed")
    usable = transport == "udp" and component == 1 and bits[5] != "0"
    address = bits[4]
    if address.endswith(".local"):  # a browser's mDNS name for a LAN address
        if not _TOKEN.fullmatch(address):
            raise OfferError("a candidate's address is malformed")
        usable = usable and any(n.is_private and not n.is_loopback for n in networks)
    else:
        usable = usable and _allowed(_ip(address), networks)
    # Only the fields aiortc reads, in its order: nothing else reaches it.
    line = " ".join([*bits[:2], transport, *bits[3:8]])
    for key, item in zip(bits[8::2], bits[9::2], strict=True):
        if key in ("raddr", "rport"):
            line += f" {key} {item}"
    return usable, "a=candidate:" + line


def check_offer(sdp: str, limits: OfferLimits = OfferLimits()) -> str:  # noqa: B008
    """The offer rebuilt from its lines that pass a strict grammar, for aiortc to parse.

    Refuses (OfferError) anything but one audio m-line with Opus, DTLS (fingerprint and setup)
    and ICE credentials; bounds size, lines and candidates; keeps at most `max_candidates`
    usable UDP candidates at public addresses or in `candidate_networks`, and drops the rest
    (the server then sends connectivity checks nowhere else).
    """
    if not isinstance(sdp, str) or len(sdp) > limits.max_chars:
        raise OfferError(f"the offer is longer than {limits.max_chars} characters")
    lines = [line for line in _lines(sdp) if line]
    if len(lines) > limits.max_lines:
        raise OfferError(f"the offer has more than {limits.max_lines} lines")
    if not lines or lines[0] != "v=0":
        raise OfferError("the offer must start with v=0")
    networks = [ipaddress.ip_network(n, strict=False) for n in limits.candidate_networks]
    session: list[str] = []
    media: list[str] = []
    has = {"o": False, "s": False, "t": False}
    ice = {"ice-ufrag": False, "ice-pwd": False}
    fingerprint = setup = False
    directions = {"session": [], "media": []}
    required = {"rtcp-mux": 0, "mid": 0}  # in the media section, once
    formats: list[int] = []
    mapped: dict[int, str] = {}
    candidate_lines = kept = 0
    in_media = False
    for line in lines:
        if len(line) > MAX_LINE_CHARS or not (line.isascii() and line.isprintable()):
            raise OfferError("the offer has an overlong line or characters outside ASCII")
        if len(line) < 2 or line[1] != "=" or not line[0].islower():
            raise OfferError(f"malformed line: {line[:40]!r}")
        kind, value = line[0], line[2:]
        out = session if not in_media else media
        if kind == "m":
            if in_media:
                raise OfferError("a Space carries one audio stream: the offer has several")
            parts = value.split(" ")
            if len(parts) < 4 or parts[0] != "audio":
                raise OfferError("the offer's media line must be audio with formats")
            _int(parts[1], 1, 65535, "the media port")
            if parts[2] not in PROFILES:
                raise OfferError(f"unsupported media profile {parts[2][:32]!r}")
            if len(parts) - 3 > MAX_FORMATS:
                raise OfferError("the media line lists too many formats")
            formats = [_payload_type(p) for p in parts[3:]]
            in_media = True
            media.append(line)
            continue
        if kind == "v":
            if out is session and session:
                raise OfferError("v= appears twice")
            session.append(line)
        elif kind in ("o", "s", "t") and not in_media:
            if has[kind]:
                raise OfferError(f"{kind}= appears twice")
            has[kind] = True
            if kind == "o" and len(value.split(" ")) != 6:
                raise OfferError("the origin line must have six fields")
            if kind == "t" and not re.fullmatch(r"\d{1,20} \d{1,20}", value):
                raise OfferError("the timing line must be two numbers")
            session.append(line)
        elif kind == "c":
            _connection(value)
            out.append(line)
        elif kind == "a":
            name, _, rest = value.partition(":")
            if name == "candidate":
                if not in_media:
                    raise OfferError("candidates belong to the media section")
                candidate_lines += 1
                if candidate_lines > limits.max_candidate_lines:
                    raise OfferError(
                        f"the offer has more than {limits.max_candidate_lines} candidates"
                    )
                usable, rebuilt = _candidate(rest, networks)
                if usable and kept < limits.max_candidates:
                    kept += 1
                    media.append(rebuilt)
                continue
            kept_line = _attribute(name, rest, in_media, formats, mapped)
            if name in DIRECTIONS:
                directions["media" if in_media else "session"].append(name)
                continue  # written once, into the media section, below
            if name in ice:
                ice[name] = True
            if in_media and name in required:
                required[name] += 1
            fingerprint = fingerprint or name == "fingerprint"
            setup = setup or name == "setup"
            if kept_line:
                out.append(line)
        # other line kinds (b=, i=, k=, r=, z=, u=, e=, p=) mean nothing to the router: dropped
    if not all(has.values()):
        raise OfferError("the offer lacks its o=, s= or t= line")
    if not in_media:
        raise OfferError("the offer has no audio")
    if not (ice["ice-ufrag"] and ice["ice-pwd"]):
        raise OfferError("the offer lacks ICE credentials")
    if not fingerprint:
        raise OfferError("the offer lacks a DTLS fingerprint")
    if not setup:
        raise OfferError("the offer lacks a=setup")
    if "opus" not in mapped.values():
        raise OfferError("the offer must include Opus audio")
    if any(count != 1 for count in required.values()):
        raise OfferError("the audio section needs one a=mid and one a=rtcp-mux")
    if len(directions["media"]) > 1 or len(directions["session"]) > 1:
        raise OfferError("the offer gives its direction more than once")
    # aiortc reads the direction from the media section only (and fails without one): the
    # section's own, else the session's, else the default, sendrecv.
    media.append("a=" + (directions["media"] or directions["session"] or ["sendrecv"])[0])
    return "\r\n".join(session + media) + "\r\n"


def _attribute(name: str, value: str, in_media: bool, formats, mapped: dict[int, str]) -> bool:
    """Check one a= attribute aiortc reads; True to keep it, False to drop it."""
    if name in DIRECTIONS or name in ("rtcp-mux", "end-of-candidates", "ice-lite"):
        if value:
            raise OfferError(f"a={name} takes no value")
        return True
    if name == "setup":
        if value not in SETUPS:
            raise OfferError("a=setup must be actpass, active or passive")
        return True
    if name == "fingerprint":
        parts = value.split(" ")
        if len(parts) != 2 or parts[0].lower() not in HASHES or not _HEX_PAIRS.fullmatch(parts[1]):
            raise OfferError("a=fingerprint must be a hash name and its hex value")
        return True
    if name in ("ice-ufrag", "ice-pwd"):
        if not _ICE_CHARS.fullmatch(value):
            raise OfferError(f"a={name} is malformed")
        return True
    if name in ("ice-options", "mid", "msid-semantic", "group", "msid"):
        parts = value.split()
        if not parts or not all(_TOKEN.fullmatch(p) for p in parts) or len(value) > 200:
            raise OfferError(f"a={name} is malformed")
        if name in ("group", "msid-semantic") and in_media:
            return False
        return True
    if not in_media:
        return False  # other session-level attributes mean nothing to aiortc
    if name == "rtpmap":
        match = re.fullmatch(r"(\d{1,3}) ([A-Za-z0-9\-_.]{1,32})/(\d{4,6})(?:/([12]))?", value)
        if match is None or int(match[1]) not in formats:
            raise OfferError("a=rtpmap is malformed or names a format the m-line lacks")
        mapped[int(match[1])] = match[2].lower()
        return True
    if name == "fmtp":
        match = re.fullmatch(r"(\d{1,3}) (\S{1,256})", value)
        if match is None or int(match[1]) not in mapped:
            raise OfferError("a=fmtp is malformed or precedes its a=rtpmap")
        for parameter in match[2].split(";"):
            key, eq, item = parameter.partition("=")
            if key in FORMAT_INT_PARAMETERS and not (eq and item.isdigit() and len(item) < 10):
                raise OfferError(f"a=fmtp's {key} must be a number")
        return True
    if name == "rtcp-fb":
        parts = value.split(" ")
        if not 2 <= len(parts) <= 3 or not all(_TOKEN.fullmatch(p) for p in parts):
            raise OfferError("a=rtcp-fb is malformed")
        return parts[0] == "*" or (parts[0].isdigit() and int(parts[0]) in formats)
    if name == "extmap":
        match = re.fullmatch(r"(\d{1,2})(?:/(\w+))? (\S{1,200})", value)
        if (
            match is None
            or not 1 <= int(match[1]) <= 14
            or (match[2] is not None and match[2] not in DIRECTIONS)
        ):
            raise OfferError("a=extmap is malformed")
        return True
    if name == "rtcp":
        parts = value.split(" ", 1)
        _int(parts[0], 0, 65535, "a=rtcp's port")
        if len(parts) > 1:
            _connection(parts[1])
        return True
    if name == "ssrc":
        match = re.fullmatch(r"(\d{1,10}) ([A-Za-z\-]{1,32}):(\S.{0,200})", value)
        if match is None or int(match[1]) >= 2**32:
            raise OfferError("a=ssrc is malformed")
        return True
    if name == "ssrc-group":
        parts = value.split(" ")
        if (
            len(parts) > 8
            or not _TOKEN.fullmatch(parts[0])
            or not all(p.isdigit() and int(p) < 2**32 for p in parts[1:])
        ):
            raise OfferError("a=ssrc-group is malformed")
        return True
    return False  # anything else is dropped unseen (aiortc would ignore it too)
