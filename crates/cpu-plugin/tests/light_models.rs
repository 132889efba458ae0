//! The nine ONNX backend "light" models against the shipped outputs: ONNX -> Model -> CPU plugin,
//! and OpenVINO's own `ovc` IR of each -> our IR reader -> CPU plugin.
//!
//! Input is `arange(n) / n` reshaped to the model's input shape, the same input the backend
//! test data was produced with. The models come from the pinned onnx wheel in `target/py`
//! (`cargo xtask test` installs it); without it the tests fail and say how to install it.

mod common;

use std::path::{Path, PathBuf};

use cpu_plugin::{Config, compile_model};
use ir_graph::Tensor;
use onnx_frontend::{ConvertOptions, convert_model};

fn light_dir() -> PathBuf {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py/lib");
    let found = std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("site-packages/onnx/backend/test/data/light"))
        .find(|p| p.is_dir());
    found.unwrap_or_else(|| lib.join("python3/site-packages/onnx/backend/test/data/light"))
}

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Minimal `TensorProto` decoder for float tensors: dims (1), data_type (2), float_data (4),
/// raw_data (9).
fn read_tensor_pb(path: &Path) -> Tensor {
    let b = std::fs::read(path).expect("read pb");
    let (mut dims, mut floats, mut pos) = (Vec::new(), Vec::new(), 0usize);
    while pos < b.len() {
        let key = varint(&b, &mut pos).expect("key");
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = varint(&b, &mut pos).expect("varint");
                if field == 1 {
                    dims.push(v as usize);
                }
            }
            2 => {
                let len = varint(&b, &mut pos).expect("len") as usize;
                let body = &b[pos..pos + len];
                pos += len;
                match field {
                    1 => {
                        let mut p = 0;
                        while p < body.len() {
                            dims.push(varint(body, &mut p).expect("dim") as usize);
                        }
                    }
                    4 | 9 => floats.extend(body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
                    _ => {}
                }
            }
            5 => pos += 4,
            1 => pos += 8,
            _ => panic!("unsupported wire type {wire}"),
        }
    }
    Tensor::from_vec(dims, floats).expect("tensor")
}

fn run_light(name: &str) {
    let dir = light_dir();
    let model_path = dir.join(format!("light_{name}.onnx"));
    if !model_path.exists() {
        panic!(
            "{} not found: run `cargo xtask test` once to install the pinned onnx wheel under target/py",
            model_path.display()
        );
    }
    let want = read_tensor_pb(&dir.join(format!("light_{name}_output_0.pb")));
    let model = convert_model(&model_path, &ConvertOptions::default()).expect("convert");
    check(&model, &want, name);

    // The same model as OpenVINO's own `ovc` writes it (FP16-compressed weights, its fusions).
    let ovc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py/bin/ovc");
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new(&ovc)
        .arg(&model_path)
        .arg("--output_model")
        .arg(tmp.path().join("m"))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask test` once to create target/py)", ovc.display()));
    assert!(out.status.success(), "OpenVINO's ovc failed on {name}: {}", String::from_utf8_lossy(&out.stderr));
    let theirs = ir_serialize::read_model(&tmp.path().join("m.xml")).expect("read OpenVINO's IR");
    check(&theirs, &want, &format!("{name} (OpenVINO's IR)"));
}

/// Compiles `model`, runs it on `arange(n)/n` and compares with the reference output.
fn check(model: &ir_graph::Model, want: &Tensor, name: &str) {
    let compiled = compile_model(model, &Config::default()).expect("compile");
    let shape = compiled.inputs()[0].shape.to_static().expect("static input");
    let n: usize = shape.iter().product();
    let x = Tensor::from_vec(shape, (0..n).map(|i| i as f32 / n as f32).collect()).expect("input");
    let got = compiled.create_infer_request().infer(&[x]).expect("infer");
    common::assert_close(&got[0], want, 1e-3, 1e-5, name);
    eprintln!("{name}: ok; plan {:?}", compiled.execution_summary());
}

macro_rules! light {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            run_light(stringify!($name));
        }
    )*};
}

light!(bvlc_alexnet, densenet121, inception_v1, inception_v2, resnet50, shufflenet, squeezenet, vgg19, zfnet512);
