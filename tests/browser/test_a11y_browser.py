"""Automated accessibility check (axe-core, vendored in static/vendor/) in Chromium: no serious
or critical violation on the pages everyone meets first, in English and in French."""

import pytest
from django.conf import settings

from tests.factories import RoomFactory, UserFactory

AXE = next((settings.BASE_DIR / "static" / "vendor").glob("axe-core-*/axe.min.js"))


def serious_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
        }"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
        for v in violations
        if v["impact"] in {"serious", "critical"}
    ]


@pytest.mark.parametrize(
    "path", ["/", "/accounts/login/", "/accounts/signup/", "/no-such-page/", "public"]
)
@pytest.mark.parametrize("language", ["en", "fr"])
def test_first_pages_have_no_serious_accessibility_violation(new_page, path, language):
    page = new_page(None)
    page.set_extra_http_headers({"Accept-Language": language})
    room = RoomFactory(title="An accessible Space")
    page.goto(f"/s/{room.slug}/" if path == "public" else path)
    assert page.locator("html").get_attribute("lang") == language
    assert serious_violations(page) == []


def test_signed_in_pages_have_no_serious_accessibility_violation(signed_in_page):
    person = UserFactory()
    room = RoomFactory(host=person, title="Mine")
    paths = ["/", "/my-spaces/", "/profile/", "/rooms/new/", f"/rooms/{room.slug}/"]
    for path in [*paths, f"/s/{room.slug}/embed/"]:
        page = signed_in_page(person, path)
        assert serious_violations(page) == [], path
        page.context.close()
