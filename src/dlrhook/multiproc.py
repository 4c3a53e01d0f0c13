"""The folder prometheus_client's multiprocess mode shares between processes.

prometheus_client decides at import time whether it writes metric values to per-process
files in ``PROMETHEUS_MULTIPROC_DIR``; a process that imports it before the variable is set
keeps in-memory values that ``/metrics`` in another gunicorn worker cannot see. So this
module never imports prometheus_client at top level, and the web's start (``dlrhook web``,
``dlrhook.webhook.gunicorn_conf``) calls :func:`prepare` before anything imports ``dlrhook.metrics``.

The variable is prometheus_client's own, read from the environment by it, which is why it
is read here and not in ``dlrhook.settings``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("dlrhook.metrics")

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_PREFIX = "dlrhook-metrics-"
# prometheus_client names its files <type>[_<gauge mode>]_<pid>.db
#: The folder this process made in :func:`prepare`, the only one it may remove.
_made: Path | None = None
_FILE_PID = re.compile(r"_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def prepare() -> Path:
    """Make sure ``PROMETHEUS_MULTIPROC_DIR`` names an existing folder, and clear stale files.

    Unset: a fresh private folder is made and the variable set, so this process and its
    children (gunicorn's workers) share it. Set: the folder is created if missing. Files left
    by processes that no longer run (an earlier start) are removed, so counters start from
    zero with the new process tree; files of live processes (a worker or poller sharing the
    folder on this machine) are kept. Returns the folder.
    """
    value = os.environ.get(VARIABLE)
    if value:
        folder = Path(value)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix=_PREFIX))
        os.environ[VARIABLE] = str(folder)
        global _made
        _made = folder
    removed = 0
    for path in folder.glob("*.db"):
        match = _FILE_PID.search(path.name)
        if match and _alive(int(match.group(1))):
            continue
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    if removed:
        log.info("removed %d stale metrics files from %s", removed, folder)
    return folder


def process_dead(pid: int) -> None:
    """gunicorn's ``child_exit``: drop a dead worker's live gauges. Never raises."""
    if not os.environ.get(VARIABLE):
        return
    try:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
    except Exception:  # metrics must not disturb the arbiter
        log.warning("could not mark metrics of process %d dead", pid, exc_info=True)


def remove_own_folder() -> None:
    """Remove the folder :func:`prepare` made in this process, if it made one.

    Never one set by the user or inherited from a parent (``dlrhook local`` shares its folder
    with web, worker and poller, and removes it itself once they all stopped)."""
    if _made is not None:
        shutil.rmtree(_made, ignore_errors=True)


def forget_own_folder() -> None:
    """Forget the folder :func:`prepare` made, without removing it: :func:`remove_own_folder`
    then removes nothing, as in a process that never made one (for tests)."""
    global _made
    _made = None
