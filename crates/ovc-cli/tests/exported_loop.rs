//! A Loop written by a real exporter: `tests/models/greedy_decode_loop.onnx`, a greedy decoding
//! loop that onnxscript exported from a Python `while` (made by `tests/py/make_greedy_loop.py`).
//! Its Loop has no trip count, a carried condition, outer-scope weights and a carried token list
//! that grows by one per iteration, and it stops early on the end token.
//!
//! Our `ovc` converts it, our plugin runs it from the IR for several start states and lengths,
//! and the tokens and scores must equal onnxruntime's on the ONNX model; real OpenVINO must load
//! our IR and give the same (`tests/py/loop_oracle.py`, with the project venv `target/py`).

use std::path::PathBuf;
use std::process::Command;

use ir_graph::Tensor;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One case: the inputs, and the outputs of onnxruntime and of OpenVINO on our IR.
struct Case {
    h0: Vec<f32>,
    max_len: i64,
    ort: (Vec<i64>, f32),
    ov: (Vec<i64>, f32),
}

fn tokens(s: &str) -> Vec<i64> {
    s.split(',').map(|t| t.parse().expect("token")).collect()
}

fn assert_score(what: &str, got: f32, want: f32) {
    assert!((got - want).abs() <= 1e-4 + 1e-4 * want.abs(), "{what}: score {got}, expected {want}");
}

#[test]
fn onnxscript_greedy_decoding_loop_runs_like_onnxruntime_and_openvino_loads_our_ir() {
    let py = root().join("target/py/bin/python");
    assert!(py.exists(), "{} is missing: run `cargo xtask test` once to create the venv", py.display());
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = root().join("tests/models/greedy_decode_loop.onnx");
    let xml = tmp.path().join("ir/greedy.xml");
    let o = Command::new(env!("CARGO_BIN_EXE_ovc"))
        .arg(&model)
        .arg("--output_model")
        .arg(&xml)
        .arg("--compress_to_fp16=False")
        .output()
        .expect("spawn ovc");
    assert!(o.status.success(), "ovc: {}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&xml).expect("xml");
    assert!(text.contains("type=\"Loop\" version=\"opset5\""), "the IR keeps the Loop");

    let o = Command::new(&py)
        .arg(root().join("tests/py/loop_oracle.py"))
        .arg(&model)
        .arg(&xml)
        .arg(tmp.path())
        .output()
        .expect("spawn loop_oracle.py");
    assert!(o.status.success(), "loop_oracle.py: {}", String::from_utf8_lossy(&o.stderr));
    let listing = std::fs::read_to_string(tmp.path().join("cases.txt")).expect("cases.txt");
    let cases: Vec<Case> = listing
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 5, "bad case line '{line}'");
            let bytes = std::fs::read(tmp.path().join(format!("case{n}_h0.bin"))).expect("h0");
            Case {
                h0: bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                max_len: f[0].parse().expect("max_len"),
                ort: (tokens(f[1]), f[2].parse().expect("score")),
                ov: (tokens(f[3]), f[4].parse().expect("score")),
            }
        })
        .collect();
    // The cases must exercise both ways out of the loop, and runs of different lengths.
    assert!(cases.iter().any(|c| c.ort.0.len() as i64 == c.max_len + 1), "a case stops at max_len");
    assert!(cases.iter().any(|c| (c.ort.0.len() as i64) < c.max_len + 1), "a case stops at the end token");
    let lengths: std::collections::HashSet<usize> = cases.iter().map(|c| c.ort.0.len()).collect();
    assert!(lengths.len() >= 4, "token counts {lengths:?}");

    let ir = ir_serialize::read_model(&xml).expect("read our IR");
    let compiled = cpu_plugin::compile_model(&ir, &cpu_plugin::Config::default()).expect("compile");
    let mut request = compiled.create_infer_request();
    for (n, c) in cases.iter().enumerate() {
        assert_eq!(c.ov.0, c.ort.0, "case {n}: OpenVINO's tokens on our IR");
        assert_score(&format!("case {n}: OpenVINO on our IR"), c.ov.1, c.ort.1);
        let inputs = [
            Tensor::from_vec(vec![1, 16], c.h0.clone()).expect("h0"),
            Tensor::from_vec(vec![], vec![c.max_len]).expect("max_len"),
        ];
        let out = request.infer(&inputs).unwrap_or_else(|e| panic!("case {n}: {e}"));
        assert_eq!(out.len(), 2, "case {n}: outputs");
        let got = out[0].values::<i64>().expect("i64 tokens");
        assert_eq!(got.to_vec(), c.ort.0, "case {n}: tokens (max_len {})", c.max_len);
        let score = out[1].values::<f32>().expect("f32 score");
        assert_eq!(out[1].shape(), &[] as &[usize], "case {n}: the score is a scalar");
        assert_score(&format!("case {n}: our plugin"), score[0], c.ort.1);
    }
}
