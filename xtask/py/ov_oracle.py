"""The real OpenVINO runtime as an oracle for `cargo xtask conformance --oracle openvino`.

Usage: ov_oracle.py CASES.json RESULT.json [--jobs N]

CASES.json is a list of {"key", "dir", "ir_xml" (or null), "timeout"}. For every case this
script
- loads the IR we wrote (`ir_xml`) with `openvino.Core().read_model`, compiles it for CPU and
  checks its outputs on every test data set against the reference (same rule as the Rust
  runner: rtol 1e-3, atol 1e-7, NaN == NaN, exact infinities, exact integers/bools/strings,
  bf16 rtol 2^-6, equal shapes and element types);
- does the same with the original `model.onnx` converted by OpenVINO itself.

Each side (a separate task) gets a status: pass, reject (read/compile failed), error (inference failed), wrong,
bad-shape-or-type, crash, timeout, or none (no IR). Cases run in long-lived worker processes;
a worker that crashes or hangs is replaced and only costs the case it was on.
"""

from __future__ import annotations

import glob
import json
import multiprocessing as mp
import os
import sys
import time
import traceback

RTOL = 1e-3
ATOL = 1e-7


def one_line(s: str, limit: int = 400) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= limit else s[:limit] + "..."


def numbered(folder: str, prefix: str, suffix: str) -> list[str]:
    out = []
    for p in glob.glob(os.path.join(folder, f"{prefix}*{suffix}")):
        n = os.path.basename(p)[len(prefix) : len(os.path.basename(p)) - len(suffix)]
        if n.isdigit():
            out.append((int(n), p))
    return [p for _, p in sorted(out)]


def load_value(path: str, kind: str):
    import onnx
    from onnx import numpy_helper

    with open(path, "rb") as f:
        data = f.read()
    if kind == "optional":
        o = onnx.OptionalProto()
        o.ParseFromString(data)
        v = numpy_helper.to_optional(o)
        if v is None or isinstance(v, (list, dict)):
            raise ValueError("optional value that is empty or not a tensor")
        return v
    if kind in ("sequence", "map"):
        raise ValueError(f"a {kind} value is not a tensor")
    t = onnx.TensorProto()
    t.ParseFromString(data)
    return numpy_helper.to_array(t)


# ml_dtypes name -> (OpenVINO type name, bits per value) for the types numpy has no native form of.
SPECIAL = {
    "bfloat16": ("bf16", 16),
    "float8_e4m3fn": ("f8e4m3", 8),
    "float8_e5m2": ("f8e5m2", 8),
    "float8_e8m0fnu": ("f8e8m0", 8),
    "float4_e2m1fn": ("f4e2m1", 4),
    "int4": ("i4", 4),
    "uint4": ("u4", 4),
    "uint2": ("u2", 2),
}
SPECIAL_BY_OV = {ov: (np_name, bits) for np_name, (ov, bits) in SPECIAL.items()}
SMALL_INTS = ("int4", "uint4", "int2", "uint2")


def to_ov(arr):
    """A numpy value (ml_dtypes included) as something OpenVINO's infer accepts."""
    import numpy as np
    import openvino as ov

    arr = np.asarray(arr)
    if arr.dtype == object:
        return np.array([x.decode() if isinstance(x, bytes) else str(x) for x in arr.reshape(-1)]).reshape(arr.shape)
    spec = SPECIAL.get(arr.dtype.name)
    if spec is None:
        return arr
    ov_name, bits = spec
    t = ov.Tensor(getattr(ov.Type, ov_name), list(arr.shape))
    dst = t.data
    if bits >= 8:
        dst.reshape(-1).view(np.uint8)[:] = np.ascontiguousarray(arr).view(np.uint8).reshape(-1)
        return t
    per = 8 // bits
    codes = np.ascontiguousarray(arr).view(np.uint8).reshape(-1) & ((1 << bits) - 1)
    codes = np.concatenate([codes, np.zeros((-len(codes)) % per, np.uint8)]).reshape(-1, per)
    packed = np.zeros(len(codes), np.uint8)
    for k in range(per):
        packed |= codes[:, k] << (bits * k)
    dst.reshape(-1).view(np.uint8)[: len(packed)] = packed
    return t


def from_ov(t):
    """An OpenVINO output tensor as numpy (ml_dtypes for bf16, float8, 4- and 2-bit types)."""
    import ml_dtypes
    import numpy as np

    name = t.get_element_type().get_type_name()
    if name == "string":
        return np.array(t.str_data, dtype=object).reshape(tuple(t.shape))
    spec = SPECIAL_BY_OV.get(name)
    if spec is None:
        return np.array(t.data, copy=True)
    np_name, bits = spec
    shape = tuple(t.shape)
    raw = np.array(t.data, copy=True).reshape(-1).view(np.uint8)
    if bits >= 8:
        return raw.view(getattr(ml_dtypes, np_name)).reshape(shape)
    per = 8 // bits
    n = int(np.prod(shape))
    codes = np.stack([(raw >> (bits * k)) & ((1 << bits) - 1) for k in range(per)], axis=1).reshape(-1)[:n]
    if np_name in ("int4", "int2"):
        sign = 1 << (bits - 1)
        return ((codes.astype(np.int16) ^ sign) - sign).astype(np.int8).astype(getattr(ml_dtypes, np_name)).reshape(shape)
    if np_name in ("uint4", "uint2"):
        return codes.astype(getattr(ml_dtypes, np_name)).reshape(shape)
    return codes.view(getattr(ml_dtypes, np_name)).reshape(shape)


def compare(got, want, shape_type_only: bool):
    """Returns (status, reason); status is pass, wrong or bad-shape-or-type."""
    import numpy as np

    got = np.asarray(got)
    want = np.asarray(want)
    if want.dtype == object or want.dtype.kind in "US":
        if got.shape != want.shape:
            return "bad-shape-or-type", f"shape {got.shape} but the reference is {want.shape}"
        if shape_type_only:
            return "pass", ""
        dec = lambda a: [x.decode() if isinstance(x, bytes) else str(x) for x in a.reshape(-1)]  # noqa: E731
        if dec(got) != dec(want):
            return "wrong", "strings differ"
        return "pass", ""
    if got.dtype != want.dtype:
        return "bad-shape-or-type", f"element type {got.dtype} but the reference is {want.dtype}"
    if got.shape != want.shape:
        return "bad-shape-or-type", f"shape {got.shape} but the reference is {want.shape}"
    if shape_type_only:
        return "pass", ""
    if want.dtype.kind in "biu" or want.dtype.name in SMALL_INTS:
        g, w = got.astype(np.int64) if want.dtype.name in SMALL_INTS else got, want.astype(np.int64) if want.dtype.name in SMALL_INTS else want
        bad = np.count_nonzero(g != w)
        if bad:
            return "wrong", f"{bad} of {want.size} values differ"
        return "pass", ""
    rtol = max(RTOL, 2**-6) if want.dtype.name == "bfloat16" else RTOL
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    # np.isclose: NaN == NaN with equal_nan, infinities close only when equal, like our rule.
    ok = np.isclose(g, w, rtol=rtol, atol=ATOL, equal_nan=True)
    bad = np.count_nonzero(~ok)
    if bad:
        i = int(np.argmax(~ok.reshape(-1)))
        return "wrong", f"{bad} of {want.size} values differ; e.g. flat index {i}: got {g.reshape(-1)[i]}, expected {w.reshape(-1)[i]}"
    return "pass", ""


def run_model(core, model_path: str, case_dir: str, meta: dict) -> dict:
    import numpy as np

    try:
        model = core.read_model(model_path)
        compiled = core.compile_model(model, "CPU")
    except Exception as e:  # noqa: BLE001
        return {"status": "reject", "reason": one_line(f"{type(e).__name__}: {e}")}
    shape_type_only = bool(meta.get("random"))
    input_kinds = meta.get("input_kinds", [])
    output_kinds = meta.get("output_kinds", [])
    names = meta.get("inputs", [])
    for n, ds in enumerate(numbered(case_dir, "test_data_set_", "")):
        try:
            inputs = [
                load_value(p, input_kinds[k] if k < len(input_kinds) else "tensor")
                for k, p in enumerate(numbered(ds, "input_", ".pb"))
            ]
            refs = [
                load_value(p, output_kinds[k] if k < len(output_kinds) else "tensor")
                for k, p in enumerate(numbered(ds, "output_", ".pb"))
            ]
        except Exception as e:  # noqa: BLE001
            return {"status": "error", "reason": one_line(f"data set {n}: test data: {e}")}
        try:
            inputs = [to_ov(v) for v in inputs]
            feed = {}
            port_names = [set(p.get_names()) for p in compiled.inputs]
            if names and len(names) == len(inputs) and all(any(nm in s for nm in names) for s in port_names):
                for k, p in enumerate(compiled.inputs):
                    i = next(i for i, nm in enumerate(names) if nm in port_names[k])
                    feed[p] = inputs[i]
            elif len(compiled.inputs) == len(inputs):
                feed = {p: inputs[k] for k, p in enumerate(compiled.inputs)}
            else:
                return {
                    "status": "error",
                    "reason": f"the model has {len(compiled.inputs)} inputs, the data set {len(inputs)}",
                }
            request = compiled.create_infer_request()
            request.infer(feed)
            outs = [from_ov(request.get_output_tensor(k)) for k in range(len(compiled.outputs))]
        except Exception as e:  # noqa: BLE001
            return {"status": "error", "reason": one_line(f"data set {n}: {type(e).__name__}: {e}")}
        if len(outs) != len(refs):
            return {"status": "bad-shape-or-type", "reason": f"{len(outs)} outputs, the reference has {len(refs)}"}
        for k, (g, w) in enumerate(zip(outs, refs)):
            status, reason = compare(g, w, shape_type_only)
            if status != "pass":
                return {"status": status, "reason": one_line(f"data set {n} output {k}: {reason}")}
    return {"status": "pass", "reason": ""}


def check_side(core, task: dict) -> dict:
    d = task["dir"]
    try:
        with open(os.path.join(d, "case.json")) as f:
            meta = json.load(f)
    except OSError:
        meta = {}
    if task["side"] == "ir":
        xml = task.get("ir_xml")
        if not xml or not os.path.exists(xml):
            return {"status": "none", "reason": "no IR was written"}
        return run_model(core, xml, d, meta)
    return run_model(core, os.path.join(d, "model.onnx"), d, meta)


def worker(conn) -> None:
    import openvino as ov

    core = ov.Core()
    # f32 inference: OpenVINO would pick bf16 on CPUs with AVX512-BF16 or AMX, which no
    # tolerance of 1e-3 survives.
    core.set_property("CPU", {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"})
    while True:
        task = conn.recv()
        if task is None:
            return
        try:
            res = check_side(core, task)
        except Exception:  # noqa: BLE001
            res = {"status": "crash", "reason": one_line(traceback.format_exc())}
        conn.send(res)


class Worker:
    def __init__(self, ctx) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.case = None
        self.started = 0.0

    def give(self, case: dict) -> None:
        self.case = case
        self.started = time.monotonic()
        self.conn.send(case)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()


def main() -> None:
    args = sys.argv[1:]
    jobs = 2
    if "--jobs" in args:
        i = args.index("--jobs")
        jobs = int(args[i + 1])
        del args[i : i + 2]
    cases_path, result_path = args
    with open(cases_path) as f:
        cases = json.load(f)
    ctx = mp.get_context("spawn")
    # One task per (case, side): a crash on our IR does not hide OpenVINO's own result.
    tasks = [dict(c, side=side) for c in cases for side in ("ir", "onnx")]
    pending = list(reversed(tasks))
    results: dict = {}
    workers = [Worker(ctx) for _ in range(max(1, min(jobs, len(tasks))))]
    t0 = time.monotonic()
    last_report = 0
    while len(results) < len(tasks):
        busy = False
        for i, w in enumerate(workers):
            if w.case is None:
                if pending:
                    w.give(pending.pop())
                    busy = True
                continue
            busy = True
            key = (w.case["key"], w.case["side"])
            failed = None
            if w.conn.poll():
                try:
                    results[key] = w.conn.recv()
                    w.case = None
                except EOFError:
                    failed = ("crash", "the OpenVINO worker process died")
            elif not w.proc.is_alive():
                failed = ("crash", f"the OpenVINO worker process died (exit code {w.proc.exitcode})")
            elif time.monotonic() - w.started > w.case.get("timeout", 60):
                failed = ("timeout", "no result in time")
            if failed:
                results[key] = {"status": failed[0], "reason": failed[1]}
                w.kill()
                workers[i] = Worker(ctx)
        if len(results) // 400 > last_report:
            last_report = len(results) // 400
            print(f"oracle: {len(results) // 2}/{len(cases)} cases, {time.monotonic() - t0:.0f} s", file=sys.stderr)
        if busy:
            time.sleep(0.002)
    for w in workers:
        if w.proc.is_alive():
            w.conn.send(None)
            w.proc.join(timeout=5)
    out = [{"key": c["key"], "ir": results[(c["key"], "ir")], "onnx": results[(c["key"], "onnx")]} for c in cases]
    with open(result_path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
