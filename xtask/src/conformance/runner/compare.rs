//! Comparing an output with its reference the way onnx's backend test runner does.
//!
//! Floats: `|got - want| <= atol + rtol * |want|` (rtol 1e-3, atol 1e-7; bf16 uses rtol 2^-6,
//! two bf16 ulps, as onnx's runner does), NaN matches NaN, infinities must be equal.
//! Integers, booleans and strings must be equal. Shapes and element types must match.

use anyhow::{Result, bail};
use ir_graph::{ElementType, Tensor};

/// Relative tolerance.
pub const RTOL: f64 = 1e-3;
/// Absolute tolerance.
pub const ATOL: f64 = 1e-7;

/// Why an output does not match.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// Element type or shape differ.
    ShapeOrType(String),
    /// Values differ.
    Values(String),
}

/// Compares `got` with `want`; with `shape_type_only` the values are not looked at.
pub fn compare(got: &Tensor, want: &Tensor, shape_type_only: bool) -> Result<(), Mismatch> {
    if got.element_type() != want.element_type() {
        return Err(Mismatch::ShapeOrType(format!(
            "element type {} but the reference is {}",
            got.element_type(),
            want.element_type()
        )));
    }
    if got.shape() != want.shape() {
        return Err(Mismatch::ShapeOrType(format!("shape {:?} but the reference is {:?}", got.shape(), want.shape())));
    }
    if shape_type_only {
        return Ok(());
    }
    let et = want.element_type();
    let err = |e: anyhow::Error| Mismatch::Values(format!("cannot read values: {e}"));
    if et == ElementType::String {
        let (g, w) = (got.strings().map_err(|e| err(e.into()))?, want.strings().map_err(|e| err(e.into()))?);
        let bad: Vec<usize> = (0..w.len()).filter(|&i| g.get(i) != w.get(i)).collect();
        if let Some(&i) = bad.first() {
            return Err(Mismatch::Values(format!(
                "{} of {} strings differ; first at {}: got {:?}, expected {:?}",
                bad.len(),
                w.len(),
                index_str(want.shape(), i),
                g.get(i).map(String::as_str).unwrap_or(""),
                w[i]
            )));
        }
        return Ok(());
    }
    if et.is_float() {
        let (g, w) = (float_values(got).map_err(err)?, float_values(want).map_err(err)?);
        let rtol = if et == ElementType::Bf16 { RTOL.max(1.0 / 64.0) } else { RTOL };
        let mut bad = 0usize;
        let mut worst: Option<(usize, f64)> = None;
        for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
            if close(a, b, rtol, ATOL) {
                continue;
            }
            bad += 1;
            let excess =
                if a.is_finite() && b.is_finite() { (a - b).abs() - (ATOL + rtol * b.abs()) } else { f64::INFINITY };
            if worst.is_none_or(|(_, e)| excess > e) {
                worst = Some((i, excess));
            }
        }
        if let Some((i, _)) = worst {
            return Err(Mismatch::Values(format!(
                "{bad} of {} values differ (rtol {rtol:e}, atol {ATOL:e}); worst at {}: got {}, expected {}",
                w.len(),
                index_str(want.shape(), i),
                g[i],
                w[i]
            )));
        }
        return Ok(());
    }
    let (g, w) = (int_values(got).map_err(err)?, int_values(want).map_err(err)?);
    let bad: Vec<usize> = (0..w.len()).filter(|&i| g.get(i) != w.get(i)).collect();
    if let Some(&i) = bad.first() {
        return Err(Mismatch::Values(format!(
            "{} of {} values differ; first at {}: got {}, expected {}",
            bad.len(),
            w.len(),
            index_str(want.shape(), i),
            g.get(i).copied().unwrap_or_default(),
            w[i]
        )));
    }
    Ok(())
}

/// onnx's closeness rule with NaN == NaN and exact infinities.
pub fn close(a: f64, b: f64, rtol: f64, atol: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= atol + rtol * b.abs()
}

fn index_str(shape: &[usize], flat: usize) -> String {
    let mut idx = vec![0usize; shape.len()];
    let mut rest = flat;
    for (k, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[k] = rest % d;
            rest /= d;
        }
    }
    format!("{idx:?}")
}

/// Values of any float type as f64.
pub fn float_values(t: &Tensor) -> Result<Vec<f64>> {
    use ElementType as E;
    let raw = t.raw();
    let n = t.numel();
    Ok(match t.element_type() {
        E::F32 | E::F64 | E::F16 | E::Bf16 => t.to_f64_vec()?,
        E::F8E4M3 => raw.iter().take(n).map(|&b| f8e4m3(b)).collect(),
        E::F8E5M2 => raw.iter().take(n).map(|&b| f8e5m2(b)).collect(),
        E::F8E8M0 => raw.iter().take(n).map(|&b| f8e8m0(b)).collect(),
        E::F4E2M1 => (0..n).map(|i| f4e2m1(nibble(raw, i))).collect(),
        other => bail!("no float decoding for {other}"),
    })
}

/// Values of any integer or boolean type, widened.
pub fn int_values(t: &Tensor) -> Result<Vec<i128>> {
    use ElementType as E;
    let raw = t.raw();
    let n = t.numel();
    Ok(match t.element_type() {
        E::Boolean => raw.iter().take(n).map(|&b| i128::from(b != 0)).collect(),
        E::U64 => t.values::<u64>()?.iter().map(|&v| v as i128).collect(),
        E::U4 => (0..n).map(|i| nibble(raw, i) as i128).collect(),
        E::I4 => (0..n).map(|i| (((nibble(raw, i) << 4) as i8) >> 4) as i128).collect(),
        E::U2 => (0..n).map(|i| ((raw.get(i / 4).copied().unwrap_or(0) >> (2 * (i % 4))) & 3) as i128).collect(),
        E::U1 => (0..n).map(|i| ((raw.get(i / 8).copied().unwrap_or(0) >> (7 - i % 8)) & 1) as i128).collect(),
        _ => t.to_i64_vec()?.into_iter().map(i128::from).collect(),
    })
}

fn nibble(raw: &[u8], i: usize) -> u8 {
    let b = raw.get(i / 2).copied().unwrap_or(0);
    if i.is_multiple_of(2) { b & 0x0f } else { b >> 4 }
}

fn f8e4m3(b: u8) -> f64 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let e = ((b >> 3) & 0x0f) as i32;
    let m = (b & 0x07) as f64;
    if e == 15 && m == 7.0 {
        return f64::NAN;
    }
    sign * if e == 0 { m / 8.0 * 2f64.powi(-6) } else { (1.0 + m / 8.0) * 2f64.powi(e - 7) }
}

fn f8e5m2(b: u8) -> f64 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let e = ((b >> 2) & 0x1f) as i32;
    let m = (b & 0x03) as f64;
    if e == 31 {
        return if m == 0.0 { sign * f64::INFINITY } else { f64::NAN };
    }
    sign * if e == 0 { m / 4.0 * 2f64.powi(-14) } else { (1.0 + m / 4.0) * 2f64.powi(e - 15) }
}

fn f8e8m0(b: u8) -> f64 {
    if b == 0xff { f64::NAN } else { 2f64.powi(b as i32 - 127) }
}

fn f4e2m1(n: u8) -> f64 {
    let sign = if n & 0x8 != 0 { -1.0 } else { 1.0 };
    let e = ((n >> 1) & 0x3) as i32;
    let m = (n & 1) as f64;
    sign * if e == 0 { m * 0.5 } else { (1.0 + m / 2.0) * 2f64.powi(e - 1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(shape: Vec<usize>, v: Vec<f32>) -> Tensor {
        Tensor::from_vec(shape, v).expect("tensor")
    }

    #[test]
    fn tolerance_nan_and_inf() {
        let want = f32s(vec![4], vec![1.0, f32::NAN, f32::INFINITY, 0.0]);
        let ok = f32s(vec![4], vec![1.0005, f32::NAN, f32::INFINITY, 5e-8]);
        assert_eq!(compare(&ok, &want, false), Ok(()));
        let bad = f32s(vec![4], vec![1.002, f32::NAN, f32::INFINITY, 0.0]);
        assert!(matches!(compare(&bad, &want, false), Err(Mismatch::Values(_))));
        let bad_nan = f32s(vec![4], vec![1.0, 0.0, f32::INFINITY, 0.0]);
        assert!(matches!(compare(&bad_nan, &want, false), Err(Mismatch::Values(_))));
        let bad_inf = f32s(vec![4], vec![1.0, f32::NAN, f32::NEG_INFINITY, 0.0]);
        assert!(matches!(compare(&bad_inf, &want, false), Err(Mismatch::Values(_))));
    }

    #[test]
    fn shapes_and_types_must_match() {
        let want = f32s(vec![2, 2], vec![1.0; 4]);
        assert!(matches!(compare(&f32s(vec![4], vec![1.0; 4]), &want, false), Err(Mismatch::ShapeOrType(_))));
        let ints = Tensor::from_vec(vec![2, 2], vec![1i32; 4]).expect("tensor");
        assert!(matches!(compare(&ints, &want, true), Err(Mismatch::ShapeOrType(_))));
        assert_eq!(compare(&f32s(vec![2, 2], vec![9.0; 4]), &want, true), Ok(()));
    }

    #[test]
    fn integers_and_strings_exact() {
        let a = Tensor::from_vec(vec![2], vec![u64::MAX, 3]).expect("tensor");
        let b = Tensor::from_vec(vec![2], vec![u64::MAX - 1, 3]).expect("tensor");
        assert!(matches!(compare(&a, &b, false), Err(Mismatch::Values(_))));
        assert_eq!(compare(&a, &a, false), Ok(()));
        let s = Tensor::from_strings(vec![2], &["a".into(), "b".into()]).expect("tensor");
        let t = Tensor::from_strings(vec![2], &["a".into(), "c".into()]).expect("tensor");
        assert!(matches!(compare(&s, &t, false), Err(Mismatch::Values(_))));
    }

    #[test]
    fn small_floats() {
        assert_eq!(f8e4m3(0x7e), 448.0);
        assert!(f8e4m3(0x7f).is_nan());
        assert_eq!(f8e4m3(0x01), 2f64.powi(-9));
        assert_eq!(f8e5m2(0x7b), 57344.0);
        assert_eq!(f8e5m2(0x7c), f64::INFINITY);
        assert_eq!(f8e8m0(127), 1.0);
        let all: Vec<f64> = (0..8).map(f4e2m1).collect();
        assert_eq!(all, vec![0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]);
        assert_eq!(f4e2m1(0xf), -6.0);
    }

    #[test]
    fn flat_index_to_multi_index() {
        assert_eq!(index_str(&[2, 3], 4), "[1, 1]");
        assert_eq!(index_str(&[], 0), "[]");
    }
}
