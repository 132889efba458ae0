//! If / Loop / Scan: bodies, outer-scope values, nesting, carried values and scan outputs.

use ir_graph::{Op, Tensor};

use crate::proto::attribute_proto::AttributeType;
use crate::proto::{AttributeProto, GraphProto, NodeProto};
use crate::test_support::*;

pub(super) fn graph_attr(name: &str, g: GraphProto) -> AttributeProto {
    let mut p = AttributeProto { name: Some(name.into()), g: Some(g), ..Default::default() };
    p.set_type(AttributeType::Graph);
    p
}

pub(super) fn graph(
    name: &str,
    inputs: Vec<crate::proto::ValueInfoProto>,
    nodes: Vec<NodeProto>,
    outputs: &[&str],
) -> GraphProto {
    GraphProto {
        name: Some(name.into()),
        input: inputs,
        node: nodes,
        output: outputs
            .iter()
            .map(|o| crate::proto::ValueInfoProto { name: Some(o.to_string()), ..Default::default() })
            .collect(),
        ..Default::default()
    }
}

pub(super) fn with_graphs(mut n: NodeProto, graphs: Vec<(&str, GraphProto)>) -> NodeProto {
    n.attribute.extend(graphs.into_iter().map(|(k, g)| graph_attr(k, g)));
    n
}

fn if_node(cond: &str, out: &str) -> NodeProto {
    let then_g = graph("then", vec![], vec![node("Add", &["a", "b"], &["t"], vec![])], &["t"]);
    let else_g = graph("else", vec![], vec![node("Mul", &["a", "b"], &["e"], vec![])], &["e"]);
    with_graphs(node("If", &[cond], &[out], vec![]), vec![("then_branch", then_g), ("else_branch", else_g)])
}

#[test]
fn if_reads_outer_values_and_takes_a_one_element_condition() {
    // The If node comes before the producer of `b` in the file: outer-scope reads are dependencies.
    let b = Builder::new(16)
        .input(vi("c", BOOL, &[1]))
        .input(vi("a", F32, &[2]))
        .input(vi("x", F32, &[2]))
        .node(if_node("c", "y"))
        .node(node("Neg", &["x"], &["b"], vec![]))
        .output("y");
    let m = b.read_ok();
    let Op::If(op) = result_producer(&m) else { panic!("not an If") };
    assert_eq!(op.then_inputs.len(), 2);
    assert_eq!(op.else_inputs.len(), 2);
    let t = Tensor::from_bools(vec![1], &[true]).expect("b");
    let f = Tensor::from_bools(vec![1], &[false]).expect("b");
    assert_eq!(vals(&run(&m, &[t, f32v(&[1., 2.]), f32v(&[3., 4.])])[0]), vec![-2., -2.]);
    assert_eq!(vals(&run(&m, &[f, f32v(&[1., 2.]), f32v(&[3., 4.])])[0]), vec![-3., -8.]);
}

fn loop_body() -> GraphProto {
    // Carries x (x + i) and emits x * 2 per iteration; stops once x > 5.
    graph(
        "body",
        vec![vi("i", I64, &[]), vi("cond_in", BOOL, &[]), vi("x_in", F32, &[1])],
        vec![
            node("Cast", &["i"], &["fi"], vec![("to", A::I(1))]),
            node("Add", &["x_in", "fi"], &["x_out"], vec![]),
            node("Mul", &["x_in", "two"], &["scan"], vec![]),
            node("Greater", &["five", "x_out"], &["cond_out"], vec![]),
        ],
        &["cond_out", "x_out", "scan"],
    )
}

#[test]
fn loop_with_dynamic_trip_count_condition_and_scan_outputs() {
    let b = Builder::new(13)
        .input(vi("M", I64, &[]))
        .input(vi("x0", F32, &[1]))
        .init(f32_raw("two", &[1], &[2.0]))
        .init(f32_raw("five", &[1], &[5.0]))
        .node(with_graphs(node("Loop", &["M", "", "x0"], &["xf", "ys"], vec![]), vec![("body", loop_body())]))
        .output("xf")
        .output("ys");
    let m = b.read_ok();
    assert!(matches!(result_producer(&m), Op::Loop(_)));
    // x: 0 -> 0 -> 1 -> 3 -> 6 (stops: 6 > 5); scans: 0, 0, 2, 6.
    let out = run(&m, &[Tensor::scalar(10i64), f32v(&[0.])]);
    assert_eq!(vals(&out[0]), vec![6.]);
    assert_eq!(out[1].shape(), &[4, 1]);
    assert_eq!(vals(&out[1]), vec![0., 0., 2., 6.]);
    // The trip count wins when it is smaller.
    let out = run(&m, &[Tensor::scalar(2i64), f32v(&[0.])]);
    assert_eq!(vals(&out[0]), vec![1.]);
    assert_eq!(out[1].shape(), &[2, 1]);
    // Zero iterations: the carried value is the initial one, the scan output is empty.
    let out = run(&m, &[Tensor::scalar(0i64), f32v(&[7.])]);
    assert_eq!(vals(&out[0]), vec![7.]);
    assert_eq!(out[1].shape(), &[0, 1]);
}

#[test]
fn nested_bodies_read_values_two_levels_up() {
    // Loop body holds an If whose branches read `a` from the top graph.
    let body = graph(
        "body",
        vec![vi("i", I64, &[]), vi("cond_in", BOOL, &[]), vi("x_in", F32, &[2])],
        vec![
            node("Identity", &["cond_in"], &["cond_out"], vec![]),
            node("Mod", &["i", "two_i"], &["m"], vec![]),
            node("Cast", &["m"], &["odd"], vec![("to", A::I(9))]),
            with_graphs(
                node("If", &["odd"], &["x_out"], vec![]),
                vec![
                    ("then_branch", graph("t", vec![], vec![node("Add", &["x_in", "a"], &["t"], vec![])], &["t"])),
                    ("else_branch", graph("e", vec![], vec![node("Sub", &["x_in", "a"], &["e"], vec![])], &["e"])),
                ],
            ),
        ],
        &["cond_out", "x_out"],
    );
    let b = Builder::new(16)
        .input(vi("M", I64, &[]))
        .input(vi("x0", F32, &[2]))
        .input(vi("a", F32, &[2]))
        .init(i64_typed("two_i", &[], &[2]))
        .node(with_graphs(node("Loop", &["M", "", "x0"], &["xf"], vec![]), vec![("body", body)]))
        .output("xf");
    let m = b.read_ok();
    assert_eq!(m.body_depth(), 2);
    let out = run(&m, &[Tensor::scalar(3i64), f32v(&[0., 0.]), f32v(&[1., 2.])]);
    assert_eq!(vals(&out[0]), vec![-1., -2.]);
}

#[test]
fn scan_reverse_direction_and_axis() {
    // State s accumulates columns of xs [2, 3] scanned along axis 1 backwards.
    let body = graph(
        "body",
        vec![vi("s_in", F32, &[2]), vi("col", F32, &[2])],
        vec![node("Add", &["s_in", "col"], &["s_out"], vec![]), node("Identity", &["s_out"], &["y"], vec![])],
        &["s_out", "y"],
    );
    let scan = with_graphs(
        node(
            "Scan",
            &["s0", "xs"],
            &["sf", "ys"],
            vec![
                ("num_scan_inputs", A::I(1)),
                ("scan_input_axes", A::Is(vec![1])),
                ("scan_input_directions", A::Is(vec![1])),
            ],
        ),
        vec![("body", body)],
    );
    let b =
        Builder::new(16).input(vi("s0", F32, &[2])).input(vi("xs", F32, &[2, 3])).node(scan).output("sf").output("ys");
    let m = b.read_ok();
    assert!(matches!(result_producer(&m), Op::TensorIterator(_)));
    let xs = Tensor::from_vec(vec![2, 3], vec![1f32, 2., 3., 10., 20., 30.]).expect("xs");
    let out = run(&m, &[f32v(&[0., 0.]), xs]);
    assert_eq!(vals(&out[0]), vec![6., 60.]);
    assert_eq!(out[1].shape(), &[3, 2]);
    assert_eq!(vals(&out[1]), vec![3., 30., 5., 50., 6., 60.]);
}

#[test]
fn too_deep_nesting_is_an_error() {
    let mut g = graph("leaf", vec![], vec![node("Identity", &["x"], &["y0"], vec![])], &["y0"]);
    for k in 1..=20 {
        let out = format!("y{k}");
        let leaf = graph("leaf", vec![], vec![node("Identity", &["x"], &[&out], vec![])], &[&out]);
        let n = with_graphs(node("If", &["c"], &[&out], vec![]), vec![("then_branch", g), ("else_branch", leaf)]);
        g = graph("lvl", vec![], vec![n], &[&out]);
    }
    let mut b = Builder::new(16).input(vi("c", BOOL, &[])).input(vi("x", F32, &[1]));
    b.graph.node = g.node;
    b.graph.output = g.output;
    let e = b.read().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("nested"), "{e}");
}

#[test]
fn undefined_outer_names_are_errors() {
    let then_g = graph("then", vec![], vec![node("Neg", &["nowhere"], &["t"], vec![])], &["t"]);
    let else_g = graph("else", vec![], vec![node("Neg", &["nowhere"], &["e"], vec![])], &["e"]);
    let n = with_graphs(node("If", &["c"], &["y"], vec![]), vec![("then_branch", then_g), ("else_branch", else_g)]);
    let b = Builder::new(16).input(vi("c", BOOL, &[])).node(n).output("y");
    let e = b.read().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("nowhere"), "{e}");
}

#[test]
fn if_with_a_constant_condition_is_inlined() {
    let b = Builder::new(16)
        .input(vi("a", F32, &[2]))
        .input(vi("b", F32, &[2]))
        .node(node("Constant", &[], &["c"], vec![("value", A::T(bool_scalar(false)))]))
        .node(if_node("c", "y"))
        .output("y");
    let dir = tempfile::tempdir().expect("tempdir");
    let m = crate::convert_model(&b.write(dir.path()), &crate::ConvertOptions::default()).expect("convert");
    assert!(!m.nodes().any(|(_, n)| matches!(n.op, Op::If(_))), "{:?}", op_counts(&m));
    assert_eq!(vals(&run(&m, &[f32v(&[1., 2.]), f32v(&[3., 4.])])[0]), vec![3., 8.]);
    let y = m.node(m.results()[0]).expect("result").inputs[0];
    assert!(m.port(y).expect("port").names.contains("y"));
}

fn bool_scalar(v: bool) -> crate::proto::TensorProto {
    crate::proto::TensorProto {
        name: Some("c".into()),
        data_type: Some(BOOL),
        int32_data: vec![i32::from(v)],
        ..Default::default()
    }
}
