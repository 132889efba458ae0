//! Small whole models built in code: compiled execution against the reference interpreter.

mod common;

use common::*;
use cpu_plugin::{Config, PerformanceHint, compile_model, reference_infer};
use ir_graph::ops::*;
use ir_graph::{Dim, ElementType, Model, Op, OutputRef, PartialShape, Tensor};

fn conv(m: &mut Model, name: &str, x: OutputRef, cin: usize, cout: usize, k: usize, seed: u64) -> OutputRef {
    let w = rand_const(m, &format!("{name}/w"), &[cout, cin, k, k], seed);
    let p = (k / 2) as i64;
    let op = Convolution {
        strides: vec![1, 1],
        dilations: vec![1, 1],
        pads_begin: vec![p, p],
        pads_end: vec![p, p],
        auto_pad: PadType::Explicit,
    };
    let c = m.add_node(op, name, &[x, w]).expect("conv");
    let b = rand_const(m, &format!("{name}/b"), &[1, cout, 1, 1], seed + 1);
    let a = m.add_node(Add::default(), &format!("{name}/bias"), &[c.into(), b]).expect("add");
    m.add_node(Relu {}, &format!("{name}/relu"), &[a.into()]).expect("relu").into()
}

/// conv+bias+relu -> maxpool -> conv (x2, residual add) -> avgpool -> reshape -> matmul+bias -> softmax.
fn small_cnn(batch: Dim) -> Model {
    let mut m = Model::new("small_cnn");
    let x: OutputRef = m
        .add_parameter("x", ElementType::F32, PartialShape::Ranked(vec![batch, 3.into(), 16.into(), 16.into()]))
        .expect("param")
        .into();
    let c1 = conv(&mut m, "c1", x, 3, 8, 3, 10);
    let pool = MaxPool8 {
        strides: vec![2, 2],
        dilations: vec![1, 1],
        pads_begin: vec![0, 0],
        pads_end: vec![0, 0],
        kernel: vec![2, 2],
        rounding_type: RoundingType::Floor,
        auto_pad: PadType::Explicit,
        index_element_type: ElementType::I64,
        axis: 0,
    };
    let p1: OutputRef = m.add_node(pool, "pool1", &[c1]).expect("pool").into();
    let c2 = conv(&mut m, "c2", p1, 8, 8, 3, 20);
    let c3 = conv(&mut m, "c3", c2, 8, 8, 1, 30);
    let res = m.add_node(Add::default(), "residual", &[c3, p1]).expect("res");
    let res = m.add_node(Relu {}, "residual/relu", &[res.into()]).expect("relu");
    let gap = AvgPool {
        kernel: vec![8, 8],
        strides: vec![1, 1],
        pads_begin: vec![0, 0],
        pads_end: vec![0, 0],
        exclude_pad: true,
        auto_pad: PadType::Explicit,
        rounding_type: RoundingType::Floor,
    };
    let g = m.add_node(gap, "gap", &[res.into()]).expect("gap");
    let shape = i64_const(&mut m, "flat/shape", &[0, -1]);
    let flat = m.add_node(Reshape { special_zero: true }, "flat", &[g.into(), shape]).expect("reshape");
    let w = rand_const(&mut m, "fc/w", &[10, 8], 40);
    let fc = m.add_node(MatMul { transpose_a: false, transpose_b: true }, "fc", &[flat.into(), w]).expect("fc");
    let b = rand_const(&mut m, "fc/b", &[10], 41);
    let fcb = m.add_node(Add::default(), "fc/bias", &[fc.into(), b]).expect("fcb");
    let sm = m.add_node(SoftMax8 { axis: 1 }, "prob", &[fcb.into()]).expect("softmax");
    m.add_result("prob/sink_port_0", sm.into()).expect("result");
    m
}

#[test]
fn small_cnn_matches_reference_interpreter() {
    let m = small_cnn(Dim::fixed(2));
    let x = rand_tensor(&[2, 3, 16, 16], 5);
    let summary = check_against_reference(&m, &[x]);
    assert!(!has_fallback(&summary), "{summary:?}");
    let kinds: Vec<&str> = summary.iter().map(|(k, _)| k.as_str()).collect();
    assert!(kinds.contains(&"Convolution") && kinds.contains(&"FullyConnected"), "{summary:?}");
    // conv+bias+relu are one step each; the residual add+relu is one step.
    let convs = summary.iter().find(|(k, _)| k == "Convolution").map(|(_, n)| *n);
    assert_eq!(convs, Some(3));
}

#[test]
fn multi_threaded_and_throughput_match() {
    let m = small_cnn(Dim::fixed(2));
    let x = rand_tensor(&[2, 3, 16, 16], 6);
    for hint in [PerformanceHint::Latency, PerformanceHint::Throughput] {
        check_with(&m, std::slice::from_ref(&x), &Config { inference_num_threads: Some(3), performance_hint: hint });
    }
}

#[test]
fn requests_run_concurrently() {
    let m = small_cnn(Dim::fixed(1));
    let compiled = compile_model(&m, &Config { inference_num_threads: Some(2), ..Config::default() }).expect("compile");
    let x = rand_tensor(&[1, 3, 16, 16], 7);
    let want = reference_infer(&m, std::slice::from_ref(&x)).expect("reference");
    std::thread::scope(|s| {
        for _ in 0..3 {
            let compiled = compiled.clone();
            let (x, want) = (x.clone(), want.clone());
            s.spawn(move || {
                let mut req = compiled.create_infer_request();
                for _ in 0..3 {
                    let got = req.infer(std::slice::from_ref(&x)).expect("infer");
                    assert_close(&got[0], &want[0], 1e-4, 1e-6, "concurrent");
                }
            });
        }
    });
}

#[test]
fn dynamic_batch_is_replanned_per_shape() {
    let m = small_cnn(Dim::DYNAMIC);
    let compiled = compile_model(&m, &Config { inference_num_threads: Some(1), ..Config::default() }).expect("compile");
    assert_eq!(compiled.inputs()[0].shape.to_string(), "[?,3,16,16]");
    let mut req = compiled.create_infer_request();
    for batch in [1usize, 3, 1, 2] {
        let x = rand_tensor(&[batch, 3, 16, 16], batch as u64);
        let got = req.infer(std::slice::from_ref(&x)).expect("infer");
        let want = reference_infer(&m, std::slice::from_ref(&x)).expect("reference");
        assert_eq!(got[0].shape(), &[batch, 10]);
        assert_close(&got[0], &want[0], 1e-4, 1e-6, &format!("batch {batch}"));
    }
}

#[test]
fn static_model_with_other_shape_is_rejected() {
    let m = small_cnn(Dim::fixed(1));
    let compiled = compile_model(&m, &Config::default()).expect("compile");
    let mut req = compiled.create_infer_request();
    let err = req.infer(&[rand_tensor(&[2, 3, 16, 16], 1)]).expect_err("shape mismatch");
    assert!(err.to_string().contains("expects shape"), "{err}");
    let err = req.infer(&[]).expect_err("count mismatch");
    assert!(err.to_string().contains("inputs"), "{err}");
}

#[test]
fn buffers_are_reused_by_lifetime() {
    // Six same-sized convs ping-pong between two arena buffers; nothing after them needs more.
    let mut m = Model::new("chain");
    let mut x = param(&mut m, "x", &[1, 4, 16, 16]);
    for i in 0..6 {
        let w = rand_const(&mut m, &format!("w{i}"), &[4, 4, 1, 1], i);
        let conv = Convolution {
            strides: vec![1, 1],
            dilations: vec![1, 1],
            pads_begin: vec![0, 0],
            pads_end: vec![0, 0],
            auto_pad: PadType::Explicit,
        };
        x = m.add_node(conv, &format!("conv{i}"), &[x, w]).expect("conv").into();
    }
    let skip = x;
    for i in 0..4 {
        let op: Op = if i % 2 == 0 { Sigmoid {}.into() } else { Tanh {}.into() };
        x = m.add_node(op, &format!("act{i}"), &[x]).expect("act").into();
    }
    let y = m.add_node(Add::default(), "residual", &[x, skip]).expect("add");
    result(&mut m, y);
    let compiled = compile_model(&m, &Config::default()).expect("compile");
    // The skip (conv5's output) stays alive; act0 takes conv4's freed buffer, the later
    // activations and the residual add run in place on it.
    assert_eq!(compiled.arena_size(), 2 * 4 * 16 * 16);
    check_against_reference(&m, &[rand_tensor(&[1, 4, 16, 16], 3)]);

    let mut m = Model::new("acts");
    let mut x = param(&mut m, "x", &[1, 4, 32, 32]);
    for i in 0..6 {
        let op: Op = if i % 2 == 0 { Sigmoid {}.into() } else { Tanh {}.into() };
        x = m.add_node(op, &format!("a{i}"), &[x]).expect("act").into();
    }
    result(&mut m, x);
    let compiled = compile_model(&m, &Config::default()).expect("compile");
    assert_eq!(compiled.arena_size(), 4 * 32 * 32);
    check_against_reference(&m, &[rand_tensor(&[1, 4, 32, 32], 3)]);
}

#[test]
fn named_inputs_and_outputs() {
    let m = small_cnn(Dim::fixed(1));
    let compiled = compile_model(&m, &Config::default()).expect("compile");
    assert_eq!(compiled.inputs()[0].name, "x");
    assert_eq!(compiled.outputs()[0].name, "prob/sink_port_0");
    let mut req = compiled.create_infer_request();
    let out = req.infer_named(&[("x", rand_tensor(&[1, 3, 16, 16], 2))]).expect("infer");
    assert_eq!(out[0].0, "prob/sink_port_0");
    assert!(req.infer_named(&[("y", rand_tensor(&[1, 3, 16, 16], 2))]).is_err());
}

#[test]
fn f16_weights_are_decompressed_once() {
    let mut m = Model::new("f16");
    let x = param(&mut m, "x", &[1, 2, 5, 5]);
    let w: Vec<half::f16> = rand_vec(3 * 2 * 9, 4).into_iter().map(half::f16::from_f32).collect();
    let wc = m.add_const("w", Tensor::from_vec(vec![3, 2, 3, 3], w).expect("w")).expect("const");
    let cvt = m.add_node(Convert { destination_type: ElementType::F32 }, "w/cvt", &[wc.into()]).expect("convert");
    m.node_mut(cvt).expect("node").rt_info.push(ir_graph::RtAttribute::flag("decompression"));
    let conv = Convolution {
        strides: vec![1, 1],
        dilations: vec![1, 1],
        pads_begin: vec![0, 0],
        pads_end: vec![0, 0],
        auto_pad: PadType::Explicit,
    };
    let y = m.add_node(conv, "conv", &[x, cvt.into()]).expect("conv");
    result(&mut m, y);
    let s = check_against_reference(&m, &[rand_tensor(&[1, 2, 5, 5], 8)]);
    assert_eq!(s, vec![("Convolution".to_string(), 1)]);
}

#[test]
fn unsupported_ops_fall_back_to_the_reference() {
    let mut m = Model::new("fallback");
    let x = param(&mut m, "x", &[2, 3, 4]);
    let a = m.add_node(Abs {}, "abs", &[x]).expect("abs");
    let axes = i64_const(&mut m, "axes", &[1]);
    let r = m.add_node(ReduceSum { keep_dims: true }, "sum", &[a.into(), axes]).expect("sum");
    let y = m.add_node(Sigmoid {}, "sig", &[r.into()]).expect("sigmoid");
    result(&mut m, y);
    let s = check_against_reference(&m, &[rand_tensor(&[2, 3, 4], 1)]);
    assert!(has_fallback(&s), "{s:?}");
    assert!(s.iter().any(|(k, _)| k == "Activation"), "{s:?}");
}

#[test]
fn in_place_binary_ops_match_reference() {
    for op in 0..4 {
        let mut m = Model::new("inplace");
        let x = param(&mut m, "x", &[1, 3, 5, 5]);
        let y = param(&mut m, "y", &[1, 3, 5, 5]);
        let t = m.add_node(Tanh {}, "t", &[x]).expect("tanh");
        let r = match op {
            0 => m.add_node(Add::default(), "op", &[t.into(), y]),
            1 => m.add_node(Subtract::default(), "op", &[t.into(), y]),
            2 => m.add_node(Multiply::default(), "op", &[t.into(), y]),
            _ => m.add_node(Divide::default(), "op", &[t.into(), y]),
        }
        .expect("binary");
        let c = m.add_node(Clamp { min: -0.5, max: 0.5 }, "clamp", &[r.into()]).expect("clamp");
        result(&mut m, c);
        let yv: Vec<f32> = rand_vec(75, 4).into_iter().map(|v| v + 2.0).collect();
        let s = check_against_reference(
            &m,
            &[rand_tensor(&[1, 3, 5, 5], 1), Tensor::from_vec(vec![1, 3, 5, 5], yv).expect("y")],
        );
        assert!(!has_fallback(&s), "{s:?}");
        let compiled = compile_model(&m, &Config::default()).expect("compile");
        assert_eq!(compiled.arena_size(), 75, "op {op} should run in place");
    }
}

#[test]
fn a_tensor_larger_than_memory_is_a_compile_error_not_an_abort() {
    // x[1] broadcast to [10^6, 10^6, 10^3]: 4 * 10^15 bytes, valid IR that no machine can run.
    let mut m = Model::new("huge");
    let x: OutputRef = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[1])).expect("param").into();
    let shape = i64_const(&mut m, "shape", &[1_000_000, 1_000_000, 1_000]);
    let b = m.add_node(Broadcast::default(), "huge_broadcast", &[x, shape]).expect("broadcast");
    m.add_result("y", b.into()).expect("result");
    let Err(err) = compile_model(&m, &Config::default()) else { panic!("compiling must fail") };
    let err = err.to_string();
    assert!(err.contains("huge_broadcast") && err.contains("more than this machine's memory"), "{err}");
}
