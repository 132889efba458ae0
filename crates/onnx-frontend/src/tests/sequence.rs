//! Sequences resolved at conversion time: constant and runtime positions, splitting,
//! concatenation, and the sequences IR cannot express.

use ir_graph::Tensor;

use crate::test_support::*;

fn err_of(b: &Builder) -> String {
    match b.read() {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// Three [2] elements a, b, c in a sequence `s`, with a runtime int64 scalar `pos`.
fn abc(opset: i64) -> Builder {
    Builder::new(opset)
        .input(vi("a", F32, &[2]))
        .input(vi("b", F32, &[2]))
        .input(vi("c", F32, &[2]))
        .input(vi("pos", I64, &[]))
        .node(node("SequenceConstruct", &["a", "b", "c"], &["s"], vec![]))
}

fn abc_inputs(pos: i64) -> Vec<Tensor> {
    vec![f32v(&[1., 2.]), f32v(&[3., 4.]), f32v(&[5., 6.]), Tensor::scalar(pos)]
}

#[test]
fn runtime_position_selects_the_element_and_negative_positions_wrap() {
    let m = abc(12).node(node("SequenceAt", &["s", "pos"], &["y"], vec![])).output("y").read_ok();
    for (pos, want) in [(0, [1., 2.]), (1, [3., 4.]), (2, [5., 6.]), (-1, [5., 6.]), (-2, [3., 4.]), (-3, [1., 2.])] {
        assert_eq!(vals(&run(&m, &abc_inputs(pos))[0]), want.to_vec(), "position {pos}");
    }
}

#[test]
fn runtime_int32_position_in_a_one_element_tensor() {
    let m = Builder::new(12)
        .input(vi("a", F32, &[2]))
        .input(vi("b", F32, &[2]))
        .input(vi("pos", I32, &[1]))
        .node(node("SequenceConstruct", &["a", "b"], &["s"], vec![]))
        .node(node("SequenceAt", &["s", "pos"], &["y"], vec![]))
        .output("y")
        .read_ok();
    let pos = |p: i32| Tensor::from_vec(vec![1], vec![p]).expect("pos");
    assert_eq!(vals(&run(&m, &[f32v(&[1., 2.]), f32v(&[3., 4.]), pos(-1)])[0]), vec![3., 4.]);
    assert_eq!(vals(&run(&m, &[f32v(&[1., 2.]), f32v(&[3., 4.]), pos(0)])[0]), vec![1., 2.]);
}

#[test]
fn runtime_insert_keeps_a_known_length() {
    // Insert d at `pos` into [a, b, c], then concatenate: the length (4) is known.
    let m = abc(12)
        .input(vi("d", F32, &[2]))
        .node(node("SequenceInsert", &["s", "d", "pos"], &["t"], vec![]))
        .node(node("ConcatFromSequence", &["t"], &["y"], vec![("axis", A::I(0))]))
        .node(node("SequenceLength", &["t"], &["n"], vec![]))
        .output("y")
        .output("n")
        .read_ok();
    let d = f32v(&[7., 8.]);
    let cases = [
        (0, vec![7., 8., 1., 2., 3., 4., 5., 6.]),
        (1, vec![1., 2., 7., 8., 3., 4., 5., 6.]),
        (3, vec![1., 2., 3., 4., 5., 6., 7., 8.]),
        (-1, vec![1., 2., 3., 4., 7., 8., 5., 6.]),
        (-3, vec![7., 8., 1., 2., 3., 4., 5., 6.]),
    ];
    for (pos, want) in cases {
        let mut ins = abc_inputs(pos);
        ins.push(d.clone());
        let out = run(&m, &ins);
        assert_eq!(vals(&out[0]), want, "position {pos}");
        assert_eq!(out[1].values::<i64>().expect("i64").into_owned(), vec![4]);
    }
}

#[test]
fn runtime_erase_keeps_a_known_length() {
    let m = abc(12)
        .node(node("SequenceErase", &["s", "pos"], &["t"], vec![]))
        .node(node("ConcatFromSequence", &["t"], &["y"], vec![("axis", A::I(0)), ("new_axis", A::I(1))]))
        .output("y")
        .read_ok();
    let cases = [(0, vec![3., 4., 5., 6.]), (1, vec![1., 2., 5., 6.]), (-1, vec![1., 2., 3., 4.])];
    for (pos, want) in cases {
        let out = run(&m, &abc_inputs(pos));
        assert_eq!(out[0].shape(), &[2, 2]);
        assert_eq!(vals(&out[0]), want, "position {pos}");
    }
}

#[test]
fn constant_positions_handle_elements_of_different_shapes() {
    let m = Builder::new(12)
        .input(vi("x", F32, &[1]))
        .input(vi("y", F32, &[2]))
        .input(vi("z", F32, &[3]))
        .init(i64_typed("one", &[], &[1]))
        .init(i64_typed("minus_one", &[], &[-1]))
        .node(node("SequenceEmpty", &[], &["s0"], vec![]))
        .node(node("SequenceInsert", &["s0", "x"], &["s1"], vec![]))
        .node(node("SequenceInsert", &["s1", "z"], &["s2"], vec![]))
        .node(node("SequenceInsert", &["s2", "y", "one"], &["s3"], vec![]))
        .node(node("SequenceAt", &["s3", "minus_one"], &["last"], vec![]))
        .node(node("SequenceAt", &["s3", "one"], &["mid"], vec![]))
        .output("last")
        .output("mid")
        .read_ok();
    let out = run(&m, &[f32v(&[1.]), f32v(&[2., 3.]), f32v(&[4., 5., 6.])]);
    assert_eq!(vals(&out[0]), vec![4., 5., 6.]);
    assert_eq!(vals(&out[1]), vec![2., 3.]);
}

#[test]
fn runtime_position_over_elements_of_different_shapes_is_refused() {
    let b = Builder::new(12)
        .input(vi("x", F32, &[1]))
        .input(vi("y", F32, &[2]))
        .input(vi("pos", I64, &[]))
        .node(node("SequenceConstruct", &["x", "y"], &["s"], vec![]))
        .node(node("SequenceAt", &["s", "pos"], &["o"], vec![]))
        .output("o");
    let e = err_of(&b);
    assert!(e.contains("SequenceAt") && e.contains("one shape"), "{e}");
}

#[test]
fn split_to_sequence_with_runtime_split_lengths_of_static_count() {
    let m = Builder::new(12)
        .input(vi("x", F32, &[5]))
        .input(vi("split", I64, &[2]))
        .node(node("SplitToSequence", &["x", "split"], &["s"], vec![]))
        .node(node("SequenceLength", &["s"], &["n"], vec![]))
        .node(node("SequenceAt", &["s", "one"], &["second"], vec![]))
        .init(i64_typed("one", &[], &[1]))
        .output("n")
        .output("second")
        .read_ok();
    let split = Tensor::from_vec(vec![2], vec![2i64, 3]).expect("split");
    let out = run(&m, &[f32v(&[1., 2., 3., 4., 5.]), split]);
    assert_eq!(out[0].values::<i64>().expect("i64").into_owned(), vec![2]);
    assert_eq!(vals(&out[1]), vec![3., 4., 5.]);
}

#[test]
fn split_to_sequence_scalar_split_and_no_keepdims() {
    let m = Builder::new(12)
        .input(vi("x", F32, &[2, 5]))
        .init(i64_typed("two", &[], &[2]))
        .node(node("SplitToSequence", &["x", "two"], &["s"], vec![("axis", A::I(1))]))
        .node(node("SequenceLength", &["s"], &["n"], vec![]))
        .node(node("SplitToSequence", &["x"], &["r"], vec![("keepdims", A::I(0))]))
        .node(node("SequenceAt", &["r", "two_m"], &["row"], vec![]))
        .init(i64_typed("two_m", &[], &[-1]))
        .output("n")
        .output("row")
        .read_ok();
    let x = Tensor::from_vec(vec![2, 5], (0..10).map(|v| v as f32).collect()).expect("x");
    let out = run(&m, &[x]);
    // 5 split in chunks of 2: 2, 2, 1.
    assert_eq!(out[0].values::<i64>().expect("i64").into_owned(), vec![3]);
    assert_eq!(out[1].shape(), &[5]);
    assert_eq!(vals(&out[1]), vec![5., 6., 7., 8., 9.]);
}

#[test]
fn runtime_length_is_refused_with_a_clear_message() {
    // A runtime scalar split: the number of chunks is only known at run time.
    let b = Builder::new(12)
        .input(vi("x", F32, &[6]))
        .input(vi("split", I64, &[]))
        .node(node("SplitToSequence", &["x", "split"], &["s"], vec![]))
        .node(node("SequenceLength", &["s"], &["n"], vec![]))
        .output("n");
    let e = err_of(&b);
    assert!(e.contains("SplitToSequence") && e.contains("known only at run time"), "{e}");
    assert!(e.contains("IR has no sequence type"), "{e}");
    // A split list of dynamic length.
    let b = Builder::new(12)
        .input(vi("x", F32, &[6]))
        .input(value_info("split", I64, &[None]))
        .node(node("SplitToSequence", &["x", "split"], &["s"], vec![]))
        .node(node("SequenceLength", &["s"], &["n"], vec![]))
        .output("n");
    let e = err_of(&b);
    assert!(e.contains("number of values of the 'split' input") && e.contains("known only at run time"), "{e}");
    // One element per index of a dynamic axis.
    let b = Builder::new(12)
        .input(value_info("x", F32, &[None]))
        .node(node("SplitToSequence", &["x"], &["s"], vec![]))
        .node(node("SequenceLength", &["s"], &["n"], vec![]))
        .output("n");
    let e = err_of(&b);
    assert!(e.contains("size of axis 0") && e.contains("known only at run time"), "{e}");
}

#[test]
fn sequences_at_the_model_interface_are_refused() {
    let b = abc(12).output("s");
    let e = err_of(&b);
    assert!(e.contains("graph output 's' is a sequence") && e.contains("IR has no sequence type"), "{e}");
}

#[test]
fn a_sequence_fed_to_a_tensor_op_is_refused() {
    let b = abc(12).node(node("Relu", &["s"], &["y"], vec![])).output("y");
    let e = err_of(&b);
    assert!(e.contains("Relu") && e.contains("input 's' is a sequence"), "{e}");
}

// ----- sub-graphs -----

use super::control::{graph, with_graphs};

fn bool_scalar(v: bool) -> Tensor {
    Tensor::from_bools(vec![], &[v]).expect("bool")
}

#[test]
fn if_branches_return_sequences_of_one_length() {
    let then_g = graph("then", vec![], vec![node("SequenceConstruct", &["a", "b"], &["ts"], vec![])], &["ts"]);
    let else_g = graph("else", vec![], vec![node("SequenceConstruct", &["b", "a"], &["es"], vec![])], &["es"]);
    let m = Builder::new(16)
        .input(vi("cond", BOOL, &[]))
        .input(vi("a", F32, &[2]))
        .input(vi("b", F32, &[2]))
        .node(with_graphs(
            node("If", &["cond"], &["s"], vec![]),
            vec![("then_branch", then_g), ("else_branch", else_g)],
        ))
        .node(node("ConcatFromSequence", &["s"], &["y"], vec![("axis", A::I(0))]))
        .output("y")
        .read_ok();
    let (a, b) = (f32v(&[1., 2.]), f32v(&[3., 4.]));
    assert_eq!(vals(&run(&m, &[bool_scalar(true), a.clone(), b.clone()])[0]), vec![1., 2., 3., 4.]);
    assert_eq!(vals(&run(&m, &[bool_scalar(false), a, b])[0]), vec![3., 4., 1., 2.]);
}

#[test]
fn if_branches_with_sequences_of_different_lengths_are_refused() {
    let then_g = graph("then", vec![], vec![node("SequenceConstruct", &["a", "a"], &["ts"], vec![])], &["ts"]);
    let else_g = graph("else", vec![], vec![node("SequenceConstruct", &["a"], &["es"], vec![])], &["es"]);
    let b = Builder::new(16)
        .input(vi("cond", BOOL, &[]))
        .input(vi("a", F32, &[2]))
        .node(with_graphs(
            node("If", &["cond"], &["s"], vec![]),
            vec![("then_branch", then_g), ("else_branch", else_g)],
        ))
        .node(node("SequenceLength", &["s"], &["n"], vec![]))
        .output("n");
    let e = err_of(&b);
    assert!(e.contains("2 elements in the then branch and 1 in the else branch"), "{e}");
    assert!(e.contains("known only at run time"), "{e}");
}

#[test]
fn bodies_read_sequences_of_enclosing_graphs() {
    // Each branch picks one element of the outer sequence, the else branch at a runtime position.
    let then_g = graph("then", vec![], vec![node("SequenceAt", &["s", "zero"], &["t"], vec![])], &["t"]);
    let else_g = graph("else", vec![], vec![node("SequenceAt", &["s", "pos"], &["e"], vec![])], &["e"]);
    let m = abc(16)
        .input(vi("cond", BOOL, &[]))
        .init(i64_typed("zero", &[], &[0]))
        .node(with_graphs(
            node("If", &["cond"], &["y"], vec![]),
            vec![("then_branch", then_g), ("else_branch", else_g)],
        ))
        .output("y")
        .read_ok();
    let mut ins = abc_inputs(-1);
    ins.push(bool_scalar(true));
    assert_eq!(vals(&run(&m, &ins)[0]), vec![1., 2.]);
    ins[4] = bool_scalar(false);
    assert_eq!(vals(&run(&m, &ins)[0]), vec![5., 6.]);
}

#[test]
fn sequence_map_applies_the_body_to_elements_of_different_shapes() {
    // x [5] split into [2] and [3]; the body adds the tensor input and returns the shape too.
    let body = graph(
        "body",
        vec![value_info("e", F32, &[None]), vi("k", F32, &[])],
        vec![node("Add", &["e", "k"], &["sum"], vec![]), node("Shape", &["e"], &["shape"], vec![])],
        &["sum", "shape"],
    );
    let m = Builder::new(17)
        .input(vi("x", F32, &[5]))
        .input(vi("k", F32, &[]))
        .init(i64_typed("lens", &[2], &[2, 3]))
        .node(node("SplitToSequence", &["x", "lens"], &["s"], vec![]))
        .node(with_graphs(node("SequenceMap", &["s", "k"], &["sums", "shapes"], vec![]), vec![("body", body)]))
        .node(node("ConcatFromSequence", &["sums"], &["y"], vec![("axis", A::I(0))]))
        .node(node("ConcatFromSequence", &["shapes"], &["dims"], vec![("axis", A::I(0))]))
        .output("y")
        .output("dims")
        .read_ok();
    let out = run(&m, &[f32v(&[1., 2., 3., 4., 5.]), Tensor::scalar(10f32)]);
    assert_eq!(vals(&out[0]), vec![11., 12., 13., 14., 15.]);
    assert_eq!(out[1].values::<i64>().expect("i64").into_owned(), vec![2, 3]);
}

#[test]
fn a_loop_carried_sequence_is_refused() {
    let body = graph(
        "body",
        vec![vi("i", I64, &[]), vi("cond_in", BOOL, &[]), value_info("seq_in", F32, &[])],
        vec![
            node("Identity", &["cond_in"], &["cond_out"], vec![]),
            node("SequenceInsert", &["seq_in", "a"], &["seq_out"], vec![]),
        ],
        &["cond_out", "seq_out"],
    );
    let b = Builder::new(13)
        .input(vi("M", I64, &[]))
        .input(vi("a", F32, &[2]))
        .node(node("SequenceEmpty", &[], &["s0"], vec![]))
        .node(with_graphs(node("Loop", &["M", "", "s0"], &["s"], vec![]), vec![("body", body)]))
        .node(node("SequenceLength", &["s"], &["n"], vec![]))
        .output("n");
    let e = err_of(&b);
    assert!(e.contains("Loop") && e.contains("loop-carried value 0 is a sequence"), "{e}");
}
