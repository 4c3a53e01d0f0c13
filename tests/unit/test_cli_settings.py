"""The commands' settings beside ``make run``: without REDIS_URL they reach the embedded server
with the password it keeps in the checkout's ``.dlrhook/redis`` (so that `dlrhook handlers list`
in another terminal works), and never invent one."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from dlrhook import defaults
from dlrhook.cli.common import settings_or_exit


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    return tmp_path


def test_without_redis_url_a_command_uses_the_embedded_servers_password(checkout: Path) -> None:
    folder = checkout / defaults.EMBEDDED_DATA_DIR
    folder.mkdir(parents=True)
    (folder / "password").write_text("p@ss/word+1\n")
    settings = settings_or_exit()
    url = urlsplit(settings.redis_url)
    assert settings.redis_is_embedded
    assert (url.hostname, url.port, unquote(url.password or "")) == (
        "127.0.0.1",
        defaults.EMBEDDED_REDIS_PORT,
        "p@ss/word+1",
    )
    assert "p@ss/word+1" in settings.secrets  # blanked in every log line


def test_a_redis_urls_password_is_a_secret(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "rediss://:managed-plan-pw@redis.example:6380/0")
    assert "managed-plan-pw" in settings_or_exit().secrets


def test_without_a_password_file_the_default_url_stays_and_none_is_written(checkout: Path) -> None:
    assert settings_or_exit().redis_url == defaults.EMBEDDED_REDIS_URL
    assert not (checkout / defaults.EMBEDDED_DATA_DIR).exists()


def test_a_redis_url_set_is_used_as_it_is(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = checkout / defaults.EMBEDDED_DATA_DIR
    folder.mkdir(parents=True)
    (folder / "password").write_text("unused\n")
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:6379/2")
    assert settings_or_exit().redis_url == "redis://elsewhere:6379/2"
