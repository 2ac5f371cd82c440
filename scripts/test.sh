#!/usr/bin/env bash
# Install the development extras into .venv and run the whole test suite.
# This is the README's test command; .ci/run calls it verbatim.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch is pinned to the CPU build (plain `torch` would pull a multi-GB CUDA build).
.venv/bin/python -m pip install -q -e '.[dev]'

# Browser tests drive Debian's chromium (never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
        || echo "warning: could not install chromium; browser tests will be skipped" >&2
fi

# Habits first: lint, types and the layer contracts (docs/architecture.md), then the tests.
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/lint-imports --no-cache

# Fail (not skip) when a real component the suite relies on is missing.
export OSSRAG_REQUIRE_SERVER=1 OSSRAG_REQUIRE_LLM=1 OSSRAG_REQUIRE_ST=1
exec .venv/bin/python -m pytest "$@"
