//! Quantized arithmetic decomposed into IR ops: DynamicQuantizeLinear, QLinearMatMul and
//! QLinearConv, bit-exact with the ONNX reference for 8-bit operands.
//!
//! The integer sums of products are computed exactly: OpenVINO's CPU plugin runs an i32
//! MatMul / Convolution in f32 (so an i32 result above 2^24 is rounded), hence each centered
//! operand `v = x - zero_point` (an integer in [-255, 255]) is split as `v = 16 * hi + lo` with
//! `hi` in [-16, 15] and `lo` in [0, 15]. Every product of parts is at most 256 in magnitude,
//! so the four partial MatMuls / Convolutions stay exact in f32 up to 65536 terms per output;
//! they are converted to i32 (exact) and combined in i32 as the ONNX int32 accumulator.

use ir_graph::ops::{self, RoundMode};
use ir_graph::{ElementType, OutputRef};

use super::nn::{channel_vector, conv_with};
use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;
type Res<T> = Result<T, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "DynamicQuantizeLinear", &[11], dynamic_quantize_linear);
    r.register(d, "QLinearMatMul", &[10, 21], qlinear_matmul);
    r.register(d, "QLinearConv", &[10], qlinear_conv);
}

/// Integer range of an 8-bit quantized type.
fn range8(et: ElementType) -> Option<(f64, f64)> {
    match et {
        ElementType::U8 => Some((0.0, 255.0)),
        ElementType::I8 => Some((-128.0, 127.0)),
        _ => None,
    }
}

/// The 8-bit type of a quantized operand, or an error naming what is not supported.
fn quantized_type(c: &NodeContext<'_>, x: OutputRef, what: &str) -> Res<ElementType> {
    let et = c.element_type(x);
    match range8(et) {
        Some(_) => Ok(et),
        None => Err(c.error(format!("{what} of type {et} is not supported (only uint8 and int8)"))),
    }
}

fn to_f32(c: &mut NodeContext<'_>, x: OutputRef) -> Res<OutputRef> {
    if c.element_type(x) == ElementType::F32 {
        return Ok(x);
    }
    c.add(ops::Convert { destination_type: ElementType::F32 }, &[x])
}

/// DynamicQuantizeLinear-11: uint8 quantization with scale `(max(0, max x) - min(0, min x)) / 255`
/// (1/255 when that range is empty) and zero point `round(clamp(-min / scale, 0, 255))`.
fn dynamic_quantize_linear(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let et = c.element_type(x);
    if et != ElementType::F32 {
        return Err(c.error(format!("DynamicQuantizeLinear of {et} input is not supported (only float)")));
    }
    let rank = c.static_rank(x, "DynamicQuantizeLinear")?;
    let axes: Vec<i64> = (0..rank as i64).collect();
    let axes = c.const_vec(&axes)?;
    let zero = c.const_scalar(et, 0.0)?;
    let max = c.add(ops::ReduceMax { keep_dims: false }, &[x, axes])?;
    let max = c.add(ops::Maximum::default(), &[max, zero])?;
    let min = c.add(ops::ReduceMin { keep_dims: false }, &[x, axes])?;
    let min = c.add(ops::Minimum::default(), &[min, zero])?;
    let span = c.add(ops::Subtract::default(), &[max, min])?;
    let empty = c.add(ops::Equal::default(), &[max, min])?;
    let one = c.const_scalar(et, 1.0)?;
    let span = c.add(ops::Select::default(), &[empty, one, span])?;
    let qmax = c.const_scalar(et, 255.0)?;
    let scale = c.add(ops::Divide::default(), &[span, qmax])?;
    let zp = c.add(ops::Divide::default(), &[min, scale])?;
    let zp = c.add(ops::Negative {}, &[zp])?;
    let zp = c.add(ops::Clamp { min: 0.0, max: 255.0 }, &[zp])?;
    let zp = c.add(ops::Round { mode: RoundMode::HalfToEven }, &[zp])?;
    let y = c.add(ops::Divide::default(), &[x, scale])?;
    let y = c.add(ops::Round { mode: RoundMode::HalfToEven }, &[y])?;
    let y = c.add(ops::Add::default(), &[y, zp])?;
    let y = c.add(ops::Clamp { min: 0.0, max: 255.0 }, &[y])?;
    let y = c.add(ops::Convert { destination_type: ElementType::U8 }, &[y])?;
    let zp = c.add(ops::Convert { destination_type: ElementType::U8 }, &[zp])?;
    Ok(vec![y, scale, zp])
}

/// `x - zero_point` as f32 (exact: both are 8-bit integers). A 1-D zero point that is not a
/// single element is reshaped by `per_axis`, which says how to align it with `x`.
fn centered(
    c: &mut NodeContext<'_>,
    x: OutputRef,
    zp: Option<OutputRef>,
    per_axis: &dyn Fn(&mut NodeContext<'_>, OutputRef) -> Res<OutputRef>,
) -> Res<OutputRef> {
    let xf = to_f32(c, x)?;
    let Some(zp) = zp else { return Ok(xf) };
    let zt = c.element_type(zp);
    if zt != c.element_type(x) {
        return Err(c.error(format!("zero point type {zt} differs from its operand's {}", c.element_type(x))));
    }
    let mut z = to_f32(c, zp)?;
    if is_vector(c, z) {
        z = per_axis(c, z)?;
    }
    c.add(ops::Subtract::default(), &[xf, z])
}

/// Whether `v` is 1-D with other than exactly one element (a per-axis parameter).
fn is_vector(c: &NodeContext<'_>, v: OutputRef) -> bool {
    c.shape(v).rank() == Some(1) && c.shape(v).to_static() != Some(vec![1])
}

/// Reshapes a 1-D parameter to `[-1, 1, ..., 1]` over `rank` dims (per first / per row axis).
fn leading(c: &mut NodeContext<'_>, v: OutputRef, rank: usize) -> Res<OutputRef> {
    let mut target = vec![1i64; rank.max(1)];
    target[0] = -1;
    let t = c.const_vec(&target)?;
    c.add(ops::Reshape { special_zero: false }, &[v, t])
}

/// `v = 16 * hi + lo` with `lo` in [0, 15], both exact in f32 for integer `v`.
fn split16(c: &mut NodeContext<'_>, v: OutputRef) -> Res<(OutputRef, OutputRef)> {
    let sixteenth = c.const_scalar(ElementType::F32, 1.0 / 16.0)?;
    let sixteen = c.const_scalar(ElementType::F32, 16.0)?;
    let hi = c.add(ops::Multiply::default(), &[v, sixteenth])?;
    let hi = c.add(ops::Floor {}, &[hi])?;
    let h16 = c.add(ops::Multiply::default(), &[hi, sixteen])?;
    let lo = c.add(ops::Subtract::default(), &[v, h16])?;
    Ok((hi, lo))
}

/// The exact i32 value of the bilinear `op(a, b)` (MatMul or Convolution) of f32 operands
/// holding integers in [-255, 255]; see the module doc for why it is split in four.
fn exact_bilinear(
    c: &mut NodeContext<'_>,
    a: OutputRef,
    b: OutputRef,
    op: &dyn Fn(&mut NodeContext<'_>, OutputRef, OutputRef) -> Res<OutputRef>,
) -> Res<OutputRef> {
    let (ah, al) = split16(c, a)?;
    let (bh, bl) = split16(c, b)?;
    let part = |c: &mut NodeContext<'_>, x: OutputRef, y: OutputRef| -> Res<OutputRef> {
        let p = op(c, x, y)?;
        c.add(ops::Convert { destination_type: ElementType::I32 }, &[p])
    };
    let hh = part(c, ah, bh)?;
    let hl = part(c, ah, bl)?;
    let lh = part(c, al, bh)?;
    let ll = part(c, al, bl)?;
    let k256 = c.const_scalar(ElementType::I32, 256.0)?;
    let k16 = c.const_scalar(ElementType::I32, 16.0)?;
    let hh = c.add(ops::Multiply::default(), &[hh, k256])?;
    let mid = c.add(ops::Add::default(), &[hl, lh])?;
    let mid = c.add(ops::Multiply::default(), &[mid, k16])?;
    let acc = c.add(ops::Add::default(), &[hh, mid])?;
    c.add(ops::Add::default(), &[acc, ll])
}

/// `saturate(round_half_even(acc * multiplier) + y_zero_point)` in `out`.
///
/// The product is taken in f64, as the reference does (numpy promotes int32 times a float
/// array to float64): an i32 accumulator and an f32 / f16 multiplier are exact in f64, and an
/// f32 product would round accumulators above 2^24 and could move a value across a .5 tie.
fn requantize(
    c: &mut NodeContext<'_>,
    acc: OutputRef,
    multiplier: OutputRef,
    y_zp: Option<OutputRef>,
    out: ElementType,
) -> R {
    let (lo, hi) = range8(out).ok_or_else(|| c.error(format!("output type {out} is not supported")))?;
    let f64t = ElementType::F64;
    let accf = c.add(ops::Convert { destination_type: f64t }, &[acc])?;
    let m = c.add(ops::Convert { destination_type: f64t }, &[multiplier])?;
    let y = c.add(ops::Multiply::default(), &[accf, m])?;
    let mut y = c.add(ops::Round { mode: RoundMode::HalfToEven }, &[y])?;
    if let Some(z) = y_zp {
        let z = c.add(ops::Convert { destination_type: f64t }, &[z])?;
        y = c.add(ops::Add::default(), &[y, z])?;
    }
    let y = c.add(ops::Clamp { min: lo, max: hi }, &[y])?;
    Ok(vec![c.add(ops::Convert { destination_type: out }, &[y])?])
}

/// `a_scale * b_scale / y_scale` in the scales' own type, as the reference computes it.
fn multiplier(c: &mut NodeContext<'_>, a_scale: OutputRef, b_scale: OutputRef, y_scale: OutputRef) -> Res<OutputRef> {
    let st = c.element_type(a_scale);
    if !st.is_float() {
        return Err(c.error(format!("scales of type {st} are not supported")));
    }
    for s in [b_scale, y_scale] {
        if c.element_type(s) != st {
            return Err(c.error(format!("scale types {st} and {} differ", c.element_type(s))));
        }
    }
    let m = c.add(ops::Multiply::default(), &[a_scale, b_scale])?;
    c.add(ops::Divide::default(), &[m, y_scale])
}

/// QLinearMatMul-10/21: `(a - a_zp) @ (b - b_zp)` exactly in i32, requantized with
/// `a_scale * b_scale / y_scale`. 1-D parameters of `a` are per row, those of `b` per column.
fn qlinear_matmul(c: &mut NodeContext<'_>) -> R {
    let (a, a_scale, a_zp) = (c.input(0)?, c.input(1)?, c.opt_input(2));
    let (b, b_scale, b_zp) = (c.input(3)?, c.input(4)?, c.opt_input(5));
    let (y_scale, y_zp) = (c.input(6)?, c.opt_input(7));
    quantized_type(c, a, "input a")?;
    quantized_type(c, b, "input b")?;
    let out = match y_zp {
        Some(z) => quantized_type(c, z, "y_zero_point")?,
        None => c.element_type(a),
    };
    let a_rows = |c: &mut NodeContext<'_>, v: OutputRef| leading(c, v, 2);
    let per_column = |_: &mut NodeContext<'_>, v: OutputRef| Ok(v);
    let ac = centered(c, a, a_zp, &a_rows)?;
    let bc = centered(c, b, b_zp, &per_column)?;
    let matmul = |c: &mut NodeContext<'_>, x: OutputRef, y: OutputRef| c.add(ops::MatMul::default(), &[x, y]);
    let acc = exact_bilinear(c, ac, bc, &matmul)?;
    let a_scale = if is_vector(c, a_scale) { leading(c, a_scale, 2)? } else { a_scale };
    let m = multiplier(c, a_scale, b_scale, y_scale)?;
    requantize(c, acc, m, y_zp, out)
}

/// QLinearConv-10: Convolution of `x - x_zp` and `w - w_zp` (per output channel) exactly in
/// i32, plus the i32 bias, requantized with `x_scale * w_scale / y_scale` (w_scale per output
/// channel when 1-D).
fn qlinear_conv(c: &mut NodeContext<'_>) -> R {
    let (x, x_scale, x_zp) = (c.input(0)?, c.input(1)?, c.opt_input(2));
    let (w, w_scale, w_zp) = (c.input(3)?, c.input(4)?, c.opt_input(5));
    let (y_scale, y_zp, bias) = (c.input(6)?, c.opt_input(7), c.opt_input(8));
    quantized_type(c, x, "input x")?;
    quantized_type(c, w, "input w")?;
    let out = match y_zp {
        Some(z) => quantized_type(c, z, "y_zero_point")?,
        None => c.element_type(x),
    };
    let xr = c.static_rank(x, "QLinearConv")?;
    let wr = c.static_rank(w, "QLinearConv")?;
    let per_tensor =
        |c: &mut NodeContext<'_>, _: OutputRef| -> Res<OutputRef> { Err(c.error("x_zero_point must be per-tensor")) };
    let per_out_channel = |c: &mut NodeContext<'_>, v: OutputRef| leading(c, v, wr);
    let xc = centered(c, x, x_zp, &per_tensor)?;
    let wc = centered(c, w, w_zp, &per_out_channel)?;
    let conv = |c: &mut NodeContext<'_>, a: OutputRef, b: OutputRef| -> Res<OutputRef> {
        let mut y = conv_with(c, a, b, None)?;
        y.pop().ok_or_else(|| c.error("convolution produced no output"))
    };
    let mut acc = exact_bilinear(c, xc, wc, &conv)?;
    if let Some(b) = bias {
        let bt = c.element_type(b);
        if bt != ElementType::I32 {
            return Err(c.error(format!("bias of type {bt} is not supported (int32 expected)")));
        }
        let b = channel_vector(c, b, xr)?;
        acc = c.add(ops::Add::default(), &[acc, b])?;
    }
    let w_scale = if is_vector(c, w_scale) { channel_vector(c, w_scale, xr)? } else { w_scale };
    let m = multiplier(c, x_scale, w_scale, y_scale)?;
    requantize(c, acc, m, y_zp, out)
}
