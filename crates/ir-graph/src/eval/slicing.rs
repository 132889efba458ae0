//! Kernels and shape plans of the slicing ops (StridedSlice, Slice, Split, Tile, Pad,
//! DepthToSpace/SpaceToDepth, ReverseSequence). All of them move whole elements.

use super::values::{numel, take, take_multi};
use crate::error::Result;
use crate::invalid;
use crate::ops::{BlockMode, PadMode, normalize_axis};
use crate::shape::strides_of;
use crate::tensor::Tensor;

/// StridedSlice masks (entry i = 1 means set).
#[derive(Debug, Clone, Copy)]
pub struct SliceMasks<'a> {
    /// Ignore begin.
    pub begin: &'a [i64],
    /// Ignore end.
    pub end: &'a [i64],
    /// Insert an axis.
    pub new_axis: &'a [i64],
    /// Take one element and drop the axis.
    pub shrink: &'a [i64],
    /// Stands for the unmentioned axes.
    pub ellipsis: &'a [i64],
}

fn set(m: &[i64], i: usize) -> bool {
    m.get(i).is_some_and(|&v| v == 1)
}

/// What a slice reads: per input axis (start, step, count) and the output shape.
#[derive(Debug, Clone, PartialEq)]
pub struct SlicePlan {
    /// Per input axis: first index, step, number of elements (`None` when unknown).
    pub axes: Vec<(Option<i64>, i64, Option<u64>)>,
    /// Output shape (`None` dims unknown).
    pub out_shape: Vec<Option<u64>>,
}

/// Python-slice semantics on one axis: clamped start and element count.
pub fn slice_axis(
    dim: Option<u64>,
    begin: Option<i64>,
    end: Option<i64>,
    step: i64,
) -> Result<(Option<i64>, Option<u64>)> {
    if step == 0 {
        return Err(invalid!("slice step must not be zero"));
    }
    let Some(d) = dim else {
        return Ok((if begin.is_none() && step > 0 { Some(0) } else { None }, None));
    };
    let d = d as i64;
    let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (start, count) = if step > 0 {
        let s = begin.map_or(0, |b| norm(b).clamp(0, d));
        let e = end.map_or(d, |e| norm(e).clamp(0, d));
        (s, if e > s { (e - s - 1) / step + 1 } else { 0 })
    } else {
        let s = begin.map_or(d - 1, |b| norm(b).clamp(-1, d - 1));
        let e = end.map_or(-1, |e| norm(e).clamp(-1, d - 1));
        (s, if s > e { (s - e - 1) / -step + 1 } else { 0 })
    };
    Ok((Some(start), Some(count as u64)))
}

/// Plan of StridedSlice-1 over input dims `dims`.
pub fn strided_slice_plan(
    dims: &[Option<u64>],
    begin: &[i64],
    end: &[i64],
    strides: &[i64],
    m: &SliceMasks<'_>,
) -> Result<SlicePlan> {
    let n = begin.len();
    if end.len() != n || strides.len() != n {
        return Err(invalid!("begin {begin:?}, end {end:?} and strides {strides:?} differ in length"));
    }
    let rank = dims.len();
    let ell = (0..n).find(|&i| set(m.ellipsis, i));
    let consumes = |i: usize| !set(m.new_axis, i) && Some(i) != ell;
    let after = ell.map_or(0, |e| (e + 1..n).filter(|&i| consumes(i)).count());
    let before = (0..n).filter(|&i| consumes(i) && ell.is_none_or(|e| i < e)).count();
    let mut plan = SlicePlan { axes: Vec::new(), out_shape: Vec::new() };
    let mut ax = 0usize;
    let full = |plan: &mut SlicePlan, d: Option<u64>| {
        plan.axes.push((Some(0), 1, d));
        plan.out_shape.push(d);
    };
    for i in 0..n {
        if Some(i) == ell {
            let k = rank
                .checked_sub(before + after)
                .ok_or_else(|| invalid!("slice spec addresses more axes than rank {rank}"))?;
            for _ in 0..k {
                full(&mut plan, dims[ax]);
                ax += 1;
            }
            continue;
        }
        if set(m.new_axis, i) {
            plan.out_shape.push(Some(1));
            continue;
        }
        let d = *dims.get(ax).ok_or_else(|| invalid!("slice spec addresses more axes than rank {rank}"))?;
        if set(m.shrink, i) {
            let b = begin[i];
            let start = match d {
                Some(d) => {
                    let s = if b < 0 { b + d as i64 } else { b };
                    if s < 0 || s >= d as i64 {
                        return Err(invalid!("shrink index {b} out of range for dimension {d}"));
                    }
                    Some(s)
                }
                None => None,
            };
            plan.axes.push((start, 1, Some(1)));
        } else {
            let b = (!set(m.begin, i)).then_some(begin[i]);
            let e = (!set(m.end, i)).then_some(end[i]);
            let (start, count) = slice_axis(d, b, e, strides[i])?;
            // A whole-axis slice keeps an unknown dim unknown but exact.
            let count = if d.is_none() && b.is_none() && e.is_none() && strides[i].abs() == 1 { d } else { count };
            plan.axes.push((start, strides[i], count));
            plan.out_shape.push(count);
        }
        ax += 1;
    }
    while ax < rank {
        full(&mut plan, dims[ax]);
        ax += 1;
    }
    Ok(plan)
}

/// Plan of Slice-8.
pub fn slice_plan(dims: &[Option<u64>], start: &[i64], stop: &[i64], step: &[i64], axes: &[i64]) -> Result<SlicePlan> {
    if stop.len() != start.len() || step.len() != start.len() || axes.len() != start.len() {
        return Err(invalid!("start, stop, step and axes differ in length"));
    }
    let mut plan = SlicePlan { axes: dims.iter().map(|&d| (Some(0), 1, d)).collect(), out_shape: dims.to_vec() };
    let mut seen = vec![false; dims.len()];
    for i in 0..start.len() {
        let a = normalize_axis(axes[i], dims.len())?;
        if std::mem::replace(&mut seen[a], true) {
            return Err(invalid!("axes {axes:?} repeat"));
        }
        let (s, c) = slice_axis(dims[a], Some(start[i]), Some(stop[i]), step[i])?;
        plan.axes[a] = (s, step[i], c);
        plan.out_shape[a] = c;
    }
    Ok(plan)
}

/// Reads the plan out of `x` into a tensor of the plan's output shape.
fn run_plan(op: &str, x: &Tensor, plan: &SlicePlan) -> Result<Vec<Tensor>> {
    let st = strides_of(x.shape());
    let mut counts = Vec::new();
    let mut base = 0i64;
    let mut steps = Vec::new();
    for (k, &(s, step, c)) in plan.axes.iter().enumerate() {
        let (s, c) = s.zip(c).ok_or_else(|| invalid!("{op}: slice is not resolved"))?;
        counts.push(c as usize);
        base += s * st[k] as i64;
        steps.push(step * st[k] as i64);
    }
    let shape: Vec<usize> = plan.out_shape.iter().map(|d| d.unwrap_or(0) as usize).collect();
    let n = numel(&counts);
    let mut idx = Vec::with_capacity(n);
    let mut pos = vec![0usize; counts.len()];
    for _ in 0..n {
        let off = base + pos.iter().zip(&steps).map(|(&p, &s)| p as i64 * s).sum::<i64>();
        idx.push(usize::try_from(off).map_err(|_| invalid!("{op}: negative offset"))?);
        for k in (0..counts.len()).rev() {
            pos[k] += 1;
            if pos[k] < counts[k] {
                break;
            }
            pos[k] = 0;
        }
    }
    Ok(vec![take(op, x, shape, &idx)?])
}

fn opt(s: &[usize]) -> Vec<Option<u64>> {
    s.iter().map(|&d| Some(d as u64)).collect()
}

/// StridedSlice-1.
pub fn strided_slice(inputs: &[Tensor], m: &SliceMasks<'_>) -> Result<Vec<Tensor>> {
    let x = inputs.first().ok_or_else(|| invalid!("StridedSlice expects inputs"))?;
    let b = inputs.get(1).ok_or_else(|| invalid!("StridedSlice expects begin"))?.to_i64_vec()?;
    let e = inputs.get(2).ok_or_else(|| invalid!("StridedSlice expects end"))?.to_i64_vec()?;
    let s = match inputs.get(3) {
        Some(s) => s.to_i64_vec()?,
        None => vec![1; b.len()],
    };
    let plan = strided_slice_plan(&opt(x.shape()), &b, &e, &s, m)?;
    run_plan("StridedSlice", x, &plan)
}

/// Slice-8.
pub fn slice(inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let x = inputs.first().ok_or_else(|| invalid!("Slice expects inputs"))?;
    let get = |i: usize| -> Result<Vec<i64>> {
        inputs.get(i).ok_or_else(|| invalid!("Slice expects input {i}"))?.to_i64_vec()
    };
    let (start, stop, step) = (get(1)?, get(2)?, get(3)?);
    let axes = match inputs.get(4) {
        Some(a) => a.to_i64_vec()?,
        None => (0..start.len() as i64).collect(),
    };
    let plan = slice_plan(&opt(x.shape()), &start, &stop, &step, &axes)?;
    run_plan("Slice", x, &plan)
}

/// Tile-1.
pub fn tile(inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [x, r] = inputs else {
        return Err(invalid!("Tile expects 2 inputs"));
    };
    let r = r.to_i64_vec()?;
    let rank = x.shape().len().max(r.len());
    let mut d = vec![1usize; rank - x.shape().len()];
    d.extend_from_slice(x.shape());
    let mut rr = vec![1i64; rank - r.len()];
    rr.extend_from_slice(&r);
    let out: Vec<usize> = d
        .iter()
        .zip(&rr)
        .map(|(&d, &r)| usize::try_from(r).map(|r| d * r).map_err(|_| invalid!("negative repeat {r}")))
        .collect::<Result<_>>()?;
    let st = strides_of(&d);
    let mut pos = vec![0usize; rank];
    let idx: Vec<usize> = (0..numel(&out))
        .map(|flat| {
            unravel(flat, &out, &mut pos);
            pos.iter().zip(&d).zip(&st).map(|((&p, &d), &s)| (p % d) * s).sum()
        })
        .collect();
    Ok(vec![take("Tile", x, out, &idx)?])
}

/// Row-major multi-index of `flat` in `shape`.
pub fn unravel(mut flat: usize, shape: &[usize], out: &mut [usize]) {
    for k in (0..shape.len()).rev() {
        out[k] = flat % shape[k].max(1);
        flat /= shape[k].max(1);
    }
}

/// A scalar axis input normalized for `rank`.
pub fn scalar_axis(t: &Tensor, rank: usize) -> Result<usize> {
    match t.to_i64_vec()?.as_slice() {
        [a] => normalize_axis(*a, rank),
        v => Err(invalid!("axis must be a scalar, got {v:?}")),
    }
}

/// Resolves VariadicSplit lengths (one may be -1) against the axis length when known.
pub fn split_lengths(lens: &[i64], dim: Option<u64>) -> Result<Vec<Option<u64>>> {
    let neg = lens.iter().filter(|&&l| l == -1).count();
    if neg > 1 || lens.iter().any(|&l| l < -1) {
        return Err(invalid!("split_lengths {lens:?} may hold one -1 and otherwise non-negative values"));
    }
    let known: u64 = lens.iter().filter(|&&l| l >= 0).map(|&l| l as u64).sum();
    lens.iter()
        .map(|&l| match (l, dim) {
            (-1, Some(d)) => {
                d.checked_sub(known).map(Some).ok_or_else(|| invalid!("split_lengths {lens:?} exceed dimension {d}"))
            }
            (-1, None) => Ok(None),
            (l, _) => Ok(Some(l as u64)),
        })
        .collect::<Result<Vec<_>>>()
        .and_then(|v| match dim {
            Some(d) if neg == 0 && known != d => Err(invalid!("split_lengths {lens:?} do not sum to {d}")),
            _ => Ok(v),
        })
}

/// Consecutive parts of `lens` elements along `axis`.
pub fn split(x: &Tensor, axis: usize, lens: &[usize]) -> Result<Vec<Tensor>> {
    let s = x.shape();
    let (outer, d, inner) = (numel(&s[..axis]), s[axis], numel(&s[axis + 1..]));
    let mut start = 0;
    let mut outs = Vec::with_capacity(lens.len());
    for &l in lens {
        if start + l > d {
            return Err(invalid!("split parts {lens:?} exceed dimension {d}"));
        }
        let mut idx = Vec::with_capacity(outer * l * inner);
        for o in 0..outer {
            for j in start..start + l {
                idx.extend((0..inner).map(|i| (o * d + j) * inner + i));
            }
        }
        let mut shape = s.to_vec();
        shape[axis] = l;
        outs.push(take("Split", x, shape, &idx)?);
        start += l;
    }
    Ok(outs)
}

/// Pad-12 (negative pads crop).
pub fn pad(inputs: &[Tensor], mode: PadMode) -> Result<Vec<Tensor>> {
    let x = inputs.first().ok_or_else(|| invalid!("Pad expects inputs"))?;
    let pb = inputs.get(1).ok_or_else(|| invalid!("Pad expects pads_begin"))?.to_i64_vec()?;
    let pe = inputs.get(2).ok_or_else(|| invalid!("Pad expects pads_end"))?.to_i64_vec()?;
    let s = x.shape();
    if pb.len() != s.len() || pe.len() != s.len() {
        return Err(invalid!("pads {pb:?}/{pe:?} do not match rank {}", s.len()));
    }
    let out: Vec<usize> = (0..s.len())
        .map(|i| {
            usize::try_from(s[i] as i64 + pb[i] + pe[i]).map_err(|_| invalid!("padding makes dimension {i} negative"))
        })
        .collect::<Result<_>>()?;
    let fill = match (mode, inputs.get(3)) {
        (PadMode::Constant, Some(v)) => {
            if v.numel() != 1 {
                return Err(invalid!("pad value must be a scalar"));
            }
            v.reshaped(vec![1])?
        }
        _ => Tensor::zeros(x.element_type(), vec![1])?,
    };
    if mode != PadMode::Constant && s.contains(&0) && numel(&out) > 0 {
        return Err(invalid!("{mode:?} padding needs a non-empty input"));
    }
    let st = strides_of(s);
    let mut pos = vec![0usize; s.len()];
    let picks: Vec<(usize, usize)> = (0..numel(&out))
        .map(|flat| {
            unravel(flat, &out, &mut pos);
            let mut off = 0usize;
            for k in 0..s.len() {
                let d = s[k] as i64;
                let i = pos[k] as i64 - pb[k];
                let j = if (0..d).contains(&i) {
                    i
                } else {
                    match mode {
                        PadMode::Constant => return (1, 0),
                        PadMode::Edge => i.clamp(0, d - 1),
                        PadMode::Reflect if d == 1 => 0,
                        PadMode::Reflect => {
                            let r = i.rem_euclid(2 * (d - 1));
                            if r >= d { 2 * (d - 1) - r } else { r }
                        }
                        PadMode::Symmetric => {
                            let r = i.rem_euclid(2 * d);
                            if r >= d { 2 * d - 1 - r } else { r }
                        }
                    }
                };
                off += j as usize * st[k];
            }
            (0, off)
        })
        .collect();
    Ok(vec![take_multi("Pad", &[x, &fill], out, &picks)?])
}

/// DepthToSpace (`to_space`) or SpaceToDepth into the already inferred `out` shape.
pub fn depth_space(x: &Tensor, out: Vec<usize>, bs: usize, mode: BlockMode, to_space: bool) -> Result<Vec<Tensor>> {
    let (op, s) = (if to_space { "DepthToSpace" } else { "SpaceToDepth" }, x.shape());
    let k = s.len() - 2;
    let bk = bs.pow(k as u32);
    let st = strides_of(s);
    let mut pos = vec![0usize; out.len()];
    let mut src = vec![0usize; s.len()];
    let idx: Vec<usize> = (0..numel(&out))
        .map(|flat| {
            unravel(flat, &out, &mut pos);
            src[0] = pos[0];
            if to_space {
                // out (n, c', y...) with y = d * bs + b reads channel made of (b..., c').
                let cp = out[1];
                let mut block = 0;
                for i in 0..k {
                    block = block * bs + pos[2 + i] % bs;
                    src[2 + i] = pos[2 + i] / bs;
                }
                src[1] = match mode {
                    BlockMode::BlocksFirst => block * cp + pos[1],
                    BlockMode::DepthFirst => pos[1] * bk + block,
                };
            } else {
                let c = s[1];
                let (block, ch) = match mode {
                    BlockMode::BlocksFirst => (pos[1] / c, pos[1] % c),
                    BlockMode::DepthFirst => (pos[1] % bk, pos[1] / bk),
                };
                src[1] = ch;
                let mut rem = block;
                for i in (0..k).rev() {
                    src[2 + i] = pos[2 + i] * bs + rem % bs;
                    rem /= bs;
                }
            }
            src.iter().zip(&st).map(|(a, b)| a * b).sum()
        })
        .collect();
    Ok(vec![take(op, x, out, &idx)?])
}

/// ReverseSequence-1.
pub fn reverse_sequence(inputs: &[Tensor], batch_axis: i64, seq_axis: i64) -> Result<Vec<Tensor>> {
    let [x, lens] = inputs else {
        return Err(invalid!("ReverseSequence expects 2 inputs"));
    };
    let s = x.shape();
    let (ba, sa) = (normalize_axis(batch_axis, s.len())?, normalize_axis(seq_axis, s.len())?);
    let lens: Vec<usize> = lens.to_f64_vec()?.iter().map(|&l| l.max(0.0) as usize).collect();
    if lens.len() != s[ba] {
        return Err(invalid!("seq_lengths has {} entries for batch {}", lens.len(), s[ba]));
    }
    let st = strides_of(s);
    let mut pos = vec![0usize; s.len()];
    let idx: Vec<usize> = (0..numel(s))
        .map(|flat| {
            unravel(flat, s, &mut pos);
            let l = lens[pos[ba]].min(s[sa]);
            if pos[sa] < l {
                pos[sa] = l - 1 - pos[sa];
            }
            pos.iter().zip(&st).map(|(a, b)| a * b).sum()
        })
        .collect();
    Ok(vec![take("ReverseSequence", x, s.to_vec(), &idx)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i32s(shape: &[usize], v: Vec<i32>) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v).expect("tensor")
    }
    fn iv(v: &[i64]) -> Tensor {
        Tensor::from_vec(vec![v.len()], v.to_vec()).expect("tensor")
    }
    fn vals(t: &Tensor) -> Vec<i32> {
        t.values::<i32>().expect("i32").into_owned()
    }
    const NONE: &[i64] = &[];

    #[test]
    fn python_slice_semantics() {
        assert_eq!(slice_axis(Some(10), Some(-1), Some(i64::MIN), -3).expect("s"), (Some(9), Some(4)));
        assert_eq!(slice_axis(Some(5), Some(1), Some(100), 2).expect("s"), (Some(1), Some(2)));
        assert_eq!(slice_axis(Some(5), Some(4), Some(1), 1).expect("s"), (Some(4), Some(0)));
        assert_eq!(slice_axis(Some(5), None, None, -1).expect("s"), (Some(4), Some(5)));
        assert!(slice_axis(Some(5), None, None, 0).is_err());
    }

    #[test]
    fn slice_values() {
        let x = i32s(&[3, 4], (0..12).collect());
        let r = slice(&[x.clone(), iv(&[-1, 1]), iv(&[-4, 4]), iv(&[-1, 2])]).expect("slice");
        assert_eq!(r[0].shape(), &[3, 2]);
        assert_eq!(vals(&r[0]), vec![9, 11, 5, 7, 1, 3]);
        let r = slice(&[x, iv(&[1]), iv(&[2]), iv(&[1]), iv(&[-1])]).expect("slice");
        assert_eq!(vals(&r[0]), vec![1, 5, 9]);
    }

    #[test]
    fn strided_slice_values() {
        let x = i32s(&[2, 3, 4], (0..24).collect());
        let m = SliceMasks { begin: NONE, end: NONE, new_axis: &[0, 1], shrink: &[1, 0, 0], ellipsis: NONE };
        let r = strided_slice(&[x.clone(), iv(&[1, 0, 0]), iv(&[2, 0, 3]), iv(&[1, 1, -1])], &m).expect("ss");
        // shrink axis 0 at 1, new axis, then axis 1 reversed from 0 to 3 (nothing: start 0 > end? no)
        assert_eq!(r[0].shape(), &[1, 0, 4]);
        let m = SliceMasks { begin: &[0, 1], end: &[0, 1], new_axis: NONE, shrink: NONE, ellipsis: &[1] };
        let r = strided_slice(&[x.clone(), iv(&[0, 0]), iv(&[0, 0]), iv(&[1, -2])], &m).expect("ss");
        assert_eq!(r[0].shape(), &[2, 3, 2]);
        assert_eq!(vals(&r[0])[..4], [3, 1, 7, 5]);
        let m = SliceMasks { begin: NONE, end: NONE, new_axis: NONE, shrink: &[0, 0, 1], ellipsis: NONE };
        let r = strided_slice(&[x, iv(&[0, 1, -1]), iv(&[1, 3, 0]), iv(&[1, 1, 1])], &m).expect("ss");
        assert_eq!((r[0].shape(), vals(&r[0])), (&[1usize, 2][..], vec![7, 11]));
    }

    #[test]
    fn tile_split_pad() {
        let x = i32s(&[2], vec![1, 2]);
        let r = tile(&[x, iv(&[2, 2])]).expect("tile");
        assert_eq!((r[0].shape(), vals(&r[0])), (&[2usize, 4][..], vec![1, 2, 1, 2, 1, 2, 1, 2]));
        let y = i32s(&[2, 3], (0..6).collect());
        let r = split(&y, 1, &[1, 2]).expect("split");
        assert_eq!((vals(&r[0]), vals(&r[1])), (vec![0, 3], vec![1, 2, 4, 5]));
        assert_eq!(split_lengths(&[1, -1], Some(5)).expect("l"), vec![Some(1), Some(4)]);
        assert!(split_lengths(&[1, 2], Some(5)).is_err());
        let z = i32s(&[3], vec![1, 2, 3]);
        let p = |mode, b: i64, e: i64| {
            vals(&pad(&[z.clone(), iv(&[b]), iv(&[e]), Tensor::scalar(9i32)], mode).expect("pad")[0])
        };
        assert_eq!(p(PadMode::Constant, 2, 1), vec![9, 9, 1, 2, 3, 9]);
        assert_eq!(p(PadMode::Edge, 2, 1), vec![1, 1, 1, 2, 3, 3]);
        assert_eq!(p(PadMode::Reflect, 2, 2), vec![3, 2, 1, 2, 3, 2, 1]);
        assert_eq!(p(PadMode::Symmetric, 2, 2), vec![2, 1, 1, 2, 3, 3, 2]);
        assert_eq!(p(PadMode::Constant, -1, 1), vec![2, 3, 9]);
    }

    #[test]
    fn depth_space_round_trip() {
        // Matches the ONNX DepthToSpace DCR/CRD examples on a 1x8x1x1 input.
        let x = i32s(&[1, 8, 1, 1], (0..8).collect());
        let r = depth_space(&x, vec![1, 2, 2, 2], 2, BlockMode::BlocksFirst, true).expect("d2s");
        assert_eq!(vals(&r[0]), vec![0, 2, 4, 6, 1, 3, 5, 7]);
        let r2 = depth_space(&x, vec![1, 2, 2, 2], 2, BlockMode::DepthFirst, true).expect("d2s");
        assert_eq!(vals(&r2[0]), vec![0, 1, 2, 3, 4, 5, 6, 7]);
        for mode in [BlockMode::BlocksFirst, BlockMode::DepthFirst] {
            let y = depth_space(&x, vec![1, 2, 2, 2], 2, mode, true).expect("d2s");
            let back = depth_space(&y[0], vec![1, 8, 1, 1], 2, mode, false).expect("s2d");
            assert_eq!(vals(&back[0]), (0..8).collect::<Vec<_>>());
        }
    }

    #[test]
    fn reverse_sequence_values() {
        let x = i32s(&[2, 3], vec![1, 2, 3, 4, 5, 6]);
        let r = reverse_sequence(&[x, iv(&[2, 3])], 0, 1).expect("rs");
        assert_eq!(vals(&r[0]), vec![2, 1, 3, 6, 5, 4]);
    }
}
