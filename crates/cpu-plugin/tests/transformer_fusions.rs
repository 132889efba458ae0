//! Transformer-path fast steps (vectorised unary ops, fused layer norm and GELU) against the
//! reference evaluator on small random models.

mod common;

use common::*;
use ir_graph::ops::*;
use ir_graph::{Model, OutputRef, Tensor};

fn scalar(m: &mut Model, name: &str, v: f32) -> OutputRef {
    m.add_const(name, Tensor::from_vec(vec![], vec![v]).expect("scalar")).expect("const").into()
}

/// Random input spread over [-4, 4) so erf/tanh cover both of their approximation ranges.
fn wide_input(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(shape.to_vec(), rand_vec(n, seed).iter().map(|v| v * 4.0).collect()).expect("t")
}

fn count(summary: &[(String, usize)], kind: &str) -> usize {
    summary.iter().filter(|(k, _)| k == kind).map(|(_, n)| n).sum()
}

#[test]
fn unary_ops_match_reference_without_fallback() {
    let shape = [2, 3, 37];
    let mut m = Model::new("unary");
    let x = param(&mut m, "x", &shape);
    let mut outs = vec![
        m.add_node(Erf {}, "erf", &[x]).expect("erf"),
        m.add_node(Abs {}, "abs", &[x]).expect("abs"),
        m.add_node(Negative {}, "neg", &[x]).expect("neg"),
        m.add_node(Gelu { approximation_mode: GeluApproximation::Erf }, "gelu", &[x]).expect("gelu"),
        m.add_node(Gelu { approximation_mode: GeluApproximation::Tanh }, "gelu_t", &[x]).expect("gelu_t"),
        m.add_node(Swish {}, "swish", &[x]).expect("swish"),
        m.add_node(HSwish {}, "hswish", &[x]).expect("hswish"),
        m.add_node(Tanh {}, "tanh", &[x]).expect("tanh"),
    ];
    let ax = m.add_node(Abs {}, "abs2", &[x]).expect("abs");
    outs.push(m.add_node(Sqrt {}, "sqrt", &[ax.into()]).expect("sqrt"));
    for (k, p) in [2.0f32, 0.5, 3.0, -1.5].into_iter().enumerate() {
        let e = scalar(&mut m, &format!("e{k}"), p);
        outs.push(m.add_node(Power::default(), &format!("pow{k}"), &[ax.into(), e]).expect("pow"));
    }
    for o in outs {
        result(&mut m, o);
    }
    let s = check_against_reference(&m, &[wide_input(&shape, 3)]);
    assert!(!has_fallback(&s), "{s:?}");
}

/// Builds the PyTorch-exported decomposed layer norm of `x` over the last axis.
fn decomposed_ln(m: &mut Model, x: OutputRef, cols: usize, p: &str) -> OutputRef {
    let axes = i64_const(m, &format!("{p}axes"), &[-1]);
    let mean = m.add_node(ReduceMean { keep_dims: true }, &format!("{p}mean"), &[x, axes]).expect("mean");
    let d = m.add_node(Subtract::default(), &format!("{p}sub"), &[x, mean.into()]).expect("sub");
    let two = scalar(m, &format!("{p}two"), 2.0);
    let pw = m.add_node(Power::default(), &format!("{p}pow"), &[d.into(), two]).expect("pow");
    let var = m.add_node(ReduceMean { keep_dims: true }, &format!("{p}var"), &[pw.into(), axes]).expect("var");
    let eps = scalar(m, &format!("{p}eps"), 1e-5);
    let ve = m.add_node(Add::default(), &format!("{p}add_eps"), &[var.into(), eps]).expect("add");
    let sd = m.add_node(Sqrt {}, &format!("{p}std"), &[ve.into()]).expect("sqrt");
    let n = m.add_node(Divide::default(), &format!("{p}norm"), &[d.into(), sd.into()]).expect("div");
    let g = rand_const(m, &format!("{p}gamma"), &[cols], 11);
    let b = rand_const(m, &format!("{p}beta"), &[cols], 12);
    let sc = m.add_node(Multiply::default(), &format!("{p}scale"), &[n.into(), g]).expect("mul");
    m.add_node(Add::default(), &format!("{p}out"), &[sc.into(), b]).expect("add").into()
}

#[test]
fn decomposed_and_mvn_layer_norm_fuse_into_one_step() {
    let shape = [2, 5, 48];
    let mut m = Model::new("ln");
    let x = param(&mut m, "x", &shape);
    let y = decomposed_ln(&mut m, x, 48, "a/");
    // A second one fed by a residual add, as in BERT.
    let r = m.add_node(Add::default(), "res", &[y, x]).expect("res");
    let y2 = decomposed_ln(&mut m, r.into(), 48, "b/");
    result(&mut m, y2);
    // MVN + gamma + beta (the frontend's ONNX LayerNormalization).
    let axes = i64_const(&mut m, "maxes", &[-1]);
    let mvn = Mvn { eps: 1e-5, normalize_variance: true, eps_mode: EpsMode::InsideSqrt };
    let mv = m.add_node(mvn, "mvn", &[x, axes]).expect("mvn");
    let g = rand_const(&mut m, "mg", &[48], 13);
    let b = rand_const(&mut m, "mb", &[48], 14);
    let sc = m.add_node(Multiply::default(), "mscale", &[mv.into(), g]).expect("mul");
    let o = m.add_node(Add::default(), "mout", &[sc.into(), b]).expect("add");
    result(&mut m, o);
    let inputs = [wide_input(&shape, 5)];
    let s = check_against_reference(&m, &inputs);
    assert!(!has_fallback(&s), "{s:?}");
    assert_eq!(count(&s, "LayerNorm"), 3, "{s:?}");
    assert_eq!(count(&s, "Eltwise") + count(&s, "ScaleShift"), 1, "only the residual add stays: {s:?}");
}

#[test]
fn gelu_erf_chains_fuse_into_one_step() {
    let shape = [3, 40];
    let mut m = Model::new("gelu");
    let x = param(&mut m, "x", &shape);
    let w = rand_const(&mut m, "w", &[40, 40], 2);
    let bias = rand_const(&mut m, "bias", &[40], 3);
    let mm = m.add_node(MatMul::default(), "mm", &[x, w]).expect("mm");
    let f: OutputRef = m.add_node(Add::default(), "bias_add", &[mm.into(), bias]).expect("add").into();
    // Form 1 (HF/BERT export): (f * (1 + erf(f / sqrt2))) * 0.5.
    let s2 = scalar(&mut m, "sqrt2", std::f32::consts::SQRT_2);
    let one = scalar(&mut m, "one", 1.0);
    let half = scalar(&mut m, "half", 0.5);
    let d = m.add_node(Divide::default(), "div", &[f, s2]).expect("div");
    let e = m.add_node(Erf {}, "erf", &[d.into()]).expect("erf");
    let a = m.add_node(Add::default(), "add1", &[e.into(), one]).expect("add");
    let m1 = m.add_node(Multiply::default(), "mul", &[f, a.into()]).expect("mul");
    let g1 = m.add_node(Multiply::default(), "gelu1", &[m1.into(), half]).expect("mul");
    result(&mut m, g1);
    // Form 2: (x * 0.5) * (1 + erf(x * (1/sqrt2))), with the half computed first.
    let h = m.add_node(Multiply::default(), "half_x", &[x, half]).expect("mul");
    let is2 = scalar(&mut m, "isqrt2", std::f32::consts::FRAC_1_SQRT_2);
    let d2 = m.add_node(Multiply::default(), "div2", &[x, is2]).expect("mul");
    let e2 = m.add_node(Erf {}, "erf2", &[d2.into()]).expect("erf");
    let a2 = m.add_node(Add::default(), "add2", &[one, e2.into()]).expect("add");
    let g2 = m.add_node(Multiply::default(), "gelu2", &[h.into(), a2.into()]).expect("mul");
    result(&mut m, g2);
    let s = check_against_reference(&m, &[wide_input(&shape, 9)]);
    assert!(!has_fallback(&s), "{s:?}");
    assert_eq!(count(&s, "Activation"), 2, "{s:?}");
}
