//! Usage errors (exit 2), the fuzzers' entry points on hostile bytes, and replay of the
//! committed fuzz corpora (`fuzz/corpus/*`) through the same entry points.

use std::path::PathBuf;

use prost::Message;

use crate::common::*;

#[test]
fn unknown_flag_is_a_usage_error() {
    let w = Work::new();
    let p = w.write_model("m.onnx", &good_model());
    w.ovc(&p, &["--bogus"]).failed_with_code(2, &["--bogus"]);
}

#[test]
fn bad_flag_value_is_a_usage_error() {
    let w = Work::new();
    let p = w.write_model("m.onnx", &good_model());
    w.ovc(&p, &["--compress_to_fp16=maybe"]).failed_with_code(2, &["maybe"]);
}

#[test]
fn missing_input_model_is_a_usage_error() {
    let w = Work::new();
    w.run(env!("CARGO_BIN_EXE_ovc"), &[]).failed_with_code(2, &["INPUT_MODEL"]);
}

#[test]
fn input_spec_parser_never_panics_on_odd_text() {
    for s in [
        "",
        "[",
        "]",
        "[[]]",
        "x[",
        "x]",
        "x[1..",
        "x[..]",
        "x[99999999999999999999999]",
        "x[-2]",
        ",",
        "[],[]",
        "é[1]",
        "x[1,2]]",
    ] {
        let _ = ovc_cli::parse_input_spec(s);
    }
}

#[test]
fn convert_from_bytes_refuses_external_data() {
    let m = model_with_initializer(external_tensor("w", &[2], &[("location", "w.bin")]));
    let e = ovc_cli::fuzzing::convert_onnx_input(&m.encode_to_vec()).expect_err("no folder");
    assert!(e.contains("tensor 'w'") && e.contains("not read from a file"), "{e}");
    assert!(ovc_cli::fuzzing::convert_onnx_input(&good_model().encode_to_vec()).is_ok());
}

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    files
}

#[test]
fn replay_onnx_convert_corpus() {
    let mut ok = 0;
    for f in corpus("onnx_convert") {
        let data = std::fs::read(&f).expect("read");
        if ovc_cli::fuzzing::convert_onnx_input(&data).is_ok() {
            ok += 1;
        }
    }
    assert!(ok > 0, "no seed of the onnx_convert corpus converts");
}

#[test]
fn replay_ir_read_corpus() {
    let mut ok = 0;
    for f in corpus("ir_read") {
        let data = std::fs::read(&f).expect("read");
        if let Some(Ok(_)) = ovc_cli::fuzzing::read_ir_input(&data) {
            ok += 1;
        }
    }
    assert!(ok > 0, "no seed of the ir_read corpus reads");
}

#[test]
fn replay_input_shape_corpus() {
    for f in corpus("input_shape") {
        let data = std::fs::read(&f).expect("read");
        if let Ok(s) = std::str::from_utf8(&data) {
            let _ = ovc_cli::parse_input_spec(s);
        }
    }
}

#[test]
fn replay_regressions() {
    // Crashes found by fuzzing, kept as files (see fuzz/regressions/<target>/).
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    for target in ["onnx_convert", "ir_read", "input_shape"] {
        let Ok(entries) = std::fs::read_dir(dir.join(target)) else { continue };
        for e in entries {
            let data = std::fs::read(e.expect("entry").path()).expect("read");
            match target {
                "onnx_convert" => drop(ovc_cli::fuzzing::convert_onnx_input(&data)),
                "ir_read" => drop(ovc_cli::fuzzing::read_ir_input(&data)),
                _ => drop(std::str::from_utf8(&data).map(ovc_cli::parse_input_spec)),
            }
        }
    }
}
