//! End-to-end: the real OpenVINO runtime (Python package in the project venv) loads IR we
//! wrote and computes the right numbers, with and without FP16 weight compression.
//!
//! Needs the project's Python venv (`target/py`, made by `cargo xtask conformance` or by
//! `python3 -m venv target/py && target/py/bin/pip install -r xtask/requirements.txt`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ir_graph::ops::{Add, MatMul, Relu, Reshape};
use ir_graph::{ElementType, Model, PartialShape, RtValue, Tensor};
use ir_serialize::{SaveOptions, save_model};

fn venv_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => root.join(d),
        _ => root.join("target"),
    };
    let py = target.join("py/bin/python");
    assert!(
        py.exists(),
        "the OpenVINO Python venv is missing: {} does not exist.\n\
         Create it from the workspace root with\n    python3 -m venv target/py && \
         target/py/bin/pip install -r xtask/requirements.txt\n(or run `cargo xtask conformance` once).",
        py.display()
    );
    py
}

const W: [f32; 12] = [0.5, -1.0, 2.0, 0.25, 1.5, 0.0, -0.75, 3.0, -2.0, 1.0, 0.125, -0.5];
const B: [f32; 3] = [0.125, -0.25, 0.375];

/// y = reshape(relu(x @ W^T + b), [3, 1]) with x: [1, 4] and W: [3, 4].
fn model() -> Model {
    let mut m = Model::new("tiny_fc");
    m.rt_info = vec![("Runtime_version".into(), RtValue::Str("test".into()))];
    let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[1, 4])).expect("param");
    m.port_mut(x.into()).expect("port").names = BTreeSet::from(["x".to_string()]);
    let w = m.add_const("W", Tensor::from_vec(vec![3, 4], W.to_vec()).expect("W")).expect("const");
    let mm = m.add_node(MatMul { transpose_a: false, transpose_b: true }, "mm", &[x.into(), w.into()]).expect("mm");
    let b = m.add_const("b", Tensor::from_vec(vec![1, 3], B.to_vec()).expect("b")).expect("const");
    let add = m.add_node(Add::default(), "add", &[mm.into(), b.into()]).expect("add");
    let r = m.add_node(Relu {}, "relu", &[add.into()]).expect("relu");
    let s = m.add_const("shape", Tensor::from_vec(vec![2], vec![3i64, 1]).expect("shape")).expect("const");
    let y = m.add_node(Reshape { special_zero: false }, "y", &[r.into(), s.into()]).expect("reshape");
    m.port_mut(y.into()).expect("port").names = BTreeSet::from(["y".to_string(), "y,alias".to_string()]);
    m.add_result("y/sink_port_0", y.into()).expect("result");
    m
}

fn expected(x: &[f32; 4]) -> Vec<f32> {
    (0..3).map(|o| ((0..4).map(|i| x[i] * W[o * 4 + i]).sum::<f32>() + B[o]).max(0.0)).collect()
}

const SCRIPT: &str = r#"
import sys, numpy as np, openvino as ov
core = ov.Core()
m = core.read_model(sys.argv[1])
assert sorted(m.output(0).get_names()) == ["y", "y,alias"], m.output(0).get_names()
assert m.input(0).get_any_name() == "x"
c = core.compile_model(m, "CPU")
x = np.array([float(v) for v in sys.argv[2].split(",")], dtype=np.float32).reshape(1, 4)
y = c(x)[c.output(0)]
print(list(y.shape), " ".join(repr(float(v)) for v in y.flatten()))
"#;

#[test]
fn openvino_loads_our_ir_and_computes_correct_numbers() {
    let py = venv_python();
    let tmp = tempfile::tempdir().expect("tempdir");
    let x = [1.0f32, -2.0, 0.5, 3.0];
    let want = expected(&x);
    assert!(want.iter().any(|&v| v > 0.0) && want.contains(&0.0), "test input should exercise ReLU");
    for compress in [false, true] {
        let xml = tmp.path().join(format!("fc_{compress}.xml"));
        save_model(&model(), &xml, &SaveOptions { compress_to_fp16: compress }).expect("save");
        let out = Command::new(&py)
            .arg("-c")
            .arg(SCRIPT)
            .arg(&xml)
            .arg(x.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","))
            .env("OPENVINO_TELEMETRY_OPTOUT", "1")
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "OpenVINO failed on our IR (compress={compress}):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let (shape, values) = text.trim().split_once(' ').expect("shape and values");
        assert_eq!(shape, "[3,", "output shape line: {text}");
        let got: Vec<f32> = values.split_whitespace().skip(1).map(|v| v.parse().expect("float")).collect();
        assert_eq!(got.len(), 3, "{text}");
        // All weights are exactly representable in f16, so both variants are exact up to f32 rounding.
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "compress={compress}: got {got:?}, want {want:?}");
        }
    }
}
