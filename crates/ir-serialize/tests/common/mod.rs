//! Helpers shared by the integration tests that compare our IR with OpenVINO's `ovc` output.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The venv's bin folder; fails (never skips) with instructions when it is missing.
pub fn venv_bin() -> PathBuf {
    let root = workspace_root();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => root.join(d),
        _ => root.join("target"),
    };
    let mut bin = target.join("py/bin");
    if !bin.join("ovc").exists() {
        // A private target dir without its own venv: use the workspace's.
        bin = root.join("target/py/bin");
    }
    assert!(
        bin.join("ovc").exists() && bin.join("python").exists(),
        "the OpenVINO Python venv is missing: {} has no `ovc`/`python`.\n\
         Create it from the workspace root with\n    python3 -m venv target/py && \
         target/py/bin/pip install -r xtask/requirements.txt\n(or run `cargo xtask conformance` once).",
        bin.display()
    );
    bin
}

/// Converts `onnx` with OpenVINO's `ovc` into `out` (`.xml`/`.bin` added by `ovc`).
pub fn run_ovc(bin: &Path, onnx: &Path, out: &Path, extra: &[&str]) {
    let o = Command::new(bin.join("ovc"))
        .arg(onnx)
        .arg("--output_model")
        .arg(out)
        .args(extra)
        .env("OPENVINO_TELEMETRY_OPTOUT", "1")
        .output()
        .expect("run ovc");
    assert!(o.status.success(), "ovc failed on {}: {}", onnx.display(), String::from_utf8_lossy(&o.stderr));
}

/// Asserts that two IRs are byte-identical, `.xml` (showing the first differing lines) and `.bin`.
pub fn assert_same_ir(stem: &str, ov_xml: &Path, ours_xml: &Path) {
    let a = std::fs::read_to_string(ov_xml).expect("ovc xml");
    let b = std::fs::read_to_string(ours_xml).expect("our xml");
    if a != b {
        let line = a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(0);
        let ctx = |s: &str| s.lines().skip(line.saturating_sub(3)).take(8).collect::<Vec<_>>().join("\n");
        panic!("{stem}: XML differs at line {}:\n--- ovc\n{}\n--- ours\n{}", line + 1, ctx(&a), ctx(&b));
    }
    let ov_bin = std::fs::read(ov_xml.with_extension("bin")).expect("ovc bin");
    let our_bin = std::fs::read(ours_xml.with_extension("bin")).expect("our bin");
    assert!(ov_bin == our_bin, "{stem}: .bin files differ ({} vs {} bytes)", ov_bin.len(), our_bin.len());
}
