//! Interpolate-11 kernel: each output element is a weighted sum over a per-axis neighbourhood.

use super::slicing::unravel;
use super::values::{Vals, decode_float, encode, not_evaluable, numel, take};
use crate::error::Result;
use crate::invalid;
use crate::ops::{CoordMode, Interpolate, InterpolateMode, NearestMode};
use crate::shape::strides_of;
use crate::tensor::Tensor;

/// Input coordinate of output coordinate `x` on one axis.
fn source_coord(mode: CoordMode, x: f64, scale: f64, len_in: usize, len_out: usize) -> f64 {
    match mode {
        CoordMode::HalfPixel => (x + 0.5) / scale - 0.5,
        CoordMode::PytorchHalfPixel => {
            if len_out > 1 {
                (x + 0.5) / scale - 0.5
            } else {
                0.0
            }
        }
        CoordMode::Asymmetric => x / scale,
        CoordMode::TfHalfPixelForNn => (x + 0.5) / scale,
        CoordMode::AlignCorners => {
            if len_out == 1 {
                0.0
            } else {
                x * (len_in as f64 - 1.0) / (len_out as f64 - 1.0)
            }
        }
    }
}

fn nearest_index(mode: NearestMode, x: f64, downsample: bool) -> i64 {
    let r = match mode {
        NearestMode::RoundPreferFloor => {
            if x.fract().abs() == 0.5 {
                x.floor()
            } else {
                x.round()
            }
        }
        NearestMode::RoundPreferCeil => (x + 0.5).floor(),
        NearestMode::Floor => x.floor(),
        NearestMode::Ceil => x.ceil(),
        NearestMode::Simple => {
            if downsample {
                x.ceil()
            } else {
                x.trunc()
            }
        }
    };
    r as i64
}

fn cubic_coeffs(t: f64, a: f64) -> [f64; 4] {
    let (t1, t2) = (t + 1.0, 2.0 - t);
    [
        ((a * t1 - 5.0 * a) * t1 + 8.0 * a) * t1 - 4.0 * a,
        ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0,
        ((a + 2.0) * (1.0 - t) - (a + 3.0)) * (1.0 - t) * (1.0 - t) + 1.0,
        ((a * t2 - 5.0 * a) * t2 + 8.0 * a) * t2 - 4.0 * a,
    ]
}

/// Per-axis taps `(input index, weight)` for output coordinate `x`.
fn taps(op: &Interpolate, x: usize, scale: f64, len_in: usize, len_out: usize) -> Vec<(usize, f64)> {
    let c = source_coord(op.coordinate_transformation_mode, x as f64, scale, len_in, len_out);
    let last = len_in as i64 - 1;
    let clamp = |i: i64| i.clamp(0, last) as usize;
    match op.mode {
        InterpolateMode::Nearest => vec![(clamp(nearest_index(op.nearest_mode, c, scale < 1.0)), 1.0)],
        InterpolateMode::LinearOnnx => {
            let c = c.clamp(0.0, last as f64);
            let x0 = c.floor() as i64;
            let x1 = (x0 + 1).min(last);
            let w = c - x0 as f64;
            if x1 == x0 { vec![(clamp(x0), 1.0)] } else { vec![(clamp(x0), 1.0 - w), (clamp(x1), w)] }
        }
        InterpolateMode::Cubic => {
            let x0 = c.floor();
            let co = cubic_coeffs(c - x0, op.cube_coeff);
            (0..4).map(|k| (clamp(x0 as i64 - 1 + k as i64), co[k])).collect()
        }
        _ => {
            // Triangle filter; with antialias it widens by 1/scale when downsampling.
            let a = if op.antialias && scale < 1.0 { scale } else { 1.0 };
            let r = if a < 1.0 { (2.0 / a).ceil() as i64 } else { 2 };
            let centre = c.round() as i64;
            (centre - r..=centre + r)
                .filter(|&i| (0..len_in as i64).contains(&i))
                .map(|i| (i as usize, (1.0 - ((c - i as f64) * a).abs()).max(0.0)))
                .filter(|&(_, w)| w > 0.0)
                .collect()
        }
    }
}

/// Interpolate-11 of `x` into `out` over `axes` (scales given in scales mode).
pub fn interpolate(
    op: &Interpolate,
    x: &Tensor,
    out: &[usize],
    axes: &[usize],
    scales: Option<&[f64]>,
) -> Result<Vec<Tensor>> {
    if matches!(op.mode, InterpolateMode::BilinearPillow | InterpolateMode::BicubicPillow) {
        return Err(not_evaluable("Interpolate", x.element_type()));
    }
    let s = x.shape();
    let rank = s.len();
    // Zero padding first, so every later index addresses the padded input.
    let padded: Vec<usize> = (0..rank)
        .map(|i| {
            let v = s[i] as i64 + op.pads_begin.get(i).copied().unwrap_or(0) + op.pads_end.get(i).copied().unwrap_or(0);
            usize::try_from(v).map_err(|_| invalid!("pads make dimension {i} negative"))
        })
        .collect::<Result<_>>()?;
    let mut scale = vec![1.0f64; rank];
    for (j, &a) in axes.iter().enumerate() {
        scale[a] = match scales {
            Some(sc) => *sc.get(j).ok_or_else(|| invalid!("missing scale for axis {a}"))?,
            None => out[a] as f64 / padded[a].max(1) as f64,
        };
    }
    let sst = strides_of(s);
    let pb: Vec<i64> = (0..rank).map(|i| op.pads_begin.get(i).copied().unwrap_or(0)).collect();
    // Flat index of a padded position in the input, or None inside the zero padding.
    let source = |pos: &[usize]| -> Option<usize> {
        let mut off = 0;
        for k in 0..rank {
            let p = pos[k] as i64 - pb[k];
            if p < 0 || p >= s[k] as i64 {
                return None;
            }
            off += p as usize * sst[k];
        }
        Some(off)
    };
    let axis_taps: Vec<Vec<Vec<(usize, f64)>>> = (0..rank)
        .map(|a| {
            if axes.contains(&a) {
                (0..out[a]).map(|o| taps(op, o, scale[a], padded[a], out[a])).collect()
            } else {
                (0..out[a]).map(|o| vec![(o.min(padded[a].saturating_sub(1)), 1.0)]).collect()
            }
        })
        .collect();
    let n = numel(out);
    let mut pos = vec![0usize; rank];
    if op.mode == InterpolateMode::Nearest && op.pads_begin.iter().chain(&op.pads_end).all(|&p| p == 0) {
        // Nearest without padding only moves elements, so it works for every type.
        let idx: Vec<usize> = (0..n)
            .map(|flat| {
                unravel(flat, out, &mut pos);
                let src: Vec<usize> = (0..rank).map(|k| axis_taps[k][pos[k]][0].0).collect();
                src.iter().zip(&sst).map(|(a, b)| a * b).sum()
            })
            .collect();
        return Ok(vec![take("Interpolate", x, out.to_vec(), &idx)?]);
    }
    let xv = decode_float("Interpolate", x)?;
    let mut result = Vec::with_capacity(n);
    let mut tap_pos = vec![0usize; rank];
    let mut src = vec![0usize; rank];
    for flat in 0..n {
        unravel(flat, out, &mut pos);
        let lists: Vec<&Vec<(usize, f64)>> = (0..rank).map(|k| &axis_taps[k][pos[k]]).collect();
        let counts: Vec<usize> = lists.iter().map(|l| l.len()).collect();
        let (mut sum, mut wsum) = (0.0, 0.0);
        for t in 0..numel(&counts) {
            unravel(t, &counts, &mut tap_pos);
            let mut w = 1.0;
            for k in 0..rank {
                let (i, wk) = lists[k][tap_pos[k]];
                src[k] = i;
                w *= wk;
            }
            wsum += w;
            if let Some(i) = source(&src) {
                sum += w * xv[i];
            }
        }
        // The triangle filter renormalizes over the taps that fall inside the input.
        let v = if op.mode == InterpolateMode::Linear { if wsum == 0.0 { 0.0 } else { sum / wsum } } else { sum };
        result.push(v);
    }
    Ok(vec![encode("Interpolate", x.element_type(), out.to_vec(), &Vals::F(result))?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{OpSpec, ShapeCalcMode};

    fn f32s(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v).expect("t")
    }
    fn f(t: &Tensor) -> Vec<f32> {
        t.values::<f32>().expect("f32").into_owned()
    }
    fn run(op: &Interpolate, x: Tensor, sizes: &[i64]) -> Vec<f32> {
        let s = Tensor::from_vec(vec![sizes.len()], sizes.to_vec()).expect("s");
        let a = Tensor::from_vec(vec![sizes.len()], (0..sizes.len() as i64).map(|i| i + 2).collect()).expect("a");
        f(&op.evaluate(&[x, s, a]).expect("interp")[0])
    }

    #[test]
    fn nearest_upsample_asymmetric_floor() {
        let op = Interpolate {
            coordinate_transformation_mode: CoordMode::Asymmetric,
            nearest_mode: NearestMode::Floor,
            cube_coeff: -0.75,
            ..Default::default()
        };
        let x = f32s(&[1, 1, 1, 2], vec![1.0, 2.0]);
        assert_eq!(run(&op, x, &[1, 4]), vec![1.0, 1.0, 2.0, 2.0]);
    }

    #[test]
    fn linear_onnx_half_pixel_matches_onnx_example() {
        // ONNX Resize "upsample_scales_linear": 2x2 -> 4x4, half_pixel.
        let op = Interpolate { mode: InterpolateMode::LinearOnnx, cube_coeff: -0.75, ..Default::default() };
        let x = f32s(&[1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]);
        let want = [1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0];
        assert_eq!(run(&op, x, &[4, 4]), want);
    }

    #[test]
    fn linear_align_corners_and_scales() {
        let op = Interpolate {
            mode: InterpolateMode::LinearOnnx,
            coordinate_transformation_mode: CoordMode::AlignCorners,
            shape_calculation_mode: ShapeCalcMode::Scales,
            cube_coeff: -0.75,
            ..Default::default()
        };
        let x = f32s(&[1, 1, 1, 3], vec![0.0, 1.0, 2.0]);
        let s = Tensor::from_vec(vec![1], vec![5.0f32 / 3.0]).expect("s");
        let a = Tensor::from_vec(vec![1], vec![3i64]).expect("a");
        let r = op.evaluate(&[x, s, a]).expect("i");
        assert_eq!(f(&r[0]), vec![0.0, 0.5, 1.0, 1.5, 2.0]);
    }

    #[test]
    fn cubic_keeps_constants_and_linear_matches_onnx_inside() {
        let op = Interpolate { mode: InterpolateMode::Cubic, cube_coeff: -0.75, ..Default::default() };
        let x = f32s(&[1, 1, 2, 2], vec![3.0; 4]);
        for v in run(&op, x, &[3, 5]) {
            assert!((v - 3.0).abs() < 1e-6);
        }
        // Triangle filter without antialias equals linear interpolation away from the borders.
        let op = Interpolate { mode: InterpolateMode::Linear, cube_coeff: -0.75, ..Default::default() };
        let x = f32s(&[1, 1, 1, 2], vec![0.0, 4.0]);
        assert_eq!(run(&op, x, &[1, 4]), vec![0.0, 1.0, 3.0, 4.0]);
    }

    #[test]
    fn matches_openvino_cpu() {
        // Reference numbers from the OpenVINO 2026.4 CPU plugin on the same inputs.
        let cubic = Interpolate { mode: InterpolateMode::Cubic, cube_coeff: -0.75, ..Default::default() };
        let x = f32s(&[1, 1, 2, 3], (1..=6).map(|v| v as f32).collect());
        let want = [
            0.643_583_4,
            1.055_583_5,
            1.739_583_5,
            2.423_583_7,
            2.835_583_4,
            2.404,
            2.816,
            3.5,
            4.184,
            4.596,
            4.164_416,
            4.576_416_5,
            5.260_417,
            5.944_417,
            6.356_417,
        ];
        for (g, w) in run(&cubic, x, &[3, 5]).iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
        let lin = Interpolate { mode: InterpolateMode::Linear, cube_coeff: -0.75, ..Default::default() };
        let y = f32s(&[1, 1, 1, 8], (0..8).map(|v| (v * v) as f32).collect());
        for (g, w) in run(&lin, y, &[1, 3]).iter().zip([0.833_333_4, 12.5, 38.166_664]) {
            assert!((g - w).abs() < 1e-4, "{g} vs {w}");
        }
        let z = f32s(&[1, 1, 1, 5], (0..5).map(|v| v as f32).collect());
        let near = Interpolate { nearest_mode: NearestMode::RoundPreferCeil, cube_coeff: -0.75, ..Default::default() };
        assert_eq!(run(&near, z.clone(), &[1, 3]), vec![0.0, 2.0, 4.0]);
        let simple = Interpolate {
            nearest_mode: NearestMode::Simple,
            coordinate_transformation_mode: CoordMode::Asymmetric,
            cube_coeff: -0.75,
            ..Default::default()
        };
        assert_eq!(run(&simple, z, &[1, 8]), vec![0.0, 0.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0]);
    }
}
