//! Resize (opsets 10-19) and Upsample (7, 9) as Interpolate-11, the way OpenVINO's frontend maps
//! them: nearest / linear -> `linear_onnx` / cubic, scales or sizes, optional axes.

use ir_graph::ops::{self, CoordMode, Interpolate, InterpolateMode, NearestMode, RoundMode, ShapeCalcMode};
use ir_graph::{ElementType, OutputRef, Tensor};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "Resize", &[10], resize_v10);
    r.register(d, "Resize", &[11, 13, 18, 19], resize);
    r.register(d, "Upsample", &[7, 9], upsample);
}

fn interp_mode(c: &NodeContext<'_>) -> Result<InterpolateMode, FrontendError> {
    Ok(match c.attr_string("mode", "nearest")?.as_str() {
        "nearest" => InterpolateMode::Nearest,
        "linear" | "bilinear" | "trilinear" => InterpolateMode::LinearOnnx,
        "cubic" | "bicubic" => InterpolateMode::Cubic,
        other => return Err(c.error(format!("unknown mode '{other}'"))),
    })
}

/// Interpolate in scales mode with ONNX Upsample semantics (asymmetric, floor).
fn legacy(c: &mut NodeContext<'_>, x: OutputRef, scales: OutputRef) -> R {
    let op = Interpolate {
        mode: interp_mode(c)?,
        shape_calculation_mode: ShapeCalcMode::Scales,
        coordinate_transformation_mode: CoordMode::Asymmetric,
        nearest_mode: NearestMode::Floor,
        cube_coeff: -0.75,
        ..Default::default()
    };
    Ok(vec![c.add(op, &[x, scales])?])
}

fn upsample(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let scales = if c.opset() < 9 {
        let s = c.attr_floats("scales")?.ok_or_else(|| c.error("attribute 'scales' is required"))?;
        let t = Tensor::from_vec(vec![s.len()], s).map_err(|e| c.error(e.to_string()))?;
        c.constant(t)?
    } else {
        c.input(1)?
    };
    legacy(c, x, scales)
}

fn resize_v10(c: &mut NodeContext<'_>) -> R {
    let (x, scales) = (c.input(0)?, c.input(1)?);
    legacy(c, x, scales)
}

/// Input `i` unless absent or a constant with no elements.
fn given(c: &NodeContext<'_>, i: usize) -> Option<OutputRef> {
    let o = c.opt_input(i)?;
    match c.model().const_value(o) {
        Some(t) if t.numel() == 0 => None,
        _ => Some(o),
    }
}

fn resize(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let mode = interp_mode(c)?;
    let ctm = c.attr_string("coordinate_transformation_mode", "half_pixel")?;
    let coordinate_transformation_mode = match ctm.as_str() {
        "half_pixel" => CoordMode::HalfPixel,
        "pytorch_half_pixel" => CoordMode::PytorchHalfPixel,
        "align_corners" => CoordMode::AlignCorners,
        "asymmetric" => CoordMode::Asymmetric,
        "tf_half_pixel_for_nn" => CoordMode::TfHalfPixelForNn,
        // Only the decomposition below handles these.
        "tf_crop_and_resize" | "half_pixel_symmetric" if mode != InterpolateMode::Nearest => CoordMode::HalfPixel,
        other => return Err(c.error(format!("coordinate_transformation_mode '{other}' is not supported"))),
    };
    let nearest_mode = match c.attr_string("nearest_mode", "round_prefer_floor")?.as_str() {
        "round_prefer_floor" => NearestMode::RoundPreferFloor,
        "round_prefer_ceil" => NearestMode::RoundPreferCeil,
        "floor" => NearestMode::Floor,
        "ceil" => NearestMode::Ceil,
        other => return Err(c.error(format!("unknown nearest_mode '{other}'"))),
    };
    let exclude_outside = c.attr_int("exclude_outside", 0)? != 0 && mode == InterpolateMode::Cubic;
    let antialias = c.attr_int("antialias", 0)? != 0;
    let cube_coeff = c.attr_float("cubic_coeff_a", -0.75)? as f64;
    let axes = c.attr_ints("axes")?;
    let policy = c.attr_string("keep_aspect_ratio_policy", "stretch")?;
    let (target, shape_calculation_mode) = match (given(c, 3), given(c, 2)) {
        (Some(sizes), _) => (sizes, ShapeCalcMode::Sizes),
        (None, Some(scales)) => (scales, ShapeCalcMode::Scales),
        (None, None) => return Err(c.error("one of 'scales' and 'sizes' is required")),
    };
    // What Interpolate-11 computes differently from ONNX goes through the exact decomposition:
    // the modes it lacks, exclude_outside, ONNX's antialias filter, and align_corners /
    // pytorch_half_pixel with scales whose output length `scale * dim` is not a whole number
    // (ONNX maps coordinates with that fractional length, Interpolate with the floored one).
    let fractional_length = shape_calculation_mode == ShapeCalcMode::Scales
        && matches!(ctm.as_str(), "align_corners" | "pytorch_half_pixel")
        && !constant_whole_lengths(c, x, target, axes.as_deref());
    let separable = exclude_outside
        || antialias
        || fractional_length
        || matches!(ctm.as_str(), "tf_crop_and_resize" | "half_pixel_symmetric");
    if separable && mode != InterpolateMode::Nearest {
        if policy != "stretch" {
            return Err(c.error(format!("keep_aspect_ratio_policy '{policy}' with this resize mode is not supported")));
        }
        let spec = Separable {
            cubic: mode == InterpolateMode::Cubic,
            ctm: ctm.clone(),
            antialias,
            exclude_outside,
            cube_coeff,
            extrapolation: c.attr_float("extrapolation_value", 0.0)? as f64,
            sizes: shape_calculation_mode == ShapeCalcMode::Sizes,
        };
        let roi = if ctm == "tf_crop_and_resize" {
            Some(given(c, 1).ok_or_else(|| c.error("tf_crop_and_resize needs the 'roi' input"))?)
        } else {
            None
        };
        return Ok(vec![resize_separable(c, x, target, roi, axes.as_deref(), &spec)?]);
    }
    let op = Interpolate {
        mode,
        shape_calculation_mode,
        coordinate_transformation_mode,
        nearest_mode,
        antialias,
        cube_coeff,
        ..Default::default()
    };
    let axes_in = match &axes {
        Some(a) => Some(c.const_vec(a)?),
        None => None,
    };
    let target = match (shape_calculation_mode, policy.as_str()) {
        (_, "stretch") | (ShapeCalcMode::Scales, _) => target,
        (ShapeCalcMode::Sizes, "not_larger" | "not_smaller") => {
            keep_aspect(c, x, target, axes.as_deref(), policy == "not_larger")?
        }
        (_, other) => return Err(c.error(format!("unknown keep_aspect_ratio_policy '{other}'"))),
    };
    let mut inputs = vec![x, target];
    inputs.extend(axes_in);
    Ok(vec![c.add(op, &inputs)?])
}

/// Sizes that keep the aspect ratio: one scale `min` (not_larger) or `max` (not_smaller) of
/// `sizes / input dims` over the axes, and `round(dim * scale)` per axis.
fn keep_aspect(
    c: &mut NodeContext<'_>,
    x: OutputRef,
    sizes: OutputRef,
    axes: Option<&[i64]>,
    smaller: bool,
) -> Result<OutputRef, FrontendError> {
    let axes: Vec<i64> = match axes {
        Some(a) => a.to_vec(),
        None => (0..c.static_rank(x, "keep_aspect_ratio_policy")? as i64).collect(),
    };
    let shape = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    let idx = c.const_vec(&axes)?;
    let zero = c.const_i64(&[], vec![0])?;
    let dims = c.add(ops::Gather { batch_dims: 0 }, &[shape, idx, zero])?;
    let f = ElementType::F32;
    let dims = c.add(ops::Convert { destination_type: f }, &[dims])?;
    let want = c.add(ops::Convert { destination_type: f }, &[sizes])?;
    let ratio = c.add(ops::Divide::default(), &[want, dims])?;
    let ax0 = c.const_vec(&[0])?;
    let scale = if smaller {
        c.add(ops::ReduceMin { keep_dims: false }, &[ratio, ax0])?
    } else {
        c.add(ops::ReduceMax { keep_dims: false }, &[ratio, ax0])?
    };
    let out = c.add(ops::Multiply::default(), &[dims, scale])?;
    let out = c.add(ops::Round { mode: RoundMode::HalfAwayFromZero }, &[out])?;
    c.add(ops::Convert { destination_type: ElementType::I64 }, &[out])
}

/// Whether the scales are constants giving a whole output length `scale * dim` on every axis.
fn constant_whole_lengths(c: &NodeContext<'_>, x: OutputRef, scales: OutputRef, axes: Option<&[i64]>) -> bool {
    let (Some(t), Some(dims)) = (c.model().const_value(scales), c.shape(x).to_static()) else { return false };
    let Ok(scales) = t.to_f64_vec() else { return false };
    let rank = dims.len() as i64;
    let axes: Vec<i64> = axes.map_or_else(|| (0..rank).collect(), |a| a.to_vec());
    scales.len() == axes.len()
        && axes.iter().zip(&scales).all(|(&a, &s)| {
            let a = if a < 0 { a + rank } else { a };
            // ONNX multiplies the f32 scale by the dim in f64.
            (0..rank).contains(&a) && (s as f32 as f64 * dims[a as usize] as f64).fract() == 0.0
        })
}

/// The ONNX Resize semantics [`resize_separable`] reproduces.
struct Separable {
    /// Cubic, else linear.
    cubic: bool,
    ctm: String,
    antialias: bool,
    exclude_outside: bool,
    cube_coeff: f64,
    extrapolation: f64,
    /// The target holds sizes, else scales.
    sizes: bool,
}

/// Resize as ONNX's reference computes it, one axis at a time: each output position `j` of an
/// axis of length `L` is `sum_i W[j, i] * x[i]`, with `W` built at run time from the scale (or
/// size) and roi inputs. Filter taps `t` run over `[-P, L + P)`; a tap's weight is the kernel at
/// `t - x_original(j)` (scaled and normalized for antialias, zeroed outside for
/// exclude_outside), and taps outside the input count for the edge element (`OneHot` of the
/// clamped tap). `W` is applied with a MatMul on the axis moved last.
fn resize_separable(
    c: &mut NodeContext<'_>,
    x: OutputRef,
    target: OutputRef,
    roi: Option<OutputRef>,
    axes: Option<&[i64]>,
    spec: &Separable,
) -> Result<OutputRef, FrontendError> {
    use ops::{Add, Divide, Equal, Multiply, Subtract};
    let f = ElementType::F32;
    let i64t = ElementType::I64;
    let x_et = c.element_type(x);
    if !x_et.is_float() {
        return Err(c.error(format!("this resize mode needs a floating-point input, got {x_et}")));
    }
    let rank = c.static_rank(x, "this resize mode")?;
    let axes: Vec<usize> = match axes {
        None => (0..rank).collect(),
        Some(a) => a
            .iter()
            .map(|&a| {
                let n = if a < 0 { a + rank as i64 } else { a };
                usize::try_from(n)
                    .ok()
                    .filter(|&n| n < rank)
                    .ok_or_else(|| c.error(format!("axis {a} is out of range")))
            })
            .collect::<Result<_, _>>()?,
    };
    let dims = c.shape(x);
    let to_f = |c: &mut NodeContext<'_>, v: OutputRef| {
        if c.element_type(v) == f { Ok(v) } else { c.add(ops::Convert { destination_type: f }, &[v]) }
    };
    let target_f = to_f(c, target)?;
    let roi_f = match roi {
        Some(r) => Some(to_f(c, r)?),
        None => None,
    };
    let zero_axis = c.const_i64(&[], vec![0])?;
    let pick = |c: &mut NodeContext<'_>, v: OutputRef, k: usize| -> Result<OutputRef, FrontendError> {
        let k = c.const_i64(&[], vec![k as i64])?;
        c.add(ops::Gather { batch_dims: 0 }, &[v, k, zero_axis])
    };
    let mut y_all = x;
    for (k, &a) in axes.iter().enumerate() {
        let len = dims
            .dims()
            .and_then(|d| d[a].get())
            .ok_or_else(|| c.error(format!("this resize mode needs a static input dim on axis {a}")))?
            as i64;
        let lf = c.const_scalar(f, len as f64)?;
        let one = c.const_scalar(f, 1.0)?;
        let half = c.const_scalar(f, 0.5)?;
        let v = pick(c, target_f, k)?;
        // scale, output length as f32 and i64, and `ow = scale * len` (not floored).
        let (scale, out_f) = if spec.sizes {
            (c.add(Divide::default(), &[v, lf])?, v)
        } else {
            let ow = c.add(Multiply::default(), &[v, lf])?;
            (v, c.add(ops::Floor {}, &[ow])?)
        };
        let ow = c.add(Multiply::default(), &[scale, lf])?;
        let out_i = c.add(ops::Convert { destination_type: i64t }, &[out_f])?;
        let start = c.const_i64(&[], vec![0])?;
        let step = c.const_i64(&[], vec![1])?;
        let pos = c.add(ops::Range { output_type: i64t }, &[start, out_i, step])?;
        let pos = to_f(c, pos)?;
        let ow_is_one = c.add(Equal::default(), &[ow, one])?;
        let ow_minus_one = c.add(Subtract::default(), &[ow, one])?;
        let len_minus_one = c.const_scalar(f, (len - 1) as f64)?;
        // (pos + 0.5) / scale - 0.5
        let half_pixel = |c: &mut NodeContext<'_>| -> Result<OutputRef, FrontendError> {
            let p = c.add(Add::default(), &[pos, half])?;
            let p = c.add(Divide::default(), &[p, scale])?;
            c.add(Subtract::default(), &[p, half])
        };
        let mut outside = None;
        let x_ori = match spec.ctm.as_str() {
            "half_pixel" => half_pixel(c)?,
            "asymmetric" => c.add(Divide::default(), &[pos, scale])?,
            "pytorch_half_pixel" => {
                let hp = half_pixel(c)?;
                let m = c.const_scalar(f, -0.5)?;
                c.add(ops::Select::default(), &[ow_is_one, m, hp])?
            }
            "align_corners" => {
                let p = c.add(Multiply::default(), &[pos, len_minus_one])?;
                let p = c.add(Divide::default(), &[p, ow_minus_one])?;
                let z = c.const_scalar(f, 0.0)?;
                c.add(ops::Select::default(), &[ow_is_one, z, p])?
            }
            "half_pixel_symmetric" => {
                // offset = len / 2 * (1 - out / ow)
                let adj = c.add(Divide::default(), &[out_f, ow])?;
                let adj = c.add(Subtract::default(), &[one, adj])?;
                let center = c.const_scalar(f, len as f64 / 2.0)?;
                let offset = c.add(Multiply::default(), &[center, adj])?;
                let hp = half_pixel(c)?;
                c.add(Add::default(), &[offset, hp])?
            }
            "tf_crop_and_resize" => {
                let roi_f = roi_f.ok_or_else(|| c.error("tf_crop_and_resize needs the 'roi' input"))?;
                let r0 = pick(c, roi_f, k)?;
                let r1 = pick(c, roi_f, k + axes.len())?;
                let span = c.add(Subtract::default(), &[r1, r0])?;
                let span = c.add(Multiply::default(), &[span, len_minus_one])?;
                let two = c.const_scalar(f, 2.0)?;
                let single = c.add(Divide::default(), &[span, two])?;
                let p = c.add(Multiply::default(), &[pos, span])?;
                let p = c.add(Divide::default(), &[p, ow_minus_one])?;
                let p = c.add(ops::Select::default(), &[ow_is_one, single, p])?;
                let base = c.add(Multiply::default(), &[r0, len_minus_one])?;
                let p = c.add(Add::default(), &[p, base])?;
                let z = c.const_scalar(f, 0.0)?;
                let below = c.add(ops::Less::default(), &[p, z])?;
                let above = c.add(ops::Greater::default(), &[p, len_minus_one])?;
                outside = Some(c.add(ops::LogicalOr::default(), &[below, above])?);
                p
            }
            other => return Err(c.error(format!("coordinate_transformation_mode '{other}' is not supported"))),
        };
        // Taps t in [-pad, len + pad): enough for the kernel's reach (2, or 2 / scale with
        // antialias) around any position.
        let support = if spec.cubic { 2.0 } else { 1.0 };
        let (s_eff, pad) = if spec.antialias {
            let s_eff = c.add(ops::Minimum::default(), &[scale, one])?;
            let sup = c.const_scalar(f, support)?;
            let reach = c.add(Divide::default(), &[sup, s_eff])?;
            let reach = c.add(ops::Ceiling {}, &[reach])?;
            let reach = c.add(ops::Convert { destination_type: i64t }, &[reach])?;
            let two = c.const_i64(&[], vec![2])?;
            (Some(s_eff), c.add(Add::default(), &[reach, two])?)
        } else {
            (None, c.const_i64(&[], vec![3])?)
        };
        let len_i = c.const_i64(&[], vec![len])?;
        let t_start = c.add(ops::Negative {}, &[pad])?;
        let t_stop = c.add(Add::default(), &[len_i, pad])?;
        let taps = c.add(ops::Range { output_type: i64t }, &[t_start, t_stop, step])?;
        let taps_f = to_f(c, taps)?;
        let col = c.const_vec(&[1])?;
        let x_col = c.add(ops::Unsqueeze {}, &[x_ori, col])?;
        let mut d = c.add(Subtract::default(), &[taps_f, x_col])?;
        if let Some(s) = s_eff {
            d = c.add(Multiply::default(), &[d, s])?;
        }
        let ad = c.add(ops::Abs {}, &[d])?;
        let mut w = if spec.cubic {
            cubic_kernel(c, ad, spec.cube_coeff)?
        } else {
            let k = c.add(Subtract::default(), &[one, ad])?;
            c.add(ops::Relu {}, &[k])?
        };
        if spec.exclude_outside {
            let zi = c.const_i64(&[], vec![0])?;
            let ge = c.add(ops::GreaterEqual::default(), &[taps, zi])?;
            let lt = c.add(ops::Less::default(), &[taps, len_i])?;
            let inside = c.add(ops::LogicalAnd::default(), &[ge, lt])?;
            let inside = to_f(c, inside)?;
            w = c.add(Multiply::default(), &[w, inside])?;
        }
        if spec.antialias || spec.exclude_outside {
            let sum = c.add(ops::ReduceSum { keep_dims: true }, &[w, col])?;
            let z = c.const_scalar(f, 0.0)?;
            let is_zero = c.add(Equal::default(), &[sum, z])?;
            let sum = c.add(ops::Select::default(), &[is_zero, one, sum])?;
            w = c.add(Divide::default(), &[w, sum])?;
        }
        // Taps outside the input read the edge element.
        let clamped = c.add(ops::Clamp { min: 0.0, max: (len - 1) as f64 }, &[taps])?;
        let on = c.const_scalar(f, 1.0)?;
        let off = c.const_scalar(f, 0.0)?;
        let edge = c.add(ops::OneHot { axis: -1 }, &[clamped, len_i, on, off])?;
        let mut w = c.add(ops::MatMul::default(), &[w, edge])?;
        if x_et != f {
            w = c.add(ops::Convert { destination_type: x_et }, &[w])?;
        }
        // Apply along axis a: move it last, multiply by W^T, move it back.
        let last = rank - 1;
        let perm: Vec<i64> = (0..rank).filter(|&i| i != a).chain([a]).map(|i| i as i64).collect();
        let mut y = y_all;
        if a != last {
            let p = c.const_vec(&perm)?;
            y = c.add(ops::Transpose {}, &[y, p])?;
        }
        y = c.add(ops::MatMul { transpose_a: false, transpose_b: true }, &[y, w])?;
        if let Some(out) = outside {
            let e = c.const_scalar(x_et, spec.extrapolation)?;
            y = c.add(ops::Select::default(), &[out, e, y])?;
        }
        if a != last {
            let mut inv = vec![0i64; rank];
            for (i, &p) in perm.iter().enumerate() {
                inv[p as usize] = i as i64;
            }
            let p = c.const_vec(&inv)?;
            y = c.add(ops::Transpose {}, &[y, p])?;
        }
        y_all = y;
    }
    Ok(y_all)
}

/// The cubic convolution kernel with parameter `a` at `|d|` (zero from 2 on).
fn cubic_kernel(c: &mut NodeContext<'_>, ad: OutputRef, a: f64) -> Result<OutputRef, FrontendError> {
    use ops::{Add, Multiply, Subtract};
    let f = ElementType::F32;
    let k = |c: &mut NodeContext<'_>, v: f64| c.const_scalar(f, v);
    // |d| <= 1: ((a + 2) |d| - (a + 3)) |d|^2 + 1
    let (ka2, ka3, one) = (k(c, a + 2.0)?, k(c, a + 3.0)?, k(c, 1.0)?);
    let near = c.add(Multiply::default(), &[ad, ka2])?;
    let near = c.add(Subtract::default(), &[near, ka3])?;
    let sq = c.add(Multiply::default(), &[ad, ad])?;
    let near = c.add(Multiply::default(), &[near, sq])?;
    let near = c.add(Add::default(), &[near, one])?;
    // 1 < |d| < 2: ((a |d| - 5a) |d| + 8a) |d| - 4a
    let (ka, k5a, k8a, k4a) = (k(c, a)?, k(c, 5.0 * a)?, k(c, 8.0 * a)?, k(c, 4.0 * a)?);
    let far = c.add(Multiply::default(), &[ad, ka])?;
    let far = c.add(Subtract::default(), &[far, k5a])?;
    let far = c.add(Multiply::default(), &[far, ad])?;
    let far = c.add(Add::default(), &[far, k8a])?;
    let far = c.add(Multiply::default(), &[far, ad])?;
    let far = c.add(Subtract::default(), &[far, k4a])?;
    let two = k(c, 2.0)?;
    let zero = k(c, 0.0)?;
    let in_far = c.add(ops::Less::default(), &[ad, two])?;
    let far = c.add(ops::Select::default(), &[in_far, far, zero])?;
    let in_near = c.add(ops::LessEqual::default(), &[ad, one])?;
    c.add(ops::Select::default(), &[in_near, near, far])
}
