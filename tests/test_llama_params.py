"""llama.cpp's extra buffer types (the AMX crash workaround), ``ossrag doctor``'s real model check,
and the ``ossrag llama-server`` launcher."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from fixtures_llm import free_port, smollm2_path, wait_for_models  # noqa: F401  (fixture)
from ossrag.errors import ConfigError
from ossrag.llms import llama_params

AMX = frozenset({"fpu", "avx512f", "amx_bf16", "amx_tile", "amx_int8"})
NO_AMX = frozenset({"fpu", "avx2", "avx512f", "avx512_bf16"})


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 amx_tile amx_int8\nbogomips\t: 1\n")
    assert llama_params.cpu_flags(str(info)) == {"fpu", "sse2", "amx_tile", "amx_int8"}
    assert llama_params.has_amx(llama_params.cpu_flags(str(info)))
    assert llama_params.cpu_flags(str(tmp_path / "missing")) == frozenset()


@pytest.mark.parametrize(
    ("env", "flags", "expected"),
    [
        ({}, AMX, False),  # auto: off where the AMX repack crashes
        ({}, NO_AMX, True),  # auto: on elsewhere (measured to help Q4_K models)
        ({"OSSRAG_LLAMA_EXTRA_BUFTS": "auto"}, AMX, False),
        ({"OSSRAG_LLAMA_EXTRA_BUFTS": "on"}, AMX, True),  # forced on
        ({"OSSRAG_LLAMA_EXTRA_BUFTS": "OFF"}, NO_AMX, False),  # forced off
        ({"OSSRAG_LLAMA_EXTRA_BUFTS": "0"}, NO_AMX, False),
    ],
)
def test_decision(env: dict[str, str], flags: frozenset[str], expected: bool) -> None:
    decision = llama_params.decide(env, flags)
    assert decision.extra_bufts is expected
    assert decision.reason


def test_a_bad_setting_says_what_is_valid() -> None:
    with pytest.raises(ConfigError, match="auto, on or off"):
        llama_params.decide({"OSSRAG_LLAMA_EXTRA_BUFTS": "maybe"}, NO_AMX)


class _OldParams:
    _fields_ = (("n_gpu_layers", int),)  # an old llama-cpp-python: no use_extra_bufts


def test_an_old_llama_cpp_python_is_left_alone() -> None:
    class Old:
        llama_model_params = _OldParams
        llama_model_default_params = staticmethod(lambda: "untouched")

    fake = type("pkg", (), {"llama_cpp": Old})
    decision = llama_params.apply(fake, env={"OSSRAG_LLAMA_EXTRA_BUFTS": "off"})
    assert not decision.applied and "no use_extra_bufts" in decision.reason
    assert Old.llama_model_default_params() == "untouched"


@pytest.mark.llm
@pytest.mark.isolated
def test_the_real_parameters_follow_the_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    low = llama_cpp.llama_cpp
    monkeypatch.setattr(llama_params, "cpu_flags", lambda path="": AMX)  # this CPU "has AMX"
    llama_params.apply(llama_cpp, env={})
    assert low.llama_model_default_params().use_extra_bufts is False
    llama_params.apply(llama_cpp, env={"OSSRAG_LLAMA_EXTRA_BUFTS": "on"})  # re-applied, not stacked
    assert low.llama_model_default_params().use_extra_bufts is True
    assert not hasattr(low.llama_model_default_params.__wrapped__, "_ossrag_extra_bufts")


@pytest.mark.llm
@pytest.mark.isolated
def test_local_model_loads_without_extra_bufts_on_an_amx_cpu(
    monkeypatch: pytest.MonkeyPatch,
    smollm2_path: Path,  # noqa: F811
) -> None:
    from ossrag.llms.local import LocalLLM, clear_model_cache

    llama_cpp = pytest.importorskip("llama_cpp")
    monkeypatch.delenv("OSSRAG_LLAMA_EXTRA_BUFTS", raising=False)
    monkeypatch.setattr(llama_params, "cpu_flags", lambda path="": AMX)
    clear_model_cache()
    llm = LocalLLM("local:smollm2", n_ctx=512, n_threads=1)
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is False
    done = llm.complete([{"role": "user", "content": "Say OK."}], max_tokens=8, temperature=0)
    assert done.text.strip() and done.usage.completion_tokens > 1  # a multi-token decode ran
    clear_model_cache()


# A real SIGSEGV at the point where the AMX bug strikes (llama_decode of a prompt),
# injected through sitecustomize into the child process doctor starts.
CRASH_IN_DECODE = textwrap.dedent("""
    import ctypes, sys
    import llama_cpp.llama_cpp as low
    def crash(*args):
        sys.stderr.write("ggml_backend_amx_mul_mat: simulated crash\\n")
        sys.stderr.flush()
        ctypes.string_at(0)
    low.llama_decode = crash
""")


def _ossrag(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ossrag", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.llm
@pytest.mark.usefixtures("smollm2_path")
def test_doctor_reports_a_crashing_model_with_the_fix(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(CRASH_IN_DECODE)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    proc = _ossrag("--db", str(tmp_path / "x.db"), "doctor", cwd=tmp_path, env=env)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr  # doctor itself survived, and says it failed
    assert "the model crashed (SIGSEGV) during a short generation" in out
    assert "simulated crash" in out  # the child's stderr, so the cause is visible
    assert "OSSRAG_LLAMA_EXTRA_BUFTS=off" in out and "GGML_AMX_INT8=OFF" in out
    assert "all good" not in out


@pytest.mark.llm
@pytest.mark.usefixtures("smollm2_path")
def test_doctor_generates_with_the_real_model(tmp_path: Path) -> None:
    proc = _ossrag("--db", str(tmp_path / "x.db"), "doctor", cwd=tmp_path, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "in-process llama.cpp answered: " in proc.stdout
    assert "extra buffer types" in proc.stdout


@pytest.mark.llm
def test_llama_server_launcher_binds_loopback_and_serves(
    smollm2_path: Path,  # noqa: F811 (the fixture, imported above)
    tmp_path: Path,
) -> None:
    pytest.importorskip("llama_cpp.server")
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "OSSRAG_LLAMA_EXTRA_BUFTS": "off"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ossrag",
                "llama-server",
                "--model",
                str(smollm2_path),
                "--port",
                str(port),
                "--n_ctx",
                "512",
                "--n_threads",
                "1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_for_models(f"http://127.0.0.1:{port}/v1", proc, log)
        body = json.dumps({"messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 4})
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            body.encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            reply = json.loads(resp.read())
        assert reply["choices"][0]["message"]["content"]
        rows = [r.split() for r in Path("/proc/net/tcp").read_text().splitlines()[1:]]
        rows += [r.split() for r in Path("/proc/net/tcp6").read_text().splitlines()[1:]]
        listening = [r[1] for r in rows if r[3] == "0A" and r[1].endswith(f":{port:04X}")]
        assert listening == [f"0100007F:{port:04X}"], listening  # 127.0.0.1 only
    finally:
        proc.terminate()
        proc.wait(timeout=20)
