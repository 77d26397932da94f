"""The fast broadcast path checks the installed daphne, autobahn and Twisted against the versions
it was read from, and switches itself off (saying so) on others or by SPACES_FAST_BROADCAST. The
path itself runs against a real daphne in tests/rooms/test_fast_broadcast.py."""

import logging

import pytest

from spaces_project import daphne_compat


@pytest.fixture(autouse=True)
def _fresh_checks():
    daphne_compat.compatible.cache_clear()
    daphne_compat._enabled.cache_clear()
    yield
    daphne_compat.compatible.cache_clear()
    daphne_compat._enabled.cache_clear()


def test_the_pinned_versions_are_the_installed_ones_and_requirements_pin_them(settings):
    from django.conf import settings as django_settings

    assert daphne_compat.installed_versions() == daphne_compat.PINNED
    assert daphne_compat.enabled()
    requirements = (django_settings.BASE_DIR / "requirements.txt").read_text().lower()
    for name, version in daphne_compat.PINNED.items():
        assert f"{name.lower()}=={version}" in requirements


def test_other_versions_switch_the_fast_path_off_with_a_log_line(monkeypatch, caplog):
    found = {**daphne_compat.PINNED, "autobahn": "99.0.0"}
    monkeypatch.setattr(daphne_compat, "installed_versions", lambda: found)
    with caplog.at_level(logging.WARNING, logger="spaces_project.daphne_compat"):
        assert not daphne_compat.enabled()
    assert "Fast broadcast is off" in caplog.text and "99.0.0" in caplog.text


def test_the_setting_switches_it_off(settings):
    settings.SPACES_FAST_BROADCAST = False
    assert not daphne_compat.enabled()
    settings.SPACES_FAST_BROADCAST = True
    assert daphne_compat.enabled()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_frames_carry_the_length_in_the_shortest_form(size):
    frame = daphne_compat.text_frame("a" * size)
    header = {126: 4, 127: 10}.get(frame[1] & 0x7F, 2)
    assert frame[0] == 0x81 and len(frame) == header + size
    assert header == (2 if size <= 125 else 4 if size <= 0xFFFF else 10)
