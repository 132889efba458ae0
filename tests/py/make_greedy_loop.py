"""Writes tests/models/greedy_decode_loop.onnx: a greedy decoding loop exported by onnxscript.

Usage: make_greedy_loop.py OUT.onnx   (needs `pip install onnxscript==0.7.2` beside the pinned
onnx; the committed model was written by this script, so tests do not need onnxscript)

The Python `while` loop below becomes an ONNX Loop-with-condition the way onnxscript exports it:
the trip count is empty, the condition is loop-carried, the generated tokens grow by one each
iteration (a carried value whose shape changes), the weights are outer-scope initializers, and
the loop stops early when the end token is produced or `max_len` steps have run.
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from onnxscript import FLOAT, INT64, opset18 as op
from onnxscript import script

H, V = 16, 12


@script()
def greedy_decode(
    h0: FLOAT[1, 16], emb: FLOAT[12, 16], w: FLOAT[16, 16], out_w: FLOAT[16, 12], max_len: INT64
) -> (INT64["N"], FLOAT):
    h = h0
    tokens = op.Constant(value_ints=[-1])
    score = op.Constant(value_float=0.0)
    running = op.Cast(op.Constant(value_int=1), to=9)
    i = op.Constant(value_int=0)
    while running:
        logits = op.MatMul(h, out_w)
        tok = op.ArgMax(logits, axis=1, keepdims=0)
        score = score + op.ReduceMax(op.LogSoftmax(logits, axis=1), keepdims=0)
        tokens = op.Concat(tokens, tok, axis=0)
        h = op.Tanh(op.MatMul(h, w) + op.Gather(emb, tok, axis=0))
        i = i + 1
        # Token 4 ends the sequence.
        running = op.And(op.Less(i, max_len), op.Not(op.Equal(op.Squeeze(tok), 4)))
    return tokens, score


def main(path):
    m = greedy_decode.to_model_proto()
    rng = np.random.default_rng(7)
    weights = {
        "emb": rng.standard_normal((V, H)).astype(np.float32),
        "w": (rng.standard_normal((H, H)) / 4).astype(np.float32),
        "out_w": rng.standard_normal((H, V)).astype(np.float32),
    }
    g = m.graph
    keep = [i for i in g.input if i.name not in weights]
    del g.input[:]
    g.input.extend(keep)
    g.initializer.extend(numpy_helper.from_array(a, n) for n, a in weights.items())
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)


if __name__ == "__main__":
    main(sys.argv[1])
