#!/usr/bin/env bash
# Make sure the headless Chromium that tests/e2e/test_dashboard_browser.py drives
# through Playwright (executable_path=/usr/bin/chromium) is installed. Debian's own
# package is used: Playwright's browser download is never run (no internet in CI).
# Debian/Ubuntu only. Idempotent: does nothing but check when already installed.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: no /usr/bin/chromium and no apt-get; install Chromium by hand" >&2
    exit 1
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "ensure-chromium: installing Chromium needs root, and sudo is not available" >&2
    exit 1
fi

echo "ensure-chromium: installing Debian's chromium package" >&2
# The package lists may be stale or absent in a fresh container: refresh once, then install.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
    || { "${as_root[@]}" apt-get update -qq \
         && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }
test -x /usr/bin/chromium
