//! BitCast between IEEE float types and integers (or floats) of the same width, decomposed into
//! arithmetic IR ops because OpenVINO has no op that reinterprets bits.
//!
//! Every step is exact: values are only compared, scaled by powers of two that neither
//! overflow nor drop bits, or split into fields with integer ops, so the result is bit-exact in
//! any runtime that evaluates the float type at least as precisely as itself. The exponent is
//! found by a binary search of power-of-two scalings rather than log2/Power, whose accuracy
//! differs between runtimes. One loss is unavoidable: no IR op observes the sign of a NaN, so a
//! float NaN becomes the positive canonical quiet NaN pattern.

use ir_graph::ops;
use ir_graph::{ElementType, OutputRef};

use super::NodeContext;
use crate::error::FrontendError;

type R = Result<OutputRef, FrontendError>;

/// The layout of an IEEE-style binary float: fraction bits and exponent bias.
#[derive(Debug, Clone, Copy)]
pub(super) struct FloatFormat {
    /// Stored fraction (mantissa) bits.
    mant_bits: u32,
    /// Exponent bias; the all-ones biased exponent is `2 * bias + 1` (inf / NaN).
    bias: i64,
    /// Total width in bits.
    width: u32,
}

impl FloatFormat {
    /// The layout of `et`, for the float types whose bits follow IEEE 754 (with inf and NaN).
    pub(super) fn of(et: ElementType) -> Option<FloatFormat> {
        use ElementType as E;
        Some(match et {
            E::F16 => FloatFormat { mant_bits: 10, bias: 15, width: 16 },
            E::Bf16 => FloatFormat { mant_bits: 7, bias: 127, width: 16 },
            E::F32 => FloatFormat { mant_bits: 23, bias: 127, width: 32 },
            E::F64 => FloatFormat { mant_bits: 52, bias: 1023, width: 64 },
            _ => None?,
        })
    }

    /// Total width in bits.
    pub(super) fn width(self) -> u32 {
        self.width
    }

    /// Binary-search step sizes, largest first; they sum to `bias`, so scaling by a subset of
    /// them reaches every normal exponent.
    fn steps(self) -> Vec<i32> {
        let mut k = ((self.bias + 1) as u64).next_power_of_two() as i32 / 2;
        let mut out = Vec::new();
        while k >= 1 {
            out.push(k);
            k /= 2;
        }
        out
    }
}

/// The signed integer type of `width` bits.
pub(super) fn signed_of_width(width: u32) -> Option<ElementType> {
    Some(match width {
        8 => ElementType::I8,
        16 => ElementType::I16,
        32 => ElementType::I32,
        64 => ElementType::I64,
        _ => None?,
    })
}

fn pow2(k: i32) -> f64 {
    2f64.powi(k)
}

/// The bit pattern of float `x` (format `f`) as integer type `to` of the same width.
pub(super) fn float_to_bits(c: &mut NodeContext<'_>, x: OutputRef, f: FloatFormat, to: ElementType) -> R {
    let ft = c.element_type(x);
    let signed = signed_of_width(f.width).ok_or_else(|| c.error(format!("no signed integer of {} bits", f.width)))?;
    let zero = c.const_scalar(ft, 0.0)?;
    let one = c.const_scalar(ft, 1.0)?;

    // -0.0 compares equal to 0 but its reciprocal is -inf.
    let below = c.add(ops::Less::default(), &[x, zero])?;
    let is_zero = c.add(ops::Equal::default(), &[x, zero])?;
    let inv = c.add(ops::Divide::default(), &[one, x])?;
    let inv_neg = c.add(ops::Less::default(), &[inv, zero])?;
    let neg_zero = c.add(ops::LogicalAnd::default(), &[is_zero, inv_neg])?;
    let sign = c.add(ops::LogicalOr::default(), &[below, neg_zero])?;

    // Normalize |x| into [1, 2) while tracking the biased exponent (in the float type: it is a
    // small integer). Scaling by 2^±k only when the result stays >= 1 (or < 2) is exact.
    let mut y = c.add(ops::Abs::default(), &[x])?;
    let mut e = c.const_scalar(ft, f.bias as f64)?;
    let fzero = zero;
    for &k in &f.steps() {
        let t = c.const_scalar(ft, pow2(k))?;
        let cond = c.add(ops::GreaterEqual::default(), &[y, t])?;
        let down = c.const_scalar(ft, pow2(-k))?;
        let scaled = c.add(ops::Multiply::default(), &[y, down])?;
        y = c.add(ops::Select::default(), &[cond, scaled, y])?;
        let kc = c.const_scalar(ft, k as f64)?;
        let de = c.add(ops::Select::default(), &[cond, kc, fzero])?;
        e = c.add(ops::Add::default(), &[e, de])?;
    }
    for &k in &f.steps() {
        let t = c.const_scalar(ft, pow2(1 - k))?;
        let cond = c.add(ops::Less::default(), &[y, t])?;
        let up = c.const_scalar(ft, pow2(k))?;
        let scaled = c.add(ops::Multiply::default(), &[y, up])?;
        y = c.add(ops::Select::default(), &[cond, scaled, y])?;
        let kc = c.const_scalar(ft, k as f64)?;
        let de = c.add(ops::Select::default(), &[cond, kc, fzero])?;
        e = c.add(ops::Subtract::default(), &[e, de])?;
    }
    // Normals end in [1, 2) with the fraction y - 1. Subnormals and zero take every down step
    // (biased exponent 0), so y = |x| * 2^bias < 2 and their field is y * 2^(mant_bits - 1);
    // y alone cannot tell them apart, as 2^-bias scales to exactly 1.
    let normal = c.add(ops::Greater::default(), &[e, fzero])?;
    let frac = c.add(ops::Subtract::default(), &[y, one])?;
    let p = c.const_scalar(ft, pow2(f.mant_bits as i32))?;
    let mant_n = c.add(ops::Multiply::default(), &[frac, p])?;
    let half_p = c.const_scalar(ft, pow2(f.mant_bits as i32 - 1))?;
    let mant_s = c.add(ops::Multiply::default(), &[y, half_p])?;
    let mut mant = c.add(ops::Select::default(), &[normal, mant_n, mant_s])?;

    let nan = c.add(ops::IsNaN {}, &[x])?;
    let inf = c.add(ops::IsInf::default(), &[x])?;
    mant = c.add(ops::Select::default(), &[inf, fzero, mant])?;
    mant = c.add(ops::Select::default(), &[nan, half_p, mant])?;
    let special = c.add(ops::LogicalOr::default(), &[nan, inf])?;
    let all_ones = c.const_scalar(ft, (2 * f.bias + 1) as f64)?;
    e = c.add(ops::Select::default(), &[special, all_ones, e])?;

    // Assemble in 64-bit integers: the pattern of an f64 does not fit a float's mantissa.
    let i64t = ElementType::I64;
    let e = c.add(ops::Convert { destination_type: i64t }, &[e])?;
    let mant = c.add(ops::Convert { destination_type: i64t }, &[mant])?;
    let shift = c.const_scalar(i64t, pow2(f.mant_bits as i32))?;
    let hi = c.add(ops::Multiply::default(), &[e, shift])?;
    let magnitude = c.add(ops::Add::default(), &[hi, mant])?;
    // Setting the top bit of a two's-complement number of `width` bits subtracts 2^(width-1);
    // the magnitude is below 2^(width-1), so the sum never overflows i64.
    let top = c.const_scalar(i64t, -pow2(f.width as i32 - 1))?;
    let izero = c.const_scalar(i64t, 0.0)?;
    let sign_term = c.add(ops::Select::default(), &[sign, top, izero])?;
    let mut bits = c.add(ops::Add::default(), &[magnitude, sign_term])?;
    if signed != i64t {
        bits = c.add(ops::Convert { destination_type: signed }, &[bits])?;
    }
    if to != signed {
        // Integer Convert wraps modulo 2^width: the reinterpretation as unsigned.
        bits = c.add(ops::Convert { destination_type: to }, &[bits])?;
    }
    Ok(bits)
}

/// The float of format `f` and type `to` whose bit pattern is the integer `x` of the same width.
pub(super) fn bits_to_float(c: &mut NodeContext<'_>, x: OutputRef, f: FloatFormat, to: ElementType) -> R {
    let it = c.element_type(x);
    let signed = signed_of_width(f.width).ok_or_else(|| c.error(format!("no signed integer of {} bits", f.width)))?;
    let i64t = ElementType::I64;
    let mut x64 = x;
    if it != signed {
        x64 = c.add(ops::Convert { destination_type: signed }, &[x64])?;
    }
    if signed != i64t {
        x64 = c.add(ops::Convert { destination_type: i64t }, &[x64])?;
    }
    // The bits below the sign bit, kept with a mask (a pure bit op, where subtracting
    // -2^(width-1) is integer arithmetic some runtimes do in a narrower type).
    let izero = c.const_scalar(i64t, 0.0)?;
    let sign = c.add(ops::Less::default(), &[x64, izero])?;
    let low = c.const_i64(&[], vec![i64::MAX >> (64 - f.width)])?;
    let r = c.add(ops::BitwiseAnd::default(), &[x64, low])?;
    let shift = c.const_scalar(i64t, f.mant_bits as f64)?;
    let biased = c.add(ops::BitwiseRightShift::default(), &[r, shift])?;
    let mask = c.const_scalar(i64t, pow2(f.mant_bits as i32) - 1.0)?;
    let mant = c.add(ops::BitwiseAnd::default(), &[r, mask])?;

    // The significand: 1.m for normals, 0.m * 2 for subnormals (biased exponent 0, which then
    // scales like exponent -bias).
    let one = c.const_scalar(to, 1.0)?;
    let mf = c.add(ops::Convert { destination_type: to }, &[mant])?;
    let ulp = c.const_scalar(to, pow2(-(f.mant_bits as i32)))?;
    let frac = c.add(ops::Multiply::default(), &[mf, ulp])?;
    let normal_sig = c.add(ops::Add::default(), &[one, frac])?;
    let sub_ulp = c.const_scalar(to, pow2(1 - f.mant_bits as i32))?;
    let sub_sig = c.add(ops::Multiply::default(), &[mf, sub_ulp])?;
    let is_sub = c.add(ops::Equal::default(), &[biased, izero])?;
    let mut v = c.add(ops::Select::default(), &[is_sub, sub_sig, normal_sig])?;

    // Scale by 2^(biased - bias), one power-of-two factor per bit of |biased - bias|. Every
    // partial product lies between the significand and the representable result, so it is exact.
    let bias = c.const_scalar(i64t, f.bias as f64)?;
    let d = c.add(ops::Subtract::default(), &[biased, bias])?;
    let d_neg = c.add(ops::Less::default(), &[d, izero])?;
    let ad = c.add(ops::Abs::default(), &[d])?;
    for &k in &f.steps() {
        let kc = c.const_scalar(i64t, k as f64)?;
        let masked = c.add(ops::BitwiseAnd::default(), &[ad, kc])?;
        let set = c.add(ops::NotEqual::default(), &[masked, izero])?;
        let up = c.const_scalar(to, pow2(k))?;
        let down = c.const_scalar(to, pow2(-k))?;
        let factor = c.add(ops::Select::default(), &[d_neg, down, up])?;
        let factor = c.add(ops::Select::default(), &[set, factor, one])?;
        v = c.add(ops::Multiply::default(), &[v, factor])?;
    }

    let all_ones = c.const_scalar(i64t, (2 * f.bias + 1) as f64)?;
    let special = c.add(ops::Equal::default(), &[biased, all_ones])?;
    let no_mant = c.add(ops::Equal::default(), &[mant, izero])?;
    let inf = c.const_scalar(to, f64::INFINITY)?;
    let nan = c.const_scalar(to, f64::NAN)?;
    let inf_or_nan = c.add(ops::Select::default(), &[no_mant, inf, nan])?;
    v = c.add(ops::Select::default(), &[special, inf_or_nan, v])?;
    let negated = c.add(ops::Negative::default(), &[v])?;
    c.add(ops::Select::default(), &[sign, negated, v])
}
