//! Sub-graph ops through the plugin: `Loop` with a dynamic trip count and a concatenated
//! output, `If` on a runtime condition, `TensorIterator` over a sliced input.

use cpu_plugin::{Config, compile_model, reference_infer};
use ir_graph::ops::*;
use ir_graph::{ElementType, Model, PartialShape, Tensor};

fn f32v(x: &[f32]) -> Tensor {
    Tensor::from_vec(vec![x.len()], x.to_vec()).expect("tensor")
}

fn vals(t: &Tensor) -> Vec<f32> {
    t.values::<f32>().expect("f32").into_owned()
}

/// body(i, x, a): x + a as the carried value, Unsqueeze(x * i) as the per-iteration output.
fn loop_body() -> Model {
    let mut b = Model::new("");
    let i = b.add_parameter("i", ElementType::I64, PartialShape::scalar()).expect("i");
    let x = b.add_parameter("x", ElementType::F32, PartialShape::fixed(&[2])).expect("x");
    let a = b.add_parameter("a", ElementType::F32, PartialShape::fixed(&[2])).expect("a");
    let fi = b.add_node(Convert { destination_type: ElementType::F32 }, "fi", &[i.into()]).expect("fi");
    let xo = b.add_node(Add::default(), "xo", &[x.into(), a.into()]).expect("xo");
    let sc = b.add_node(Multiply::default(), "sc", &[x.into(), fi.into()]).expect("sc");
    let ax = b.add_const("ax", Tensor::from_vec(vec![1], vec![0i64]).expect("ax")).expect("ax");
    let un = b.add_node(Unsqueeze {}, "un", &[sc.into(), ax.into()]).expect("un");
    let t = b.add_const("t", Tensor::from_bools(vec![], &[true]).expect("t")).expect("t");
    b.add_result("cond", t.into()).expect("r");
    b.add_result("xo", xo.into()).expect("r");
    b.add_result("scan", un.into()).expect("r");
    b
}

#[test]
fn loop_runs_in_the_plugin_like_the_reference() {
    let mut m = Model::new("loop");
    let n = m.add_parameter("n", ElementType::I64, PartialShape::scalar()).expect("n");
    let x0 = m.add_parameter("x0", ElementType::F32, PartialShape::fixed(&[2])).expect("x0");
    let a = m.add_parameter("a", ElementType::F32, PartialShape::fixed(&[2])).expect("a");
    let cond = m.add_const("c", Tensor::from_bools(vec![], &[true]).expect("c")).expect("c");
    let op = Loop {
        body: Body::new(loop_body()),
        inputs: vec![InputDesc::Merged { input: 2, param: 1, result: 1 }, InputDesc::Invariant { input: 3, param: 2 }],
        outputs: vec![
            OutputDesc::Last { result: 1, output: 0 },
            OutputDesc::Concat { result: 2, output: 1, slice: SliceAttrs::forward(0) },
        ],
        current_iteration: Some(0),
        condition: 0,
    };
    let l = m.add_node(op, "loop", &[n.into(), cond.into(), x0.into(), a.into()]).expect("loop");
    m.add_result("xf", ir_graph::OutputRef::new(l, 0)).expect("r");
    m.add_result("ys", ir_graph::OutputRef::new(l, 1)).expect("r");
    assert_eq!(m.port(ir_graph::OutputRef::new(l, 1)).expect("p").shape.to_ir_string(), "?,2");

    let compiled = compile_model(&m, &Config::default()).expect("compile");
    let mut req = compiled.create_infer_request();
    for trips in [3i64, 0, 5] {
        let ins = [Tensor::scalar(trips), f32v(&[1., 1.]), f32v(&[1., 2.])];
        let out = req.infer(&ins).expect("infer");
        let reference = reference_infer(&m, &ins).expect("reference");
        assert_eq!(out[1].shape(), &[trips as usize, 2]);
        for (o, r) in out.iter().zip(&reference) {
            assert_eq!(vals(o), vals(r), "trip count {trips}");
        }
    }
    let out = req.infer(&[Tensor::scalar(3i64), f32v(&[1., 1.]), f32v(&[1., 2.])]).expect("infer");
    assert_eq!(vals(&out[0]), vec![4., 7.]);
    assert_eq!(vals(&out[1]), vec![0., 0., 2., 3., 6., 10.]);
}

#[test]
fn if_and_tensor_iterator_run_in_the_plugin() {
    // If(c, x): then Relu(x), else Negative(x).
    let branch = |neg: bool| {
        let mut b = Model::new("");
        let x = b.add_parameter("x", ElementType::F32, PartialShape::fixed(&[3])).expect("x");
        let y = if neg {
            b.add_node(Negative {}, "y", &[x.into()]).expect("y")
        } else {
            b.add_node(Relu {}, "y", &[x.into()]).expect("y")
        };
        b.add_result("y", y.into()).expect("r");
        Body::new(b)
    };
    let mut m = Model::new("if");
    let c = m.add_parameter("c", ElementType::Boolean, PartialShape::fixed(&[1])).expect("c");
    let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[3])).expect("x");
    let op = If {
        then_body: branch(false),
        else_body: branch(true),
        then_inputs: vec![InputDesc::Invariant { input: 1, param: 0 }],
        else_inputs: vec![InputDesc::Invariant { input: 2, param: 0 }],
        then_outputs: vec![OutputDesc::Last { result: 0, output: 0 }],
        else_outputs: vec![OutputDesc::Last { result: 0, output: 0 }],
    };
    let i = m.add_node(op, "if", &[c.into(), x.into(), x.into()]).expect("if");
    m.add_result("y", i.into()).expect("r");
    let compiled = compile_model(&m, &Config::default()).expect("compile");
    let mut req = compiled.create_infer_request();
    let xs = f32v(&[-1., 2., -3.]);
    let t = Tensor::from_bools(vec![1], &[true]).expect("t");
    let f = Tensor::from_bools(vec![1], &[false]).expect("f");
    assert_eq!(vals(&req.infer(&[t, xs.clone()]).expect("infer")[0]), vec![0., 2., 0.]);
    assert_eq!(vals(&req.infer(&[f, xs]).expect("infer")[0]), vec![1., -2., 3.]);

    // TensorIterator: running sum over the rows of [3, 2], last row first.
    let mut b = Model::new("");
    let s = b.add_parameter("s", ElementType::F32, PartialShape::fixed(&[1, 2])).expect("s");
    let row = b.add_parameter("row", ElementType::F32, PartialShape::fixed(&[1, 2])).expect("row");
    let so = b.add_node(Add::default(), "so", &[s.into(), row.into()]).expect("so");
    b.add_result("so", so.into()).expect("r");
    let mut m = Model::new("ti");
    let s0 = m.add_parameter("s0", ElementType::F32, PartialShape::fixed(&[1, 2])).expect("s0");
    let xs = m.add_parameter("xs", ElementType::F32, PartialShape::fixed(&[3, 2])).expect("xs");
    let op = TensorIterator {
        body: Body::new(b),
        inputs: vec![
            InputDesc::Merged { input: 0, param: 0, result: 0 },
            InputDesc::Sliced { input: 1, param: 1, slice: SliceAttrs::backward(0) },
        ],
        outputs: vec![
            OutputDesc::Last { result: 0, output: 0 },
            OutputDesc::Concat { result: 0, output: 1, slice: SliceAttrs::backward(0) },
        ],
    };
    let ti = m.add_node(op, "ti", &[s0.into(), xs.into()]).expect("ti");
    m.add_result("sf", ir_graph::OutputRef::new(ti, 0)).expect("r");
    m.add_result("ys", ir_graph::OutputRef::new(ti, 1)).expect("r");
    assert_eq!(m.port(ir_graph::OutputRef::new(ti, 1)).expect("p").shape, PartialShape::fixed(&[3, 2]));
    let compiled = compile_model(&m, &Config::default()).expect("compile");
    let mut req = compiled.create_infer_request();
    let xs = Tensor::from_vec(vec![3, 2], vec![1f32, 2., 3., 4., 5., 6.]).expect("xs");
    let s0 = Tensor::from_vec(vec![1, 2], vec![0f32, 0.]).expect("s0");
    let out = req.infer(&[s0, xs]).expect("infer");
    assert_eq!(vals(&out[0]), vec![9., 12.]);
    // Iteration k reads row 2-k and is written at position 2-k: [9,12], [8,10], [5,6].
    assert_eq!(vals(&out[1]), vec![9., 12., 8., 10., 5., 6.]);
}
