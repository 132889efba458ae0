"""Bad ONNX models through two converters: ours (`ovc` built from this repo) and OpenVINO's.

Usage: python hostile_vs_ovc.py OUR_OVC OPENVINO_OVC WORKDIR

Builds one small model per kind of structural defect, runs both converters on it (each in a
fresh output folder) and prints a table: for each case, whether each tool refused it (exit code
!= 0) and the first line of its error. A converter that accepts one of these writes IR for a
model that is not a valid ONNX graph.
"""

import os
import subprocess
import sys

import onnx
from onnx import TensorProto, helper


def base_nodes():
    return [helper.make_node("Relu", ["x"], ["y"], name="relu")]


def make(nodes, inputs=None, outputs=None, inits=None, opsets=None, raw=False):
    inputs = inputs if inputs is not None else [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])]
    outputs = outputs if outputs is not None else [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits or [])
    opsets = opsets if opsets is not None else [helper.make_opsetid("", 17)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def cases():
    f = TensorProto.FLOAT
    yield "cycle", make(
        [
            helper.make_node("Add", ["x", "b"], ["a"], name="n1"),
            helper.make_node("Relu", ["a"], ["b"], name="n2"),
            helper.make_node("Identity", ["a"], ["y"], name="n3"),
        ]
    )
    yield "two_producers_of_one_tensor", make(
        [helper.make_node("Relu", ["x"], ["y"], name="r1"), helper.make_node("Sigmoid", ["x"], ["y"], name="r2")]
    )
    yield "empty_graph", make([], outputs=[])
    yield "output_nobody_produces", make(
        base_nodes(), outputs=[helper.make_tensor_value_info("z", f, [2])]
    )
    yield "dangling_node_input", make([helper.make_node("Add", ["x", "ghost"], ["y"], name="add")])
    yield "opset_from_the_future", make(base_nodes(), opsets=[helper.make_opsetid("", 99)])
    yield "no_opset_import", make(base_nodes(), opsets=[])
    yield "unknown_domain", make(
        [helper.make_node("Relu", ["x"], ["y"], name="relu", domain="com.example")],
        opsets=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
    )
    yield "negative_dim", make(
        base_nodes(),
        inputs=[helper.make_tensor_value_info("x", f, [-5])],
        outputs=[helper.make_tensor_value_info("y", f, [-5])],
    )
    short = helper.make_tensor("w", f, [4], [1.0, 2.0, 3.0, 4.0])
    short.raw_data = b"\0" * 8
    del short.float_data[:]
    yield "initializer_shorter_than_shape", make(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add")], inits=[short]
    )
    long_ = helper.make_tensor("w", f, [2], [1.0, 2.0])
    long_.raw_data = b"\0" * 64
    del long_.float_data[:]
    yield "initializer_longer_than_shape", make(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add")], inits=[long_]
    )
    bad_attr = helper.make_node("Softmax", ["x"], ["y"], name="sm")
    bad_attr.attribute.append(helper.make_attribute("axis", "zero"))
    yield "attribute_of_the_wrong_type", make([bad_attr])
    bad_type = make(base_nodes())
    bad_type.graph.input[0].type.tensor_type.elem_type = 77
    yield "unknown_element_type", bad_type
    huge = helper.make_tensor_value_info("x", f, [1 << 40, 1 << 30])
    yield "shape_of_10^21_elements", make(
        [helper.make_node("ConstantOfShape", ["s"], ["y"], name="cos")],
        inputs=[],
        inits=[helper.make_tensor("s", TensorProto.INT64, [2], [1 << 40, 1 << 30])],
        outputs=[helper.make_tensor_value_info("y", f, None)],
    )
    del huge
    ext = helper.make_tensor("w", f, [2], [0.0, 0.0])
    ext.ClearField("float_data")
    ext.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../../etc/passwd"), ("offset", "0"), ("length", "8")):
        e = ext.external_data.add()
        e.key, e.value = k, v
    yield "external_data_outside_the_model_folder", make(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add")], inits=[ext]
    )


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    text = (p.stderr or p.stdout).strip().splitlines()
    first = next((ln for ln in text if "ERROR" in ln or "rror" in ln), text[0] if text else "")
    return p.returncode, first.strip()[:110]


def main():
    ours, theirs, work = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(work, exist_ok=True)
    rows = []
    for name, m in cases():
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "model.onnx")
        with open(path, "wb") as fh:
            fh.write(m.SerializeToString())
        results = []
        for tool, exe in (("ours", ours), ("openvino", theirs)):
            out = os.path.join(d, f"out_{tool}")
            os.makedirs(out, exist_ok=True)
            rc, msg = run([exe, path, "--output_model", os.path.join(out, "model.xml")], d)
            wrote = os.path.exists(os.path.join(out, "model.xml"))
            results.append((rc, wrote, msg))
        rows.append((name, results))
    print(f"| case | ours | OpenVINO ovc |")
    print("|---|---|---|")
    refused = [0, 0]
    for name, results in rows:
        cells = []
        for i, (rc, wrote, msg) in enumerate(results):
            if rc != 0 and not wrote:
                refused[i] += 1
                cells.append(f"refused: {msg}")
            else:
                cells.append(f"ACCEPTED (exit {rc}, IR written: {wrote})")
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    print(f"refused: ours {refused[0]}/{len(rows)}, OpenVINO ovc {refused[1]}/{len(rows)}")


if __name__ == "__main__":
    main()
