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

/// RandomUniform-8: SplitMix64 draws, seeded by the two seeds, or afresh when both are 0.
pub fn random_uniform(inputs: &[Tensor], et: E, global_seed: u64, op_seed: u64) -> Result<Vec<Tensor>> {
    let [shape, lo, hi] = inputs else {
        return Err(invalid!("RandomUniform expects 3 inputs"));
    };
    let dims = shape
        .to_i64_vec()?
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| invalid!("negative output dim {d}")))
        .collect::<Result<Vec<usize>>>()?;
    let n = crate::shape::checked_numel(&dims).ok_or_else(|| invalid!("output shape {dims:?} is too large"))?;
    let bound = |t: &Tensor| -> Result<f64> {
        t.to_f64_vec()?.first().copied().ok_or_else(|| invalid!("RandomUniform bounds must be scalars"))
    };
    let (lo, hi) = (bound(lo)?, bound(hi)?);
    if lo >= hi {
        return Err(invalid!("RandomUniform needs min < max, got {lo} and {hi}"));
    }
    let mut state = if global_seed == 0 && op_seed == 0 {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new().build_hasher().finish()
    } else {
        global_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ op_seed
    };
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let v = if et.is_integer() {
        let (lo, span) = (lo as i128, (hi as i128 - lo as i128).max(1) as u128);
        Vals::I((0..n).map(|_| lo + (next() as u128 % span) as i128).collect())
    } else {
        // 53 random bits -> [0, 1).
        Vals::F((0..n).map(|_| lo + (hi - lo) * ((next() >> 11) as f64 / (1u64 << 53) as f64)).collect())
    };
    Ok(vec![encode("RandomUniform", et, dims, &v)?])
}

/// BitwiseLeftShift-15 / BitwiseRightShift-15 on integers of one type with numpy broadcasting.
///
/// In-range shifts wrap within the type's width (bits past the top are dropped; a right shift of
/// a signed value is arithmetic). A shift by a negative amount or by at least the width gives
/// the full-width result: 0, or -1 for a right shift of a negative value.
pub fn bit_shift(op: &str, mode: crate::ops::AutoBroadcast, inputs: &[Tensor], left: bool) -> Result<Vec<Tensor>> {
    let [a, b] = inputs else {
        return Err(invalid!("{op} expects 2 inputs, got {}", inputs.len()));
    };
    let et = a.element_type();
    if b.element_type() != et {
        return Err(invalid!("{op} inputs have types {et} and {}", b.element_type()));
    }
    if !et.is_integer() {
        return Err(not_evaluable(op, et));
    }
    let width = et.bit_width() as i128;
    let (shape, maps) = super::elementwise::broadcast_all(&[a.shape(), b.shape()], mode)?;
    let (Vals::I(x), Vals::I(y)) = (decode(op, a)?, decode(op, b)?) else {
        return Err(not_evaluable(op, et));
    };
    let out = maps[0]
        .iter()
        .zip(&maps[1])
        .map(|(&i, &j)| {
            let (v, s) = (x[i], y[j]);
            let in_range = (0..width).contains(&s);
            match (left, in_range) {
                // |v| < 2^64 and s < 64, so the product fits an i128; `encode` wraps it.
                (true, true) => v << s,
                (true, false) => 0,
                (false, true) => v >> s,
                (false, false) => {
                    if v < 0 {
                        -1
                    } else {
                        0
                    }
                }
            }
        })
        .collect();
    Ok(vec![encode(op, et, shape, &Vals::I(out))?])
}

/// Eye-9: `[batch..., rows, cols]` with ones on the diagonal shifted by `diagonal_index`.
pub fn eye(inputs: &[Tensor], et: E) -> Result<Vec<Tensor>> {
    let scalar = |i: usize, what: &str| -> Result<i64> {
        let t = inputs.get(i).ok_or_else(|| invalid!("Eye expects input {i} ({what})"))?;
        match t.to_i64_vec()?.as_slice() {
            [v] => Ok(*v),
            v => Err(invalid!("Eye {what} must hold one value, got {v:?}")),
        }
    };
    let rows = super::values::to_usize(scalar(0, "num_rows")?, "num_rows")?;
    let cols = super::values::to_usize(scalar(1, "num_columns")?, "num_columns")?;
    let diag = scalar(2, "diagonal_index")?;
    let batch: Vec<usize> = match inputs.get(3) {
        Some(b) => {
            b.to_i64_vec()?.into_iter().map(|d| super::values::to_usize(d, "batch_shape")).collect::<Result<_>>()?
        }
        None => Vec::new(),
    };
    let per = rows.checked_mul(cols).ok_or_else(|| invalid!("Eye of {rows}x{cols} is too large"))?;
    let mut one = vec![0i128; per];
    for (r, row) in one.chunks_mut(cols.max(1)).enumerate().take(rows) {
        let c = r as i128 + diag as i128;
        if (0..cols as i128).contains(&c) {
            row[c as usize] = 1;
        }
    }
    let n = numel(&batch);
    let mut v = Vec::with_capacity(per * n);
    for _ in 0..n {
        v.extend_from_slice(&one);
    }
    let mut shape = batch;
    shape.extend([rows, cols]);
    let vals = if et.is_float() { Vals::F(v.into_iter().map(|x| x as f64).collect()) } else { Vals::I(v) };
    Ok(vec![encode("Eye", et, shape, &vals)?])
}

/// Unique-10: unique elements (or slices along `axis`), first-occurrence indices, the index into
/// the unique elements of every input element (or slice), and counts.
pub fn unique(inputs: &[Tensor], axis: Option<i64>, sorted: bool, index_type: E, count_type: E) -> Result<Vec<Tensor>> {
    let x = inputs.first().ok_or_else(|| invalid!("Unique expects an input"))?;
    let s = x.shape();
    // Without an axis the input is flattened; the slices are single elements.
    let (outer, n, inner, axis) = match axis {
        None => (1, x.numel(), 1, None),
        Some(a) => {
            let a = normalize_axis(a, s.len())?;
            (numel(&s[..a]), s[a], numel(&s[a + 1..]), Some(a))
        }
    };
    let vals = decode("Unique", x)?;
    // Element `k` of slice `j`, in row-major order over (outer, inner).
    let at = |j: usize, k: usize| (k / inner * n + j) * inner + k % inner;
    let per = outer * inner;
    let cmp = |i: usize, j: usize| -> std::cmp::Ordering {
        for k in 0..per {
            let (p, q) = (at(i, k), at(j, k));
            let o = match &vals {
                Vals::F(v) => v[p].partial_cmp(&v[q]).unwrap_or(std::cmp::Ordering::Equal),
                Vals::I(v) => v[p].cmp(&v[q]),
                Vals::B(v) => v[p].cmp(&v[q]),
            };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| cmp(i, j)); // stable: the first of equal slices comes first
    // Groups of equal slices: (first index, count), in sorted order.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut group_of = vec![0usize; n];
    for (pos, &i) in order.iter().enumerate() {
        if pos == 0 || cmp(order[pos - 1], i) != std::cmp::Ordering::Equal {
            groups.push((i, 0));
        }
        let g = groups.len() - 1;
        groups[g].1 += 1;
        group_of[i] = g;
    }
    let mut rank: Vec<usize> = (0..groups.len()).collect();
    if !sorted {
        // Order of first occurrence.
        let mut by_first: Vec<usize> = (0..groups.len()).collect();
        by_first.sort_by_key(|&g| groups[g].0);
        for (r, &g) in by_first.iter().enumerate() {
            rank[g] = r;
        }
    }
    let u = groups.len();
    let mut out_groups = vec![(0usize, 0usize); u];
    for (g, &grp) in groups.iter().enumerate() {
        out_groups[rank[g]] = grp;
    }
    let picks: Vec<usize> = match axis {
        None => out_groups.iter().map(|&(i, _)| i).collect(),
        Some(_) => {
            let mut p = Vec::with_capacity(outer * u * inner);
            for o in 0..outer {
                for &(j, _) in &out_groups {
                    for i in 0..inner {
                        p.push((o * n + j) * inner + i);
                    }
                }
            }
            p
        }
    };
    let ushape = match axis {
        None => vec![u],
        Some(a) => {
            let mut sh = s.to_vec();
            sh[a] = u;
            sh
        }
    };
    let y = super::values::take("Unique", x, ushape, &picks)?;
    let ints = |v: Vec<usize>, et: E| {
        encode("Unique", et, vec![v.len()], &Vals::I(v.into_iter().map(|x| x as i128).collect()))
    };
    let first = ints(out_groups.iter().map(|&(i, _)| i).collect(), index_type)?;
    let rev = ints(group_of.iter().map(|&g| rank[g]).collect(), index_type)?;
    let counts = ints(out_groups.iter().map(|&(_, c)| c).collect(), count_type)?;
    Ok(vec![y, first, rev, counts])
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
    fn random_uniform_bounds_and_seeds() {
        let shape = Tensor::from_vec(vec![2], vec![3i64, 4]).expect("s");
        let run = |g, o| {
            let r = random_uniform(&[shape.clone(), Tensor::scalar(2.0f32), Tensor::scalar(5.0f32)], E::F32, g, o)
                .expect("ru");
            assert_eq!(r[0].shape(), &[3, 4]);
            f(&r[0])
        };
        let a = run(1, 2);
        assert!(a.iter().all(|&v| (2.0..5.0).contains(&v)), "{a:?}");
        assert_eq!(a, run(1, 2));
        assert_ne!(a, run(1, 3));
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
