"""The picture a shared `/s/<slug>/` link unfurls with (og:image / twitter:image).

A 1200×630 PNG drawn with Pillow: the Space's title, the host's name and avatar, and its state
(LIVE, the scheduled time, or ended). Cards are kept in the cache under a key made of everything
drawn on them, so a new title, state, time, host name or avatar draws a new card, and the page
links the card with that key (`?v=`) so crawlers fetch the new one.
"""

import hashlib
import io
import textwrap
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from django.core.files.storage import default_storage
from django.utils import formats, timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from spaces_project.ratelimit import shared_cache

from .models import Room

WIDTH, HEIGHT = 1200, 630
CACHE_SECONDS = 60 * 60 * 24 * 7
INK = (29, 27, 58)
INK_2 = (52, 40, 112)
ACCENT = (108, 76, 245)
LIVE = (224, 36, 94)
WHITE = (255, 255, 255)
MUTED = (200, 196, 230)
FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu")]


@dataclass(frozen=True)
class CardData:
    title: str
    host: str
    state: str  # Room.State
    scheduled_for: datetime | None
    avatar: str  # storage name of the host's avatar, "" for none
    language: str
    recorded: bool = False  # the REC badge beside the state

    @property
    def key(self) -> str:
        parts = [
            self.title,
            self.host,
            self.state,
            self.scheduled_for.isoformat() if self.scheduled_for else "",
            self.avatar,
            self.language,
            "rec" if self.recorded else "",
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]

    def state_text(self) -> str:
        if self.state == Room.State.LIVE:
            return _("LIVE")
        if self.state == Room.State.SCHEDULED and self.scheduled_for:
            when = formats.date_format(timezone.localtime(self.scheduled_for), "DATETIME_FORMAT")
            return _("Scheduled · %(when)s") % {
                "when": f"{when} {timezone.get_current_timezone_name()}"
            }
        if self.state == Room.State.CANCELLED:
            return _("Cancelled")
        return _("Ended")


def card_data(room: Room) -> CardData:
    profile = getattr(room.host, "profile", None)
    avatar = profile.avatar.name if profile is not None and profile.avatar else ""
    return CardData(
        title=room.title,
        host=room.host.display_name,
        state=room.state,
        scheduled_for=room.scheduled_for,
        avatar=avatar,
        language=get_language() or "en",
        recorded=room.shows_rec,
    )


def card_png(data: CardData) -> bytes:
    """The card's PNG, from the cache or freshly drawn (and then cached)."""
    cache_key = f"space-card:{data.key}"
    cached = shared_cache().get(cache_key)
    if cached is not None:
        return cached
    png = draw_card(data)
    shared_cache().set(cache_key, png, CACHE_SECONDS)
    return png


@cache
def _font(size: int, bold: bool = True) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in FONT_DIRS:
        if (folder / name).exists():
            return ImageFont.truetype(str(folder / name), size)
    return ImageFont.load_default(size=size)  # Pillow's own font (fewer characters)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int, max_lines: int) -> list[str]:
    """Greedy wrap to a pixel width, ellipsis on the last line if the title is longer."""
    words = text.split()
    lines: list[str] = []
    line = ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while draw.textlength(line, font=font) > width:  # a single very long word
            cut = textwrap.shorten(line, width=max(1, len(line) - 1), placeholder="")
            line = cut if cut and cut != line else line[:-1]
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and draw.textlength(last + "…", font=font) > width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines


def _avatar(data: CardData, size: int) -> Image.Image:
    """The host's avatar cut to a circle, or their initial on the accent colour."""
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, size - 1, size - 1), fill=255)
    picture = None
    if data.avatar:
        try:
            with default_storage.open(data.avatar) as handle:
                picture = Image.open(handle).convert("RGB")
                side = min(picture.size)
                left, top = (picture.width - side) // 2, (picture.height - side) // 2
                picture = picture.crop((left, top, left + side, top + side)).resize((size, size))
        except (OSError, ValueError):
            picture = None
    if picture is None:
        picture = Image.new("RGB", (size, size), ACCENT)
        initial = (data.host.strip()[:1] or "?").upper()
        draw = ImageDraw.Draw(picture)
        draw.text((size / 2, size / 2), initial, font=_font(size // 2), fill=WHITE, anchor="mm")
    result = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    result.paste(picture, (0, 0), mask)
    return result


def draw_card(data: CardData) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), INK)
    draw = ImageDraw.Draw(image)
    for y in range(HEIGHT):  # a soft vertical gradient
        t = y / HEIGHT
        colour = tuple(round(a + (b - a) * t) for a, b in zip(INK, INK_2, strict=True))
        draw.line((0, y, WIDTH, y), fill=colour)

    # Brand, top left: the mark and the name.
    draw.ellipse((72, 56, 120, 104), fill=LIVE)
    draw.ellipse((83, 67, 109, 93), fill=ACCENT)
    draw.ellipse((91, 75, 101, 85), fill=WHITE)
    draw.text((136, 80), "Spaces", font=_font(40), fill=WHITE, anchor="lm")

    # State badge under the brand: filled red when live, outlined otherwise.
    state = _wrap(draw, data.state_text(), _font(32), WIDTH - 144 - 80, 1)[0]
    badge_font = _font(32)
    top, bottom, left = 132, 184, 72
    if data.state == Room.State.LIVE:
        right = left + 52 + draw.textlength(state, font=badge_font) + 26
        draw.rounded_rectangle((left, top, right, bottom), radius=26, fill=LIVE)
        draw.ellipse((left + 20, 152, left + 32, 164), fill=WHITE)
        draw.text((left + 44, 158), state, font=badge_font, fill=WHITE, anchor="lm")
    else:
        right = left + 26 + draw.textlength(state, font=badge_font) + 26
        draw.rounded_rectangle((left, top, right, bottom), radius=26, outline=MUTED, width=3)
        draw.text((left + 26, 158), state, font=badge_font, fill=MUTED, anchor="lm")
    if data.recorded:  # a recorded Space says so on its card, as on its page
        rec = _("REC")
        rec_left = right + 18
        rec_right = rec_left + 52 + draw.textlength(rec, font=badge_font) + 26
        draw.rounded_rectangle((rec_left, top, rec_right, bottom), radius=26, fill=WHITE)
        draw.ellipse((rec_left + 20, 152, rec_left + 32, 164), fill=LIVE)
        draw.text((rec_left + 44, 158), rec, font=badge_font, fill=LIVE, anchor="lm")

    # Title, up to three lines.
    title_font = _font(64)
    y = 222
    for line in _wrap(draw, data.title, title_font, WIDTH - 144, 3):
        draw.text((72, y), line, font=title_font, fill=WHITE)
        y += 78

    # Host, bottom left.
    size = 88
    avatar = _avatar(data, size)
    image.paste(avatar, (72, HEIGHT - 56 - size), avatar)
    host_font = _font(38, bold=False)
    host = _wrap(draw, _("Hosted by %(name)s") % {"name": data.host}, host_font, WIDTH - 264, 1)
    draw.text(
        (72 + size + 26, HEIGHT - 56 - size // 2), host[0], font=host_font, fill=MUTED, anchor="lm"
    )

    # What is drawn, also as PNG text chunks (image viewers show them; tests read them).
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Title", data.title)
    info.add_itxt("Author", data.host)
    info.add_itxt("Description", data.state_text() + (" · " + _("REC") if data.recorded else ""))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True, pnginfo=info)
    return out.getvalue()
