"""The live room fits a phone: at 390×844 no control of any role overflows the screen, wraps
into a circle, or wraps a name around an avatar (element boxes, not pixels). With
SPACES_SCREENSHOTS=<dir> (scripts/screenshots.py) it also saves each role's page at phone and
desktop size."""

import os
from pathlib import Path

from playwright.sync_api import expect

from rooms import posts
from tests.factories import ParticipantFactory, RoomFactory, UserFactory

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

# Boxes of the controls on the page that break the layout rules, as readable lines.
BROKEN_BOXES = """(width) => {
  const problems = [];
  const label = (node) =>
    `${node.dataset.testid || node.className} "${node.textContent.trim().slice(0, 30)}"`;
  const visible = (node) => {
    const r = node.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  // How many lines the text of `node` takes: distinct tops of its text boxes.
  const lines = (node) => {
    const tops = new Set();
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(walker.currentNode);
      for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
    }
    return tops.size;
  };
  const page = document.documentElement.scrollWidth;
  if (page > width) problems.push(`page is ${page}px wide`);
  const inApp = (selector) => [...document.querySelectorAll(selector)].filter(visible);
  for (const node of inApp(".room-live button, .room-live a, .room-live input")) {
    const r = node.getBoundingClientRect();
    if (r.left < -0.5 || r.right > width + 0.5) {
      problems.push(`${label(node)} overflows: ${r.left}..${r.right}`);
    }
  }
  for (const node of inApp(".room-live .button")) {
    const r = node.getBoundingClientRect();
    if (node.textContent.trim().length > 2 && r.width < r.height * 1.2) {
      problems.push(`${label(node)} is a circle: ${r.width}x${r.height}`);
    }
    if (lines(node) > 1) problems.push(`${label(node)} wraps`);
  }
  for (const node of inApp(".room-live .bar-label")) {
    if (lines(node) > 2) problems.push(`${label(node)} wraps past two lines`);
  }
  const oneLine = ".room-live .tile .name, .room-live .tile .role, .room-live .link-action, "
    + ".room-live .hands .name, .room-live .menu-list .button";
  for (const node of inApp(oneLine)) {
    if (lines(node) > 1) problems.push(`${label(node)} wraps`);
  }
  for (const tile of inApp(".room-live .tile")) {
    const name = tile.querySelector(".name").getBoundingClientRect();
    const face = tile.querySelector(".avatar").getBoundingClientRect();
    if (name.top < face.bottom - 0.5) problems.push(`${label(tile)}: name beside the avatar`);
  }
  return problems;
}"""


def check_fits(page, width, what):
    problems = page.evaluate(BROKEN_BOXES, width)
    assert not problems, f"{what}: {problems}"


def test_every_role_fits_a_phone_screen(signed_in_page, new_page):
    host_user = UserFactory(profile="Alexandria Montgomery-Wellington")
    room = RoomFactory(host=host_user, title="Night shift: jazz, tea and questions")
    ParticipantFactory(room=room, role="cohost", user__profile="Cora Cohost")
    speaker = ParticipantFactory(
        room=room, role="speaker", user__profile="Bartholomew Speakerson"
    ).user
    listener = ParticipantFactory(room=room, user__profile="Lin").user
    for name in ("Maximilian Longlistener", "Ana", "Joe Bloggs", "Priya"):
        ParticipantFactory(room=room, user__profile=name)
    pinned = posts.post_create(
        room=room, author=speaker, text="Welcome! Requests go in the posts. " * 3
    )
    posts.post_pin(room=room, post_id=pinned.pk, pinned=True, actor=host_user)
    posts.post_create(room=room, author=listener, text="Can you play Blue in Green?")

    pages = {
        "host": signed_in_page(host_user, f"/rooms/{room.slug}/"),
        "speaker": signed_in_page(speaker, f"/rooms/{room.slug}/"),
        "listener": signed_in_page(listener, f"/rooms/{room.slug}/"),
        "guest": new_page(f"/s/{room.slug}/"),
    }
    # The listener has pressed Listen; the guest has not yet (their page shows the button).
    listening = pages["listener"]
    listening.get_by_test_id("listen").click()
    expect(listening.locator("[data-room-app]")).to_have_attribute("data-audio", "connected")
    for role, page in pages.items():
        expect(page.get_by_test_id("action-bar")).to_be_visible()
        expect(page.locator(".room-live [data-testid=stage] li")).to_have_count(3)
        check_fits(page, PHONE["width"], role)
    host = pages["host"]
    # Lin pressed Listen; the guest has only opened the page.
    expect(host.locator("#room-app [data-testid=listener-count]")).to_have_text("1 listening")
    expect(host.locator(".room-live [data-testid=audience] li")).to_have_count(1)  # Lin's page
    # A person's menu opens inside the screen with one line per action.
    tile = host.locator(f'.room-live [data-testid=stage] li[data-user="{speaker.pk}"]')
    tile.get_by_test_id("person-menu").click()
    expect(tile.get_by_test_id("remove")).to_be_visible()
    check_fits(host, PHONE["width"], "host with a menu open")
    host.keyboard.press("Escape")
    host.get_by_test_id("react").click()
    expect(host.get_by_test_id("reaction-bar")).to_be_visible()
    check_fits(host, PHONE["width"], "host with reactions open")
    host.keyboard.press("Escape")

    folder = os.environ.get("SPACES_SCREENSHOTS")
    if folder:
        save_screenshots(pages, Path(folder))


def save_screenshots(pages, folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        for role, page in pages.items():
            page.set_viewport_size(viewport)
            page.wait_for_timeout(300)
            page.evaluate("window.scrollTo(0, 0); document.activeElement?.blur()")
            page.mouse.move(1, 1)
            page.screenshot(path=str(folder / f"{role}-{size}.png"))
