"""Median latency of onnxruntime and OpenVINO on one model, for `cargo xtask bench`.

Usage: bench_ref.py ENGINE MODEL.onnx THREADS ITERATIONS
ENGINE is `onnxruntime`, `openvino` (its default precision: bf16 on CPUs with AVX512_BF16/AMX)
or `openvino_f32` (INFERENCE_PRECISION_HINT f32, the precision we and onnxruntime compute in). Inputs are seeded random f32 in the model's static shape.
Prints one JSON line: {"engine", "threads", "median_ms", "min_ms", "runs"}.
"""
import json
import sys
import time

import numpy as np


def inputs_for(shapes):
    rng = np.random.default_rng(0)
    return [rng.random(s, dtype=np.float32) for s in shapes]


def run_ort(path, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    inits = set()
    ins = [i for i in sess.get_inputs() if i.name not in inits]
    feeds = dict(zip([i.name for i in ins], inputs_for([[d if isinstance(d, int) else 1 for d in i.shape] for i in ins])))
    return lambda: sess.run(None, feeds)


def run_ov(path, threads, f32=False):
    import openvino as ov

    core = ov.Core()
    cfg = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
    if f32:
        cfg["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = core.compile_model(core.read_model(path), "CPU", cfg)
    req = compiled.create_infer_request()
    shapes = [[d if d > 0 else 1 for d in i.get_partial_shape().get_min_shape()] for i in compiled.inputs]
    feeds = inputs_for(shapes)
    return lambda: req.infer(feeds)


def main():
    engine, path, threads, iters = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if engine == "onnxruntime":
        fn = run_ort(path, threads)
    else:
        fn = run_ov(path, threads, f32=engine == "openvino_f32")
    fn()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    print(json.dumps({"engine": engine, "threads": threads, "median_ms": times[len(times) // 2],
                      "min_ms": times[0], "runs": iters}))


if __name__ == "__main__":
    main()
