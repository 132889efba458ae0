//! One small model per translator family.

use ir_graph::ops::{BroadcastMode, PadType, RoundingType};
use ir_graph::{Dim, ElementType, Model, Op, PartialShape};

use crate::test_support::*;

fn port_shape(m: &Model, name: &str) -> PartialShape {
    let (_, n) = m.nodes().find(|(_, n)| n.outputs.iter().any(|p| p.names.contains(name))).expect("tensor name");
    n.outputs.iter().find(|p| p.names.contains(name)).expect("port").shape.clone()
}

fn node_named<'m>(m: &'m Model, name: &str) -> &'m ir_graph::Node {
    m.nodes().map(|(_, n)| n).find(|n| n.name == name).unwrap_or_else(|| panic!("no node '{name}'"))
}

fn convert_folded(b: &Builder) -> Model {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::convert_model(&b.write(dir.path()), &crate::ConvertOptions::default()).expect("convert")
}

#[test]
fn conv_with_bias_and_naming() {
    let mut n = node("Conv", &["x", "w", "b"], &["y"], vec![("pads", A::Is(vec![1, 1, 1, 1]))]);
    n.name = Some("conv1".into());
    let b = Builder::new(11)
        .input(vi("x", F32, &[1, 3, 8, 8]))
        .init(f32_raw("w", &[4, 3, 3, 3], &[0.5; 108]))
        .init(f32_typed("b", &[4], &[1.0, 2.0, 3.0, 4.0]))
        .node(n)
        .output("y");
    let m = b.read_ok();
    let add = node_named(&m, "conv1");
    assert!(matches!(add.op, Op::Add(_)));
    assert!(add.outputs[0].names.contains("y"));
    let conv = m.node(add.inputs[0].node).expect("conv");
    let Op::Convolution(c) = &conv.op else { panic!("{:?}", conv.op) };
    assert_eq!(
        (c.pads_begin.as_slice(), c.pads_end.as_slice(), c.auto_pad),
        (&[1, 1][..], &[1, 1][..], PadType::Explicit)
    );
    assert!(conv.name.starts_with("Convolution_"), "{}", conv.name);
    let bias = m.const_value(add.inputs[1]).expect("bias const");
    assert_eq!(bias.shape(), &[1, 4, 1, 1]);
    assert_eq!(port_shape(&m, "y"), PartialShape::fixed(&[1, 4, 8, 8]));
    let r = m.node(m.results()[0]).expect("result");
    assert_eq!(r.name, "y/sink_port_0");
}

#[test]
fn grouped_conv_reshapes_weights() {
    let b = Builder::new(13)
        .input(vi("x", F32, &[1, 4, 5, 5]))
        .init(f32_raw("w", &[4, 1, 3, 3], &[1.0; 36]))
        .node(node("Conv", &["x", "w"], &["y"], vec![("group", A::I(4)), ("auto_pad", A::S("SAME_UPPER"))]))
        .output("y");
    let m = b.read_ok();
    let Op::GroupConvolution(g) = result_producer(&m) else { panic!() };
    assert_eq!(g.auto_pad, PadType::SameUpper);
    assert_eq!(port_shape(&m, "y"), PartialShape::fixed(&[1, 4, 5, 5]));
    let conv = node_named(&m, "y");
    assert_eq!(m.const_value(conv.inputs[1]).expect("w").shape(), &[4, 1, 1, 3, 3]);
}

#[test]
fn pooling_family() {
    let b = Builder::new(12)
        .input(vi("x", F32, &[1, 2, 7, 7]))
        .node(node(
            "MaxPool",
            &["x"],
            &["p", "idx"],
            vec![("kernel_shape", A::Is(vec![3, 3])), ("strides", A::Is(vec![2, 2])), ("ceil_mode", A::I(1))],
        ))
        .node(node(
            "AveragePool",
            &["p"],
            &["a"],
            vec![("kernel_shape", A::Is(vec![2, 2])), ("count_include_pad", A::I(1))],
        ))
        .node(node("GlobalAveragePool", &["a"], &["g"], vec![]))
        .node(node("GlobalMaxPool", &["a"], &["gm"], vec![]))
        .output("g")
        .output("gm")
        .output("idx");
    let m = b.read_ok();
    let mp = node_named(&m, "idx");
    // ONNX ceil mode is opset14's ceil_torch (MaxPool-8's ceil keeps a window starting in
    // the end padding).
    let Op::MaxPool14(p) = &mp.op else { panic!("{:?}", mp.op) };
    assert_eq!(p.rounding_type, RoundingType::CeilTorch);
    assert!(mp.outputs[0].names.contains("p") && mp.outputs[1].names.contains("idx"));
    assert_eq!(mp.outputs[1].element_type, ElementType::I64);
    let Op::AvgPool(a) = &node_named(&m, "a").op else { panic!() };
    assert!(!a.exclude_pad);
    assert!(matches!(node_named(&m, "g").op, Op::ReduceMean(ref r) if r.keep_dims));
    assert!(matches!(node_named(&m, "gm").op, Op::ReduceMax(_)));
    assert_eq!(port_shape(&m, "g"), PartialShape::fixed(&[1, 2, 1, 1]));
}

#[test]
fn gemm_adds_scale_and_bias_only_when_needed() {
    let plain = Builder::new(13)
        .input(vi("a", F32, &[2, 3]))
        .init(f32_raw("b", &[4, 3], &[1.0; 12]))
        .node(node("Gemm", &["a", "b"], &["y"], vec![("transB", A::I(1))]))
        .output("y");
    let m = plain.read_ok();
    assert!(matches!(result_producer(&m), Op::MatMul(mm) if mm.transpose_b && !mm.transpose_a));
    assert_eq!(port_shape(&m, "y"), PartialShape::fixed(&[2, 4]));

    let full = Builder::new(13)
        .input(vi("a", F32, &[3, 2]))
        .init(f32_raw("b", &[3, 4], &[1.0; 12]))
        .init(f32_raw("c", &[4], &[1.0; 4]))
        .node(node(
            "Gemm",
            &["a", "b", "c"],
            &["y"],
            vec![("transA", A::I(1)), ("alpha", A::F(2.0)), ("beta", A::F(0.5))],
        ))
        .output("y");
    let counts = op_counts(&full.read_ok());
    assert_eq!(counts.get("Multiply"), Some(&2));
    assert_eq!(counts.get("Add"), Some(&1));
}

#[test]
fn batchnorm_relu_softmax_versions() {
    let bn = |opset| {
        Builder::new(opset)
            .input(vi("x", F32, &[2, 3, 4]))
            .init(f32_raw("s", &[3], &[1.0; 3]))
            .init(f32_raw("b", &[3], &[0.0; 3]))
            .init(f32_raw("mu", &[3], &[0.0; 3]))
            .init(f32_raw("var", &[3], &[1.0; 3]))
            .node(node("BatchNormalization", &["x", "s", "b", "mu", "var"], &["n"], vec![("epsilon", A::F(1e-3))]))
            .node(node("Relu", &["n"], &["r"], vec![]))
            .node(node("Softmax", &["r"], &["y"], vec![("axis", A::I(1))]))
            .output("y")
    };
    // Opset 11: coerced to 2-D at axis 1, SoftMax, reshaped back.
    let m = bn(11).read_ok();
    let c = op_counts(&m);
    assert_eq!(c.get("BatchNormInference"), Some(&1));
    assert_eq!(c.get("ReLU"), Some(&1));
    assert_eq!(c.get("Reshape"), Some(&2));
    assert!(matches!(result_producer(&m), Op::Reshape(_)));
    assert_eq!(port_shape(&m, "y"), PartialShape::fixed(&[2, 3, 4]));
    // Opset 13: SoftMax-8 with the axis as is.
    let m = bn(13).read_ok();
    assert!(matches!(result_producer(&m), Op::SoftMax8(s) if s.axis == 1));
}

#[test]
fn softmax_legacy_on_dynamic_shape_uses_shape_of() {
    let b = Builder::new(9)
        .input(value_info("x", F32, &[None, Some(3), Some(4)]))
        .node(node("LogSoftmax", &["x"], &["y"], vec![]))
        .output("y");
    let m = b.read_ok();
    let c = op_counts(&m);
    assert_eq!(c.get("LogSoftmax"), Some(&1));
    assert!(c.contains_key("ShapeOf"), "{c:?}");
    assert_eq!(port_shape(&m, "y").rank(), Some(3));
}

#[test]
fn flatten_static_and_dynamic() {
    let b = Builder::new(13)
        .input(vi("x", F32, &[2, 3, 4, 5]))
        .node(node("Flatten", &["x"], &["y"], vec![("axis", A::I(2))]))
        .output("y");
    assert_eq!(port_shape(&b.read_ok(), "y"), PartialShape::fixed(&[6, 20]));
    let b = Builder::new(13)
        .input(value_info("x", F32, &[None, Some(3), Some(4)]))
        .node(node("Flatten", &["x"], &["y"], vec![]))
        .output("y");
    let m = b.read_ok();
    assert!(op_counts(&m).contains_key("ShapeOf"));
    assert_eq!(port_shape(&m, "y").rank(), Some(2));
}

#[test]
fn reshape_allowzero_and_legacy_attr() {
    let b = Builder::new(14)
        .input(vi("x", F32, &[2, 6]))
        .init(i64_typed("s", &[2], &[0, -1]))
        .node(node("Reshape", &["x", "s"], &["y"], vec![("allowzero", A::I(0))]))
        .output("y");
    let m = b.read_ok();
    assert!(matches!(result_producer(&m), Op::Reshape(r) if r.special_zero));
    assert_eq!(port_shape(&m, "y"), PartialShape::fixed(&[2, 6]));
    let b = Builder::new(1)
        .input(vi("x", F32, &[2, 6]))
        .node(node("Reshape", &["x"], &["y"], vec![("shape", A::Is(vec![3, 4]))]))
        .output("y");
    assert_eq!(port_shape(&b.read_ok(), "y"), PartialShape::fixed(&[3, 4]));
}

#[test]
fn unsqueeze_squeeze_attr_and_input_forms() {
    let old = Builder::new(11)
        .input(vi("x", F32, &[3]))
        .node(node("Unsqueeze", &["x"], &["u"], vec![("axes", A::Is(vec![0, 2]))]))
        .node(node("Squeeze", &["u"], &["y"], vec![("axes", A::Is(vec![0]))]))
        .output("u")
        .output("y");
    let m = old.read_ok();
    assert_eq!(port_shape(&m, "u"), PartialShape::fixed(&[1, 3, 1]));
    assert_eq!(port_shape(&m, "y"), PartialShape::fixed(&[3, 1]));
    let new = Builder::new(13)
        .input(vi("x", F32, &[3]))
        .init(i64_typed("ax", &[2], &[0, 2]))
        .node(node("Unsqueeze", &["x", "ax"], &["u"], vec![]))
        .node(node("Squeeze", &["u"], &["y"], vec![]))
        .output("y");
    assert_eq!(port_shape(&new.read_ok(), "y"), PartialShape::fixed(&[3]));
}

#[test]
fn constant_of_shape_folds_to_a_constant() {
    let b = Builder::new(9)
        .input(vi("x", F32, &[2, 3]))
        .node(node("Constant", &[], &["shape"], vec![("value", A::T(i64_typed("", &[2], &[2, 3])))]))
        .node(node("ConstantOfShape", &["shape"], &["z"], vec![("value", A::T(f32_typed("", &[1], &[1.5])))]))
        .node(node("Add", &["x", "z"], &["y"], vec![]))
        .output("y");
    let m = b.read_ok();
    let bc = node_named(&m, "z");
    assert!(matches!(bc.op, Op::Broadcast(ref b) if b.mode == BroadcastMode::Numpy));
    let folded = convert_folded(&b);
    let c = op_counts(&folded);
    assert!(!c.contains_key("Broadcast"), "{c:?}");
    assert_eq!(c.get("Add"), Some(&1));
}

#[test]
fn constant_value_attributes() {
    let b = Builder::new(13)
        .node(node("Constant", &[], &["a"], vec![("value_float", A::F(2.0))]))
        .node(node("Constant", &[], &["b"], vec![("value_ints", A::Is(vec![1, 2, 3]))]))
        .node(node("Constant", &[], &["c"], vec![("value_int", A::I(7))]))
        .node(node("Constant", &[], &["d"], vec![("value_floats", A::Fs(vec![1.0, 2.0]))]))
        .output("a")
        .output("b")
        .output("c")
        .output("d");
    let m = b.read_ok();
    assert_eq!(port_shape(&m, "a"), PartialShape::scalar());
    assert_eq!(port_shape(&m, "b"), PartialShape::fixed(&[3]));
    let c = node_named(&m, "c");
    assert_eq!(c.outputs[0].element_type, ElementType::I64);
    assert_eq!(port_shape(&m, "d"), PartialShape::fixed(&[2]));
}

#[test]
fn elementwise_family() {
    let b = Builder::new(14)
        .input(vi("x", F32, &[2, 3]))
        .input(vi("y", F32, &[3]))
        .node(node("Add", &["x", "y"], &["s"], vec![]))
        .node(node("Sub", &["s", "y"], &["d"], vec![]))
        .node(node("Mul", &["d", "y"], &["p"], vec![]))
        .node(node("Div", &["p", "y"], &["q"], vec![]))
        .node(node("Pow", &["q", "y"], &["w"], vec![]))
        .node(node("Sum", &["x", "y", "w"], &["sum"], vec![]))
        .node(node("Mean", &["x", "y"], &["mean"], vec![]))
        .node(node("Max", &["x", "y", "sum"], &["max"], vec![]))
        .node(node("Min", &["x"], &["min"], vec![]))
        .node(node("Greater", &["x", "y"], &["gt"], vec![]))
        .node(node("Not", &["gt"], &["ng"], vec![]))
        .node(node("Where", &["ng", "x", "y"], &["sel"], vec![]))
        .node(node("Cast", &["sel"], &["i"], vec![("to", A::I(I32 as i64))]))
        .output("mean")
        .output("max")
        .output("min")
        .output("i");
    let m = b.read_ok();
    let c = op_counts(&m);
    assert_eq!(c.get("Add"), Some(&4), "{c:?}"); // Add, Sum(3) = 2 Adds, Mean(2) = 1 Add
    assert_eq!(c.get("Maximum"), Some(&2));
    assert_eq!(c.get("Divide"), Some(&2));
    assert_eq!(c.get("Select"), Some(&1));
    assert_eq!(node_named(&m, "i").outputs[0].element_type, ElementType::I32);
    assert_eq!(node_named(&m, "ng").outputs[0].element_type, ElementType::Boolean);
    // Min of one input is that input: the Result reads x directly and x gains the name.
    let x = m.node(m.parameters()[0]).expect("x");
    assert!(x.outputs[0].names.contains("min"));
}

#[test]
fn integer_division_truncates() {
    let b = Builder::new(14)
        .input(vi("a", I64, &[2]))
        .input(vi("b", I64, &[2]))
        .node(node("Div", &["a", "b"], &["q"], vec![]))
        .output("q");
    assert!(matches!(result_producer(&b.read_ok()), Op::Divide(d) if !d.m_pythondiv));
}

#[test]
fn legacy_broadcast_with_axis() {
    let b = Builder::new(6)
        .input(vi("x", F32, &[2, 3, 4, 5]))
        .input(vi("b", F32, &[3]))
        .node(node("Add", &["x", "b"], &["y"], vec![("broadcast", A::I(1)), ("axis", A::I(1))]))
        .output("y");
    let m = b.read_ok();
    assert_eq!(port_shape(&m, "y"), PartialShape::fixed(&[2, 3, 4, 5]));
    assert!(op_counts(&m).contains_key("Unsqueeze"));
}

#[test]
fn activation_family() {
    let b = Builder::new(20)
        .input(vi("x", F32, &[4]))
        .node(node("LeakyRelu", &["x"], &["a"], vec![("alpha", A::F(0.2))]))
        .node(node("Elu", &["a"], &["b"], vec![]))
        .node(node("Selu", &["b"], &["c"], vec![]))
        .node(node("HardSigmoid", &["c"], &["d"], vec![]))
        .node(node("HardSwish", &["d"], &["e"], vec![]))
        .node(node("Softplus", &["e"], &["f"], vec![]))
        .node(node("Softsign", &["f"], &["g"], vec![]))
        .node(node("Gelu", &["g"], &["h"], vec![("approximate", A::S("tanh"))]))
        .node(node("Sigmoid", &["h"], &["i"], vec![]))
        .node(node("Tanh", &["i"], &["j"], vec![]))
        .node(node("Exp", &["j"], &["k"], vec![]))
        .node(node("Log", &["k"], &["l"], vec![]))
        .node(node("Sqrt", &["l"], &["m"], vec![]))
        .node(node("Abs", &["m"], &["n"], vec![]))
        .node(node("Neg", &["n"], &["o"], vec![]))
        .node(node("Floor", &["o"], &["p"], vec![]))
        .node(node("Ceil", &["p"], &["q"], vec![]))
        .node(node("Erf", &["q"], &["r"], vec![]))
        .node(node("Sign", &["r"], &["s"], vec![]))
        .node(node("Sin", &["s"], &["t"], vec![]))
        .node(node("Clip", &["t"], &["u"], vec![]))
        .output("u");
    let m = b.read_ok();
    let c = op_counts(&m);
    for t in
        ["PReLU", "Elu", "Selu", "HardSigmoid", "HSwish", "SoftPlus", "SoftSign", "Gelu", "Negative", "Ceiling", "Sin"]
    {
        assert_eq!(c.get(t), Some(&1), "{t}: {c:?}");
    }
    // HardSigmoid-1 as OpenVINO emits it; Clip without bounds is a Clamp.
    assert_eq!(c.get("Clamp"), Some(&1));
    assert!(
        matches!(node_named(&m, "h").op, Op::Gelu(ref g) if g.approximation_mode == ir_graph::ops::GeluApproximation::Tanh)
    );
}

#[test]
fn clip_forms() {
    let old = Builder::new(6)
        .input(vi("x", F32, &[4]))
        .node(node("Clip", &["x"], &["y"], vec![("min", A::F(0.0)), ("max", A::F(6.0))]))
        .output("y");
    assert!(matches!(result_producer(&old.read_ok()), Op::Clamp(c) if c.min == 0.0 && c.max == 6.0));
    let new = Builder::new(13)
        .input(vi("x", F32, &[4]))
        .init(f32_raw("lo", &[], &[-1.0]))
        .node(node("Clip", &["x", "lo", ""], &["y"], vec![]))
        .output("y");
    assert!(matches!(result_producer(&new.read_ok()), Op::Clamp(c) if c.min == -1.0 && c.max == f32::MAX as f64));
    let dynamic = Builder::new(13)
        .input(vi("x", F32, &[4]))
        .input(vi("hi", F32, &[]))
        .node(node("Clip", &["x", "", "hi"], &["y"], vec![]))
        .output("y");
    assert!(matches!(result_producer(&dynamic.read_ok()), Op::Minimum(_)));
}

#[test]
fn reductions_attr_and_input_forms() {
    let b = Builder::new(13)
        .input(vi("x", F32, &[2, 3, 4]))
        .init(i64_typed("ax", &[1], &[1]))
        .node(node("ReduceMean", &["x"], &["m"], vec![("axes", A::Is(vec![1])), ("keepdims", A::I(0))]))
        .node(node("ReduceSum", &["x", "ax"], &["s"], vec![]))
        .node(node("ReduceMax", &["x"], &["all"], vec![]))
        .node(node("ReduceL2", &["x"], &["l2"], vec![("axes", A::Is(vec![-1]))]))
        .node(node("ReduceSumSquare", &["x"], &["ss"], vec![("axes", A::Is(vec![0]))]))
        .node(node("ReduceSum", &["x"], &["noop"], vec![("noop_with_empty_axes", A::I(1))]))
        .output("m")
        .output("s")
        .output("all")
        .output("l2")
        .output("ss")
        .output("noop");
    let m = b.read_ok();
    assert_eq!(port_shape(&m, "m"), PartialShape::fixed(&[2, 4]));
    assert_eq!(port_shape(&m, "s"), PartialShape::fixed(&[2, 1, 4]));
    assert_eq!(port_shape(&m, "all"), PartialShape::fixed(&[1, 1, 1]));
    assert_eq!(port_shape(&m, "l2"), PartialShape::fixed(&[2, 3, 1]));
    assert_eq!(port_shape(&m, "ss"), PartialShape::fixed(&[1, 3, 4]));
    assert_eq!(port_shape(&m, "noop"), PartialShape::fixed(&[2, 3, 4]));
    let v18 = Builder::new(18)
        .input(vi("x", F32, &[2, 3]))
        .init(i64_typed("ax", &[1], &[0]))
        .node(node("ReduceProd", &["x", "ax"], &["p"], vec![("keepdims", A::I(0))]))
        .output("p");
    assert_eq!(port_shape(&v18.read_ok(), "p"), PartialShape::fixed(&[3]));
}

#[test]
fn shape_gather_concat_transpose_expand() {
    let b = Builder::new(15)
        .input(value_info("x", F32, &[None, Some(3), Some(4)]))
        .init(i64_typed("i", &[], &[1]))
        .node(node("Shape", &["x"], &["s"], vec![("start", A::I(1))]))
        .node(node("Gather", &["s", "i"], &["g"], vec![]))
        .node(node("Transpose", &["x"], &["t"], vec![("perm", A::Is(vec![0, 2, 1]))]))
        .node(node("Transpose", &["x"], &["r"], vec![]))
        .node(node("Concat", &["t", "t"], &["c"], vec![("axis", A::I(-1))]))
        .node(node("Size", &["x"], &["n"], vec![]))
        .output("s")
        .output("g")
        .output("c")
        .output("r")
        .output("n");
    let m = b.read_ok();
    assert_eq!(port_shape(&m, "s"), PartialShape::fixed(&[2]));
    assert_eq!(port_shape(&m, "g"), PartialShape::scalar());
    assert_eq!(port_shape(&m, "c"), PartialShape::Ranked(vec![Dim::DYNAMIC, Dim::fixed(4), Dim::fixed(6)]));
    assert_eq!(port_shape(&m, "r"), PartialShape::Ranked(vec![Dim::fixed(4), Dim::fixed(3), Dim::DYNAMIC]));
    assert_eq!(port_shape(&m, "n"), PartialShape::scalar());

    let e = Builder::new(13)
        .input(vi("x", F32, &[3, 1]))
        .init(i64_typed("shape", &[3], &[2, 1, 4]))
        .node(node("Expand", &["x", "shape"], &["y"], vec![]))
        .output("y");
    let m = e.read_ok();
    assert!(matches!(result_producer(&m), Op::Broadcast(b) if b.mode == BroadcastMode::Bidirectional));
    assert_eq!(port_shape(&m, "y"), PartialShape::fixed(&[2, 3, 4]));
}

#[test]
fn dropout_identity_and_mask() {
    let b = Builder::new(13)
        .input(vi("x", F32, &[2, 2]))
        .node(node("Dropout", &["x"], &["y", "mask"], vec![]))
        .node(node("Identity", &["y"], &["z"], vec![]))
        .output("z")
        .output("mask");
    let m = b.read_ok();
    // Dropout and Identity pass x through: x's port carries every name.
    let x = m.node(m.parameters()[0]).expect("x");
    assert_eq!(x.name, "x");
    for n in ["x", "y", "z"] {
        assert!(x.outputs[0].names.contains(n), "{n}");
    }
    let mask = node_named(&m, "mask");
    assert!(matches!(mask.op, Op::Broadcast(_)));
    assert_eq!(mask.outputs[0].element_type, ElementType::Boolean);
}

#[test]
fn lrn_and_normalizations() {
    let b = Builder::new(17)
        .input(vi("x", F32, &[1, 4, 3, 3]))
        .init(f32_raw("s", &[4], &[1.0; 4]))
        .init(f32_raw("b", &[4], &[0.0; 4]))
        .init(f32_raw("ls", &[3], &[1.0; 3]))
        .node(node("LRN", &["x"], &["l"], vec![("size", A::I(3)), ("alpha", A::F(1e-3))]))
        .node(node("InstanceNormalization", &["l", "s", "b"], &["i"], vec![]))
        .node(node("LayerNormalization", &["i", "ls"], &["y"], vec![]))
        .output("y");
    let m = b.read_ok();
    let Op::Lrn(l) = &node_named(&m, "l").op else { panic!() };
    assert_eq!((l.size, l.alpha as f32), (3, 1e-3));
    let lrn = node_named(&m, "l");
    assert_eq!(m.const_value(lrn.inputs[1]).expect("axes").to_i64_vec().expect("i64"), vec![1]);
    assert_eq!(op_counts(&m).get("MVN"), Some(&2));
    assert_eq!(port_shape(&m, "y"), PartialShape::fixed(&[1, 4, 3, 3]));
}

#[test]
fn layer_norm_statistics_outputs_decompose() {
    let b = Builder::new(17)
        .input(vi("x", F32, &[2, 3, 4]))
        .init(f32_raw("s", &[3, 4], &[1.0; 12]))
        .node(node("LayerNormalization", &["x", "s"], &["y", "mean", "inv"], vec![("axis", A::I(1))]))
        .output("y")
        .output("mean")
        .output("inv");
    let m = b.read_ok();
    // The statistics need the explicit formula; MVN only serves Y alone.
    assert_eq!(op_counts(&m).get("MVN"), None);
    assert_eq!(op_counts(&m).get("ReduceMean"), Some(&2));
    assert_eq!(port_shape(&m, "y"), PartialShape::fixed(&[2, 3, 4]));
    assert_eq!(port_shape(&m, "mean"), PartialShape::fixed(&[2, 1, 1]));
    assert_eq!(port_shape(&m, "inv"), PartialShape::fixed(&[2, 1, 1]));
}

#[test]
fn reductions_of_empty_axes_inputs_and_booleans() {
    let b = Builder::new(18)
        .input(vi("x", F32, &[2, 3]))
        .input(vi("empty", I64, &[0]))
        .input(value_info("runtime", I64, &[None]))
        .input(vi("flags", BOOL, &[2, 3]))
        .node(node("ReduceL1", &["x", "empty"], &["all"], vec![]))
        .node(node("ReduceSum", &["x", "empty"], &["noop"], vec![("noop_with_empty_axes", A::I(1))]))
        .node(node("ReduceMean", &["x", "runtime"], &["maybe_all"], vec![("keepdims", A::I(1))]))
        .node(node("ReduceMax", &["flags", "runtime"], &["any"], vec![]))
        .output("all")
        .output("noop")
        .output("maybe_all")
        .output("any");
    let m = b.read_ok();
    assert_eq!(port_shape(&m, "all"), PartialShape::fixed(&[1, 1]));
    assert_eq!(port_shape(&m, "noop"), PartialShape::fixed(&[2, 3]));
    // A runtime axes input of unknown length reduces over Concat(axes, Range(0, rank * empty)).
    assert!(matches!(node_named(&m, "maybe_all").op, Op::ReduceMean(_)));
    let axes = m.node(node_named(&m, "maybe_all").inputs[1].node).expect("axes");
    assert!(matches!(axes.op, Op::Concat(_)), "{:?}", axes.op);
    let any = node_named(&m, "any");
    assert!(matches!(any.op, Op::Convert(_)));
    assert_eq!(any.outputs[0].element_type, ElementType::Boolean);
}

#[test]
fn dropout_with_runtime_training_mode_draws_a_mask() {
    let b = Builder::new(13)
        .input(vi("x", F32, &[2, 2]))
        .input(vi("r", F32, &[]))
        .input(vi("t", BOOL, &[]))
        .node(node("Dropout", &["x", "r", "t"], &["y", "mask"], vec![("seed", A::I(3))]))
        .output("y")
        .output("mask");
    let m = convert_folded(&b);
    // Folding keeps the draw: it must change from run to run.
    assert_eq!(op_counts(&m).get("RandomUniform"), Some(&1));
    assert_eq!(op_counts(&m).get("Select"), Some(&1));
    assert_eq!(port_shape(&m, "y"), PartialShape::fixed(&[2, 2]));
    assert_eq!(port_shape(&m, "mask"), PartialShape::fixed(&[2, 2]));
}

#[test]
fn unnamed_multi_output_and_named_nodes() {
    let mut n = node("Relu", &["x"], &["r"], vec![]);
    n.name = Some("my_relu".into());
    let b =
        Builder::new(13).input(vi("x", F32, &[2])).node(n).node(node("Sigmoid", &["r"], &["s"], vec![])).output("s");
    let m = b.read_ok();
    assert!(matches!(node_named(&m, "my_relu").op, Op::Relu(_)));
    assert!(matches!(node_named(&m, "s").op, Op::Sigmoid(_)));
}

#[test]
fn opset_picks_newest_version_not_above_import() {
    let reg = crate::Registry::standard();
    assert!(reg.find("", "Softmax", 12).is_ok());
    assert!(reg.find("ai.onnx", "Relu", 27).is_ok());
    assert!(matches!(reg.find("", "Erf", 8), Err(crate::translate::Lookup::TooOld(9))));
    assert!(matches!(reg.find("", "NoSuchOp", 13), Err(crate::translate::Lookup::Unknown)));
}

#[test]
fn input_shape_override_and_output_selection() {
    let b = Builder::new(13)
        .input(value_info("x", F32, &[None, Some(4)]))
        .node(node("Relu", &["x"], &["a"], vec![]))
        .node(node("Sigmoid", &["x"], &["b"], vec![]))
        .output("a")
        .output("b");
    let dir = tempfile::tempdir().expect("tmp");
    let path = b.write(dir.path());
    let opts = crate::ConvertOptions {
        input_shapes: vec![(None, PartialShape::fixed(&[2, 4]))],
        outputs: vec!["b".into()],
        ..Default::default()
    };
    let m = crate::convert_model(&path, &opts).expect("convert");
    assert_eq!(m.results().len(), 1);
    assert_eq!(port_shape(&m, "b"), PartialShape::fixed(&[2, 4]));
    assert!(!op_counts(&m).contains_key("ReLU"));
    let named = crate::ConvertOptions {
        input_shapes: vec![(Some("x".into()), PartialShape::fixed(&[3, 4]))],
        ..Default::default()
    };
    assert_eq!(port_shape(&crate::convert_model(&path, &named).expect("convert"), "a"), PartialShape::fixed(&[3, 4]));
    let bad = crate::ConvertOptions {
        input_shapes: vec![(Some("nope".into()), PartialShape::scalar())],
        ..Default::default()
    };
    assert!(matches!(crate::convert_model(&path, &bad), Err(crate::FrontendError::Option(_))));
    let bad = crate::ConvertOptions { outputs: vec!["zz".into()], ..Default::default() };
    assert!(matches!(crate::convert_model(&path, &bad), Err(crate::FrontendError::Option(_))));
}

#[test]
fn supported_ops_table() {
    let ops = crate::supported_ops();
    assert!(ops.iter().any(|o| o.op_type == "Conv" && o.domain == "ai.onnx" && o.since_versions.contains(&11)));
    let md = crate::supported_ops_markdown();
    assert!(md.starts_with("| ONNX op | Domain | Opsets | Since versions |"));
    assert!(md.contains("| Softmax | ai.onnx | 1–28 | 13, 11, 1 |"), "{md}");
    assert!(md.contains("| Binarizer | ai.onnx.ml | 1+ | 1 |"), "{md}");
}

/// Cast of a constant folded through the reference evaluator: the raw bytes of the result.
fn cast_bytes(to: i64, values: &[f32], attrs: Vec<(&str, A)>) -> Vec<u8> {
    let mut attrs = attrs;
    attrs.push(("to", A::I(to)));
    let b = Builder::new(24)
        .init(f32_raw("x", &[values.len() as i64], values))
        .node(node("Cast", &["x"], &["y"], attrs))
        .output("y");
    let m = convert_folded(&b);
    // Folding keeps Converts of low-precision constants (compressed weights): evaluate the rest.
    let mut values: std::collections::HashMap<ir_graph::OutputRef, ir_graph::Tensor> = Default::default();
    for id in m.topological_order().expect("order") {
        let n = m.node(id).expect("node");
        if matches!(n.op, Op::ResultOp(_)) {
            return values[&n.inputs[0]].raw().to_vec();
        }
        let inputs: Vec<ir_graph::Tensor> = n.inputs.iter().map(|i| values[i].clone()).collect();
        for (k, t) in n.op.evaluate(&inputs).expect("evaluate").into_iter().enumerate() {
            values.insert(ir_graph::OutputRef::new(id, k as u32), t);
        }
    }
    panic!("no result")
}

#[test]
fn cast_to_low_precision_follows_onnx() {
    use crate::proto::tensor_proto::DataType as D;
    let x = [0.478_925_47, 1e6, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -1e6, 464.0, 480.0];
    // saturate = 1 (default): clamp to ±448, NaN stays NaN.
    assert_eq!(cast_bytes(D::Float8e4m3fn as i64, &x, vec![]), vec![0x2f, 0x7e, 0x7f, 0x7e, 0xfe, 0xfe, 0x7e, 0x7e]);
    // saturate = 0: overflow and infinities become NaN.
    assert_eq!(
        cast_bytes(D::Float8e4m3fn as i64, &x, vec![("saturate", A::I(0))]),
        vec![0x2f, 0x7f, 0x7f, 0x7f, 0xff, 0xff, 0x7e, 0x7f]
    );
    assert_eq!(cast_bytes(D::Float8e5m2 as i64, &[1e6, f32::INFINITY], vec![]), vec![0x7b, 0x7b]);
    assert_eq!(cast_bytes(D::Float8e5m2 as i64, &[1e6, f32::INFINITY], vec![("saturate", A::I(0))]), vec![0x7c, 0x7c]);
    // e8m0 rounds up by default; NaN is 0xff, infinity saturates.
    assert_eq!(
        cast_bytes(D::Float8e8m0 as i64, &[0.0, 0.124, 1.1, 2.0, f32::INFINITY, f32::NAN], vec![]),
        vec![0x00, 0x7c, 0x80, 0x80, 0xfe, 0xff]
    );
    assert_eq!(
        cast_bytes(D::Float8e8m0 as i64, &[1.1, 3.0, 1.5], vec![("round_mode", A::S("down"))]),
        vec![0x7f, 0x80, 0x7f]
    );
    assert_eq!(
        cast_bytes(D::Float8e8m0 as i64, &[1.1, 3.0, 1.5], vec![("round_mode", A::S("nearest"))]),
        vec![0x7f, 0x81, 0x80]
    );
    // f4e2m1: NaN -> -0 (as ml_dtypes), infinities saturate; two codes per byte, low nibble first.
    assert_eq!(cast_bytes(D::Float4e2m1 as i64, &[f32::NAN, f32::INFINITY, 0.25, -3.5], vec![]), vec![0x78, 0xe0]);
    // int4 / uint2 wrap.
    assert_eq!(cast_bytes(D::Int4 as i64, &[-9.0, 8.0, 7.0], vec![]), vec![0x87, 0x07]);
    assert_eq!(cast_bytes(D::Uint2 as i64, &[-3.0, -2.0, -1.0, 0.0, 1.0], vec![]), vec![0x39, 0x01]);
}

#[test]
fn cast_to_types_without_openvino_equivalent_names_them() {
    use crate::proto::tensor_proto::DataType as D;
    for (t, name) in [(D::Int2, "INT2"), (D::Float8e4m3fnuz, "FLOAT8E4M3FNUZ"), (D::Float8e5m2fnuz, "FLOAT8E5M2FNUZ")] {
        let b = Builder::new(24)
            .input(vi("x", F32, &[2]))
            .node(node("Cast", &["x"], &["y"], vec![("to", A::I(t as i64))]))
            .output("y");
        let e = b.read().expect_err("no OpenVINO type").to_string();
        assert!(e.contains(name), "{e}");
    }
}

#[test]
fn bernoulli_draws_uniform_values_against_the_probabilities() {
    let b = Builder::new(22)
        .input(vi("p", F32, &[2, 3]))
        .node(node("Bernoulli", &["p"], &["y"], vec![("dtype", A::I(11)), ("seed", A::F(3.0))]))
        .output("y");
    let m = b.read_ok();
    let r = m.node(m.results()[0]).expect("result");
    let cvt = m.node(r.inputs[0].node).expect("convert");
    let Op::Convert(c) = &cvt.op else { panic!("{:?}", cvt.op) };
    assert_eq!(c.destination_type, ElementType::F64);
    let less = m.node(cvt.inputs[0].node).expect("less");
    assert!(matches!(less.op, Op::Less(_)), "{:?}", less.op);
    let draw = m.node(less.inputs[0].node).expect("draw");
    let Op::RandomUniform(u) = &draw.op else { panic!("{:?}", draw.op) };
    assert_eq!((u.output_type, u.op_seed), (ElementType::F32, 3));
    assert_eq!(port_shape(&m, "y"), PartialShape::fixed(&[2, 3]));
}

#[test]
fn random_generators_refuse_integer_types() {
    let b = Builder::new(22)
        .node(node("RandomUniform", &[], &["y"], vec![("shape", A::Is(vec![2])), ("dtype", A::I(7))]))
        .output("y");
    let Err(e) = b.read() else { panic!("an integer RandomUniform must be refused") };
    assert!(e.to_string().contains("floating-point only"), "{e}");
}
