"""Writes the ONNX backend test data of the pinned `onnx` package as case folders.

Usage: gen_data.py OUT_DIR

OUT_DIR/<group>/<case>/ holds `model.onnx`, `test_data_set_N/input_K.pb` / `output_K.pb`
and a `case.json` with what the Rust runner cannot cheaply learn from the .pb files: the names
and kinds (tensor, sequence, map, optional) of the model's real inputs and outputs, and whether
the model draws random numbers (then only shapes and types are compared).

Groups:
- node: `onnx.backend.test.case.node.collect_testcases()` (the wheel does not ship them);
- simple, pytorch-converted, pytorch-operator: copied from `onnx/backend/test/data/`;
- light: each `light_<name>.onnx` becomes a case fed `arange(n)/n` like onnx's own runner.

The script writes into OUT_DIR.tmp and renames it at the end, so an interrupted run never
leaves a half-written data set behind; OUT_DIR/STAMP is written last.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np

import onnx
from onnx import TensorProto, numpy_helper

RANDOM_OPS = {
    "RandomNormal",
    "RandomNormalLike",
    "RandomUniform",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
}

DATA_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
SHIPPED_GROUPS = ("simple", "pytorch-converted", "pytorch-operator")


def value_kind(value_info: onnx.ValueInfoProto) -> str:
    t = value_info.type
    for field, kind in (
        ("tensor_type", "tensor"),
        ("sequence_type", "sequence"),
        ("map_type", "map"),
        ("optional_type", "optional"),
        ("sparse_tensor_type", "sparse_tensor"),
    ):
        if t.HasField(field):
            return kind
    return "unknown"


def iter_graphs(graph: onnx.GraphProto):
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from iter_graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from iter_graphs(g)


def op_types(model: onnx.ModelProto) -> set[str]:
    ops = set()
    for g in iter_graphs(model.graph):
        ops.update(n.op_type for n in g.node)
    for f in model.functions:
        ops.update(n.op_type for n in f.node)
    return ops


def meta(model: onnx.ModelProto, source: str) -> dict:
    inits = {i.name for i in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in inits]
    ops = op_types(model)
    return {
        "source": source,
        "inputs": [i.name for i in real_inputs],
        "input_kinds": [value_kind(i) for i in real_inputs],
        "outputs": [o.name for o in model.graph.output],
        "output_kinds": [value_kind(o) for o in model.graph.output],
        "random": sorted(ops & RANDOM_OPS),
        "opsets": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
    }


def serialize_value(value, value_info: onnx.ValueInfoProto) -> bytes:
    t = value_info.type
    name = value_info.name
    if t.HasField("map_type"):
        return numpy_helper.from_dict(value, name).SerializeToString()
    if t.HasField("sequence_type"):
        return numpy_helper.from_list(value, name).SerializeToString()
    if t.HasField("optional_type"):
        return numpy_helper.from_optional(value, name).SerializeToString()
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(np.asarray(value), name).SerializeToString()


def write_json(path: str, obj: dict) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


def gen_node(out: str) -> int:
    from onnx.backend.test.case import node as node_cases

    count = 0
    for case in node_cases.collect_testcases():
        case_dir = os.path.join(out, "node", case.name)
        if os.path.exists(case_dir):
            raise SystemExit(f"duplicate node case {case.name}")
        os.makedirs(case_dir)
        model = case.model
        with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
            f.write(model.SerializeToString())
        for n, (inputs, outputs) in enumerate(case.data_sets):
            ds = os.path.join(case_dir, f"test_data_set_{n}")
            os.makedirs(ds)
            for k, v in enumerate(inputs):
                with open(os.path.join(ds, f"input_{k}.pb"), "wb") as f:
                    f.write(serialize_value(v, model.graph.input[k]))
            for k, v in enumerate(outputs):
                with open(os.path.join(ds, f"output_{k}.pb"), "wb") as f:
                    f.write(serialize_value(v, model.graph.output[k]))
        m = meta(model, "onnx.backend.test.case.node.collect_testcases()")
        m["rtol"], m["atol"] = case.rtol, case.atol
        write_json(os.path.join(case_dir, "case.json"), m)
        count += 1
    return count


def gen_shipped(out: str, group: str) -> int:
    src = os.path.join(DATA_DIR, group)
    count = 0
    for name in sorted(os.listdir(src)):
        case_src = os.path.join(src, name)
        if not os.path.isfile(os.path.join(case_src, "model.onnx")):
            continue
        case_dir = os.path.join(out, group, name)
        shutil.copytree(case_src, case_dir)
        model = onnx.load(os.path.join(case_dir, "model.onnx"))
        write_json(os.path.join(case_dir, "case.json"), meta(model, f"onnx/backend/test/data/{group}/{name}"))
        count += 1
    return count


def gen_light(out: str) -> int:
    src = os.path.join(DATA_DIR, "light")
    count = 0
    for fname in sorted(os.listdir(src)):
        if not fname.startswith("light_") or not fname.endswith(".onnx"):
            continue
        stem = fname[: -len(".onnx")]
        case_dir = os.path.join(out, "light", stem)
        ds = os.path.join(case_dir, "test_data_set_0")
        os.makedirs(ds)
        shutil.copyfile(os.path.join(src, fname), os.path.join(case_dir, "model.onnx"))
        model = onnx.load(os.path.join(case_dir, "model.onnx"))
        inits = {i.name for i in model.graph.initializer}
        k = 0
        for x in model.graph.input:
            if x.name in inits:
                continue
            # Same as onnx's BackendTest.generate_dummy_data(random=False).
            if x.type.tensor_type.elem_type != TensorProto.FLOAT:
                raise SystemExit(f"{fname}: input {x.name} is not float")
            shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in x.type.tensor_type.shape.dim)
            n = np.prod(shape)
            value = (np.arange(n).reshape(shape) / n).astype(np.float32)
            with open(os.path.join(ds, f"input_{k}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(value, x.name).SerializeToString())
            k += 1
        for i in range(len(model.graph.output)):
            ref = os.path.join(src, f"{stem}_output_{i}.pb")
            if not os.path.exists(ref):
                raise SystemExit(f"{fname}: no reference output {i}")
            shutil.copyfile(ref, os.path.join(ds, f"output_{i}.pb"))
        write_json(os.path.join(case_dir, "case.json"), meta(model, f"onnx/backend/test/data/light/{fname}"))
        count += 1
    return count


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: gen_data.py OUT_DIR STAMP")
    out, stamp = sys.argv[1], sys.argv[2]
    tmp = out + ".tmp"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    counts = {"node": gen_node(tmp)}
    for group in SHIPPED_GROUPS:
        counts[group] = gen_shipped(tmp, group)
    counts["light"] = gen_light(tmp)
    write_json(os.path.join(tmp, "counts.json"), counts)
    with open(os.path.join(tmp, "STAMP"), "w") as f:
        f.write(stamp)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.rename(tmp, out)
    print(" ".join(f"{g} {n}" for g, n in counts.items()))


if __name__ == "__main__":
    main()
