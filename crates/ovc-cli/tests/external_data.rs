//! External data end to end: the same weights stored inline, in one external file, and in one
//! file per tensor convert to the same IR (`.bin` bytes identical; `.xml` identical but for the
//! recorded `output_model` parameter). The models are written by `tests/py/make_matmul_chain.py`
//! with the pinned onnx in `target/py` (`cargo xtask test` creates it).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn make(py: &Path, mode: &str, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("model dir");
    let model = dir.join("model.onnx");
    let out = Command::new(py)
        .arg(root().join("tests/py/make_matmul_chain.py"))
        .args(["4", "64", mode])
        .arg(&model)
        .output()
        .expect("spawn make_matmul_chain.py");
    assert!(out.status.success(), "make_matmul_chain.py {mode}: {}", String::from_utf8_lossy(&out.stderr));
    model
}

fn convert(model: &Path, out: &Path, fp16: &str) -> (Vec<u8>, String) {
    let run = Command::new(env!("CARGO_BIN_EXE_ovc"))
        .arg(model)
        .arg("--output_model")
        .arg(out)
        .arg(format!("--compress_to_fp16={fp16}"))
        .output()
        .expect("spawn ovc");
    assert!(run.status.success(), "ovc {}: {}", model.display(), String::from_utf8_lossy(&run.stderr));
    let bin = std::fs::read(out.with_extension("bin")).expect("bin");
    let xml = std::fs::read_to_string(out.with_extension("xml")).expect("xml");
    let xml = xml.lines().filter(|l| !l.contains("<output_model value=")).collect::<Vec<_>>().join("\n");
    (bin, xml)
}

#[test]
fn inline_shared_file_and_per_tensor_files_give_the_same_ir() {
    let py = root().join("target/py/bin/python");
    assert!(py.exists(), "{} is missing: run `cargo xtask test` once to create the venv", py.display());
    let tmp = tempfile::tempdir().expect("temp dir");
    let models: Vec<(&str, PathBuf)> =
        ["inline", "one", "per"].iter().map(|&m| (m, make(&py, m, &tmp.path().join(m)))).collect();
    assert!(tmp.path().join("one/weights.bin").exists(), "the shared-file model has no weights.bin");
    assert!(std::fs::metadata(&models[0].1).expect("inline model").len() > 4 * 64 * 64 * 4);
    for fp16 in ["False", "True"] {
        let irs: Vec<(Vec<u8>, String)> =
            models.iter().map(|(m, p)| convert(p, &tmp.path().join(format!("ir_{m}_{fp16}/model")), fp16)).collect();
        let expected_bin = if fp16 == "True" { 4 * 64 * 64 * 2 } else { 4 * 64 * 64 * 4 };
        assert_eq!(irs[0].0.len(), expected_bin, "fp16={fp16}: .bin holds every weight once");
        for (i, (m, _)) in models.iter().enumerate().skip(1) {
            assert!(irs[i].0 == irs[0].0, "fp16={fp16}: {m} .bin differs from the inline model's");
            assert_eq!(irs[i].1, irs[0].1, "fp16={fp16}: {m} .xml differs from the inline model's");
        }
    }
}
