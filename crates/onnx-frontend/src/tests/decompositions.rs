//! Decompositions checked numerically against values computed here.

use ir_graph::eval::graph::run_model;
use ir_graph::{Model, Op, Tensor};

use crate::proto::attribute_proto::AttributeType;
use crate::proto::{AttributeProto, GraphProto, NodeProto};
use crate::test_support::*;

fn graph_attr(name: &str, g: GraphProto) -> AttributeProto {
    let mut p = AttributeProto { name: Some(name.into()), g: Some(g), ..Default::default() };
    p.set_type(AttributeType::Graph);
    p
}

fn modifier(name: &str, nodes: Vec<NodeProto>, inits: Vec<crate::proto::TensorProto>) -> GraphProto {
    GraphProto {
        name: Some(name.into()),
        input: vec![value_info("s", F32, &[None, None, None, None])],
        node: nodes,
        initializer: inits,
        output: vec![crate::proto::ValueInfoProto { name: Some("out".into()), ..Default::default() }],
        ..Default::default()
    }
}

fn tensor(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_vec(shape.to_vec(), v.to_vec()).expect("tensor")
}

fn run(m: &Model, ins: &[Tensor]) -> Vec<Vec<f32>> {
    let outs = run_model(m, ins).unwrap_or_else(|e| panic!("evaluation failed: {e}"));
    outs.iter().map(|t| t.values::<f32>().expect("f32").into_owned()).collect()
}

fn assert_close(got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((*g as f64 - w).abs() < 1e-5, "{got:?} vs {want:?}");
    }
}

#[test]
fn flex_attention_inlines_score_and_prob_modifiers() {
    // One head, two queries, two keys of size 1; score_mod adds an outer-scope bias (masking
    // key 1 for query 0), prob_mod doubles the probabilities.
    let score_mod = modifier("score", vec![node("Add", &["s", "bias"], &["out"], vec![])], vec![]);
    let prob_mod =
        modifier("prob", vec![node("Mul", &["s", "two"], &["out"], vec![])], vec![f32_typed("two", &[], &[2.0])]);
    let mut n = node("FlexAttention", &["q", "k", "v"], &["y"], vec![("scale", A::F(0.5))]);
    n.domain = Some("ai.onnx.preview".into());
    n.attribute.push(graph_attr("score_mod", score_mod));
    n.attribute.push(graph_attr("prob_mod", prob_mod));
    let mut b = Builder::new(26)
        .input(vi("q", F32, &[1, 1, 2, 1]))
        .input(vi("k", F32, &[1, 1, 2, 1]))
        .input(vi("v", F32, &[1, 1, 2, 1]))
        .init(f32_typed("bias", &[2, 2], &[0.0, f32::NEG_INFINITY, 0.0, 0.0]))
        .node(n)
        .output("y");
    b.opsets.push(("ai.onnx.preview".into(), 1));
    let m = b.read_ok();
    assert!(!m.nodes().any(|(_, n)| matches!(n.op, Op::If(_) | Op::Loop(_) | Op::TensorIterator(_))));
    let (q, k, v) = ([1.0f64, 2.0], [3.0f64, -1.0], [10.0f64, 20.0]);
    let y = run(
        &m,
        &[
            tensor(&[1, 1, 2, 1], &[1.0, 2.0]),
            tensor(&[1, 1, 2, 1], &[3.0, -1.0]),
            tensor(&[1, 1, 2, 1], &[10.0, 20.0]),
        ],
    );
    // Query 0 sees key 0 only; query 1 both.
    let s: Vec<f64> = k.iter().map(|kk| q[1] * kk * 0.5).collect();
    let e: Vec<f64> = s.iter().map(|x| (x - s[0].max(s[1])).exp()).collect();
    let p1: Vec<f64> = e.iter().map(|x| 2.0 * x / (e[0] + e[1])).collect();
    assert_close(&y[0], &[2.0 * v[0], p1[0] * v[0] + p1[1] * v[1]]);
}

fn grid_sample_5d(mode: &'static str, padding: &'static str, points: &[[f32; 3]]) -> Vec<f32> {
    let n = points.len() as i64;
    let b = Builder::new(22)
        .input(vi("x", F32, &[1, 1, 2, 2, 2]))
        .input(vi("g", F32, &[1, 1, 1, n, 3]))
        .node(node(
            "GridSample",
            &["x", "g"],
            &["y"],
            vec![("mode", A::S(mode)), ("padding_mode", A::S(padding)), ("align_corners", A::I(1))],
        ))
        .output("y");
    let m = b.read_ok();
    assert!(!m.nodes().any(|(_, n)| matches!(n.op, Op::GridSample(_))));
    let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
    let g: Vec<f32> = points.iter().flatten().copied().collect();
    run(&m, &[tensor(&[1, 1, 2, 2, 2], &x), tensor(&[1, 1, 1, points.len(), 3], &g)]).remove(0)
}

#[test]
fn grid_sample_5d_samples_like_the_reference() {
    // x[z, y, x] = 4z + 2y + x; grid points are (x, y, z) in [-1, 1] with corners aligned.
    let corner_center = [[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [1.0, -1.0, -1.0], [3.0, 0.0, 0.0]];
    // Linear, zeros: both x taps of the last point (unnormalized 2) are out of range.
    assert_close(&grid_sample_5d("linear", "zeros", &corner_center), &[0.0, 3.5, 1.0, 0.0]);
    // Border clamps the last point to x = 1, at y = z = 0.5: 1 + 2 * 0.5 + 4 * 0.5.
    assert_close(&grid_sample_5d("linear", "border", &corner_center), &[0.0, 3.5, 1.0, 4.0]);
    // Reflection: x = 2 (unnormalized 1.5) reflects to 0.5.
    assert_close(&grid_sample_5d("linear", "reflection", &[[2.0, -1.0, -1.0]]), &[0.5]);
    // Nearest rounds half to even: 0.5 -> 0, 1.5 (out of range) -> zero.
    let near = [[0.0, -1.0, 1.0], [0.2, -1.0, 1.0], [2.0, -1.0, -1.0]];
    assert_close(&grid_sample_5d("nearest", "zeros", &near), &[4.0, 5.0, 0.0]);
}

#[test]
fn grid_sample_5d_refuses_cubic() {
    let b = Builder::new(22)
        .input(vi("x", F32, &[1, 1, 2, 2, 2]))
        .input(vi("g", F32, &[1, 1, 1, 1, 3]))
        .node(node("GridSample", &["x", "g"], &["y"], vec![("mode", A::S("cubic"))]))
        .output("y");
    let e = b.read().expect_err("cubic 5-D is refused").to_string();
    assert!(e.contains("cubic") && e.contains("GridSample"), "{e}");
}
