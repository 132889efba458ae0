//! Kernels of the index-driven ops: TopK, GatherElements, GatherND, scatters, NonZero, OneHot.

use super::slicing::unravel;
use super::values::{Vals, decode, encode, not_evaluable, numel, take, take_multi};
use crate::element::ElementType as E;
use crate::error::Result;
use crate::invalid;
use crate::ops::{ScatterNDReduction, ScatterReduction, TopKMode, TopKSort, normalize_axis};
use crate::shape::strides_of;
use crate::tensor::Tensor;

/// Normalizes a possibly negative index into `[0, n)`.
fn norm_index(i: i64, n: usize) -> Result<usize> {
    let j = if i < 0 { i + n as i64 } else { i };
    usize::try_from(j).ok().filter(|&j| j < n).ok_or_else(|| invalid!("index {i} out of range for dimension {n}"))
}

/// Flat positions of the selected elements of each TopK slice, in output order.
fn topk_order<T: PartialOrd + Copy>(
    v: &[T],
    n: usize,
    inner: usize,
    base: usize,
    k: usize,
    mode: TopKMode,
    sort: TopKSort,
) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    // A stable sort keeps equal values in index order, which is also what `stable` asks for.
    idx.sort_by(|&a, &b| {
        let (x, y) = (v[base + a * inner], v[base + b * inner]);
        let o = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
        if mode == TopKMode::Max { o.reverse() } else { o }
    });
    idx.truncate(k);
    if sort == TopKSort::Index {
        idx.sort_unstable();
    }
    idx
}

/// TopK-3/11: values and indices of the k extreme elements along `axis`.
pub fn topk(inputs: &[Tensor], axis: i64, mode: TopKMode, sort: TopKSort, it: E) -> Result<Vec<Tensor>> {
    let [x, kt] = inputs else {
        return Err(invalid!("TopK expects 2 inputs"));
    };
    let s = x.shape();
    let ax = normalize_axis(axis, s.len())?;
    let k = match kt.to_i64_vec()?.as_slice() {
        [k] => usize::try_from(*k).map_err(|_| invalid!("k must be non-negative"))?.min(s[ax]),
        v => return Err(invalid!("k must be a scalar, got {v:?}")),
    };
    let (outer, n, inner) = (numel(&s[..ax]), s[ax], numel(&s[ax + 1..]));
    let vals = decode("TopK", x)?;
    let mut out_shape = s.to_vec();
    out_shape[ax] = k;
    let mut src = vec![0usize; outer * k * inner];
    let mut idx = vec![0i128; outer * k * inner];
    for o in 0..outer {
        for i in 0..inner {
            let base = o * n * inner + i;
            let order = match &vals {
                Vals::F(v) => topk_order(v, n, inner, base, k, mode, sort),
                Vals::I(v) => topk_order(v, n, inner, base, k, mode, sort),
                Vals::B(_) => return Err(not_evaluable("TopK", x.element_type())),
            };
            for (j, &p) in order.iter().enumerate() {
                let at = (o * k + j) * inner + i;
                src[at] = base + p * inner;
                idx[at] = p as i128;
            }
        }
    }
    Ok(vec![take("TopK", x, out_shape.clone(), &src)?, encode("TopK", it, out_shape, &Vals::I(idx))?])
}

/// GatherElements-6.
pub fn gather_elements(inputs: &[Tensor], axis: i64) -> Result<Vec<Tensor>> {
    let [data, indices] = inputs else {
        return Err(invalid!("GatherElements expects 2 inputs"));
    };
    let (ds, is) = (data.shape(), indices.shape());
    if ds.len() != is.len() {
        return Err(invalid!("data rank {} and indices rank {} differ", ds.len(), is.len()));
    }
    let ax = normalize_axis(axis, ds.len())?;
    let iv = indices.to_i64_vec()?;
    let st = strides_of(ds);
    let mut pos = vec![0usize; is.len()];
    let src = iv
        .iter()
        .enumerate()
        .map(|(flat, &i)| {
            unravel(flat, is, &mut pos);
            pos[ax] = norm_index(i, ds[ax])?;
            if pos.iter().zip(ds).any(|(p, d)| p >= d) {
                return Err(invalid!("indices shape {is:?} exceeds data shape {ds:?}"));
            }
            Ok(pos.iter().zip(&st).map(|(a, b)| a * b).sum())
        })
        .collect::<Result<Vec<usize>>>()?;
    Ok(vec![take("GatherElements", data, is.to_vec(), &src)?])
}

/// GatherND-8 (batch dims kept in the output).
pub fn gather_nd(inputs: &[Tensor], b: usize) -> Result<Vec<Tensor>> {
    let [data, indices] = inputs else {
        return Err(invalid!("GatherND expects 2 inputs"));
    };
    let (ds, is) = (data.shape(), indices.shape());
    let kk = *is.last().ok_or_else(|| invalid!("indices must not be a scalar"))?;
    if is.len() < b + 1 || ds.len() < b + kk || ds[..b] != is[..b] {
        return Err(invalid!("indices {is:?} do not fit data {ds:?} with batch_dims {b}"));
    }
    let iv = indices.to_i64_vec()?;
    let nb = numel(&ds[..b]);
    let per_batch = numel(&is[b..is.len() - 1]);
    let sub = &ds[b..];
    let sst = strides_of(sub);
    let (sub_n, slice) = (numel(sub), numel(&ds[b + kk..]));
    let mut src = Vec::with_capacity(nb * per_batch * slice);
    for bi in 0..nb {
        for n in 0..per_batch {
            let tuple = &iv[(bi * per_batch + n) * kk..(bi * per_batch + n + 1) * kk];
            let mut off = bi * sub_n;
            for (j, &i) in tuple.iter().enumerate() {
                off += norm_index(i, sub[j])? * sst[j];
            }
            src.extend(off..off + slice);
        }
    }
    let mut shape = is[..is.len() - 1].to_vec();
    shape.extend_from_slice(&ds[b + kk..]);
    Ok(vec![take("GatherND", data, shape, &src)?])
}

/// ScatterElementsUpdate-12.
pub fn scatter_elements(inputs: &[Tensor], reduction: ScatterReduction, use_init: bool) -> Result<Vec<Tensor>> {
    let [data, indices, updates, axis] = inputs else {
        return Err(invalid!("ScatterElementsUpdate expects 4 inputs"));
    };
    let (ds, is) = (data.shape(), indices.shape());
    if updates.shape() != is || ds.len() != is.len() {
        return Err(invalid!("indices {is:?}, updates {:?} and data {ds:?} do not fit", updates.shape()));
    }
    let ax = match axis.to_i64_vec()?.as_slice() {
        [a] => normalize_axis(*a, ds.len())?,
        v => return Err(invalid!("axis must be a scalar, got {v:?}")),
    };
    let iv = indices.to_i64_vec()?;
    let st = strides_of(ds);
    let mut pos = vec![0usize; is.len()];
    let targets = iv
        .iter()
        .enumerate()
        .map(|(flat, &i)| {
            unravel(flat, is, &mut pos);
            pos[ax] = norm_index(i, ds[ax])?;
            Ok(pos.iter().zip(&st).map(|(a, b)| a * b).sum())
        })
        .collect::<Result<Vec<usize>>>()?;
    let combine = match reduction {
        ScatterReduction::None => {
            let mut picks: Vec<(usize, usize)> = (0..numel(ds)).map(|i| (0, i)).collect();
            for (u, &t) in targets.iter().enumerate() {
                picks[t] = (1, u);
            }
            return Ok(vec![take_multi("ScatterElementsUpdate", &[data, updates], ds.to_vec(), &picks)?]);
        }
        ScatterReduction::Sum => Combine::Sum,
        ScatterReduction::Prod => Combine::Prod,
        ScatterReduction::Min => Combine::Min,
        ScatterReduction::Max => Combine::Max,
        ScatterReduction::Mean => Combine::Mean,
    };
    Ok(vec![combine_at("ScatterElementsUpdate", data, updates, &targets, combine, use_init)?])
}

/// How a reducing scatter combines an update `b` with the current value `a`.
#[derive(Clone, Copy, PartialEq)]
enum Combine {
    Sum,
    Sub,
    Prod,
    Min,
    Max,
    Mean,
}

/// `data` with `updates[k]` combined into position `targets[k]`, in order of `k`; without
/// `use_init` a touched position starts from the combination's identity instead of its value.
fn combine_at(
    name: &str,
    data: &Tensor,
    updates: &Tensor,
    targets: &[usize],
    combine: Combine,
    use_init: bool,
) -> Result<Tensor> {
    let et = data.element_type();
    macro_rules! reduce {
        ($d:expr, $u:expr, $zero:expr, $one:expr, $min:expr, $max:expr, $add:expr, $sub:expr, $mul:expr, $div:expr) => {{
            let (mut d, u) = ($d, $u);
            let mut count = vec![usize::from(use_init); d.len()];
            let mut touched = vec![false; d.len()];
            for (k, &t) in targets.iter().enumerate() {
                if !use_init && !touched[t] {
                    d[t] = match combine {
                        Combine::Prod => $one,
                        Combine::Min => $max,
                        Combine::Max => $min,
                        _ => $zero,
                    };
                }
                touched[t] = true;
                count[t] += 1;
                let (a, b) = (d[t], u[k]);
                d[t] = match combine {
                    Combine::Prod => $mul(a, b),
                    Combine::Min => {
                        if b < a {
                            b
                        } else {
                            a
                        }
                    }
                    Combine::Max => {
                        if b > a {
                            b
                        } else {
                            a
                        }
                    }
                    Combine::Sub => $sub(a, b),
                    Combine::Sum | Combine::Mean => $add(a, b),
                };
            }
            if combine == Combine::Mean {
                for (t, v) in d.iter_mut().enumerate() {
                    if touched[t] {
                        *v = $div(*v, count[t]);
                    }
                }
            }
            d
        }};
    }
    let out = match (decode(name, data)?, decode(name, updates)?) {
        (Vals::F(d), Vals::F(u)) => Vals::F(reduce!(
            d,
            u,
            0.0,
            1.0,
            f64::NEG_INFINITY,
            f64::INFINITY,
            |a: f64, b: f64| a + b,
            |a: f64, b: f64| a - b,
            |a: f64, b: f64| a * b,
            |a: f64, c: usize| a / c as f64
        )),
        (Vals::I(d), Vals::I(u)) => Vals::I(reduce!(
            d,
            u,
            0,
            1,
            i128::MIN,
            i128::MAX,
            |a: i128, b: i128| a.wrapping_add(b),
            |a: i128, b: i128| a.wrapping_sub(b),
            |a: i128, b: i128| a.wrapping_mul(b),
            |a: i128, c: usize| a.div_euclid(c as i128)
        )),
        _ => return Err(not_evaluable(name, et)),
    };
    encode(name, et, data.shape().to_vec(), &out)
}

/// ScatterNDUpdate-3.
pub fn scatter_nd(inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    scatter_nd_reduce(inputs, ScatterNDReduction::None)
}

/// ScatterNDUpdate-15: updates combined with `reduction`, in order.
pub fn scatter_nd_reduce(inputs: &[Tensor], reduction: ScatterNDReduction) -> Result<Vec<Tensor>> {
    let [data, indices, updates] = inputs else {
        return Err(invalid!("ScatterNDUpdate expects 3 inputs"));
    };
    let (ds, is) = (data.shape(), indices.shape());
    let kk = *is.last().ok_or_else(|| invalid!("indices must not be a scalar"))?;
    if kk > ds.len() {
        return Err(invalid!("index depth {kk} exceeds data rank {}", ds.len()));
    }
    let n = numel(&is[..is.len() - 1]);
    let slice = numel(&ds[kk..]);
    if updates.numel() != n * slice {
        return Err(invalid!("updates {:?} do not match indices {is:?} and data {ds:?}", updates.shape()));
    }
    let iv = indices.to_i64_vec()?;
    let st = strides_of(ds);
    // targets[u] = flat position in data of update element u.
    let mut targets = Vec::with_capacity(n * slice);
    for t in 0..n {
        let mut off = 0;
        for j in 0..kk {
            off += norm_index(iv[t * kk + j], ds[j])? * st[j];
        }
        targets.extend(off..off + slice);
    }
    let combine = match reduction {
        ScatterNDReduction::None => {
            let mut picks: Vec<(usize, usize)> = (0..numel(ds)).map(|i| (0, i)).collect();
            for (u, &t) in targets.iter().enumerate() {
                picks[t] = (1, u);
            }
            return Ok(vec![take_multi("ScatterNDUpdate", &[data, updates], ds.to_vec(), &picks)?]);
        }
        ScatterNDReduction::Sum => Combine::Sum,
        ScatterNDReduction::Sub => Combine::Sub,
        ScatterNDReduction::Prod => Combine::Prod,
        ScatterNDReduction::Min => Combine::Min,
        ScatterNDReduction::Max => Combine::Max,
    };
    Ok(vec![combine_at("ScatterNDUpdate", data, updates, &targets, combine, true)?])
}

/// Flat positions of the non-zero elements, row-major.
pub fn nonzero_positions(t: &Tensor) -> Result<Vec<usize>> {
    Ok(match decode("NonZero", t)? {
        Vals::F(v) => v.iter().enumerate().filter(|(_, x)| **x != 0.0).map(|(i, _)| i).collect(),
        Vals::I(v) => v.iter().enumerate().filter(|(_, x)| **x != 0).map(|(i, _)| i).collect(),
        Vals::B(v) => v.iter().enumerate().filter(|(_, x)| **x).map(|(i, _)| i).collect(),
    })
}

/// NonZero-3: `[rank, count]` coordinates.
pub fn nonzero(inputs: &[Tensor], et: E) -> Result<Vec<Tensor>> {
    let x = inputs.first().ok_or_else(|| invalid!("NonZero expects an input"))?;
    let pos = nonzero_positions(x)?;
    let s = x.shape();
    let r = s.len();
    let mut out = vec![0i128; r * pos.len()];
    let mut idx = vec![0usize; r];
    for (j, &p) in pos.iter().enumerate() {
        unravel(p, s, &mut idx);
        for (d, &v) in idx.iter().enumerate() {
            out[d * pos.len() + j] = v as i128;
        }
    }
    Ok(vec![encode("NonZero", et, vec![r, pos.len()], &Vals::I(out))?])
}

/// OneHot-1: out-of-range indices (including negative ones) give `off_value`.
pub fn one_hot(inputs: &[Tensor], axis: i64) -> Result<Vec<Tensor>> {
    let [indices, depth, on, off] = inputs else {
        return Err(invalid!("OneHot expects 4 inputs"));
    };
    let depth = match depth.to_i64_vec()?.as_slice() {
        [d] => usize::try_from(*d).map_err(|_| invalid!("negative depth {d}"))?,
        v => return Err(invalid!("depth must be a scalar, got {v:?}")),
    };
    if on.numel() != 1 || off.numel() != 1 {
        return Err(invalid!("on_value and off_value must be scalars"));
    }
    let is = indices.shape();
    let ax = normalize_axis(axis, is.len() + 1)?;
    let iv = indices.to_f64_vec()?;
    let (outer, inner) = (numel(&is[..ax]), numel(&is[ax..]));
    let mut picks = Vec::with_capacity(outer * depth * inner);
    for o in 0..outer {
        for d in 0..depth {
            for i in 0..inner {
                let v = iv[o * inner + i];
                picks.push(if v >= 0.0 && v as usize == d && v.fract() == 0.0 { (0, 0) } else { (1, 0) });
            }
        }
    }
    let mut shape = is.to_vec();
    shape.insert(ax, depth);
    Ok(vec![take_multi("OneHot", &[on, off], shape, &picks)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v).expect("t")
    }
    fn i64s(shape: &[usize], v: Vec<i64>) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v).expect("t")
    }
    fn f(t: &Tensor) -> Vec<f32> {
        t.values::<f32>().expect("f32").into_owned()
    }
    fn i(t: &Tensor) -> Vec<i64> {
        t.to_i64_vec().expect("ints")
    }

    #[test]
    fn topk_modes() {
        let x = f32s(&[2, 4], vec![3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]);
        let r = topk(&[x.clone(), Tensor::scalar(2i64)], 1, TopKMode::Max, TopKSort::Value, E::I32).expect("topk");
        assert_eq!((f(&r[0]), i(&r[1])), (vec![4.0, 3.0, 9.0, 6.0], vec![2, 0, 1, 3]));
        let r = topk(&[x.clone(), Tensor::scalar(2i64)], 1, TopKMode::Max, TopKSort::Index, E::I64).expect("topk");
        assert_eq!((f(&r[0]), i(&r[1])), (vec![3.0, 4.0, 9.0, 6.0], vec![0, 2, 1, 3]));
        let r = topk(&[x.clone(), Tensor::scalar(2i64)], 1, TopKMode::Min, TopKSort::Value, E::I32).expect("topk");
        // Ties keep the lower index first.
        assert_eq!((f(&r[0]), i(&r[1])), (vec![1.0, 1.0, 2.0, 5.0], vec![1, 3, 2, 0]));
        let r = topk(&[x, Tensor::scalar(1i64)], 0, TopKMode::Max, TopKSort::Value, E::I32).expect("topk");
        assert_eq!((f(&r[0]), i(&r[1])), (vec![5.0, 9.0, 4.0, 6.0], vec![1, 1, 0, 1]));
    }

    #[test]
    fn gathers() {
        let d = f32s(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]);
        let r = gather_elements(&[d.clone(), i64s(&[2, 2], vec![0, 0, 1, -2])], 1).expect("ge");
        assert_eq!(f(&r[0]), vec![1.0, 1.0, 4.0, 3.0]);
        let r = gather_nd(&[d.clone(), i64s(&[2, 2], vec![0, 0, 1, 1])], 0).expect("gnd");
        assert_eq!(f(&r[0]), vec![1.0, 4.0]);
        let r = gather_nd(&[d.clone(), i64s(&[2, 1], vec![1, 0])], 0).expect("gnd");
        assert_eq!((r[0].shape(), f(&r[0])), (&[2usize, 2][..], vec![3.0, 4.0, 1.0, 2.0]));
        let r = gather_nd(&[d, i64s(&[2, 1], vec![1, 0])], 1).expect("gnd");
        assert_eq!((r[0].shape(), f(&r[0])), (&[2usize][..], vec![2.0, 3.0]));
    }

    #[test]
    fn scatters() {
        let d = f32s(&[3], vec![1.0, 2.0, 3.0]);
        let ix = i64s(&[3], vec![0, 0, -1]);
        let u = f32s(&[3], vec![10.0, 20.0, 30.0]);
        let run = |red, init| {
            f(&scatter_elements(&[d.clone(), ix.clone(), u.clone(), Tensor::scalar(0i64)], red, init).expect("s")[0])
        };
        assert_eq!(run(ScatterReduction::None, true), vec![20.0, 2.0, 30.0]);
        assert_eq!(run(ScatterReduction::Sum, true), vec![31.0, 2.0, 33.0]);
        assert_eq!(run(ScatterReduction::Sum, false), vec![30.0, 2.0, 30.0]);
        assert_eq!(run(ScatterReduction::Mean, true), vec![31.0 / 3.0, 2.0, 16.5]);
        assert_eq!(run(ScatterReduction::Max, false), vec![20.0, 2.0, 30.0]);
        assert_eq!(run(ScatterReduction::Prod, true), vec![200.0, 2.0, 90.0]);
        let d2 = f32s(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]);
        let r = scatter_nd(&[d2.clone(), i64s(&[1, 1], vec![1]), f32s(&[1, 2], vec![7.0, 8.0])]).expect("snd");
        assert_eq!(f(&r[0]), vec![1.0, 2.0, 7.0, 8.0]);
        let r = scatter_nd(&[d2.clone(), i64s(&[1, 2], vec![0, 1]), f32s(&[1], vec![9.0])]).expect("snd");
        assert_eq!(f(&r[0]), vec![1.0, 9.0, 3.0, 4.0]);
        // Row 1 updated twice, row 0 once: each reduction folds the updates in order.
        let ix = i64s(&[3, 1], vec![1, 0, 1]);
        let u = f32s(&[3, 2], vec![5.0, 1.0, 6.0, 6.0, 2.0, 9.0]);
        let run = |red| f(&scatter_nd_reduce(&[d2.clone(), ix.clone(), u.clone()], red).expect("snd")[0]);
        assert_eq!(run(ScatterNDReduction::None), vec![6.0, 6.0, 2.0, 9.0]);
        assert_eq!(run(ScatterNDReduction::Sum), vec![7.0, 8.0, 10.0, 14.0]);
        assert_eq!(run(ScatterNDReduction::Sub), vec![-5.0, -4.0, -4.0, -6.0]);
        assert_eq!(run(ScatterNDReduction::Prod), vec![6.0, 12.0, 30.0, 36.0]);
        assert_eq!(run(ScatterNDReduction::Min), vec![1.0, 2.0, 2.0, 1.0]);
        assert_eq!(run(ScatterNDReduction::Max), vec![6.0, 6.0, 5.0, 9.0]);
        let di = i64s(&[2], vec![4, 5]);
        let r = scatter_nd_reduce(&[di, i64s(&[2, 1], vec![1, 1]), i64s(&[2], vec![3, 4])], ScatterNDReduction::Prod)
            .expect("snd");
        assert_eq!(i(&r[0]), vec![4, 60]);
    }

    #[test]
    fn nonzero_and_one_hot() {
        let x = Tensor::from_vec(vec![2, 2], vec![0i32, 5, 7, 0]).expect("x");
        let r = nonzero(&[x], E::I64).expect("nz");
        assert_eq!((r[0].shape(), i(&r[0])), (&[2usize, 2][..], vec![0, 1, 1, 0]));
        let ix = i64s(&[3], vec![0, 2, -1]);
        let r = one_hot(&[ix.clone(), Tensor::scalar(3i64), Tensor::scalar(5.0f32), Tensor::scalar(0.0f32)], -1)
            .expect("oh");
        assert_eq!(f(&r[0]), vec![5.0, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0]);
        let r = one_hot(&[ix, Tensor::scalar(3i64), Tensor::scalar(1.0f32), Tensor::scalar(0.0f32)], 0).expect("oh");
        assert_eq!((r[0].shape(), f(&r[0])), (&[3usize, 3][..], vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
    }
}
