//! Dynamic shapes end to end: ONNX models with symbolic dims go through our `ovc`, keep those
//! dims dynamic in the IR (`?` in the Parameter's shape, `-1` in its port), and one compiled
//! model of the CPU plugin runs them at several input shapes, matching onnxruntime (rtol 1e-3,
//! atol 1e-4).
//!
//! The models and onnxruntime's results come from `tests/py/dynamic_cases.py` with the pinned
//! packages of the project venv (`target/py`, made by `cargo xtask test`); without the venv
//! these tests fail and say how to make it.
//!
//! - encoder: BERT-style (2 layers, hidden 64, 4 heads), dynamic batch and sequence, run at
//!   four (batch, seq) pairs;
//! - decoder: causal self-attention with a KV cache (`past_key`/`past_value` in,
//!   `present_key`/`present_value` out), run along a growing sequence, each step fed the
//!   previous step's presents.

use std::path::{Path, PathBuf};
use std::process::Command;

use ir_graph::Tensor;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv_python() -> PathBuf {
    let py = root().join("target/py/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run `cargo xtask test` once to create the venv (or python3 -m venv target/py && \
         target/py/bin/pip install -r xtask/requirements.txt)",
        py.display()
    );
    py
}

/// One case: inputs and onnxruntime's outputs.
struct Case {
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
}

fn read_f32(path: &Path, dims: &[usize]) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Tensor::from_vec(dims.to_vec(), values).expect("tensor")
}

/// Writes the model and its cases with `tests/py/dynamic_cases.py`.
fn make(kind: &str, dir: &Path) -> (PathBuf, Vec<Case>) {
    let out = Command::new(venv_python())
        .arg(root().join("tests/py/dynamic_cases.py"))
        .arg(kind)
        .arg(dir)
        .output()
        .expect("spawn dynamic_cases.py");
    assert!(out.status.success(), "dynamic_cases.py {kind}: {}", String::from_utf8_lossy(&out.stderr));
    let mut cases = Vec::new();
    for i in 0.. {
        let Ok(text) = std::fs::read_to_string(dir.join(format!("case{i}.txt"))) else { break };
        let mut case = Case { inputs: Vec::new(), outputs: Vec::new() };
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 4, "bad case line '{line}'");
            let dims: Vec<usize> = f[3].split(',').map(|d| d.parse().expect("dim")).collect();
            let t = read_f32(&dir.join(format!("case{i}_{}{}.bin", f[0], f[1])), &dims);
            if f[0] == "in" { case.inputs.push(t) } else { case.outputs.push(t) }
        }
        cases.push(case);
    }
    assert!(cases.len() >= 3, "{kind}: expected at least 3 cases, got {}", cases.len());
    (dir.join("model.onnx"), cases)
}

/// Our `ovc` (f32 weights), returning the IR's path and XML text.
fn convert(model: &Path, out: &Path) -> (PathBuf, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_ovc"))
        .arg(model)
        .arg("--output_model")
        .arg(out)
        .arg("--compress_to_fp16=False")
        .output()
        .expect("spawn ovc");
    assert!(o.status.success(), "ovc: {}", String::from_utf8_lossy(&o.stderr));
    let xml = out.with_extension("xml");
    let text = std::fs::read_to_string(&xml).expect("xml");
    (xml, text)
}

/// The `shape` attribute of Parameter `name`.
fn parameter_shape(xml: &str, name: &str) -> String {
    let tag = xml
        .split("<layer ")
        .find(|l| l.contains(&format!(" name=\"{name}\" ")) && l.contains("type=\"Parameter\""))
        .unwrap_or_else(|| panic!("no Parameter {name}"));
    tag.split("shape=\"").nth(1).and_then(|s| s.split('"').next()).expect("shape").to_string()
}

fn assert_close(what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let g = got.values::<f32>().expect("f32 output");
    let w = want.values::<f32>().expect("f32 reference");
    let mut worst = (0.0f32, 0usize);
    for (i, (a, b)) in g.iter().zip(w.iter()).enumerate() {
        let excess = (a - b).abs() - (1e-4 + 1e-3 * b.abs());
        if excess > worst.0 || !a.is_finite() {
            worst = (if a.is_finite() { excess } else { f32::INFINITY }, i);
        }
    }
    assert!(
        worst.0 <= 0.0,
        "{what}: element {} is {} but onnxruntime says {} (rtol 1e-3, atol 1e-4)",
        worst.1,
        g[worst.1],
        w[worst.1]
    );
}

/// Compiles the IR once and runs every case through one infer request.
fn run_cases(xml: &Path, cases: &[Case], kind: &str) {
    let model = ir_serialize::read_model(xml).expect("read our IR");
    let compiled = cpu_plugin::compile_model(&model, &cpu_plugin::Config::default()).expect("compile");
    let mut request = compiled.create_infer_request();
    for (i, case) in cases.iter().enumerate() {
        let outputs = request.infer(&case.inputs).unwrap_or_else(|e| panic!("{kind} case {i}: {e}"));
        assert_eq!(outputs.len(), case.outputs.len(), "{kind} case {i}: output count");
        for (k, (got, want)) in outputs.iter().zip(&case.outputs).enumerate() {
            let shapes: Vec<&[usize]> = case.inputs.iter().map(|t| t.shape()).collect();
            assert_close(&format!("{kind} case {i} (inputs {shapes:?}) output {k}"), got, want);
        }
    }
}

#[test]
fn bert_style_encoder_runs_at_several_batch_and_sequence_sizes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (onnx, cases) = make("encoder", tmp.path());
    let (xml, text) = convert(&onnx, &tmp.path().join("ir/encoder"));
    assert_eq!(parameter_shape(&text, "hidden"), "?,?,64");
    assert!(text.contains("<dim>-1</dim>"));
    let distinct: std::collections::HashSet<Vec<usize>> = cases.iter().map(|c| c.inputs[0].shape().to_vec()).collect();
    assert!(distinct.len() >= 3, "the cases cover at least 3 (batch, seq) pairs");
    run_cases(&xml, &cases, "encoder");
}

#[test]
fn kv_cache_decoder_runs_along_a_growing_sequence() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (onnx, cases) = make("decoder", tmp.path());
    let (xml, text) = convert(&onnx, &tmp.path().join("ir/decoder"));
    assert_eq!(parameter_shape(&text, "x"), "?,?,64");
    assert_eq!(parameter_shape(&text, "past_key"), "?,4,?,16");
    assert_eq!(parameter_shape(&text, "past_value"), "?,4,?,16");
    let pasts: Vec<usize> = cases.iter().map(|c| c.inputs[1].shape()[2]).collect();
    assert!(pasts.windows(2).any(|w| w[1] == w[0] + 3) && pasts.windows(2).any(|w| w[1] == w[0] + 1), "{pasts:?}");
    run_cases(&xml, &cases, "decoder");
}
