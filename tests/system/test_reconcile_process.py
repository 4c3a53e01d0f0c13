"""``dlrhook reconcile`` run as a process: what Infobip's logs say is ingested and folded."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import redis as redis_lib

from dlrhook import status
from dlrhook.settings import Settings
from tests.fake_infobip import FakeInfobip, make_log_entry
from tests.statuses import raw_report
from tests.support.pull import API_KEY as KEY
from tests.support.pull import logs_requests, pending


def test_reconcile_ingests_what_the_logs_say_and_the_status_handler_folds_it(
    conn: redis_lib.Redis,
    fake: FakeInfobip,
    account: Callable[..., Settings],
    run_jobs: Callable[[Settings], None],
    process_env: dict[str, str],
) -> None:
    settings = account()
    pending(conn, settings, run_jobs, "m-1", "m-2", "m-3")
    fake.add_logs(
        [
            make_log_entry(raw_report("m-1", "DELIVERED_TO_HANDSET", 8)),
            make_log_entry(raw_report("m-2", "PENDING_ENROUTE", 1)),  # what we know already
        ]
    )  # m-3: Infobip has no log of it

    done = subprocess.run(
        [sys.executable, "-m", "dlrhook.cli", "reconcile", "--older-than", "0"],
        env={**process_env, "INFOBIP_BASE_URL": fake.url, "INFOBIP_API_KEY": KEY},
        capture_output=True,
        text=True,
        timeout=60,
    )
    run_jobs(settings)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "asked": 3,
        "logs": 2,
        "accepted": 1,
        "duplicates": 1,
        "quarantined": 0,
        "requests": 1,
    }
    (request,) = logs_requests(fake)
    assert sorted(request.query["messageId"]) == ["m-1", "m-2", "m-3"]
    assert request.authorized
    record = status.message(conn, "m-1")
    assert record is not None and record["final"] is True
    assert [(h["status"], h["source"]) for h in record["history"]] == [
        ("PENDING_ENROUTE", "push"),
        ("DELIVERED_TO_HANDSET", "logs"),
    ]
    assert record["to"] == "41793026727"
    assert sorted(status.intermediate_ids(conn, 0)) == ["m-2", "m-3"]
    fake.assert_well_behaved()
