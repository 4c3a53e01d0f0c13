#!/usr/bin/env bash
# The console's screenshots in this folder, made from the browser test's own setup: the real
# `dlrhook web` (gunicorn), a real worker, Debian's chromium driven by Playwright
# (tests/system/test_console_browser.py saves a picture of each page it visits).
# Run from the repository root: bash docs/console/shoot.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s .venv/bin/.installed chromium
DLRHOOK_CONSOLE_SHOTS="$PWD/docs/console" .venv/bin/pytest -q -p no:cacheprovider \
    tests/system/test_console_browser.py -k operator
ls -l docs/console/*.png
