"""An iCalendar (RFC 5545) event for a Space, so people can put it in their calendar."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Room

LENGTH = timedelta(hours=1)  # Spaces have no planned end; calendars need one


def escape(text: str) -> str:
    """TEXT values: backslash, semicolon and comma escaped; newlines as \\n."""
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after CRLF and a space."""
    encoded = line.encode()
    if len(encoded) <= 75:
        return line
    parts, start, limit = [], 0, 75
    while start < len(encoded):
        end = min(start + limit, len(encoded))
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:
            end -= 1  # never split a UTF-8 character
        parts.append(encoded[start:end].decode())
        start, limit = end, 74  # continuation lines start with a space
    return "\r\n ".join(parts)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def space_ics(room: Room, *, url: str, domain: str) -> str:
    start = room.scheduled_for if room.is_scheduled else (room.started_at or room.created_at)
    host = room.host.display_name
    description = _("Hosted by %(name)s.") % {"name": host}
    if room.description:
        description += "\n\n" + room.description
    description += "\n\n" + _("Listen: %(url)s") % {"url": url}
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Spaces//Live audio rooms//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{room.slug}@{escape(domain)}",
        f"DTSTAMP:{stamp(timezone.now())}",
        f"DTSTART:{stamp(start)}",
        f"DTEND:{stamp(start + LENGTH)}",
        f"SUMMARY:{escape(room.title)}",
        f"DESCRIPTION:{escape(description)}",
        f"URL:{url}",
        f"LOCATION:{escape(url)}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(fold(line) for line in lines) + "\r\n"
