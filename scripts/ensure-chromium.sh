#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests when it is missing (Playwright drives /usr/bin/chromium;
# it never downloads a browser of its own).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "chromium is missing and this user cannot install it: apt-get install chromium" >&2
    [ "${CI:-}" = "true" ] && exit 1 || exit 0
  fi
fi
echo "Installing Chromium from Debian's packages..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium
