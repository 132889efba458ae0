//! `benchmark_app` end to end: report format, hints, shape override, and argument errors.

use std::path::PathBuf;
use std::process::Command;

/// The squeezenet model committed under tests/models.
fn squeezenet() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/models/squeezenet.onnx")
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_benchmark_app")).args(args).output().expect("spawn benchmark_app");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn reports_count_duration_latency_and_throughput() {
    let model = squeezenet();
    let model = model.to_string_lossy().into_owned();
    for hint in ["latency", "throughput"] {
        let (ok, out, err) = run(&["-m", &model, "-niter", "4", "-nthreads", "2", "-hint", hint, "-pc"]);
        assert!(ok, "{hint}: {err}\n{out}");
        for needle in [
            "First inference took",
            "Count:",
            "iterations",
            "Duration:",
            "Latency:",
            "Median:",
            "Average:",
            "Min:",
            "Max:",
            "Throughput:",
            "FPS",
            "Time by kernel",
        ] {
            assert!(out.contains(needle), "{hint}: missing '{needle}' in\n{out}");
        }
        let count: usize = out
            .lines()
            .find(|l| l.contains("Count:"))
            .and_then(|l| l.split_whitespace().find_map(|w| w.parse().ok()))
            .expect("count");
        assert_eq!(count, 4, "{out}");
    }
}

#[test]
fn shape_override_and_bad_arguments() {
    let model = squeezenet();
    let model = model.to_string_lossy().into_owned();
    let (ok, out, err) = run(&["-m", &model, "-niter", "1", "-shape", "data_0[1,3,256,256]"]);
    assert!(ok, "{err}");
    assert!(out.contains("[1, 3, 256, 256]"), "{out}");
    let (ok, _, err) = run(&["-m", &model, "-shape", "nope[1,3,224,224]"]);
    assert!(!ok && err.contains("nope"), "{err}");
    let (ok, _, err) = run(&["-niter", "1"]);
    assert!(!ok && err.contains("-m MODEL is required"), "{err}");
    let (ok, _, err) = run(&["-m", "/nonexistent/model.onnx", "-niter", "1"]);
    assert!(!ok && err.contains("cannot read model"), "{err}");
}
