#!/usr/bin/env python3
"""Draw the app icons (favicon, home-screen and maskable icons) with Pillow.

Run from the project root: `.venv/bin/python scripts/make-icons.py`. The PNG/ICO files it writes
under static/ are committed; rerun it only when the mark changes.
"""

from pathlib import Path

from PIL import Image, ImageDraw

INK = (29, 27, 58)  # --ink, the header colour
ACCENT = (108, 76, 245)  # --accent
LIVE = (224, 36, 94)  # --live
STATIC = Path(__file__).resolve().parent.parent / "static"


def mark(size: int, *, padding: float, rounded: bool) -> Image.Image:
    """The brand mark (a white dot in a violet ring on a pink disc) on the dark background."""
    scale = 4  # draw large, then downsample for smooth edges
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if rounded:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 5, fill=INK)
    else:  # maskable: the platform cuts its own shape, so fill every pixel
        draw.rectangle((0, 0, big, big), fill=INK)
    centre = big / 2
    for fraction, colour in ((1.0, LIVE), (0.55, ACCENT), (0.2, (255, 255, 255))):
        radius = (big / 2 - big * padding) * fraction
        draw.ellipse(
            (centre - radius, centre - radius, centre + radius, centre + radius), fill=colour
        )
    return image.resize((size, size), Image.LANCZOS)


def main() -> None:
    icons = STATIC / "icons"
    icons.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        mark(size, padding=0.12, rounded=True).save(icons / f"icon-{size}.png", optimize=True)
    # Maskable icons keep their content inside the central 80% "safe zone".
    mark(512, padding=0.22, rounded=False).save(icons / "icon-maskable-512.png", optimize=True)
    mark(180, padding=0.12, rounded=False).convert("RGB").save(
        icons / "apple-touch-icon.png", optimize=True
    )
    mark(64, padding=0.04, rounded=True).save(
        STATIC / "favicon.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64)]
    )
    print("icons written to", icons)


if __name__ == "__main__":
    main()
