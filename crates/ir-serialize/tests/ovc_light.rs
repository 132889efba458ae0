//! End-to-end: IR written by OpenVINO's own `ovc` for the nine ONNX "light" models is read,
//! written back, and must come out byte-identical (.xml and .bin).
//!
//! Needs the project's Python venv (`target/py`, made by `cargo xtask conformance` or by
//! `python3 -m venv target/py && target/py/bin/pip install -r xtask/requirements.txt`).

use std::path::{Path, PathBuf};
use std::process::Command;

use ir_graph::{Model, Op};
use ir_serialize::{SaveOptions, read_model, save_model};

mod common;
use common::{assert_same_ir, run_ovc, venv_bin};

fn light_models(bin: &Path) -> Vec<PathBuf> {
    let py = bin.join("python");
    let out = Command::new(&py)
        .args(["-c", "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend/test/data/light'))"])
        .output()
        .expect("run venv python");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string());
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    v.sort();
    assert_eq!(v.len(), 9, "expected the nine light models in {}", dir.display());
    v
}

fn const_payloads(m: &Model) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = m
        .nodes()
        .filter_map(|(_, n)| match &n.op {
            Op::Constant(c) => Some((n.name.clone(), c.value.raw().to_vec())),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

#[test]
fn ovc_light_models_read_and_rewrite_to_the_same_graph() {
    let bin = venv_bin();
    let tmp = tempfile::tempdir().expect("tempdir");
    for onnx in light_models(&bin) {
        let stem = onnx.file_stem().and_then(|s| s.to_str()).expect("stem").to_string();
        let ov_xml = tmp.path().join(format!("ov/{stem}.xml"));
        run_ovc(&bin, &onnx, &tmp.path().join(format!("ov/{stem}")), &[]);
        let model = read_model(&ov_xml).unwrap_or_else(|e| panic!("reading ovc IR of {stem}: {e}"));
        let ours = tmp.path().join(format!("ours/{stem}.xml"));
        // ovc already compressed the weights; compressing again must change nothing.
        save_model(&model, &ours, &SaveOptions { compress_to_fp16: true }).expect("write back");
        assert_same_ir(&stem, &ov_xml, &ours);
        let back = read_model(&ours).expect("read ours");
        assert_eq!(const_payloads(&model), const_payloads(&back), "{stem}: constant bytes differ");
    }
}

#[test]
fn fp16_compression_matches_ovc_byte_for_byte() {
    let bin = venv_bin();
    let tmp = tempfile::tempdir().expect("tempdir");
    for onnx in light_models(&bin) {
        let stem = onnx.file_stem().and_then(|s| s.to_str()).expect("stem").to_string();
        run_ovc(&bin, &onnx, &tmp.path().join(format!("f16/{stem}")), &[]);
        run_ovc(&bin, &onnx, &tmp.path().join(format!("f32/{stem}")), &["--compress_to_fp16=False"]);
        let f16_xml = tmp.path().join(format!("f16/{stem}.xml"));
        let reference = read_model(&f16_xml).expect("read ovc f16 IR");
        let mut model = read_model(&tmp.path().join(format!("f32/{stem}.xml"))).expect("read ovc f32 IR");
        // Only the recorded conversion parameters differ between the two ovc runs.
        model.rt_info = reference.rt_info.clone();
        let ours = tmp.path().join(format!("ours/{stem}.xml"));
        save_model(&model, &ours, &SaveOptions { compress_to_fp16: true }).expect("write compressed");
        assert_same_ir(&stem, &f16_xml, &ours);
    }
}
