//! ai.onnx.preview.training optimizers and BatchNormalization in training mode.

use ir_graph::Tensor;
use ir_graph::eval::graph::run_model;

use crate::test_support::*;

/// A node of the training domain.
fn tnode(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, A)>) -> crate::proto::NodeProto {
    let mut n = node(op, inputs, outputs, attrs);
    n.domain = Some("ai.onnx.preview.training".into());
    n
}

fn training(b: Builder) -> Builder {
    let mut b = b;
    b.opsets.push(("ai.onnx.preview.training".into(), 1));
    b
}

#[test]
fn momentum_with_an_unknown_mode_is_refused() {
    let b = training(Builder::new(17))
        .input(vi("r", F32, &[]))
        .input(vi("t", I64, &[]))
        .input(vi("x", F32, &[2]))
        .node(tnode(
            "Momentum",
            &["r", "t", "x", "x", "x"],
            &["x_new", "v_new"],
            vec![("alpha", A::F(0.9)), ("beta", A::F(0.1)), ("mode", A::S("heavy")), ("norm_coefficient", A::F(0.0))],
        ))
        .output("x_new");
    let e = b.read().expect_err("unknown mode").to_string();
    assert!(e.contains("unknown mode 'heavy'"), "{e}");
}

#[test]
fn adagrad_needs_equally_many_tensors_per_list() {
    let b = training(Builder::new(17))
        .input(vi("r", F32, &[]))
        .input(vi("t", I64, &[]))
        .input(vi("x", F32, &[2]))
        .node(tnode("Adagrad", &["r", "t", "x", "x"], &["x_new"], vec![]))
        .output("x_new");
    let e = b.read().expect_err("two tensors for three lists").to_string();
    assert!(e.contains("3 lists of equally many tensors"), "{e}");
}

/// At T = 0 Adam takes no bias correction and Momentum uses a gradient coefficient of 1.
#[test]
fn first_step_skips_the_corrections() {
    let b = training(Builder::new(17))
        .input(vi("r", F32, &[]))
        .input(vi("t", I64, &[]))
        .input(vi("x", F32, &[1]))
        .input(vi("g", F32, &[1]))
        .input(vi("v", F32, &[1]))
        .node(tnode(
            "Momentum",
            &["r", "t", "x", "g", "v"],
            &["x_new", "v_new"],
            vec![
                ("alpha", A::F(0.5)),
                ("beta", A::F(0.25)),
                ("mode", A::S("standard")),
                ("norm_coefficient", A::F(0.0)),
            ],
        ))
        .output("x_new")
        .output("v_new");
    let m = b.read_ok();
    let f = |v: f32| Tensor::from_vec(vec![1], vec![v]).expect("tensor");
    let run = |t: i64| {
        let ins = [Tensor::scalar(0.5f32), Tensor::scalar(t), f(1.0), f(2.0), f(4.0)];
        let out = run_model(&m, &ins).unwrap_or_else(|e| panic!("evaluation failed: {e}"));
        out.iter().map(|o| o.values::<f32>().expect("f32")[0]).collect::<Vec<_>>()
    };
    // v' = 0.5 * 4 + 1 * 2 = 4, x' = 1 - 0.5 * 4 = -1; then with beta: v' = 2 + 0.5 = 2.5.
    assert_eq!(run(0), vec![-1.0, 4.0]);
    assert_eq!(run(3), vec![-0.25, 2.5]);
}
