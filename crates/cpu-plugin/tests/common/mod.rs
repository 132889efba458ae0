//! Helpers shared by the plugin's integration tests.
#![allow(dead_code)]

use cpu_plugin::{Config, PerformanceHint, compile_model, reference_infer};
use ir_graph::{ElementType, Model, NodeId, OutputRef, PartialShape, Tensor};

/// Deterministic pseudo-random values in [-1, 1).
pub fn rand_vec(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x1234_5678);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// A random f32 tensor.
pub fn rand_tensor(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(shape.to_vec(), rand_vec(n, seed)).expect("tensor")
}

/// Adds an f32 parameter.
pub fn param(m: &mut Model, name: &str, shape: &[usize]) -> OutputRef {
    m.add_parameter(name, ElementType::F32, PartialShape::fixed(shape)).expect("param").into()
}

/// Adds a random f32 constant.
pub fn rand_const(m: &mut Model, name: &str, shape: &[usize], seed: u64) -> OutputRef {
    m.add_const(name, rand_tensor(shape, seed)).expect("const").into()
}

/// Adds an i64 1-D constant.
pub fn i64_const(m: &mut Model, name: &str, v: &[i64]) -> OutputRef {
    m.add_const(name, Tensor::from_vec(vec![v.len()], v.to_vec()).expect("i64")).expect("const").into()
}

/// Adds a Result for `out`.
pub fn result(m: &mut Model, out: impl Into<OutputRef>) -> NodeId {
    let out = out.into();
    m.add_result(&format!("out{}", m.results().len()), out).expect("result")
}

/// Asserts `got` and `want` are close (rtol, atol).
pub fn assert_close(got: &Tensor, want: &Tensor, rtol: f32, atol: f32, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_eq!(got.element_type(), want.element_type(), "{what}: type");
    if got.element_type() != ElementType::F32 {
        assert_eq!(got.raw(), want.raw(), "{what}: data");
        return;
    }
    let (g, w) = (got.values::<f32>().expect("f32"), want.values::<f32>().expect("f32"));
    let mut worst = (0usize, 0.0f32);
    for (i, (&a, &b)) in g.iter().zip(w.iter()).enumerate() {
        let err = (a - b).abs();
        let tol = atol + rtol * b.abs();
        let ok = err <= tol || (a.is_nan() && b.is_nan()) || a == b;
        let err = if err.is_nan() { f32::INFINITY } else { err };
        if !ok && err >= worst.1 {
            worst = (i, err.max(f32::MIN_POSITIVE));
        }
    }
    assert!(worst.1 == 0.0, "{what}: index {} got {} want {} (err {})", worst.0, g[worst.0], w[worst.0], worst.1);
}

/// Compiles `model` (1 thread, latency), runs it and the reference interpreter on `inputs`,
/// compares outputs and returns the plan summary (for "did the fast path apply" checks).
pub fn check_against_reference(model: &Model, inputs: &[Tensor]) -> Vec<(String, usize)> {
    check_with(model, inputs, &Config { inference_num_threads: Some(1), performance_hint: PerformanceHint::Latency })
}

/// Same as [`check_against_reference`] with an explicit config.
pub fn check_with(model: &Model, inputs: &[Tensor], config: &Config) -> Vec<(String, usize)> {
    check_with_tol(model, inputs, config, |_| (1e-4, 1e-5))
}

/// Same as [`check_with`] with `(rtol, atol)` chosen per expected output by `tol`.
pub fn check_with_tol(
    model: &Model,
    inputs: &[Tensor],
    config: &Config,
    tol: impl Fn(&Tensor) -> (f32, f32),
) -> Vec<(String, usize)> {
    let want = reference_infer(model, inputs).expect("reference");
    let compiled = compile_model(model, config).expect("compile");
    let mut req = compiled.create_infer_request();
    for round in 0..2 {
        let got = req.infer(inputs).expect("infer");
        assert_eq!(got.len(), want.len());
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            let (rtol, atol) = tol(w);
            assert_close(g, w, rtol, atol, &format!("output {k} (round {round})"));
        }
    }
    compiled.execution_summary()
}

/// Whether a summary has any reference-fallback step.
pub fn has_fallback(summary: &[(String, usize)]) -> bool {
    summary.iter().any(|(k, _)| k.starts_with("fallback:"))
}
