#!/usr/bin/env bash
# Install a Debian package the tests need when its command is missing:
#   scripts/ensure-debian-package.sh <command> <package>
# `make test` uses it for Chromium (Playwright drives /usr/bin/chromium; it never downloads a browser of its own)
# and Caddy (the custom-domain TLS test runs its own `caddy run` on loopback; the package's service is not needed).
# Without root or sudo it says what to install: a failure in CI (CI=true), a skip elsewhere.
set -euo pipefail
command_name="$1"
package="$2"
if command -v "$command_name" >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "$command_name is missing and this user cannot install it: apt-get install $package" >&2
    [ "${CI:-}" = "true" ] && exit 1 || exit 0
  fi
fi
echo "Installing $package from Debian's packages..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$package" >/dev/null
command -v "$command_name"
