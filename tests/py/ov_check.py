"""Runs an IR model on the real OpenVINO runtime and compares it with an ONNX reference output.

Usage: ov_check.py MODEL.xml INPUT.pb|arange EXPECTED.pb RTOL ATOL
"arange" feeds arange(n)/n as f32 in the model input's shape, as the onnx runner does for light models.
Prints one JSON line: {"ok": bool, "max_abs": float, "max_rel": float, "shape": [...], "error": str}
Exit code 0 when the outputs match, 1 otherwise.
"""
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import openvino as ov


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def main():
    xml, inp, exp, rtol, atol = sys.argv[1:6]
    rtol, atol = float(rtol), float(atol)
    try:
        core = ov.Core()
        # OpenVINO computes in bf16 by default on CPUs with AVX512_BF16/AMX; the reference
        # outputs are f32 results, so ask for f32 like the ONNX runner's tolerance assumes.
        compiled = core.compile_model(core.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        if inp == "arange":
            shape = [d if d > 0 else 1 for d in compiled.input(0).get_partial_shape().get_min_shape()]
            n = int(np.prod(shape))
            x = (np.arange(n).reshape(shape) / n).astype(np.float32)
        else:
            x = load_pb(inp)
        got = compiled([x])[compiled.output(0)]
        want = load_pb(exp)
    except Exception as e:  # the harness reports any failure as a non-match
        print(json.dumps({"ok": False, "error": str(e).splitlines()[0] if str(e) else repr(e)}))
        return 1
    if got.shape != want.shape:
        print(json.dumps({"ok": False, "error": f"shape {got.shape} != {want.shape}"}))
        return 1
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    ok = bool(np.all(diff <= atol + rtol * np.abs(want)))
    rel = float(np.max(diff / np.maximum(np.abs(want), 1e-30)))
    print(json.dumps({"ok": ok, "max_abs": float(diff.max()), "max_rel": rel, "shape": list(got.shape)}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
