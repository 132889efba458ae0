//! Signal and vision translators added for opsets 17-22: DFT, windows, MelWeightMatrix,
//! STFT, Col2Im, RoiAlign, DeformConv, AffineGrid, MaxUnpool, CenterCropPad.

use ir_graph::{Model, Op, PartialShape};

use crate::test_support::*;

fn convert_folded(b: &Builder) -> Model {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::convert_model(&b.write(dir.path()), &crate::ConvertOptions::default()).expect("convert")
}

fn out_shape(m: &Model) -> PartialShape {
    let r = m.node(m.results()[0]).expect("result");
    m.port(r.inputs[0]).expect("port").shape.clone()
}

#[test]
fn dft_forms_map_to_the_four_openvino_transforms() {
    let case = |inverse: i64, onesided: i64, last: i64, n: i64| {
        let b = Builder::new(19)
            .input(vi("x", F32, &[1, n, 10, last]))
            .node(node(
                "DFT",
                &["x"],
                &["y"],
                vec![("axis", A::I(1)), ("inverse", A::I(inverse)), ("onesided", A::I(onesided))],
            ))
            .output("y");
        let m = b.read_ok();
        (result_producer(&m).type_name(), out_shape(&m))
    };
    assert_eq!(case(0, 1, 1, 10), ("RDFT", PartialShape::fixed(&[1, 6, 10, 2])));
    assert_eq!(case(1, 1, 2, 6), ("Unsqueeze", PartialShape::fixed(&[1, 10, 10, 1])));
    assert_eq!(case(0, 0, 1, 10), ("DFT", PartialShape::fixed(&[1, 10, 10, 2])));
    assert_eq!(case(1, 0, 2, 10), ("IDFT", PartialShape::fixed(&[1, 10, 10, 2])));
}

#[test]
fn constant_windows_and_mel_matrix_fold() {
    let b =
        Builder::new(17).init(i64_typed("n", &[], &[4])).node(node("HannWindow", &["n"], &["y"], vec![])).output("y");
    let m = convert_folded(&b);
    let Op::Constant(c) = result_producer(&m) else { panic!("{:?}", result_producer(&m)) };
    let v = c.value.values::<f32>().expect("f32").to_vec();
    let want = [0.0f32, 0.5, 1.0, 0.5];
    assert!(v.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{v:?}");
    let b = Builder::new(17)
        .init(i64_typed("bins", &[], &[8]))
        .init(i64_typed("len", &[], &[16]))
        .init(i64_typed("rate", &[], &[8192]))
        .init(f32_typed("lo", &[], &[0.0]))
        .init(f32_typed("hi", &[], &[4096.0]))
        .node(node("MelWeightMatrix", &["bins", "len", "rate", "lo", "hi"], &["y"], vec![]))
        .output("y");
    let m = convert_folded(&b);
    let Op::Constant(c) = result_producer(&m) else { panic!("{:?}", result_producer(&m)) };
    assert_eq!(c.value.shape(), &[9, 8]);
}

#[test]
fn vision_ops_shapes() {
    let b = Builder::new(22)
        .input(vi("x", F32, &[1, 3, 8, 8]))
        .input(vi("rois", F32, &[5, 4]))
        .input(vi("idx", I64, &[5]))
        .node(node(
            "RoiAlign",
            &["x", "rois", "idx"],
            &["y"],
            vec![("output_height", A::I(2)), ("output_width", A::I(3))],
        ))
        .output("y");
    let m = b.read_ok();
    assert_eq!(out_shape(&m), PartialShape::fixed(&[5, 3, 2, 3]));
    let b = Builder::new(22)
        .input(vi("x", F32, &[1, 2, 5, 5]))
        .input(vi("w", F32, &[4, 2, 2, 2]))
        .input(vi("off", F32, &[1, 8, 4, 4]))
        .input(vi("b", F32, &[4]))
        .node(node("DeformConv", &["x", "w", "off", "b"], &["y"], vec![]))
        .output("y");
    let m = b.read_ok();
    assert_eq!(result_producer(&m).type_name(), "Add");
    assert_eq!(out_shape(&m), PartialShape::fixed(&[1, 4, 4, 4]));
    let b = Builder::new(18)
        .input(vi("x", F32, &[1, 16, 4]))
        .init(i64_typed("size", &[2], &[5, 5]))
        .init(i64_typed("block", &[2], &[4, 4]))
        .node(node("Col2Im", &["x", "size", "block"], &["y"], vec![]))
        .output("y");
    assert_eq!(out_shape(&b.read_ok()), PartialShape::fixed(&[1, 1, 5, 5]));
}
