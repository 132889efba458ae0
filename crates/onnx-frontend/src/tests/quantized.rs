//! QLinearMatMul / QLinearConv / DynamicQuantizeLinear evaluated end to end on the reference
//! evaluator: exact integer accumulation and requantization.

use ir_graph::Tensor;

use crate::proto::TensorProto;
use crate::proto::tensor_proto::DataType;
use crate::test_support::*;

const U8: i32 = DataType::Uint8 as i32;

fn u8_raw(name: &str, dims: &[i64], values: &[u8]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(U8),
        raw_data: Some(values.to_vec().into()),
        ..Default::default()
    }
}

/// `a [1, 260] @ b [260, 1]` sums to 2^24 + 1, which f32 cannot hold; scaled by 2^-25 it is
/// 0.5 + 2^-25, which rounds to 1 (an f32 accumulator or product would give the tie 0.5 -> 0).
#[test]
fn qlinear_matmul_accumulates_and_requantizes_exactly() {
    let mut a = vec![255u8; 258];
    a.extend([255, 2]);
    let mut b = vec![255u8; 258];
    b.extend([3, 1]);
    let model = Builder::new(21)
        .input(vi("a", U8, &[1, 260]))
        .init(f32_raw("a_scale", &[], &[2f32.powi(-25)]))
        .init(u8_raw("a_zp", &[], &[0]))
        .init(u8_raw("b", &[260, 1], &b))
        .init(f32_raw("one", &[], &[1.0]))
        .init(u8_raw("zero", &[], &[0]))
        .node(node("QLinearMatMul", &["a", "a_scale", "a_zp", "b", "one", "zero", "one", "zero"], &["y"], vec![]))
        .output("y")
        .read_ok();
    let x = Tensor::from_vec(vec![1, 260], a).expect("tensor");
    let y = run(&model, &[x]);
    assert_eq!(y[0].values::<u8>().expect("u8").into_owned(), vec![1]);
}

/// Zero points are subtracted before multiplying and the result saturates at the type's range.
#[test]
fn qlinear_conv_subtracts_zero_points_and_saturates() {
    let model = Builder::new(10)
        .input(vi("x", U8, &[1, 1, 1, 3]))
        .init(f32_raw("s", &[], &[1.0]))
        .init(u8_raw("xz", &[], &[10]))
        .init(u8_raw("w", &[2, 1, 1, 1], &[12, 255]))
        .init(u8_raw("wz", &[2], &[11, 0]))
        .init(u8_raw("yz", &[], &[3]))
        .node(node("QLinearConv", &["x", "s", "xz", "w", "s", "wz", "s", "yz"], &["y"], vec![]))
        .output("y")
        .read_ok();
    let x = Tensor::from_vec(vec![1, 1, 1, 3], vec![0u8, 10, 200]).expect("tensor");
    let y = run(&model, &[x]);
    // Channel 0: (x - 10) * 1 + 3; channel 1: (x - 10) * 255 + 3, saturated.
    assert_eq!(y[0].values::<u8>().expect("u8").into_owned(), vec![0, 3, 193, 0, 3, 255]);
}

#[test]
fn dynamic_quantize_linear_of_zeros_has_scale_one_255th() {
    let model = Builder::new(11)
        .input(vi("x", F32, &[3]))
        .node(node("DynamicQuantizeLinear", &["x"], &["y", "s", "z"], vec![]))
        .output("y")
        .output("s")
        .output("z")
        .read_ok();
    let out = run(&model, &[Tensor::from_vec(vec![3], vec![0f32; 3]).expect("tensor")]);
    assert_eq!(out[0].values::<u8>().expect("u8").into_owned(), vec![0, 0, 0]);
    assert_eq!(out[1].values::<f32>().expect("f32").into_owned(), vec![1.0 / 255.0]);
    assert_eq!(out[2].values::<u8>().expect("u8").into_owned(), vec![0]);
}

#[test]
fn qlinear_matmul_of_int32_operands_is_refused() {
    let model = Builder::new(21)
        .input(vi("a", I32, &[2, 2]))
        .init(f32_raw("s", &[], &[1.0]))
        .node(node("QLinearMatMul", &["a", "s", "", "a", "s", "", "s", ""], &["y"], vec![]))
        .output("y");
    let e = model.read().expect_err("int32 operands are refused").to_string();
    assert!(e.contains("QLinearMatMul") && e.contains("only uint8 and int8"), "{e}");
}
