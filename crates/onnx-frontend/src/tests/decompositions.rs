//! Decompositions checked numerically against values computed here: FlexAttention with inlined
//! modifier graphs, 5-D GridSample, LSTM with peepholes.

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

#[test]
fn lstm_with_peepholes_runs_the_onnx_cell_and_honours_sequence_lens() {
    // hidden 1, input 1, batch 2 (second sequence has one step), two steps.
    let (w, r) = ([0.5f64, -0.3, 0.8, 0.2], [0.1f64, 0.4, -0.6, 0.3]); // i, o, f, c
    let p = [0.7f64, -0.2, 0.9]; // i, o, f
    let bias = [0.1f64, 0.0, -0.1, 0.2, 0.0, 0.05, 0.0, -0.05];
    let xs = [[1.0f64, -2.0], [0.5, 3.0]]; // [step][batch]
    let b = Builder::new(22)
        .input(vi("x", F32, &[2, 2, 1]))
        .input(vi("lens", I32, &[2]))
        .init(f32_typed("w", &[1, 4, 1], &w.map(|v| v as f32)))
        .init(f32_typed("r", &[1, 4, 1], &r.map(|v| v as f32)))
        .init(f32_typed("b", &[1, 8], &bias.map(|v| v as f32)))
        .init(f32_typed("p", &[1, 3], &p.map(|v| v as f32)))
        .node(node(
            "LSTM",
            &["x", "w", "r", "b", "lens", "", "", "p"],
            &["y", "yh", "yc"],
            vec![("hidden_size", A::I(1))],
        ))
        .output("y")
        .output("yh")
        .output("yc");
    let m = b.read_ok();
    assert!(m.nodes().any(|(_, n)| matches!(n.op, Op::TensorIterator(_))));
    let lens = Tensor::from_vec(vec![2], vec![2i32, 1]).expect("lens");
    let outs = run_model(&m, &[tensor(&[2, 2, 1], &[1.0, -2.0, 0.5, 3.0]), lens]).expect("run");
    let got: Vec<Vec<f32>> = outs.iter().map(|t| t.values::<f32>().expect("f32").into_owned()).collect();

    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    let mut y = [[0.0f64; 2]; 2];
    let (mut hs, mut cs) = ([0.0f64; 2], [0.0f64; 2]);
    for (t, xt) in xs.iter().enumerate() {
        for bi in 0..2 {
            if t >= [2, 1][bi] {
                continue;
            }
            let gate = |k: usize| w[k] * xt[bi] + r[k] * hs[bi] + bias[k] + bias[4 + k];
            let i = sig(gate(0) + p[0] * cs[bi]);
            let f = sig(gate(2) + p[2] * cs[bi]);
            let c = f * cs[bi] + i * gate(3).tanh();
            let o = sig(gate(1) + p[1] * c);
            hs[bi] = o * c.tanh();
            cs[bi] = c;
            y[t][bi] = hs[bi];
        }
    }
    assert_close(&got[0], &[y[0][0], y[0][1], y[1][0], y[1][1]]);
    assert_close(&got[1], &hs);
    assert_close(&got[2], &cs);
}

#[test]
fn lstm_peephole_path_with_zero_peepholes_matches_lstm_sequence() {
    // P as a graph input is not known to be zero, so it takes the TensorIterator path; fed
    // zeros it must agree with LSTMSequence-5 in every direction, with a short sequence.
    let (hs, input, batch, seq) = (2usize, 3usize, 2usize, 3usize);
    let vals = |n: usize, k: f32| -> Vec<f32> { (0..n).map(|i| (i as f32 * k).sin() * 0.7).collect() };
    for (direction, nd) in [("forward", 1usize), ("reverse", 1), ("bidirectional", 2)] {
        let model = |with_p: bool| {
            let mut ins = vec!["x", "w", "r", "b", "lens", "h0", "c0"];
            let mut b = Builder::new(22)
                .input(vi("x", F32, &[seq as i64, batch as i64, input as i64]))
                .input(vi("lens", I32, &[batch as i64]))
                .init(f32_typed("w", &[nd as i64, 4 * hs as i64, input as i64], &vals(nd * 4 * hs * input, 0.37)))
                .init(f32_typed("r", &[nd as i64, 4 * hs as i64, hs as i64], &vals(nd * 4 * hs * hs, 0.91)))
                .init(f32_typed("b", &[nd as i64, 8 * hs as i64], &vals(nd * 8 * hs, 1.3)))
                .init(f32_typed("h0", &[nd as i64, batch as i64, hs as i64], &vals(nd * batch * hs, 2.1)))
                .init(f32_typed("c0", &[nd as i64, batch as i64, hs as i64], &vals(nd * batch * hs, 0.5)));
            if with_p {
                ins.push("p");
                b = b.input(vi("p", F32, &[nd as i64, 3 * hs as i64]));
            }
            let attrs = vec![("hidden_size", A::I(hs as i64)), ("direction", A::S(direction))];
            b.node(node("LSTM", &ins, &["y", "yh", "yc"], attrs)).output("y").output("yh").output("yc").read_ok()
        };
        let x = tensor(&[seq, batch, input], &vals(seq * batch * input, 0.23));
        let lens = Tensor::from_vec(vec![batch], vec![3i32, 2]).expect("lens");
        let with_p = model(true);
        assert!(with_p.nodes().any(|(_, n)| matches!(n.op, Op::TensorIterator(_))), "{direction}");
        let p = tensor(&[nd, 3 * hs], &vec![0.0; nd * 3 * hs]);
        let got = run(&with_p, &[x.clone(), lens.clone(), p]);
        let want = run(&model(false), &[x, lens]);
        for (g, w) in got.iter().zip(&want) {
            let w: Vec<f64> = w.iter().map(|&v| v as f64).collect();
            assert_close(g, &w);
        }
    }
}
