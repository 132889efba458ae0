//! End-to-end tests of the `ovc` binary: flags, messages, exit codes and the IR it writes.
//!
//! The light-model test needs the project's Python venv (`target/py`, made by `cargo xtask
//! conformance` or `python3 -m venv target/py && target/py/bin/pip install -r xtask/requirements.txt`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn ovc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ovc"))
}

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

fn light_model(py: &Path, name: &str) -> PathBuf {
    let out = Command::new(py)
        .args(["-c", "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend/test/data/light'))"])
        .output()
        .expect("run venv python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join(format!("{name}.onnx"))
}

#[test]
fn usage_errors_exit_2() {
    for args in [&["--compress_to_fp16=maybe", "m.onnx"][..], &["--bogus", "m.onnx"], &[]] {
        let o = ovc().args(args).output().expect("run ovc");
        assert_eq!(o.status.code(), Some(2), "args {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn version_and_missing_input() {
    let o = ovc().arg("--version").output().expect("run ovc");
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("OpenVINO Model Converter (ovc) "));
    let o = ovc().arg("nope/missing.onnx").output().expect("run ovc");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "[ ERROR ]  The \"nope/missing.onnx\" is not existing file or directory\n"
    );
}

#[test]
fn garbage_input_is_one_error_paragraph() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.onnx");
    std::fs::write(&bad, b"this is not protobuf \xff\xff\xff").expect("write");
    let o = ovc().arg(&bad).current_dir(dir.path()).output().expect("run ovc");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("[ ERROR ]  "), "{err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    assert!(!dir.path().join("bad.xml").exists());
}

#[test]
fn converts_a_light_model_that_openvino_loads() {
    let py = venv_python();
    let onnx = light_model(&py, "light_squeezenet");
    let dir = tempfile::tempdir().expect("tempdir");

    // Default output: <cwd>/<stem>.xml, compressed, banner + SUCCESS lines.
    let o = ovc().arg(&onnx).current_dir(dir.path()).output().expect("run ovc");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let xml = dir.path().canonicalize().expect("canon").join("light_squeezenet.xml");
    assert!(stdout.starts_with("[ INFO ] Generated IR will be compressed to FP16."), "{stdout}");
    assert!(stdout.contains(&format!("[ SUCCESS ] XML file: {}\n", xml.display())), "{stdout}");
    assert!(stdout.contains(&format!("[ SUCCESS ] BIN file: {}\n", xml.with_extension("bin").display())), "{stdout}");
    let text = std::fs::read_to_string(&xml).expect("xml");
    assert!(text.contains("<attribute name=\"decompression\" version=\"0\" />"));
    assert!(text.contains("<Runtime_version value="));
    assert!(text.contains("<is_python_object value=\"False\" />"));

    // Explicit output path without .xml, bare --compress_to_fp16 (disables compression).
    let o = ovc()
        .arg(&onnx)
        .args(["--output_model", "out/sq", "--compress_to_fp16"])
        .current_dir(dir.path())
        .output()
        .expect("run ovc");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(!stdout.contains("[ INFO ]"), "{stdout}");
    let xml32 = dir.path().join("out/sq.xml");
    let text32 = std::fs::read_to_string(&xml32).expect("xml");
    assert!(!text32.contains("decompression"));
    assert!(text32.contains("<output_model value=\"out/sq\" />"));

    // Our reader and the real OpenVINO both load the result.
    for path in [&xml, &xml32] {
        ir_serialize::read_model(path).expect("our reader");
        let o = Command::new(&py)
            .args(["-c", "import sys, openvino as ov; c = ov.Core(); c.compile_model(c.read_model(sys.argv[1]), 'CPU'); print('ok')"])
            .arg(path)
            .env("OPENVINO_TELEMETRY_OPTOUT", "1")
            .output()
            .expect("run python");
        assert!(o.status.success(), "OpenVINO rejected {}: {}", path.display(), String::from_utf8_lossy(&o.stderr));
    }
}
