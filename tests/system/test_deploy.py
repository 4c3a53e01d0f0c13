"""deploy/: the files name every setting, and start the processes the way the README says.

Docker is not run here; these tests read the files.
"""

from __future__ import annotations

import configparser
import json
import re

import pytest
import yaml

from dlrhook.settings import VARIABLES
from tests.support import ROOT

DEPLOY = ROOT / "deploy"
PROCESSES = ("web", "worker", "poller")


def settings_variables() -> set[str]:
    """Every variable dlrhook.settings reads."""
    return set(VARIABLES)


def test_the_settings_list_the_variables_they_read() -> None:
    assert {"REDIS_URL", "PORT", "DLRHOOK_TOKEN", "DLRHOOK_PULL_PATH", "INFOBIP_API_KEY"} <= settings_variables()


def test_env_example_lists_every_setting_with_a_comment() -> None:
    text = (DEPLOY / "env.example").read_text()
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    assert settings_variables() | {"PROMETHEUS_MULTIPROC_DIR"} == listed
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^#?[A-Z][A-Z0-9_]*=", line):
            assert lines[index - 1].startswith("#"), f"{line} has no explanation above it"


def test_app_json_has_redis_the_three_processes_and_every_setting_described() -> None:
    # At the repository root, where a Deploy-to-Heroku button reads it (beside the Procfile).
    app = json.loads((ROOT / "app.json").read_text())
    assert [a["plan"].split(":")[0] for a in app["addons"]] == ["heroku-redis"]
    assert app["addons"][0]["options"]["maxmemory_policy"] == "noeviction"
    assert set(app["formation"]) == set(PROCESSES)
    # The poller idles without INFOBIP_BASE_URL, which a new app has not: no paid dyno doing
    # nothing. Scaled to 1 (one poller per account, never more) with pull mode.
    assert app["formation"]["poller"]["quantity"] == 0
    assert "repository" not in app or "your-org" not in app["repository"]  # no placeholder
    # REDIS_URL comes from the add-on, PORT from the platform, DATABASE_URL from a Postgres
    # add-on when one is added (DLRHOOK_STATUS_STORE=DATABASE_URL).
    assert set(app["env"]) == settings_variables() - {"REDIS_URL", "PORT", "DATABASE_URL"}
    assert all(entry["description"] for entry in app["env"].values())
    assert app["env"]["DLRHOOK_TOKEN"]["generator"] == "secret"
    assert app["env"]["DLRHOOK_API_TOKEN"]["generator"] == "secret"  # /readyz's full answer, the read API


def test_compose_runs_redis_with_aof_and_the_three_processes_from_one_image() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"
    assert command[command.index("--maxmemory") + 1] == "${REDIS_MAXMEMORY:-1gb}"  # the high-water 503 engages
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert "ports" not in services["redis"]
    assert any(volume.endswith(":/data") for volume in services["redis"]["volumes"])
    for name in PROCESSES:
        assert services[name]["command"] == [name]
        assert services[name]["image"] == "dlrhook:latest"
        assert services[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"


def test_the_dockerfile_runs_dlrhook_as_a_non_root_user() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.MULTILINE)
    users = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["dlrhook"]' in text
    assert 'CMD ["web"]' in text


@pytest.mark.parametrize("process", PROCESSES)
def test_each_systemd_unit_starts_its_process_with_the_environment_file(process: str) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "systemd" / f"dlrhook-{process}.service")
    service = unit["Service"]
    assert service["EnvironmentFile"] == "/etc/dlrhook/env"
    assert service["ExecStart"].endswith(f"/dlrhook {process}")
    assert service["User"] != "root"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_worker_unit_gives_handlers_a_folder_they_may_write() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "systemd" / "dlrhook-worker.service")
    service = unit["Service"]
    assert service["ProtectSystem"] == "strict"  # read-only everywhere else
    assert service["StateDirectory"] == "dlrhook"  # /var/lib/dlrhook, writable by the worker
    assert "#ReadWritePaths=" in (DEPLOY / "systemd" / "dlrhook-worker.service").read_text()
