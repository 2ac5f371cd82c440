"""Every shared flag the parser accepts reaches the Settings the command runs with.

``--translate`` was once parsed and then dropped on the way to ``Settings``; the
flag tables in :mod:`ossrag.config` are data, so this walks all of them.
"""

from __future__ import annotations

import os

import pytest

from ossrag.cli.parser import build_parser, settings_from
from ossrag.config import MODEL_FLAGS, TARGET_FLAGS, Settings

#: A valid value for each setting, different from its default.
VALUES = {
    "uri": ("./elsewhere.db", "./elsewhere.db"),
    "token": ("user:pw", "user:pw"),
    "consistency": ("strong", "Strong"),
    "kb": ("handbook", "handbook"),
    "embedder": ("minilm-onnx", "minilm-onnx"),
    "embed_base_url": ("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"),
    "model": ("ollama:gpt-oss:20b", "ollama:gpt-oss:20b"),
    "base_url": ("http://127.0.0.1:8/v1", "http://127.0.0.1:8/v1"),
    "timeout": ("7", 7.0),
    "max_time": ("9", 9.0),
    "translate": ("off", "off"),
}


@pytest.mark.parametrize(
    "flags,dest", [(flags, dest) for flags, dest, _ in (*TARGET_FLAGS, *MODEL_FLAGS)]
)
def test_shared_flag_reaches_settings(
    flags: tuple[str, ...], dest: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("OSSRAG_"):
            monkeypatch.delenv(name)
    assert dest in VALUES, f"add a test value for the new flag {flags[-1]} ({dest})"
    given, want = VALUES[dest]
    assert getattr(Settings(), dest) != want
    command = ["ask"] if dest in {d for _, d, _ in MODEL_FLAGS} else ["search"]
    args = build_parser().parse_args([*command, flags[-1], given, "a question"])
    settings = settings_from(args)
    assert getattr(settings, dest) == want
    assert settings.sources.get(dest) == "command line"
