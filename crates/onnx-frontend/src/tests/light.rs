//! The nine `light_*` models shipped in the onnx wheel's backend test data.

use std::path::PathBuf;

use crate::test_support::op_counts;
use crate::{ConvertOptions, convert_model, read_onnx};

/// The folder of the light models in the project's Python venv (`ONNX_LIGHT_MODELS` overrides).
fn light_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ONNX_LIGHT_MODELS") {
        return Some(PathBuf::from(p));
    }
    let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/py/lib");
    std::fs::read_dir(lib)
        .ok()?
        .flatten()
        .map(|e| e.path().join("site-packages/onnx/backend/test/data/light"))
        .find(|p| p.is_dir())
}

fn convert(name: &str) -> Option<ir_graph::Model> {
    // These models come from the pinned onnx wheel; `cargo xtask test` installs it first.
    let dir = light_dir().unwrap_or_else(|| {
        panic!("the onnx wheel's light models are missing: run `cargo xtask test` (or `cargo xtask conformance`) once to create target/py")
    });
    let path = dir.join(format!("light_{name}.onnx"));
    let m = convert_model(&path, &ConvertOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let counts = op_counts(&m);
    for banned in ["Broadcast", "ShapeOf", "Gather"] {
        assert!(!counts.contains_key(banned), "{name}: {banned} left after folding: {counts:?}");
    }
    assert_eq!(m.name, "onnx_Frontend_IR");
    assert_eq!(m.parameters().len(), 1, "{name}: {counts:?}");
    assert_eq!(m.results().len(), 1, "{name}");
    let result = m.node(m.results()[0]).expect("result");
    assert!(result.name.ends_with("/sink_port_0"), "{}", result.name);
    let out = m.port(m.node(m.results()[0]).expect("r").inputs[0]).expect("port");
    assert!(out.shape.is_static(), "{name}: output shape {}", out.shape);
    Some(m)
}

fn count(m: &ir_graph::Model, t: &str) -> usize {
    op_counts(m).get(t).copied().unwrap_or(0)
}

#[test]
fn alexnet() {
    let Some(m) = convert("bvlc_alexnet") else { return };
    assert_eq!(count(&m, "Convolution") + count(&m, "GroupConvolution"), 5);
    assert_eq!(count(&m, "MatMul"), 3);
    assert_eq!(count(&m, "LRN"), 2);
    assert_eq!(count(&m, "MaxPool"), 3);
    assert_eq!(count(&m, "SoftMax"), 1);
}

#[test]
fn densenet121() {
    let Some(m) = convert("densenet121") else { return };
    assert_eq!(count(&m, "Convolution"), 121);
    assert_eq!(count(&m, "Concat"), 58);
    assert_eq!(count(&m, "BatchNormInference"), 121);
}

#[test]
fn inception_v1() {
    let Some(m) = convert("inception_v1") else { return };
    assert_eq!(count(&m, "Convolution"), 57);
    assert_eq!(count(&m, "LRN"), 2);
    assert_eq!(count(&m, "Concat"), 9);
}

#[test]
fn inception_v2() {
    let Some(m) = convert("inception_v2") else { return };
    assert!(count(&m, "Convolution") > 60);
    assert!(count(&m, "BatchNormInference") > 60);
}

#[test]
fn resnet50() {
    let Some(m) = convert("resnet50") else { return };
    assert_eq!(count(&m, "Convolution"), 53);
    assert_eq!(count(&m, "MatMul"), 1);
    assert_eq!(count(&m, "BatchNormInference"), 53);
}

#[test]
fn shufflenet() {
    let Some(m) = convert("shufflenet") else { return };
    assert_eq!(count(&m, "GroupConvolution"), 48);
    assert_eq!(count(&m, "Transpose"), 16);
}

#[test]
fn squeezenet() {
    let Some(m) = convert("squeezenet") else { return };
    assert_eq!(count(&m, "Convolution"), 26);
    assert_eq!(count(&m, "Concat"), 8);
    assert_eq!(count(&m, "ReduceMean") + count(&m, "AvgPool"), 1);
}

#[test]
fn vgg19() {
    let Some(m) = convert("vgg19") else { return };
    assert_eq!(count(&m, "Convolution"), 16);
    assert_eq!(count(&m, "MatMul"), 3);
    assert_eq!(count(&m, "MaxPool"), 5);
}

#[test]
fn zfnet512() {
    let Some(m) = convert("zfnet512") else { return };
    assert_eq!(count(&m, "Convolution") + count(&m, "GroupConvolution"), 5);
    assert_eq!(count(&m, "MatMul"), 3);
}

#[test]
fn read_keeps_initializer_inputs_as_constants() {
    let Some(dir) = light_dir() else { return };
    // ir_version 3 models list every initializer as a graph input too.
    let m = read_onnx(&dir.join("light_squeezenet.onnx")).expect("read");
    assert_eq!(m.parameters().len(), 1);
    assert!(count(&m, "Const") > 50);
}
