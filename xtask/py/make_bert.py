"""Builds a BERT-base-sized encoder as ONNX (opset 13, the ops a PyTorch export emits).

Usage: make_bert.py OUT.onnx [--layers 12] [--hidden 768] [--heads 12] [--seq 128] [--batch 1]
        [--dynamic]

The input is the embedding output `hidden` [batch, seq, hidden] (f32); every layer is
self-attention (Q/K/V MatMul + Add, Reshape/Transpose into heads, scaled QK^T, Softmax, context
MatMul), output projection, residual + LayerNorm (decomposed: ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add),
a GELU feed-forward (Erf form) and a second residual + LayerNorm. Weights are seeded random.
With --dynamic, batch and sequence are symbolic dims.
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--dynamic", action="store_true")
    a = ap.parse_args()
    h, nh, ff = a.hidden, a.heads, 4 * a.hidden
    hd = h // nh
    rng = np.random.default_rng(0)
    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def w(name, *shape):
        return const(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    def node(op, ins, name, **attrs):
        nodes.append(helper.make_node(op, ins, [name], name=name, **attrs))
        return name

    const("shape_heads", np.array([0, 0, nh, hd], dtype=np.int64))
    const("shape_merge", np.array([0, 0, h], dtype=np.int64))
    const("scale", np.array(np.sqrt(hd), dtype=np.float32))
    const("two", np.array(2.0, dtype=np.float32))
    const("eps", np.array(1e-12, dtype=np.float32))
    const("sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))
    const("one", np.array(1.0, dtype=np.float32))
    const("half", np.array(0.5, dtype=np.float32))

    def layer_norm(x, p):
        mean = node("ReduceMean", [x], f"{p}/mean", axes=[-1])
        d = node("Sub", [x, mean], f"{p}/sub")
        var = node("ReduceMean", [node("Pow", [d, "two"], f"{p}/pow")], f"{p}/var", axes=[-1])
        std = node("Sqrt", [node("Add", [var, "eps"], f"{p}/add_eps")], f"{p}/std")
        n = node("Div", [d, std], f"{p}/norm")
        g = const(f"{p}/gamma", np.ones(h, dtype=np.float32))
        b = const(f"{p}/beta", np.zeros(h, dtype=np.float32))
        return node("Add", [node("Mul", [n, g], f"{p}/scale"), b], f"{p}/out")

    def linear(x, p, k, n):
        y = node("MatMul", [x, w(f"{p}/weight", k, n)], f"{p}/matmul")
        return node("Add", [y, w(f"{p}/bias", n)], f"{p}/add")

    x = "hidden"
    for i in range(a.layers):
        p = f"layer{i}"
        heads = {}
        for t in ("q", "k", "v"):
            y = linear(x, f"{p}/{t}", h, h)
            y = node("Reshape", [y, "shape_heads"], f"{p}/{t}/split_heads")
            perm = [0, 2, 3, 1] if t == "k" else [0, 2, 1, 3]
            heads[t] = node("Transpose", [y], f"{p}/{t}/transpose", perm=perm)
        s = node("MatMul", [heads["q"], heads["k"]], f"{p}/scores")
        s = node("Div", [s, "scale"], f"{p}/scaled")
        s = node("Softmax", [s], f"{p}/probs", axis=-1)
        c = node("MatMul", [s, heads["v"]], f"{p}/context")
        c = node("Transpose", [c], f"{p}/context/transpose", perm=[0, 2, 1, 3])
        c = node("Reshape", [c, "shape_merge"], f"{p}/context/merge")
        o = linear(c, f"{p}/attn_out", h, h)
        x = layer_norm(node("Add", [o, x], f"{p}/residual1"), f"{p}/ln1")
        f = linear(x, f"{p}/ffn_in", h, ff)
        e = node("Erf", [node("Div", [f, "sqrt2"], f"{p}/gelu/div")], f"{p}/gelu/erf")
        g = node("Mul", [node("Mul", [f, node("Add", [e, "one"], f"{p}/gelu/add")], f"{p}/gelu/mul"), "half"], f"{p}/gelu")
        f = linear(g, f"{p}/ffn_out", ff, h)
        x = layer_norm(node("Add", [f, x], f"{p}/residual2"), f"{p}/ln2")
    nodes.append(helper.make_node("Identity", [x], ["output"], name="output"))

    dims = ["batch", "seq", h] if a.dynamic else [a.batch, a.seq, h]
    graph = helper.make_graph(
        nodes,
        "bert_encoder",
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, dims)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="xtask")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=not a.dynamic)
    onnx.save(model, a.out)


if __name__ == "__main__":
    main()
