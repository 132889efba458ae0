"""Writes a dynamic-shape model and onnxruntime's results on several input shapes.

Usage: dynamic_cases.py encoder|decoder OUTDIR

encoder: a BERT-style encoder (xtask/py/make_bert.py --dynamic: 2 layers, hidden 64, 4 heads)
  with symbolic batch and sequence dims, run at (batch, seq) = (1, 5), (2, 16), (3, 9), (1, 33).
decoder: one causal self-attention block with a KV cache: inputs x[batch, seq, 64] and
  past_key/past_value[batch, 4, past, 16]; outputs y and present_key/present_value with
  past + seq positions (a causal mask built from the shapes, as exporters emit it). The cases
  are one growing sequence: a 3-token prompt after 2 cached positions, then single tokens, each
  step fed the previous step's presents, at batch 2; then a batch-1 sequence.

OUTDIR gets model.onnx and, per case i, case{i}.txt (one line per tensor:
`in|out INDEX f32 DIMS` with DIMS comma-separated) and raw little-endian f32 files
case{i}_in{k}.bin / case{i}_out{k}.bin.
"""
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

H, NH = 64, 4
HD = H // NH


def decoder_model(path):
    rng = np.random.default_rng(1)
    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def n(op, ins, out, **kw):
        nodes.append(helper.make_node(op, ins, [out], name=out, **kw))
        return out

    for t in "qkvo":
        const(f"w{t}", (rng.standard_normal((H, H)) * 0.1).astype(np.float32))
        const(f"b{t}", (rng.standard_normal(H) * 0.1).astype(np.float32))
    const("heads_shape", np.array([0, 0, NH, HD], dtype=np.int64))
    const("merge_shape", np.array([0, 0, H], dtype=np.int64))
    const("scale", np.array(np.sqrt(HD), dtype=np.float32))
    const("zero", np.array(0, dtype=np.int64))
    const("one", np.array(1, dtype=np.int64))
    const("i1", np.array([1], dtype=np.int64))
    const("i2", np.array([2], dtype=np.int64))
    const("neg", np.array(-1e9, dtype=np.float32))
    const("fzero", np.array(0.0, dtype=np.float32))

    def heads(t, src):
        y = n("Add", [n("MatMul", [src, f"w{t}"], f"{t}_mm"), f"b{t}"], f"{t}_lin")
        y = n("Reshape", [y, "heads_shape"], f"{t}_split")
        return n("Transpose", [y], f"{t}_heads", perm=[0, 2, 1, 3])

    q = heads("q", "x")
    k_new = heads("k", "x")
    v_new = heads("v", "x")
    k = n("Concat", ["past_key", k_new], "present_key", axis=2)
    v = n("Concat", ["past_value", v_new], "present_value", axis=2)
    # Positions: queries are past..past+seq, keys 0..past+seq.
    past = n("Gather", [n("Shape", ["past_key"], "past_shape"), "i2"], "past_len_1")
    seq = n("Gather", [n("Shape", ["x"], "x_shape"), "i1"], "seq_len_1")
    past_s = n("ReduceSum", [past], "past_len", keepdims=0)
    seq_s = n("ReduceSum", [seq], "seq_len", keepdims=0)
    total = n("Add", [past_s, seq_s], "total_len")
    qpos = n("Range", [past_s, total, "one"], "q_pos")
    kpos = n("Range", ["zero", total, "one"], "k_pos")
    qcol = n("Unsqueeze", [qpos, "i1"], "q_col")
    allowed = n("LessOrEqual", [kpos, qcol], "allowed")
    mask = n("Where", [allowed, "fzero", "neg"], "mask")
    s = n("MatMul", [q, n("Transpose", [k], "k_t", perm=[0, 1, 3, 2])], "scores")
    s = n("Add", [n("Div", [s, "scale"], "scaled"), mask], "masked")
    p = n("Softmax", [s], "probs", axis=-1)
    c = n("Transpose", [n("MatMul", [p, v], "ctx")], "ctx_t", perm=[0, 2, 1, 3])
    c = n("Reshape", [c, "merge_shape"], "ctx_merge")
    y = n("Add", [n("Add", [n("MatMul", [c, "wo"], "o_mm"), "bo"], "o_lin"), "x"], "y")
    f = TensorProto.FLOAT
    g = helper.make_graph(
        nodes,
        "decoder",
        [
            helper.make_tensor_value_info("x", f, ["batch", "seq", H]),
            helper.make_tensor_value_info("past_key", f, ["batch", NH, "past", HD]),
            helper.make_tensor_value_info("past_value", f, ["batch", NH, "past", HD]),
        ],
        [
            helper.make_tensor_value_info(y, f, ["batch", "seq", H]),
            helper.make_tensor_value_info("present_key", f, ["batch", NH, "total", HD]),
            helper.make_tensor_value_info("present_value", f, ["batch", NH, "total", HD]),
        ],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def write_case(out, i, inputs, outputs):
    lines = []
    for kind, arrs in (("in", inputs), ("out", outputs)):
        for k, a in enumerate(arrs):
            a = np.ascontiguousarray(a, dtype=np.float32)
            a.tofile(os.path.join(out, f"case{i}_{kind}{k}.bin"))
            lines.append(f"{kind} {k} f32 {','.join(str(d) for d in a.shape)}")
    with open(os.path.join(out, f"case{i}.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


def main():
    kind, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    model = os.path.join(out, "model.onnx")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
    if kind == "encoder":
        subprocess.run(
            [sys.executable, os.path.join(root, "xtask/py/make_bert.py"), model, "--dynamic", "--layers", "2",
             "--hidden", str(H), "--heads", str(NH)],
            check=True,
        )
    else:
        decoder_model(model)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    rng = np.random.default_rng(0)
    cases = []
    if kind == "encoder":
        for b, s in [(1, 5), (2, 16), (3, 9), (1, 33)]:
            cases.append([rng.standard_normal((b, s, H)).astype(np.float32)])
        for i, ins in enumerate(cases):
            write_case(out, i, ins, sess.run(None, dict(zip(names, ins))))
    else:
        i = 0
        for batch, prompt, past, steps in [(2, 3, 2, 4), (1, 1, 1, 3)]:
            pk = rng.standard_normal((batch, NH, past, HD)).astype(np.float32)
            pv = rng.standard_normal((batch, NH, past, HD)).astype(np.float32)
            seq = prompt
            for _ in range(steps):
                x = rng.standard_normal((batch, seq, H)).astype(np.float32)
                ins = [x, pk, pv]
                outs = sess.run(None, dict(zip(names, ins)))
                write_case(out, i, ins, outs)
                i += 1
                pk, pv, seq = outs[1], outs[2], 1


if __name__ == "__main__":
    main()
