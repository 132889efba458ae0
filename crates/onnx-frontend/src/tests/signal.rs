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

/// Naive Col2Im after the ONNX reference: block offsets and sliding positions row-major.
#[allow(clippy::too_many_arguments)]
fn col2im_reference(
    x: &[f32],
    n: usize,
    image: &[usize],
    block: &[usize],
    strides: &[usize],
    dilations: &[usize],
    pads: &[usize],
) -> Vec<f32> {
    let d = image.len();
    let cols: Vec<usize> = (0..d)
        .map(|i| (image[i] + pads[i] + pads[d + i] - dilations[i] * (block[i] - 1) - 1) / strides[i] + 1)
        .collect();
    let (bl, l, plane) =
        (block.iter().product::<usize>(), cols.iter().product::<usize>(), image.iter().product::<usize>());
    let ch = x.len() / n / bl / l;
    let unravel = |mut k: usize, dims: &[usize]| {
        let mut v = vec![0; dims.len()];
        for i in (0..dims.len()).rev() {
            v[i] = k % dims[i];
            k /= dims[i];
        }
        v
    };
    let mut out = vec![0f32; n * ch * plane];
    for b in 0..n {
        for c in 0..ch {
            for k in 0..bl {
                let off = unravel(k, block);
                for p in 0..l {
                    let pos = unravel(p, &cols);
                    let mut flat = 0usize;
                    let mut inside = true;
                    for i in 0..d {
                        let v = (pos[i] * strides[i] + off[i] * dilations[i]) as i64 - pads[i] as i64;
                        inside &= v >= 0 && (v as usize) < image[i];
                        flat = flat * image[i] + v.max(0) as usize;
                    }
                    if inside {
                        out[(b * ch + c) * plane + flat] += x[((b * ch + c) * bl + k) * l + p];
                    }
                }
            }
        }
    }
    out
}

#[test]
fn col2im_with_other_than_two_spatial_axes_scatter_adds_into_the_padded_image() {
    use ir_graph::Tensor;
    use ir_graph::eval::graph::run_model;
    // (image, block, strides, dilations, pads) for 3 and 1 spatial axes.
    type Case = (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>);
    let cases: Vec<Case> = vec![
        (vec![3, 4, 5], vec![1, 2, 2], vec![1, 1, 1], vec![1, 1, 1], vec![0; 6]),
        (vec![4, 5, 3], vec![2, 2, 1], vec![2, 1, 1], vec![1, 2, 1], vec![1, 0, 1, 1, 2, 0]),
        (vec![7], vec![3], vec![2], vec![2], vec![1, 2]),
    ];
    for (image, block, strides, dilations, pads) in cases {
        let d = image.len();
        let cols: usize = (0..d)
            .map(|i| (image[i] + pads[i] + pads[d + i] - dilations[i] * (block[i] - 1) - 1) / strides[i] + 1)
            .product();
        let (n, ch, bl) = (2usize, 2usize, block.iter().product::<usize>());
        let x: Vec<f32> = (0..n * ch * bl * cols).map(|v| (v % 13) as f32 - 4.5).collect();
        let ints = |v: &[usize]| v.iter().map(|&u| u as i64).collect::<Vec<i64>>();
        let m = Builder::new(18)
            .input(vi("x", F32, &[n as i64, (ch * bl) as i64, cols as i64]))
            .input(vi("size", I64, &[d as i64]))
            .init(i64_typed("block", &[d as i64], &ints(&block)))
            .node(node(
                "Col2Im",
                &["x", "size", "block"],
                &["y"],
                vec![
                    ("strides", A::Is(ints(&strides))),
                    ("dilations", A::Is(ints(&dilations))),
                    ("pads", A::Is(ints(&pads))),
                ],
            ))
            .output("y")
            .read_ok();
        let xt = Tensor::from_vec(vec![n, ch * bl, cols], x.clone()).expect("x");
        let st = Tensor::from_vec(vec![d], ints(&image)).expect("size");
        let y = run_model(&m, &[xt, st]).unwrap_or_else(|e| panic!("evaluation failed: {e}"));
        let mut dims = vec![n, ch];
        dims.extend(&image);
        assert_eq!(y[0].shape(), &dims[..], "{image:?}");
        let got = y[0].values::<f32>().expect("f32").into_owned();
        assert_eq!(got, col2im_reference(&x, n, &image, &block, &strides, &dilations, &pads), "{image:?}");
    }
}
