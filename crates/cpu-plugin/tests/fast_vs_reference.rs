//! Each fast step of the plugin against the ir-graph reference evaluator on random inputs.

mod common;

use common::*;
use ir_graph::Model;
use ir_graph::ops::*;
use proptest::prelude::*;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig { cases: n, failure_persistence: None, ..ProptestConfig::default() }
}

#[derive(Debug, Clone)]
struct ConvCase {
    n: usize,
    groups: usize,
    cin_g: usize,
    cout_g: usize,
    h: usize,
    w: usize,
    k: (usize, usize),
    stride: (usize, usize),
    dil: (usize, usize),
    pb: (usize, usize),
    pe: (usize, usize),
    bias: bool,
    act: u8,
    auto_pad: PadType,
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        (1usize..3, prop_oneof![Just(1usize), 1usize..4], 1usize..5, 1usize..5),
        (3usize..10, 3usize..10, (1usize..4, 1usize..4)),
        ((1usize..3, 1usize..3), (1usize..3, 1usize..3)),
        ((0usize..3, 0usize..3), (0usize..3, 0usize..3)),
        (any::<bool>(), 0u8..3, prop_oneof![Just(PadType::Explicit), Just(PadType::SameUpper), Just(PadType::Valid)]),
        any::<bool>(),
    )
        .prop_map(|((n, groups, cin_g, cout_g), (h, w, k), (stride, dil), (pb, pe), (bias, act, auto_pad), dw)| {
            // Half of the grouped cases are depthwise (one in and one out channel per group).
            let (cin_g, cout_g) = if groups > 1 && dw { (1, 1) } else { (cin_g, cout_g) };
            ConvCase { n, groups, cin_g, cout_g, h, w, k, stride, dil, pb, pe, bias, act, auto_pad }
        })
        .prop_filter("window fits", |c| {
            // Valid padding ignores the explicit pads; same_* always fits.
            let (pb, pe) = if c.auto_pad == PadType::Valid { ((0, 0), (0, 0)) } else { (c.pb, c.pe) };
            c.h + pb.0 + pe.0 > c.dil.0 * (c.k.0 - 1) && c.w + pb.1 + pe.1 > c.dil.1 * (c.k.1 - 1)
        })
}

fn build_conv(c: &ConvCase) -> Model {
    let mut m = Model::new("conv");
    let cin = c.groups * c.cin_g;
    let cout = c.groups * c.cout_g;
    let x = param(&mut m, "x", &[c.n, cin, c.h, c.w]);
    let strides = vec![c.stride.0 as i64, c.stride.1 as i64];
    let dilations = vec![c.dil.0 as i64, c.dil.1 as i64];
    let pads_begin = vec![c.pb.0 as i64, c.pb.1 as i64];
    let pads_end = vec![c.pe.0 as i64, c.pe.1 as i64];
    let y = if c.groups == 1 {
        let w = rand_const(&mut m, "w", &[cout, cin, c.k.0, c.k.1], 2);
        let op = Convolution { strides, dilations, pads_begin, pads_end, auto_pad: c.auto_pad };
        m.add_node(op, "conv", &[x, w]).expect("conv")
    } else {
        let w = rand_const(&mut m, "w", &[c.groups, c.cout_g, c.cin_g, c.k.0, c.k.1], 2);
        let op = GroupConvolution { strides, dilations, pads_begin, pads_end, auto_pad: c.auto_pad };
        m.add_node(op, "gconv", &[x, w]).expect("gconv")
    };
    let mut y = y.into();
    if c.bias {
        let b = rand_const(&mut m, "b", &[1, cout, 1, 1], 3);
        y = m.add_node(Add::default(), "bias", &[y, b]).expect("add").into();
    }
    y = match c.act {
        1 => m.add_node(Relu {}, "relu", &[y]).expect("relu").into(),
        2 => m.add_node(Clamp { min: -0.1, max: 0.3 }, "clamp", &[y]).expect("clamp").into(),
        _ => y,
    };
    result(&mut m, y);
    m
}

proptest! {
    #![proptest_config(cases(48))]

    #[test]
    fn conv_matches_reference(c in conv_case()) {
        let m = build_conv(&c);
        let x = rand_tensor(&[c.n, c.groups * c.cin_g, c.h, c.w], 1);
        let s = check_against_reference(&m, &[x]);
        prop_assert!(!has_fallback(&s), "unexpected fallback: {s:?}");
        prop_assert!(s.iter().any(|(k, _)| k == "Convolution"));
        // Bias and activation are fused into the one conv step.
        prop_assert_eq!(s.iter().map(|(_, n)| n).sum::<usize>(), 1);
    }

    #[test]
    fn fc_matches_reference(
        m_ in 1usize..20, k in 1usize..40, n in 1usize..40, tb in any::<bool>(), lead in 0usize..2,
        bias in any::<bool>(), relu in any::<bool>()
    ) {
        let mut model = Model::new("fc");
        let a_shape: Vec<usize> = if lead == 1 { vec![2, m_, k] } else { vec![m_, k] };
        let a = param(&mut model, "a", &a_shape);
        let b_shape = if tb { [n, k] } else { [k, n] };
        let b = rand_const(&mut model, "b", &b_shape, 5);
        let mut y = model.add_node(MatMul { transpose_a: false, transpose_b: tb }, "mm", &[a, b]).expect("mm").into();
        if bias {
            let c = rand_const(&mut model, "c", &[1, n], 6);
            y = model.add_node(Add::default(), "bias", &[y, c]).expect("add").into();
        }
        if relu {
            y = model.add_node(Relu {}, "relu", &[y]).expect("relu").into();
        }
        result(&mut model, y);
        let s = check_against_reference(&model, &[rand_tensor(&a_shape, 7)]);
        prop_assert!(!has_fallback(&s), "unexpected fallback: {s:?}");
        prop_assert_eq!(s, vec![("FullyConnected".to_string(), 1)]);
    }

    #[test]
    fn batched_matmul_matches_reference(
        m_ in 1usize..9, k in 1usize..17, n in 1usize..9, tb in any::<bool>(),
        ba in prop_oneof![Just(vec![]), Just(vec![3usize]), Just(vec![2usize, 1]), Just(vec![1usize, 3])],
        bb in prop_oneof![Just(vec![]), Just(vec![3usize]), Just(vec![1usize, 3])],
    ) {
        let mut model = Model::new("bmm");
        let mut a_shape = ba.clone();
        a_shape.extend([m_, k]);
        let mut b_shape = bb.clone();
        b_shape.extend(if tb { [n, k] } else { [k, n] });
        let a = param(&mut model, "a", &a_shape);
        let b = param(&mut model, "b", &b_shape);
        let y = model.add_node(MatMul { transpose_a: false, transpose_b: tb }, "mm", &[a, b]).expect("mm");
        result(&mut model, y);
        let s = check_against_reference(&model, &[rand_tensor(&a_shape, 1), rand_tensor(&b_shape, 2)]);
        prop_assert!(!has_fallback(&s), "unexpected fallback: {s:?}");
    }

    #[test]
    fn pooling_matches_reference(
        n in 1usize..3, c in 1usize..4, h in 2usize..10, w in 2usize..10,
        k in (1usize..4, 1usize..4), s in (1usize..3, 1usize..3), pads in (0usize..2, 0usize..2),
        kind in 0u8..3, ceil in any::<bool>(), exclude in any::<bool>()
    ) {
        prop_assume!(k.0 <= h && k.1 <= w && pads.0 < k.0 && pads.1 < k.1);
        let mut model = Model::new("pool");
        let x = param(&mut model, "x", &[n, c, h, w]);
        let kernel = vec![k.0 as i64, k.1 as i64];
        let strides = vec![s.0 as i64, s.1 as i64];
        let pb = vec![pads.0 as i64, pads.1 as i64];
        let rounding_type = if ceil { RoundingType::Ceil } else { RoundingType::Floor };
        let y: ir_graph::OutputRef = match kind {
            0 => model.add_node(MaxPool1 { strides, pads_begin: pb.clone(), pads_end: pb, kernel, rounding_type, auto_pad: PadType::Explicit }, "mp", &[x]).expect("mp").into(),
            1 => model.add_node(MaxPool8 { strides, dilations: vec![1, 1], pads_begin: pb.clone(), pads_end: pb, kernel, rounding_type, auto_pad: PadType::Explicit, index_element_type: ir_graph::ElementType::I64, axis: 0 }, "mp8", &[x]).expect("mp8").into(),
            _ => model.add_node(AvgPool { kernel, strides, pads_begin: pb.clone(), pads_end: pb, exclude_pad: exclude, auto_pad: PadType::Explicit, rounding_type }, "ap", &[x]).expect("ap").into(),
        };
        result(&mut model, y);
        let summary = check_against_reference(&model, &[rand_tensor(&[n, c, h, w], 3)]);
        prop_assert!(!has_fallback(&summary), "unexpected fallback: {summary:?}");
    }

    #[test]
    fn broadcast_binary_matches_reference(
        out in proptest::collection::vec(1usize..5, 1..5),
        mask_a in proptest::collection::vec(any::<bool>(), 5),
        mask_b in proptest::collection::vec(any::<bool>(), 5),
        drop_a in 0usize..3, drop_b in 0usize..3, op in 0u8..4, relu in any::<bool>()
    ) {
        let shape_of = |mask: &[bool], drop: usize| -> Vec<usize> {
            let d = drop.min(out.len() - 1);
            out[d..].iter().enumerate().map(|(i, &v)| if mask[i] { 1 } else { v }).collect()
        };
        let (sa, sb) = (shape_of(&mask_a, drop_a), shape_of(&mask_b, drop_b));
        let mut model = Model::new("bin");
        let a = param(&mut model, "a", &sa);
        let b = param(&mut model, "b", &sb);
        let y = match op {
            0 => model.add_node(Add::default(), "op", &[a, b]),
            1 => model.add_node(Subtract::default(), "op", &[a, b]),
            2 => model.add_node(Multiply::default(), "op", &[a, b]),
            _ => model.add_node(Divide::default(), "op", &[a, b]),
        }.expect("binary");
        let mut y = y.into();
        if relu {
            y = model.add_node(Relu {}, "relu", &[y]).expect("relu").into();
        }
        result(&mut model, y);
        let mut tb = rand_tensor(&sb, 9);
        if op == 3 {
            // Keep divisors away from zero.
            let v: Vec<f32> = tb.values::<f32>().expect("f32").iter().map(|v| v.signum() * (v.abs() + 0.5)).collect();
            tb = ir_graph::Tensor::from_vec(sb.clone(), v).expect("t");
        }
        let s = check_against_reference(&model, &[rand_tensor(&sa, 8), tb]);
        prop_assert!(!has_fallback(&s), "unexpected fallback: {s:?}");
    }
}

#[test]
fn softmax_concat_transpose_reshape_match_reference() {
    let mut m = Model::new("misc");
    let a = param(&mut m, "a", &[2, 3, 4]);
    let b = param(&mut m, "b", &[2, 5, 4]);
    let c = m.add_node(Concat { axis: 1 }, "cat", &[a, b]).expect("concat");
    let perm = i64_const(&mut m, "perm", &[2, 0, 1]);
    let t = m.add_node(Transpose {}, "tr", &[c.into(), perm]).expect("transpose");
    let shape = i64_const(&mut m, "shape", &[4, -1]);
    let r = m.add_node(Reshape { special_zero: false }, "rs", &[t.into(), shape]).expect("reshape");
    let s = m.add_node(SoftMax8 { axis: -1 }, "sm", &[r.into()]).expect("softmax");
    let s1 = m.add_node(SoftMax1 { axis: 1 }, "sm1", &[c.into()]).expect("softmax1");
    result(&mut m, s);
    result(&mut m, s1);
    let sum = check_against_reference(&m, &[rand_tensor(&[2, 3, 4], 1), rand_tensor(&[2, 5, 4], 2)]);
    assert!(!has_fallback(&sum), "{sum:?}");
}

#[test]
fn batchnorm_folds_into_conv_and_standalone_scale_shift() {
    let mut m = Model::new("bn");
    let x = param(&mut m, "x", &[1, 3, 6, 6]);
    let w = rand_const(&mut m, "w", &[4, 3, 3, 3], 1);
    let conv = Convolution {
        strides: vec![1, 1],
        dilations: vec![1, 1],
        pads_begin: vec![1, 1],
        pads_end: vec![1, 1],
        auto_pad: PadType::Explicit,
    };
    let y = m.add_node(conv, "conv", &[x, w]).expect("conv");
    let bn_inputs = |m: &mut Model, p: &str, c: usize| {
        let g = rand_const(m, &format!("{p}g"), &[c], 2);
        let b = rand_const(m, &format!("{p}b"), &[c], 3);
        let mu = rand_const(m, &format!("{p}m"), &[c], 4);
        let var = ir_graph::Tensor::from_vec(vec![c], (0..c).map(|i| 0.5 + i as f32).collect()).expect("var");
        let var = m.add_const(&format!("{p}v"), var).expect("v").into();
        [g, b, mu, var]
    };
    let [g, b, mu, var] = bn_inputs(&mut m, "bn1", 4);
    let bn = m.add_node(BatchNormInference { epsilon: 1e-5 }, "bn1", &[y.into(), g, b, mu, var]).expect("bn");
    let r = m.add_node(Relu {}, "relu", &[bn.into()]).expect("relu");
    // A second BN whose input has two consumers stays a standalone scale/shift.
    let [g, b, mu, var] = bn_inputs(&mut m, "bn2", 4);
    let bn2 = m.add_node(BatchNormInference { epsilon: 1e-3 }, "bn2", &[r.into(), g, b, mu, var]).expect("bn2");
    let scale = rand_const(&mut m, "s", &[4, 1, 1], 7);
    let mul = m.add_node(Multiply::default(), "mul", &[bn2.into(), scale]).expect("mul");
    result(&mut m, mul);
    result(&mut m, r);
    let s = check_against_reference(&m, &[rand_tensor(&[1, 3, 6, 6], 9)]);
    assert_eq!(s, vec![("Convolution".to_string(), 1), ("ScaleShift".to_string(), 1)]);
}

#[test]
fn reduce_mean_and_lrn_match_reference() {
    for (size, keep) in [(5u64, true), (4, false), (1, true)] {
        let mut m = Model::new("lrn");
        let x = param(&mut m, "x", &[2, 7, 3, 5]);
        let axes = i64_const(&mut m, "axes", &[1]);
        let l = Lrn { alpha: 1e-2, beta: 0.75, bias: 1.0, size };
        let y = m.add_node(l, "lrn", &[x, axes]).expect("lrn");
        let axes = i64_const(&mut m, "raxes", &[-1, 2]);
        let r = m.add_node(ReduceMean { keep_dims: keep }, "gap", &[y.into(), axes]).expect("mean");
        result(&mut m, r);
        let s = check_against_reference(&m, &[rand_tensor(&[2, 7, 3, 5], size)]);
        assert!(!has_fallback(&s), "{s:?}");
    }
}
