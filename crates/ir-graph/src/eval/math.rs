//! CumSum, Einsum and Range kernels.

use std::collections::HashMap;

use super::slicing::unravel;
use super::values::{Vals, decode, encode, not_evaluable, numel};
use crate::element::ElementType as E;
use crate::error::Result;
use crate::invalid;
use crate::ops::normalize_axis;
use crate::shape::strides_of;
use crate::tensor::Tensor;

/// CumSum-3 along the axis of input 1 (default 0).
pub fn cumsum(inputs: &[Tensor], exclusive: bool, reverse: bool) -> Result<Vec<Tensor>> {
    let x = inputs.first().ok_or_else(|| invalid!("CumSum expects an input"))?;
    let s = x.shape();
    let axis = match inputs.get(1) {
        Some(a) => match a.to_i64_vec()?.as_slice() {
            [a] => normalize_axis(*a, s.len())?,
            v => return Err(invalid!("CumSum axis must be a scalar, got {v:?}")),
        },
        None => 0,
    };
    if s.is_empty() {
        return Ok(vec![x.clone()]);
    }
    let (outer, n, inner) = (numel(&s[..axis]), s[axis], numel(&s[axis + 1..]));
    let order: Vec<usize> = if reverse { (0..n).rev().collect() } else { (0..n).collect() };
    macro_rules! run {
        ($v:expr, $zero:expr, $add:expr) => {{
            let v = $v;
            let mut out = vec![$zero; v.len()];
            for o in 0..outer {
                for i in 0..inner {
                    let mut acc = $zero;
                    for &j in &order {
                        let at = (o * n + j) * inner + i;
                        if exclusive {
                            out[at] = acc;
                            acc = $add(acc, v[at]);
                        } else {
                            acc = $add(acc, v[at]);
                            out[at] = acc;
                        }
                    }
                }
            }
            out
        }};
    }
    let out = match decode("CumSum", x)? {
        Vals::F(v) => Vals::F(run!(v, 0.0f64, |a: f64, b: f64| a + b)),
        Vals::I(v) => Vals::I(run!(v, 0i128, |a: i128, b: i128| a.wrapping_add(b))),
        Vals::B(_) => return Err(not_evaluable("CumSum", x.element_type())),
    };
    Ok(vec![encode("CumSum", x.element_type(), s.to_vec(), &out)?])
}

/// A parsed einsum equation with `...` expanded into private labels.
#[derive(Debug, Clone, PartialEq)]
pub struct EinsumSpec {
    /// Labels of each input, one per dim.
    pub inputs: Vec<Vec<char>>,
    /// Labels of the output.
    pub output: Vec<char>,
}

/// Label of the `k`-th ellipsis dim counted from the right (right-aligned like numpy).
fn ell_label(k: usize) -> char {
    char::from_u32(0xE000 + k as u32).unwrap_or('\u{E000}')
}

/// Parses `equation` for inputs of the given ranks.
pub fn parse_einsum(equation: &str, ranks: &[usize]) -> Result<EinsumSpec> {
    let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != ranks.len() {
        return Err(invalid!("equation '{equation}' has {} inputs, got {}", terms.len(), ranks.len()));
    }
    let mut max_ell = 0usize;
    let expand = |term: &str, rank: Option<usize>| -> Result<(Vec<char>, usize)> {
        let (pre, post, has) = match term.split_once("...") {
            Some((a, b)) => (a, b, true),
            None => (term, "", false),
        };
        let named = pre.chars().count() + post.chars().count();
        if pre.chars().chain(post.chars()).any(|c| !c.is_ascii_alphabetic()) {
            return Err(invalid!("bad subscripts '{term}' in '{equation}'"));
        }
        let ell = match (rank, has) {
            (Some(r), true) => {
                r.checked_sub(named).ok_or_else(|| invalid!("'{term}' names more dims than rank {r}"))?
            }
            (Some(r), false) if r != named => return Err(invalid!("'{term}' does not match rank {r}")),
            _ => 0,
        };
        let mut labels: Vec<char> = pre.chars().collect();
        labels.extend((0..ell).rev().map(ell_label));
        labels.extend(post.chars());
        Ok((labels, ell))
    };
    let mut inputs = Vec::new();
    for (t, &r) in terms.iter().zip(ranks) {
        let (l, e) = expand(t, Some(r))?;
        max_ell = max_ell.max(e);
        inputs.push(l);
    }
    let output = match rhs {
        Some(r) => {
            let (pre, post) = r.split_once("...").unwrap_or((r, ""));
            let mut o: Vec<char> = pre.chars().collect();
            if r.contains("...") {
                o.extend((0..max_ell).rev().map(ell_label));
            }
            o.extend(post.chars());
            o
        }
        None => {
            // Implicit output: ellipsis dims, then labels seen exactly once, alphabetically.
            let mut count: HashMap<char, usize> = HashMap::new();
            for l in inputs.iter().flatten() {
                *count.entry(*l).or_default() += 1;
            }
            let mut once: Vec<char> =
                count.iter().filter(|(c, n)| **n == 1 && c.is_ascii_alphabetic()).map(|(c, _)| *c).collect();
            once.sort_unstable();
            let mut o: Vec<char> = (0..max_ell).rev().map(ell_label).collect();
            o.extend(once);
            o
        }
    };
    Ok(EinsumSpec { inputs, output })
}

/// Einsum-7 by brute force over every label combination.
pub fn einsum(equation: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let ranks: Vec<usize> = inputs.iter().map(|t| t.shape().len()).collect();
    let spec = parse_einsum(equation, &ranks)?;
    let et = inputs.first().map(|t| t.element_type()).ok_or_else(|| invalid!("Einsum expects inputs"))?;
    let mut size: HashMap<char, usize> = HashMap::new();
    for (labels, t) in spec.inputs.iter().zip(inputs) {
        for (&l, &d) in labels.iter().zip(t.shape()) {
            let e = size.entry(l).or_insert(d);
            if *e == 1 {
                *e = d;
            } else if d != 1 && d != *e {
                return Err(invalid!("label '{l}' has sizes {e} and {d}"));
            }
        }
    }
    let mut all: Vec<char> = spec.output.clone();
    for l in spec.inputs.iter().flatten() {
        if !all.contains(l) {
            all.push(*l);
        }
    }
    let dims: Vec<usize> = all.iter().map(|l| size.get(l).copied().unwrap_or(1)).collect();
    let out_shape: Vec<usize> = dims[..spec.output.len()].to_vec();
    let out_n = numel(&out_shape);
    let red_n = numel(&dims[spec.output.len()..]);
    // For each input and label position in `all`: the stride to add (0 when broadcast or absent).
    let strides: Vec<Vec<usize>> = spec
        .inputs
        .iter()
        .zip(inputs)
        .map(|(labels, t)| {
            let st = strides_of(t.shape());
            all.iter()
                .map(|l| {
                    labels
                        .iter()
                        .zip(t.shape())
                        .zip(&st)
                        .filter(|((x, d), _)| *x == l && **d != 1)
                        .map(|(_, s)| *s)
                        .sum()
                })
                .collect()
        })
        .collect();
    let vals: Vec<Vals> = inputs.iter().map(|t| decode("Einsum", t)).collect::<Result<_>>()?;
    let mut pos = vec![0usize; all.len()];
    let offsets = |pos: &[usize]| -> Vec<usize> {
        strides.iter().map(|st| st.iter().zip(pos).map(|(s, p)| s * p).sum()).collect()
    };
    let out = if vals.iter().all(|v| matches!(v, Vals::F(_))) {
        let f: Vec<&Vec<f64>> = vals.iter().filter_map(|v| if let Vals::F(x) = v { Some(x) } else { None }).collect();
        let mut out = vec![0.0; out_n];
        for flat in 0..out_n * red_n {
            unravel(flat, &dims, &mut pos);
            let offs = offsets(&pos);
            out[flat / red_n.max(1)] += offs.iter().zip(&f).map(|(&o, v)| v[o]).product::<f64>();
        }
        Vals::F(out)
    } else if vals.iter().all(|v| matches!(v, Vals::I(_))) {
        let f: Vec<&Vec<i128>> = vals.iter().filter_map(|v| if let Vals::I(x) = v { Some(x) } else { None }).collect();
        let mut out = vec![0i128; out_n];
        for flat in 0..out_n * red_n {
            unravel(flat, &dims, &mut pos);
            let offs = offsets(&pos);
            let p = offs.iter().zip(&f).fold(1i128, |acc, (&o, v)| acc.wrapping_mul(v[o]));
            let r = &mut out[flat / red_n.max(1)];
            *r = r.wrapping_add(p);
        }
        Vals::I(out)
    } else {
        return Err(not_evaluable("Einsum", et));
    };
    Ok(vec![encode("Einsum", et, out_shape, &out)?])
}

/// Number of Range elements; integer output types truncate the bounds first.
pub fn range_len(start: f64, stop: f64, step: f64, et: E) -> Result<u64> {
    let (start, stop, step) =
        if et.is_integer() { (start.trunc(), stop.trunc(), step.trunc()) } else { (start, stop, step) };
    if step == 0.0 || !step.is_finite() || !start.is_finite() || !stop.is_finite() {
        return Err(invalid!("Range needs finite bounds and a non-zero step, got {start}, {stop}, {step}"));
    }
    Ok(((stop - start) / step).ceil().max(0.0) as u64)
}

/// Range-4.
pub fn range(inputs: &[Tensor], et: E) -> Result<Vec<Tensor>> {
    let [a, b, c] = inputs else {
        return Err(invalid!("Range expects 3 inputs"));
    };
    let first = |t: &Tensor| -> Result<f64> {
        t.to_f64_vec()?.first().copied().ok_or_else(|| invalid!("Range inputs must be scalars"))
    };
    let (start, stop, step) = (first(a)?, first(b)?, first(c)?);
    let n = range_len(start, stop, step, et)? as usize;
    let v = if et.is_integer() {
        let (s, st) = (start.trunc() as i128, step.trunc() as i128);
        Vals::I((0..n as i128).map(|i| s + i * st).collect())
    } else {
        Vals::F((0..n).map(|i| start + i as f64 * step).collect())
    };
    Ok(vec![encode("Range", et, vec![n], &v)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v).expect("t")
    }
    fn f(t: &Tensor) -> Vec<f32> {
        t.values::<f32>().expect("f32").into_owned()
    }

    #[test]
    fn cumsum_modes() {
        let x = f32s(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let ax = Tensor::scalar(1i64);
        let r = |e, rv| f(&cumsum(&[x.clone(), ax.clone()], e, rv).expect("cs")[0]);
        assert_eq!(r(false, false), vec![1.0, 3.0, 6.0, 4.0, 9.0, 15.0]);
        assert_eq!(r(true, false), vec![0.0, 1.0, 3.0, 0.0, 4.0, 9.0]);
        assert_eq!(r(false, true), vec![6.0, 5.0, 3.0, 15.0, 11.0, 6.0]);
        assert_eq!(r(true, true), vec![5.0, 3.0, 0.0, 11.0, 6.0, 0.0]);
        let r0 = cumsum(&[x], false, false).expect("cs");
        assert_eq!(f(&r0[0]), vec![1.0, 2.0, 3.0, 5.0, 7.0, 9.0]);
    }

    #[test]
    fn einsum_cases() {
        let a = f32s(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = f32s(&[3, 2], vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let r = einsum("ij,jk->ik", &[a.clone(), b]).expect("mm");
        assert_eq!(f(&r[0]), vec![4.0, 5.0, 10.0, 11.0]);
        let r = einsum("ij->ji", std::slice::from_ref(&a)).expect("t");
        assert_eq!(f(&r[0]), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let r = einsum("ij->", std::slice::from_ref(&a)).expect("sum");
        assert_eq!(f(&r[0]), vec![21.0]);
        let sq = f32s(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]);
        let r = einsum("ii->i", std::slice::from_ref(&sq)).expect("diag");
        assert_eq!(f(&r[0]), vec![1.0, 4.0]);
        let r = einsum("ii", &[sq]).expect("trace");
        assert_eq!(f(&r[0]), vec![5.0]);
        let v = f32s(&[3], vec![1.0, 1.0, 2.0]);
        let r = einsum("...j,j->...", &[a, v]).expect("ell");
        assert_eq!((r[0].shape(), f(&r[0])), (&[2usize][..], vec![9.0, 21.0]));
    }

    #[test]
    fn range_values() {
        let r = range(&[Tensor::scalar(1.0f32), Tensor::scalar(2.0f32), Tensor::scalar(0.25f32)], E::F32).expect("r");
        assert_eq!(f(&r[0]), vec![1.0, 1.25, 1.5, 1.75]);
        let r = range(&[Tensor::scalar(5i64), Tensor::scalar(0i64), Tensor::scalar(-2i64)], E::I64).expect("r");
        assert_eq!(&*r[0].values::<i64>().expect("i64"), &[5, 3, 1]);
        let r = range(&[Tensor::scalar(5i32), Tensor::scalar(6i32), Tensor::scalar(-1i32)], E::I32).expect("r");
        assert_eq!(r[0].shape(), &[0]);
    }
}
