"""The distribution: one import name, every module (and template) in the wheel, the public API pinned, and no
shadowing by an application's own ``workers/`` or ``webhook/`` packages."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest
import redis as redis_lib

import dlrhook
from dlrhook.dev.embedded import free_port
from tests.support import ROOT, sample, wait_until

pytestmark = pytest.mark.slow


def test_the_tests_import_the_source_or_under_make_test_wheel_the_installed_wheel() -> None:
    here = Path(dlrhook.__file__).resolve().parent
    if os.environ.get("DLRHOOK_TEST_WHEEL"):
        assert here.is_relative_to(Path(sysconfig.get_paths()["purelib"]).resolve())
    else:
        assert here == ROOT / "src" / "dlrhook"


def test_the_public_api_is_exactly_the_plugin_names() -> None:
    from dlrhook import DeliveryReport, PartialFailure, batch_handler

    assert dlrhook.__all__ == [
        "DeliveryReport",
        "DlrhookError",
        "Error",
        "PartialFailure",
        "Price",
        "Status",
        "batch_handler",
    ]
    assert all(hasattr(dlrhook, name) for name in dlrhook.__all__)
    assert callable(batch_handler) and issubclass(PartialFailure, Exception) and DeliveryReport.__slots__


def test_importing_dlrhook_imports_neither_flask_rq_nor_marshmallow_nor_the_service_halves() -> None:
    code = (
        "import sys, dlrhook; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'rq', 'marshmallow', 'redis') "
        "or m.startswith(('dlrhook.webhook', 'dlrhook.workers', 'dlrhook.pull'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_wheel_installs_one_top_level_package_with_every_module_and_py_typed(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = tmp_path.glob("dlrhook-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"dlrhook"}
    source = ROOT / "src"
    expected = {
        p.relative_to(source).as_posix()
        for p in (source / "dlrhook").rglob("*")
        if p.suffix in (".py", ".lua", ".html")
    }
    assert expected <= set(names), sorted(expected - set(names))
    assert "dlrhook/py.typed" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "dlrhook = dlrhook.cli:main" in text and "log = dlrhook.workers.builtin:log" in text


def test_an_application_with_its_own_workers_and_webhook_packages_does_not_shadow_dlrhook(
    tmp_path: Path, process_env: dict[str, str], conn: redis_lib.Redis
) -> None:
    app = tmp_path / "app"
    for name in ("workers", "webhook"):
        (app / name).mkdir(parents=True)
        (app / name / "__init__.py").write_text(f"raise ImportError('the application {name} package was imported')\n")
        (app / name / "dispatch.py").write_text("raise ImportError('shadowed')\n")
    (app / "myapp").mkdir()
    (app / "myapp" / "__init__.py").write_text("")
    (app / "myapp" / "dlr.py").write_text(
        textwrap.dedent(
            """
            import redis
            from dlrhook import DeliveryReport
            from dlrhook.workers import runtime

            def on_report(report: DeliveryReport) -> None:
                redis.Redis.from_url(runtime.settings().redis_url).rpush("test:app", report.message_id)
            """
        )
    )
    env = {**process_env, "PYTHONPATH": str(app), "DLRHOOK_HANDLERS": "myapp.dlr:on_report"}
    port = free_port()
    dlrhook_bin = str(Path(sys.executable).parent / "dlrhook")
    web = subprocess.Popen(
        [dlrhook_bin, "web"],
        env={**env, "PORT": str(port), "WEB_CONCURRENCY": "1"},
        cwd=app,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def post() -> int:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("POST", "/notify", sample("v3-one-delivered.json"), {"Content-Type": "application/json"})
                return c.getresponse().status
            except OSError:
                return 0

        wait_until(lambda: post() == 200, 30, "dlrhook web to answer from the application's folder")
        worker = subprocess.run(
            [dlrhook_bin, "worker", "--burst"], env=env, cwd=app, capture_output=True, text=True, timeout=60
        )
        assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]
        assert [m.decode() for m in conn.lrange("test:app", 0, -1)] == ["MESSAGE-ID-123-xyz"]
    finally:
        web.terminate()
        out = web.communicate(timeout=30)[0].decode(errors="replace")
    assert "the application" not in out and "shadowed" not in out, out[-2000:]


def test_the_readme_module_map_lists_every_file_of_the_package_line_for_line() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("### Module map", 1)[1].split("```", 2)[1]
    listed = [line.split()[0] for line in block.splitlines() if line.strip()]
    source = ROOT / "src"
    files = sorted(
        p.relative_to(ROOT).as_posix()
        for p in (source / "dlrhook").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert listed == files


def _imports(path: Path) -> set[str]:
    """The dlrhook modules *path* imports at run time (imports under TYPE_CHECKING left out)."""
    import ast

    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dlrhook"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("dlrhook"))
    return found


def test_the_layers_hold_the_http_side_never_imports_dispatch_and_the_core_neither_half() -> None:
    package = ROOT / "src" / "dlrhook"
    halves = ("dlrhook.webhook", "dlrhook.workers", "dlrhook.pull", "dlrhook.cli", "dlrhook.dev")
    shims = {"app.py", "gunicorn_conf.py", "__main__.py"}  # 0.2's paths and `python -m dlrhook`
    broken = []
    for path in sorted(package.rglob("*.py")):
        part = path.relative_to(package).parts
        imported = _imports(path)
        if part[0] == "webhook":
            forbidden: tuple[str, ...] = ("dlrhook.workers", "dlrhook.pull", "dlrhook.cli", "dlrhook.dev")
        elif (len(part) > 1 and part[0] in ("store", "settings", "schemas", "status")) or (
            len(part) == 1 and part[0] not in shims
        ):
            forbidden = halves
        else:
            continue
        broken += [f"{path.relative_to(package)} imports {m}" for m in imported if m.startswith(forbidden)]
    assert broken == []
