#!/usr/bin/env bash
# Provision a REAL headless browser for the report test (tests/report/test_browser.py): Debian's
# chromium and chromium-driver (the driver matches the browser by construction; nothing is downloaded
# outside Debian's mirror). Idempotent: does nothing when both binaries are there.
#   Needs root and apt-get; otherwise it says so and the browser test skips with the reason.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "provision-browser: not root or no apt-get: install chromium and chromium-driver to run the browser test" >&2
  exit 1
fi
echo "provision-browser: installing chromium and chromium-driver from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
/usr/bin/chromium --version >&2
