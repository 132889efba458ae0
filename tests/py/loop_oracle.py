"""Runs tests/models/greedy_decode_loop.onnx on onnxruntime, and our IR of it on OpenVINO.

Usage: loop_oracle.py MODEL.onnx IR.xml OUTDIR

For each case (an h0 drawn from a fixed seed, a max_len) it writes caseN_h0.bin (raw
little-endian f32, shape 1x16) and one line of OUTDIR/cases.txt:
`max_len ort_tokens ort_score ov_tokens ov_score` (tokens comma-separated). OpenVINO runs with
f32 inference precision so that its argmax decisions are comparable.
"""
import os
import sys

import numpy as np
import onnxruntime as ort
import openvino as ov


def main(model, xml, out):
    sess = ort.InferenceSession(model)
    compiled = ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    rng = np.random.default_rng(3)
    lines = []
    for n, max_len in enumerate([1, 2, 5, 9, 20, 20, 20, 40]):
        h0 = rng.standard_normal((1, 16)).astype(np.float32)
        feeds = {"h0": h0, "max_len": np.array(max_len, dtype=np.int64)}
        tokens, score = sess.run(None, feeds)
        res = compiled(feeds)
        ov_tokens, ov_score = res[0], res[1]
        h0.tofile(os.path.join(out, f"case{n}_h0.bin"))
        fmt = lambda t: ",".join(str(int(x)) for x in np.asarray(t).reshape(-1))
        lines.append(f"{max_len} {fmt(tokens)} {float(score)!r} {fmt(ov_tokens)} {float(ov_score)!r}")
    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
