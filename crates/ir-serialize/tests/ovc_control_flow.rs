//! Sub-graph ops end to end: IR with `If`, `Loop`, `TensorIterator` and nested bodies written by
//! OpenVINO's own `ovc` (from small ONNX models made by `control_flow/make_models.py`) is read,
//! written back byte-identically (.xml and one shared .bin), and the bodies evaluate.
//!
//! Needs the project's Python venv (`target/py`), like `ovc_light.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use ir_graph::{Op, Tensor};
use ir_serialize::{SaveOptions, read_model, save_model};

mod common;
use common::{assert_same_ir, run_ovc, venv_bin};

/// Makes the ONNX models and converts each with `ovc` (no FP16 compression).
fn ovc_irs(tmp: &Path) -> Vec<(String, PathBuf)> {
    let bin = venv_bin();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/control_flow/make_models.py");
    let o = Command::new(bin.join("python")).arg(&script).arg(tmp).output().expect("run python");
    assert!(o.status.success(), "make_models.py failed: {}", String::from_utf8_lossy(&o.stderr));
    let mut out = Vec::new();
    for stem in ["if", "loop", "scan", "nested"] {
        let onnx = tmp.join(format!("{stem}.onnx"));
        let xml = tmp.join(format!("ov/{stem}.xml"));
        run_ovc(&bin, &onnx, &tmp.join(format!("ov/{stem}")), &["--compress_to_fp16=False"]);
        out.push((stem.to_string(), xml));
    }
    out
}

#[test]
fn ovc_sub_graph_irs_read_and_rewrite_byte_identically() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (stem, ov_xml) in ovc_irs(tmp.path()) {
        let model = read_model(&ov_xml).unwrap_or_else(|e| panic!("reading ovc IR of {stem}: {e}"));
        assert!(model.body_depth() >= 1, "{stem}: no body was read");
        let ours = tmp.path().join(format!("ours/{stem}.xml"));
        save_model(&model, &ours, &SaveOptions::default()).expect("write back");
        assert_same_ir(&stem, &ov_xml, &ours);
        // Reading our own output gives the same structure again.
        let back = read_model(&ours).expect("read ours");
        assert_eq!(back.node_count(), model.node_count(), "{stem}");
    }
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.values::<f32>().expect("f32").into_owned()
}

#[test]
fn ovc_sub_graph_irs_evaluate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let irs = ovc_irs(tmp.path());
    let get = |s: &str| read_model(&irs.iter().find(|(n, _)| n == s).expect("ir").1).expect("read");
    let v = |x: &[f32]| Tensor::from_vec(vec![x.len()], x.to_vec()).expect("tensor");
    let run = |m: &ir_graph::Model, ins: &[Tensor]| ir_graph::eval::graph::run_model(m, ins).expect("run");

    let m = get("if");
    assert!(m.nodes().any(|(_, n)| matches!(n.op, Op::If(_))));
    let yes = Tensor::from_bools(vec![], &[true]).expect("b");
    let no = Tensor::from_bools(vec![], &[false]).expect("b");
    assert_eq!(f32s(&run(&m, &[yes, v(&[1., 2.]), v(&[3., 5.])])[0]), vec![4., 7.]);
    assert_eq!(f32s(&run(&m, &[no, v(&[1., 2.]), v(&[3., 5.])])[0]), vec![-2., -3.]);

    // x_{i+1} = x_i + a; scans_i = x_i * i.
    let m = get("loop");
    let out = run(&m, &[Tensor::scalar(3i64), v(&[1., 1.]), v(&[1., 2.])]);
    assert_eq!(f32s(&out[0]), vec![4., 7.]);
    assert_eq!(out[1].shape(), &[3, 2]);
    assert_eq!(f32s(&out[1]), vec![0., 0., 2., 3., 6., 10.]);
    let out = run(&m, &[Tensor::scalar(0i64), v(&[1., 1.]), v(&[1., 2.])]);
    assert_eq!(f32s(&out[0]), vec![1., 1.]);
    assert_eq!(out[1].shape(), &[0, 2]);

    // Running sum over rows.
    let m = get("scan");
    let xs = Tensor::from_vec(vec![3, 2], vec![1f32, 2., 3., 4., 5., 6.]).expect("xs");
    let out = run(&m, &[v(&[0., 0.]), xs]);
    assert_eq!(f32s(&out[0]), vec![9., 12.]);
    assert_eq!(f32s(&out[1]), vec![1., 2., 4., 6., 9., 12.]);

    // Odd iterations add a, even ones subtract it: 0 - a + a - a = -a.
    let m = get("nested");
    let out = run(&m, &[Tensor::scalar(3i64), v(&[0., 0.]), v(&[1., 2.])]);
    assert_eq!(f32s(&out[0]), vec![-1., -2.]);
}

/// `<layers>`/`<edges>` of a graph with a boolean Parameter, one If nested `levels` deep in
/// its then-branches, and a Result.
fn nested_if_graph(levels: usize) -> String {
    if levels == 0 {
        return r#"<layers><layer id="0" name="c" type="Parameter" version="opset1"><data shape="" element_type="boolean"/><output><port id="0" precision="BOOL"/></output></layer><layer id="1" name="r" type="Result" version="opset1"><input><port id="0" precision="BOOL"/></input></layer></layers><edges><edge from-layer="0" from-port="0" to-layer="1" to-port="0"/></edges>"#.to_string();
    }
    let inner = nested_if_graph(levels - 1);
    let leaf = nested_if_graph(0);
    let then_result = if levels == 1 { 1 } else { 2 };
    format!(
        r#"<layers><layer id="0" name="c" type="Parameter" version="opset1"><data shape="" element_type="boolean"/><output><port id="0" precision="BOOL"/></output></layer><layer id="1" name="if" type="If" version="opset8"><else_port_map><input external_port_id="1" internal_layer_id="0"/><output external_port_id="3" internal_layer_id="1"/></else_port_map><then_port_map><input external_port_id="2" internal_layer_id="0"/><output external_port_id="3" internal_layer_id="{then_result}"/></then_port_map><input><port id="0" precision="BOOL"/><port id="1" precision="BOOL"/><port id="2" precision="BOOL"/></input><output><port id="3" precision="BOOL"/></output><then_body>{inner}</then_body><else_body>{leaf}</else_body></layer><layer id="2" name="r" type="Result" version="opset1"><input><port id="0" precision="BOOL"/></input></layer></layers><edges><edge from-layer="0" from-port="0" to-layer="1" to-port="0"/><edge from-layer="0" from-port="0" to-layer="1" to-port="1"/><edge from-layer="0" from-port="0" to-layer="1" to-port="2"/><edge from-layer="1" from-port="3" to-layer="2" to-port="0"/></edges>"#
    )
}

#[test]
fn nested_bodies_read_evaluate_and_are_bounded() {
    let doc =
        |levels: usize| format!(r#"<?xml version="1.0"?><net name="n" version="11">{}</net>"#, nested_if_graph(levels));
    let m = ir_serialize::read_model_from(&doc(3), ir_graph::Bytes::empty()).expect("three levels read");
    assert_eq!(m.body_depth(), 3);
    let yes = Tensor::from_bools(vec![], &[true]).expect("b");
    let out = ir_graph::eval::graph::run_model(&m, &[yes]).expect("run");
    assert_eq!(out[0].bools().expect("bools"), vec![true]);
    let e = ir_serialize::read_model_from(&doc(40), ir_graph::Bytes::empty()).err().map(|e| e.to_string());
    assert!(e.as_deref().is_some_and(|e| e.contains("nested")), "{e:?}");
}
