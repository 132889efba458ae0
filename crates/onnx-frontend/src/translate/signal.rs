//! Signal ops: DFT -> DFT-7 / IDFT-7 / RDFT-9 / IRDFT-9, STFT -> STFT-15, Col2Im -> Col2Im-15
//! (other spatial ranks in `col2im_nd.rs`);
//! HannWindow / HammingWindow / BlackmanWindow and MelWeightMatrix decomposed into Range, Cos
//! and arithmetic (constant inputs fold to a constant).

use ir_graph::ops;
use ir_graph::{ElementType, OutputRef};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;
type O = Result<OutputRef, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    r.register("", "DFT", &[17, 19, 20], dft);
    r.register("", "STFT", &[17], stft);
    r.register("", "HannWindow", &[17], hann_window);
    r.register("", "HammingWindow", &[17], hamming_window);
    r.register("", "BlackmanWindow", &[17], blackman_window);
    r.register("", "MelWeightMatrix", &[17], mel_weight_matrix);
    r.register("", "Col2Im", &[18], col2im);
}

/// `o` as i64 (Convert when it is another integer type).
pub(super) fn to_i64(c: &mut NodeContext<'_>, o: OutputRef) -> O {
    if c.element_type(o) == ElementType::I64 {
        Ok(o)
    } else {
        c.add(ops::Convert { destination_type: ElementType::I64 }, &[o])
    }
}

/// `o` reshaped to a 1-element 1-D i64 tensor.
fn to_vec1(c: &mut NodeContext<'_>, o: OutputRef) -> O {
    let o = to_i64(c, o)?;
    if c.shape(o).rank() == Some(1) {
        return Ok(o);
    }
    let shape = c.const_vec(&[1])?;
    c.add(ops::Reshape { special_zero: false }, &[o, shape])
}

/// Appends a zero imaginary part: `[..., 1]` -> `[..., 2]`.
fn real_to_complex(c: &mut NodeContext<'_>, x: OutputRef, rank: usize) -> O {
    let mut end = vec![0i64; rank];
    end[rank - 1] = 1;
    let pb = c.const_vec(&vec![0; rank])?;
    let pe = c.const_vec(&end)?;
    let zero = c.const_scalar(c.element_type(x), 0.0)?;
    c.add(ops::Pad { pad_mode: ops::PadMode::Constant }, &[x, pb, pe, zero])
}

fn dft(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let rank = c.static_rank(x, "DFT")?;
    if rank < 2 {
        return Err(c.error(format!("input must have rank 2 or more, got {rank}")));
    }
    let complex = match c.shape(x).dims().and_then(|d| d[rank - 1].get()) {
        Some(1) => false,
        Some(2) => true,
        Some(n) => return Err(c.error(format!("the last dimension must be 1 (real) or 2 (complex), got {n}"))),
        None => return Err(c.error("the last dimension (1 real, 2 complex) must be static")),
    };
    let inverse = c.attr_int("inverse", 0)? != 0;
    let onesided = c.attr_int("onesided", 0)? != 0;
    // The signal axis: an attribute up to opset 19 (default 1), input 2 from opset 20 (default -2).
    let axis_input = if c.opset() >= 20 { c.opt_input(2) } else { None };
    let axis_const = if c.opset() >= 20 {
        match axis_input {
            Some(_) => c.const_input(2).map(|t| t.to_i64_vec().ok().and_then(|v| v.first().copied())),
            None => Some(Some(-2)),
        }
    } else {
        Some(Some(c.attr_int("axis", 1)?))
    };
    let axes = match (axis_const, axis_input) {
        (Some(Some(a)), _) => {
            let n = if a < 0 { a + rank as i64 } else { a };
            if !(0..rank as i64 - 1).contains(&n) {
                return Err(c.error(format!("axis {a} is out of range for input rank {rank}")));
            }
            c.const_vec(&[n])?
        }
        (Some(None), _) => return Err(c.error("the axis input holds no value")),
        (None, Some(a)) => {
            // Runtime axis: ONNX counts it on the full rank, so floor-mod by the rank gives the
            // non-negative index, which OpenVINO reads the same way.
            let a = to_vec1(c, a)?;
            let r = c.const_vec(&[rank as i64])?;
            c.add(ops::FloorMod::default(), &[a, r])?
        }
        (None, None) => unreachable!("a missing axis input has a constant default"),
    };
    let mut inputs = vec![axes];
    if let Some(len) = c.opt_input(1) {
        inputs.push(to_vec1(c, len)?);
    }
    let squeeze_last = |c: &mut NodeContext<'_>, x: OutputRef| -> O {
        let ax = c.const_vec(&[rank as i64 - 1])?;
        c.add(ops::Squeeze {}, &[x, ax])
    };
    let with = |data: OutputRef, inputs: &[OutputRef]| -> Vec<OutputRef> {
        let mut v = vec![data];
        v.extend_from_slice(inputs);
        v
    };
    let y = match (inverse, onesided) {
        (false, true) => {
            if complex {
                return Err(c.error("a one-sided forward DFT needs a real input (last dimension 1)"));
            }
            let real = squeeze_last(c, x)?;
            c.add(ops::Rdft {}, &with(real, &inputs))?
        }
        (true, true) => {
            if !complex {
                return Err(c.error("a one-sided inverse DFT needs a complex input (last dimension 2)"));
            }
            let y = c.add(ops::Irdft {}, &with(x, &inputs))?;
            let ax = c.const_vec(&[rank as i64 - 1])?;
            c.add(ops::Unsqueeze {}, &[y, ax])?
        }
        (inv, false) => {
            let xc = if complex { x } else { real_to_complex(c, x, rank)? };
            if inv { c.add(ops::Idft {}, &with(xc, &inputs))? } else { c.add(ops::Dft {}, &with(xc, &inputs))? }
        }
    };
    Ok(vec![y])
}

/// STFT-17 -> STFT-15 (one-sided, real signals): `[B, L, 1]` is squeezed to `[B, L]`; a missing
/// window is ones of frame_length, a missing frame_length is the window's length.
fn stft(c: &mut NodeContext<'_>) -> R {
    let signal = c.input(0)?;
    let step = c.input(1)?;
    if c.attr_int("onesided", 1)? == 0 {
        return Err(c.error("only onesided=1 is supported (OpenVINO STFT-15 is one-sided)"));
    }
    let rank = c.static_rank(signal, "STFT")?;
    if rank != 3 {
        return Err(c.error(format!("signal must be [batch, length, 1 or 2], got rank {rank}")));
    }
    match c.shape(signal).dims().and_then(|d| d[2].get()) {
        Some(1) => {}
        Some(2) => return Err(c.error("complex signals are not supported (OpenVINO STFT-15 takes real signals)")),
        _ => return Err(c.error("the signal's last dimension must be a static 1")),
    }
    let et = c.element_type(signal);
    let ax = c.const_vec(&[2])?;
    let sig = c.add(ops::Squeeze {}, &[signal, ax])?;
    let scalar = |c: &mut NodeContext<'_>, o: OutputRef| -> O {
        let o = to_i64(c, o)?;
        if c.shape(o).rank() == Some(0) {
            return Ok(o);
        }
        let s = c.const_i64(&[0], vec![])?;
        c.add(ops::Reshape { special_zero: false }, &[o, s])
    };
    let step = scalar(c, step)?;
    let (window, frame) = match (c.opt_input(2), c.opt_input(3)) {
        (Some(w), Some(f)) => (w, scalar(c, f)?),
        (Some(w), None) => {
            let s = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[w])?;
            (w, scalar(c, s)?)
        }
        (None, Some(f)) => {
            let f = scalar(c, f)?;
            let one = c.const_scalar(et, 1.0)?;
            let shape = to_vec1(c, f)?;
            let w = c.add(ops::Broadcast { mode: ops::BroadcastMode::Numpy }, &[one, shape])?;
            (w, f)
        }
        (None, None) => return Err(c.error("either window or frame_length is required")),
    };
    let window =
        if c.element_type(window) == et { window } else { c.add(ops::Convert { destination_type: et }, &[window])? };
    Ok(vec![c.add(ops::Stft { transpose_frames: false }, &[sig, window, frame, step])?])
}

/// `n = 0..size` and the denominator (size, or size - 1 when symmetric), both f32.
fn window_base(c: &mut NodeContext<'_>) -> Result<(OutputRef, OutputRef, ElementType), FrontendError> {
    let size = c.input(0)?;
    let dt = c.attr_int("output_datatype", 1)?;
    let out_et = crate::load::element_type(dt as i32).map_err(|m| c.error(m))?;
    let periodic = c.attr_int("periodic", 1)? != 0;
    let f = ElementType::F32;
    let size = match c.shape(size).rank() {
        Some(0) => size,
        _ => {
            let s = c.const_i64(&[0], vec![])?;
            c.add(ops::Reshape { special_zero: false }, &[size, s])?
        }
    };
    let nf = c.add(ops::Convert { destination_type: f }, &[size])?;
    let (zero, one) = (c.const_scalar(f, 0.0)?, c.const_scalar(f, 1.0)?);
    let n = c.add(ops::Range { output_type: f }, &[zero, nf, one])?;
    let denom = if periodic { nf } else { c.add(ops::Subtract::default(), &[nf, one])? };
    Ok((n, denom, out_et))
}

/// `cos(k * 2 pi n / denom)`.
fn cos_term(c: &mut NodeContext<'_>, n: OutputRef, denom: OutputRef, k: f64) -> O {
    let tau = c.const_scalar(ElementType::F32, k * std::f64::consts::TAU)?;
    let num = c.add(ops::Multiply::default(), &[n, tau])?;
    let arg = c.add(ops::Divide::default(), &[num, denom])?;
    c.add(ops::Cos {}, &[arg])
}

/// `a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N)` in the requested type.
fn cosine_window(c: &mut NodeContext<'_>, a0: f64, a1: f64, a2: f64) -> R {
    let (n, denom, out_et) = window_base(c)?;
    let f = ElementType::F32;
    let c1 = cos_term(c, n, denom, 1.0)?;
    let k1 = c.const_scalar(f, a1)?;
    let t1 = c.add(ops::Multiply::default(), &[c1, k1])?;
    let k0 = c.const_scalar(f, a0)?;
    let mut y = c.add(ops::Subtract::default(), &[k0, t1])?;
    if a2 != 0.0 {
        let c2 = cos_term(c, n, denom, 2.0)?;
        let k2 = c.const_scalar(f, a2)?;
        let t2 = c.add(ops::Multiply::default(), &[c2, k2])?;
        y = c.add(ops::Add::default(), &[y, t2])?;
    }
    if out_et != f {
        y = c.add(ops::Convert { destination_type: out_et }, &[y])?;
    }
    Ok(vec![y])
}

fn hann_window(c: &mut NodeContext<'_>) -> R {
    cosine_window(c, 0.5, 0.5, 0.0)
}

fn hamming_window(c: &mut NodeContext<'_>) -> R {
    let alpha = 25.0 / 46.0;
    cosine_window(c, alpha, 1.0 - alpha, 0.0)
}

fn blackman_window(c: &mut NodeContext<'_>) -> R {
    cosine_window(c, 0.42, 0.5, 0.08)
}

/// MelWeightMatrix-17 as the ONNX reference computes it, in f32 graph arithmetic:
/// `bins = floor((dft_length + 1) * hz(mel_i) / sample_rate)` for the num_mel_bins + 2 mel
/// points, then triangles `(j - lo) / (ce - lo)` rising and `(hi - j) / (hi - ce)` falling over
/// the `dft_length / 2 + 1` spectrogram bins `j`. Constant inputs fold into a constant.
fn mel_weight_matrix(c: &mut NodeContext<'_>) -> R {
    let f = ElementType::F32;
    let dt = c.attr_int("output_datatype", 1)?;
    let out_et = crate::load::element_type(dt as i32).map_err(|m| c.error(m))?;
    let scalar_f = |c: &mut NodeContext<'_>, i: usize| -> O {
        let v = c.input(i)?;
        let v = if c.element_type(v) == f { v } else { c.add(ops::Convert { destination_type: f }, &[v])? };
        if c.shape(v).rank() == Some(0) {
            return Ok(v);
        }
        let s = c.const_i64(&[0], vec![])?;
        c.add(ops::Reshape { special_zero: false }, &[v, s])
    };
    let mel_bins = scalar_f(c, 0)?;
    let dft_len = scalar_f(c, 1)?;
    let rate = scalar_f(c, 2)?;
    let low = scalar_f(c, 3)?;
    let high = scalar_f(c, 4)?;
    let k = |c: &mut NodeContext<'_>, v: f64| c.const_scalar(f, v);
    // hz -> mel: 2595 * log10(1 + hz / 700).
    let to_mel = |c: &mut NodeContext<'_>, hz: OutputRef| -> O {
        let k700 = k(c, 700.0)?;
        let r = c.add(ops::Divide::default(), &[hz, k700])?;
        let one = k(c, 1.0)?;
        let r = c.add(ops::Add::default(), &[r, one])?;
        let l = c.add(ops::Log {}, &[r])?;
        let s = k(c, 2595.0 / std::f64::consts::LN_10)?;
        c.add(ops::Multiply::default(), &[l, s])
    };
    let low_mel = to_mel(c, low)?;
    let high_mel = to_mel(c, high)?;
    let two = k(c, 2.0)?;
    let points = c.add(ops::Add::default(), &[mel_bins, two])?;
    let span = c.add(ops::Subtract::default(), &[high_mel, low_mel])?;
    let step = c.add(ops::Divide::default(), &[span, points])?;
    let (zero, one) = (k(c, 0.0)?, k(c, 1.0)?);
    let idx = c.add(ops::Range { output_type: f }, &[zero, points, one])?;
    let mel = c.add(ops::Multiply::default(), &[idx, step])?;
    let mel = c.add(ops::Add::default(), &[mel, low_mel])?;
    // mel -> hz: 700 * (10^(mel / 2595) - 1).
    let s = k(c, std::f64::consts::LN_10 / 2595.0)?;
    let e = c.add(ops::Multiply::default(), &[mel, s])?;
    let e = c.add(ops::Exp {}, &[e])?;
    let e = c.add(ops::Subtract::default(), &[e, one])?;
    let k700 = k(c, 700.0)?;
    let hz = c.add(ops::Multiply::default(), &[e, k700])?;
    let n1 = c.add(ops::Add::default(), &[dft_len, one])?;
    let b = c.add(ops::Multiply::default(), &[n1, hz])?;
    let b = c.add(ops::Divide::default(), &[b, rate])?;
    let bins = c.add(ops::Floor {}, &[b])?; // [M + 2]
    // lo / ce / hi as [1, M].
    let slice = |c: &mut NodeContext<'_>, start: i64, end_off: i64| -> O {
        let st = c.const_vec(&[start])?;
        let en = c.const_vec(&[if end_off == 0 { i64::MAX } else { end_off }])?;
        let sp = c.const_vec(&[1])?;
        let ax = c.const_vec(&[0])?;
        let v = c.add(ops::Slice {}, &[bins, st, en, sp, ax])?;
        let z = c.const_vec(&[0])?;
        c.add(ops::Unsqueeze {}, &[v, z])
    };
    let lo = slice(c, 0, -2)?;
    let ce = slice(c, 1, -1)?;
    let hi = slice(c, 2, 0)?;
    // j = 0..dft_length/2+1 as [J, 1].
    let half = c.add(ops::Divide::default(), &[dft_len, two])?;
    let half = c.add(ops::Floor {}, &[half])?;
    let nspec = c.add(ops::Add::default(), &[half, one])?;
    let j = c.add(ops::Range { output_type: f }, &[zero, nspec, one])?;
    let ax1 = c.const_vec(&[1])?;
    let j = c.add(ops::Unsqueeze {}, &[j, ax1])?;
    let sub = |c: &mut NodeContext<'_>, a: OutputRef, b: OutputRef| c.add(ops::Subtract::default(), &[a, b]);
    let up_n = sub(c, j, lo)?;
    let up_d = sub(c, ce, lo)?;
    let up = c.add(ops::Divide::default(), &[up_n, up_d])?;
    let flat = c.add(ops::Equal::default(), &[ce, lo])?;
    let up = c.add(ops::Select::default(), &[flat, one, up])?;
    let down_n = sub(c, hi, j)?;
    let down_d = sub(c, hi, ce)?;
    let down = c.add(ops::Divide::default(), &[down_n, down_d])?;
    let ge_lo = c.add(ops::GreaterEqual::default(), &[j, lo])?;
    let le_ce = c.add(ops::LessEqual::default(), &[j, ce])?;
    let rising = c.add(ops::LogicalAnd::default(), &[ge_lo, le_ce])?;
    let gt_ce = c.add(ops::Greater::default(), &[j, ce])?;
    let lt_hi = c.add(ops::Less::default(), &[j, hi])?;
    let falling = c.add(ops::LogicalAnd::default(), &[gt_ce, lt_hi])?;
    let y = c.add(ops::Select::default(), &[falling, down, zero])?;
    let mut y = c.add(ops::Select::default(), &[rising, up, y])?;
    if out_et != f {
        y = c.add(ops::Convert { destination_type: out_et }, &[y])?;
    }
    Ok(vec![y])
}

/// Col2Im-18 -> Col2Im-15 for two spatial axes (OpenVINO's op), a scatter-add otherwise.
fn col2im(c: &mut NodeContext<'_>) -> R {
    let (x, size, block) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let spatial = c.shape(size).dims().and_then(|d| d.first().and_then(|v| v.get()));
    match spatial {
        Some(2) => {}
        Some(d) if d >= 1 => return super::col2im_nd::col2im_nd(c, d as usize),
        _ => {
            let what = spatial.map_or("an unknown number of".to_string(), |s| s.to_string());
            return Err(
                c.error(format!("image_shape must have a known, positive number of spatial axes, it has {what}"))
            );
        }
    }
    let two = |c: &NodeContext<'_>, name: &str, default: i64| -> Result<Vec<i64>, FrontendError> {
        let v = c.attr_ints(name)?.unwrap_or_else(|| vec![default; 2]);
        if v.len() != 2 {
            return Err(c.error(format!("'{name}' must have 2 values, got {v:?}")));
        }
        Ok(v)
    };
    let strides = two(c, "strides", 1)?;
    let dilations = two(c, "dilations", 1)?;
    let pads = c.attr_ints("pads")?.unwrap_or_else(|| vec![0; 4]);
    if pads.len() != 4 {
        return Err(c.error(format!("'pads' must have 4 values, got {pads:?}")));
    }
    let size = to_i64(c, size)?;
    let block = to_i64(c, block)?;
    let op = ops::Col2Im { strides, dilations, pads_begin: pads[..2].to_vec(), pads_end: pads[2..].to_vec() };
    Ok(vec![c.add(op, &[x, size, block])?])
}
