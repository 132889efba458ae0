"""Writes a chain of MatMuls with seeded random f32 weights as ONNX.

Usage: make_matmul_chain.py N DIM inline|one|per OUT.onnx
`inline` keeps weights in the model file, `one` puts all of them in `weights.bin` beside it,
`per` writes one external file per tensor. Used by the external-data tests and the big-model
RSS measurement (N=16, DIM=4096 is 1 GiB of weights).
"""
import numpy as np, onnx, sys
from onnx import helper, TensorProto, numpy_helper
n, dim, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
out = sys.argv[4]
rng = np.random.default_rng(0)
nodes, inits = [], []
x = "x"
for i in range(n):
    w = (rng.standard_normal((dim, dim), dtype=np.float32) * 0.01)
    inits.append(numpy_helper.from_array(w, f"w{i}"))
    nodes.append(helper.make_node("MatMul", [x, f"w{i}"], [f"y{i}"], name=f"mm{i}"))
    x = f"y{i}"
g = helper.make_graph(nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, dim])],
                      [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, dim])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
if mode == "inline":
    onnx.save(m, out)
else:
    onnx.save(m, out, save_as_external_data=True, all_tensors_to_one_file=mode == "one",
              location="weights.bin" if mode == "one" else None, size_threshold=0)
