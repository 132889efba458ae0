//! Neural-network kernels: convolution, pooling, normalization, softmax, matmul.
//!
//! All of them compute in `f64` on float inputs (MatMul and convolution also on integers) and
//! round once.

use super::values::{
    Vals, broadcast_map, broadcast_pair, decode, decode_float, encode, not_evaluable, numel, to_usize,
};
use crate::element::ElementType as E;
use crate::error::Result;
use crate::invalid;
use crate::ops::{EpsMode, PadType, RoundingType, normalize_axis, reduction_axes, resolve_pads, window_output};
use crate::shape::strides_of;
use crate::tensor::Tensor;

/// Sliding-window attributes shared by convolution and pooling.
#[derive(Debug, Clone, Copy)]
pub struct WindowAttrs<'a> {
    /// Step per spatial axis.
    pub strides: &'a [i64],
    /// Dilation per spatial axis; empty means all 1.
    pub dilations: &'a [i64],
    /// Explicit padding before each spatial axis.
    pub pads_begin: &'a [i64],
    /// Explicit padding after each spatial axis.
    pub pads_end: &'a [i64],
    /// Padding rule.
    pub auto_pad: PadType,
    /// Output size rounding.
    pub rounding: RoundingType,
}

/// A window resolved against concrete spatial input dims.
struct Resolved {
    out: Vec<usize>,
    strides: Vec<usize>,
    dil: Vec<usize>,
    pb: Vec<usize>,
    pe: Vec<usize>,
}

fn resolve(spatial: &[usize], kernel: &[usize], w: &WindowAttrs<'_>) -> Result<Resolved> {
    let n = spatial.len();
    let get = |v: &[i64], i: usize, def: i64| v.get(i).copied().unwrap_or(def);
    let explicit = matches!(w.auto_pad, PadType::Explicit | PadType::Notset);
    if kernel.len() != n || w.strides.len() != n || (explicit && (w.pads_begin.len() != n || w.pads_end.len() != n)) {
        return Err(invalid!("window attributes do not match {n} spatial dims"));
    }
    let mut r = Resolved { out: vec![], strides: vec![], dil: vec![], pb: vec![], pe: vec![] };
    for i in 0..n {
        let s = to_usize(get(w.strides, i, 1), "stride")?;
        let d = to_usize(get(w.dilations, i, 1), "dilation")?;
        if s == 0 || d == 0 {
            return Err(invalid!("strides and dilations must be positive"));
        }
        let pads = if explicit {
            (to_usize(get(w.pads_begin, i, 0), "pad")? as u64, to_usize(get(w.pads_end, i, 0), "pad")? as u64)
        } else {
            (0, 0)
        };
        let (pb, pe) = resolve_pads(w.auto_pad, spatial[i] as u64, kernel[i] as u64, s as u64, d as u64, pads);
        let o = window_output(spatial[i] as u64, kernel[i] as u64, s as u64, d as u64, (pb, pe), w.rounding)?;
        r.out.push(o as usize);
        r.strides.push(s);
        r.dil.push(d);
        r.pb.push(pb as usize);
        r.pe.push(pe as usize);
    }
    Ok(r)
}

/// Row-major multi-index of `flat` in `shape`.
fn unravel(mut flat: usize, shape: &[usize], out: &mut [usize]) {
    for k in (0..shape.len()).rev() {
        out[k] = flat % shape[k];
        flat /= shape[k];
    }
}

/// Input coordinate of output position `o`, kernel tap `k` on each axis; `None` in padding.
fn tap(o: &[usize], k: &[usize], r: &Resolved, input: &[usize], pos: &mut [usize]) -> bool {
    for i in 0..o.len() {
        let p = (o[i] * r.strides[i] + k[i] * r.dil[i]) as i64 - r.pb[i] as i64;
        if p < 0 || p >= input[i] as i64 {
            return false;
        }
        pos[i] = p as usize;
    }
    true
}

fn flat_of(pos: &[usize], strides: &[usize]) -> usize {
    pos.iter().zip(strides).map(|(a, b)| a * b).sum()
}

/// Convolution; `grouped` filters are `[G, C_out/G, C_in/G, k...]`, plain ones `[C_out, C_in, k...]`.
pub fn convolution(op: &str, inputs: &[Tensor], grouped: bool, w: &WindowAttrs<'_>) -> Result<Vec<Tensor>> {
    let [x, f] = inputs else {
        return Err(invalid!("{op} expects 2 inputs"));
    };
    let (xs, fs) = (x.shape(), f.shape());
    let off = usize::from(grouped);
    if xs.len() < 3 || fs.len() != xs.len() + off {
        return Err(invalid!("{op}: data {xs:?} and filter {fs:?} ranks do not match"));
    }
    let (g, cog, cig) = if grouped { (fs[0], fs[1], fs[2]) } else { (1, fs[0], fs[1]) };
    let kernel = &fs[2 + off..];
    if xs[1] != g * cig {
        return Err(invalid!("{op}: data has {} channels, filter expects {}", xs[1], g * cig));
    }
    let spatial = &xs[2..];
    let r = resolve(spatial, kernel, w)?;
    // Integer convolutions (ConvInteger) sum exactly in f64 for any realistic size.
    let (xv, fv) = (super::values::decode_as_f64(op, x)?, super::values::decode_as_f64(op, f)?);
    let (n, c) = (xs[0], xs[1]);
    let (sp_in, sp_out, kn) = (numel(spatial), numel(&r.out), numel(kernel));
    let sst = strides_of(spatial);
    let mut out = vec![0.0; n * g * cog * sp_out];
    let (mut o, mut k, mut pos) = (vec![0; r.out.len()], vec![0; kernel.len()], vec![0; kernel.len()]);
    for b in 0..n {
        for gi in 0..g {
            for co in 0..cog {
                for op_flat in 0..sp_out {
                    unravel(op_flat, &r.out, &mut o);
                    let mut acc = 0.0;
                    for ci in 0..cig {
                        let xbase = (b * c + gi * cig + ci) * sp_in;
                        let fbase = ((gi * cog + co) * cig + ci) * kn;
                        for kf in 0..kn {
                            unravel(kf, kernel, &mut k);
                            if tap(&o, &k, &r, spatial, &mut pos) {
                                acc += xv[xbase + flat_of(&pos, &sst)] * fv[fbase + kf];
                            }
                        }
                    }
                    out[((b * g + gi) * cog + co) * sp_out + op_flat] = acc;
                }
            }
        }
    }
    let mut shape = vec![n, g * cog];
    shape.extend_from_slice(&r.out);
    Ok(vec![encode(op, x.element_type(), shape, &Vals::F(out))?])
}

/// Max pooling; with `index` = Some((type, axis)) also the flat indices of the maxima counted
/// over the dims from `axis` on.
pub fn max_pool(
    inputs: &[Tensor],
    kernel: &[i64],
    w: &WindowAttrs<'_>,
    index: Option<(E, i64)>,
) -> Result<Vec<Tensor>> {
    let x = inputs.first().ok_or_else(|| invalid!("MaxPool expects an input"))?;
    let xs = x.shape();
    if xs.len() < 3 {
        return Err(invalid!("MaxPool needs rank >= 3, got {xs:?}"));
    }
    let kernel: Vec<usize> = kernel.iter().map(|&k| to_usize(k, "kernel")).collect::<Result<_>>()?;
    let spatial = &xs[2..];
    let r = resolve(spatial, &kernel, w)?;
    let xv = match decode("MaxPool", x)? {
        Vals::F(v) => v,
        Vals::I(v) => v.into_iter().map(|a| a as f64).collect(),
        Vals::B(_) => return Err(not_evaluable("MaxPool", x.element_type())),
    };
    let (sp_in, sp_out, kn) = (numel(spatial), numel(&r.out), numel(&kernel));
    let sst = strides_of(spatial);
    let nc = xs[0] * xs[1];
    let (mut vals, mut idxs) = (Vec::with_capacity(nc * sp_out), Vec::with_capacity(nc * sp_out));
    let (mut o, mut k, mut pos) = (vec![0; r.out.len()], vec![0; kernel.len()], vec![0; kernel.len()]);
    for plane in 0..nc {
        for op_flat in 0..sp_out {
            unravel(op_flat, &r.out, &mut o);
            let (mut best, mut at) = (f64::NEG_INFINITY, None);
            for kf in 0..kn {
                unravel(kf, &kernel, &mut k);
                if tap(&o, &k, &r, spatial, &mut pos) {
                    let i = plane * sp_in + flat_of(&pos, &sst);
                    if at.is_none() || xv[i] > best {
                        best = xv[i];
                        at = Some(i);
                    }
                }
            }
            vals.push(best);
            idxs.push(at.unwrap_or(0));
        }
    }
    let mut shape = xs[..2].to_vec();
    shape.extend_from_slice(&r.out);
    let et = x.element_type();
    let v = if et.is_float() { Vals::F(vals) } else { Vals::I(vals.into_iter().map(|a| a as i128).collect()) };
    let mut out = vec![encode("MaxPool", et, shape.clone(), &v)?];
    if let Some((it, axis)) = index {
        let axis = normalize_axis(axis, xs.len())?;
        let span = numel(&xs[axis..]).max(1);
        let iv = Vals::I(idxs.into_iter().map(|i| (i % span) as i128).collect());
        out.push(encode("MaxPool", it, shape, &iv)?);
    }
    Ok(out)
}

/// Average pooling; `exclude_pad` divides by the taps inside the input only.
pub fn avg_pool(inputs: &[Tensor], kernel: &[i64], w: &WindowAttrs<'_>, exclude_pad: bool) -> Result<Vec<Tensor>> {
    let x = inputs.first().ok_or_else(|| invalid!("AvgPool expects an input"))?;
    let xs = x.shape();
    if xs.len() < 3 {
        return Err(invalid!("AvgPool needs rank >= 3, got {xs:?}"));
    }
    let kernel: Vec<usize> = kernel.iter().map(|&k| to_usize(k, "kernel")).collect::<Result<_>>()?;
    let spatial = &xs[2..];
    let r = resolve(spatial, &kernel, w)?;
    let xv = decode_float("AvgPool", x)?;
    let (sp_in, sp_out, kn) = (numel(spatial), numel(&r.out), numel(&kernel));
    let sst = strides_of(spatial);
    let nc = xs[0] * xs[1];
    let mut out = Vec::with_capacity(nc * sp_out);
    let (mut o, mut k, mut pos) = (vec![0; r.out.len()], vec![0; kernel.len()], vec![0; kernel.len()]);
    for plane in 0..nc {
        for op_flat in 0..sp_out {
            unravel(op_flat, &r.out, &mut o);
            let (mut sum, mut inside, mut padded) = (0.0, 0usize, 0usize);
            for kf in 0..kn {
                unravel(kf, &kernel, &mut k);
                if tap(&o, &k, &r, spatial, &mut pos) {
                    sum += xv[plane * sp_in + flat_of(&pos, &sst)];
                    inside += 1;
                }
                // Taps in the explicit/auto padding count when pads are included, but taps past
                // the end padding (from ceil rounding) never do.
                let in_padded = (0..o.len()).all(|i| {
                    let p = o[i] * r.strides[i] + k[i] * r.dil[i];
                    p < spatial[i] + r.pb[i] + r.pe[i]
                });
                padded += usize::from(in_padded);
            }
            let div = if exclude_pad { inside } else { padded };
            out.push(if div == 0 { 0.0 } else { sum / div as f64 });
        }
    }
    let mut shape = xs[..2].to_vec();
    shape.extend_from_slice(&r.out);
    Ok(vec![encode("AvgPool", x.element_type(), shape, &Vals::F(out))?])
}

/// LRN-1: `x / (bias + alpha / size^len(axes) * sum(x^2 over the window))^beta`; the window
/// spans `(size - 1) / 2` on both sides along each axis, as OpenVINO computes it.
pub fn lrn(inputs: &[Tensor], alpha: f64, beta: f64, bias: f64, size: u64) -> Result<Vec<Tensor>> {
    let [x, axes] = inputs else {
        return Err(invalid!("LRN expects 2 inputs"));
    };
    let xs = x.shape();
    let axes = reduction_axes(axes, xs.len())?;
    let xv = decode_float("LRN", x)?;
    let half = (size.saturating_sub(1) / 2) as usize;
    let st = strides_of(xs);
    let scale = alpha / (size as f64).powi(axes.len() as i32);
    let mut idx = vec![0; xs.len()];
    let mut win = vec![0; xs.len()];
    let mut out = Vec::with_capacity(xv.len());
    for (flat, &v) in xv.iter().enumerate() {
        unravel(flat, xs, &mut idx);
        let lo: Vec<usize> = axes.iter().map(|&a| idx[a].saturating_sub(half)).collect();
        let hi: Vec<usize> = axes.iter().map(|&a| (idx[a] + half).min(xs[a] - 1)).collect();
        let extent: Vec<usize> = lo.iter().zip(&hi).map(|(l, h)| h - l + 1).collect();
        let mut sq = 0.0;
        let mut w = vec![0; axes.len()];
        for t in 0..numel(&extent) {
            unravel(t, &extent, &mut w);
            win.copy_from_slice(&idx);
            for (j, &a) in axes.iter().enumerate() {
                win[a] = lo[j] + w[j];
            }
            let y = xv[flat_of(&win, &st)];
            sq += y * y;
        }
        out.push(v / (bias + scale * sq).powf(beta));
    }
    Ok(vec![encode("LRN", x.element_type(), xs.to_vec(), &Vals::F(out))?])
}

/// Softmax (or log-softmax) along `axis`.
pub fn softmax(op: &str, inputs: &[Tensor], axis: i64, log: bool) -> Result<Vec<Tensor>> {
    let x = inputs.first().ok_or_else(|| invalid!("{op} expects an input"))?;
    let xs = x.shape();
    let ax = normalize_axis(axis, xs.len())?;
    let xv = decode_float(op, x)?;
    let (outer, n, inner) = (numel(&xs[..ax]), xs.get(ax).copied().unwrap_or(1), numel(&xs[(ax + 1).min(xs.len())..]));
    let mut out = vec![0.0; xv.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * n + j) * inner + i;
            let m = (0..n).map(|j| xv[at(j)]).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..n).map(|j| (xv[at(j)] - m).exp()).sum();
            for j in 0..n {
                out[at(j)] = if log { xv[at(j)] - m - sum.ln() } else { (xv[at(j)] - m).exp() / sum };
            }
        }
    }
    Ok(vec![encode(op, x.element_type(), xs.to_vec(), &Vals::F(out))?])
}

/// BatchNormInference (opset5 input order: data, gamma, beta, mean, variance; channels = dim 1).
pub fn batch_norm(inputs: &[Tensor], eps: f64) -> Result<Vec<Tensor>> {
    let [x, gamma, beta, mean, var] = inputs else {
        return Err(invalid!("BatchNormInference expects 5 inputs"));
    };
    let xs = x.shape();
    if xs.len() < 2 {
        return Err(invalid!("BatchNormInference needs rank >= 2"));
    }
    let op = "BatchNormInference";
    let (xv, g, b, m, v) = (
        decode_float(op, x)?,
        decode_float(op, gamma)?,
        decode_float(op, beta)?,
        decode_float(op, mean)?,
        decode_float(op, var)?,
    );
    let c = xs[1];
    if [g.len(), b.len(), m.len(), v.len()].iter().any(|&l| l != c) {
        return Err(invalid!("BatchNormInference parameters must have {c} elements"));
    }
    let inner = numel(&xs[2..]);
    let out = xv
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let ch = (i / inner.max(1)) % c;
            g[ch] * (a - m[ch]) / (v[ch] + eps).sqrt() + b[ch]
        })
        .collect();
    Ok(vec![encode(op, x.element_type(), xs.to_vec(), &Vals::F(out))?])
}

/// MatMul with numpy batch broadcasting; rank-1 operands are promoted and their unit dim removed.
pub fn matmul(inputs: &[Tensor], ta: bool, tb: bool) -> Result<Vec<Tensor>> {
    let [a, b] = inputs else {
        return Err(invalid!("MatMul expects 2 inputs"));
    };
    let (mut as_, mut bs) = (a.shape().to_vec(), b.shape().to_vec());
    if as_.is_empty() || bs.is_empty() {
        return Err(invalid!("MatMul operands must not be scalars"));
    }
    let (a1, b1) = (as_.len() == 1, bs.len() == 1);
    // Transposing a 1-D operand is a no-op.
    let (ta, tb) = (ta && !a1, tb && !b1);
    if a1 {
        as_.insert(0, 1);
    }
    if b1 {
        bs.push(1);
    }
    let (ra, rb) = (as_.len(), bs.len());
    let (m, k) = if ta { (as_[ra - 1], as_[ra - 2]) } else { (as_[ra - 2], as_[ra - 1]) };
    let (k2, n) = if tb { (bs[rb - 1], bs[rb - 2]) } else { (bs[rb - 2], bs[rb - 1]) };
    if k != k2 {
        return Err(invalid!("MatMul inner dims {k} and {k2} differ"));
    }
    let batch = broadcast_pair(&as_[..ra - 2], &bs[..rb - 2])
        .ok_or_else(|| invalid!("MatMul batch dims {:?} and {:?} do not broadcast", &as_[..ra - 2], &bs[..rb - 2]))?;
    let (ma, mb) = (broadcast_map(&as_[..ra - 2], &batch)?, broadcast_map(&bs[..rb - 2], &batch)?);
    let ai = |bi: usize, i: usize, j: usize| ma[bi] * m * k + if ta { j * m + i } else { i * k + j };
    let bi_ = |bi: usize, i: usize, j: usize| mb[bi] * k * n + if tb { j * k + i } else { i * n + j };
    let nb = numel(&batch);
    let et = a.element_type();
    if b.element_type() != et {
        return Err(invalid!("MatMul input types {et} and {} differ", b.element_type()));
    }
    let out = match (decode("MatMul", a)?, decode("MatMul", b)?) {
        (Vals::F(x), Vals::F(y)) => {
            let mut o = Vec::with_capacity(nb * m * n);
            for bi in 0..nb {
                for i in 0..m {
                    for j in 0..n {
                        o.push((0..k).map(|p| x[ai(bi, i, p)] * y[bi_(bi, p, j)]).sum());
                    }
                }
            }
            Vals::F(o)
        }
        (Vals::I(x), Vals::I(y)) => {
            let mut o = Vec::with_capacity(nb * m * n);
            for bi in 0..nb {
                for i in 0..m {
                    for j in 0..n {
                        o.push(
                            (0..k)
                                .fold(0i128, |acc, p| acc.wrapping_add(x[ai(bi, i, p)].wrapping_mul(y[bi_(bi, p, j)]))),
                        );
                    }
                }
            }
            Vals::I(o)
        }
        _ => return Err(not_evaluable("MatMul", et)),
    };
    let mut shape = batch;
    if !a1 {
        shape.push(m);
    }
    if !b1 {
        shape.push(n);
    }
    Ok(vec![encode("MatMul", et, shape, &out)?])
}

/// MVN-6 over the axes of input 1.
pub fn mvn(inputs: &[Tensor], eps: f64, normalize_variance: bool, eps_mode: EpsMode) -> Result<Vec<Tensor>> {
    let [x, axes] = inputs else {
        return Err(invalid!("MVN expects 2 inputs"));
    };
    let xs = x.shape();
    let axes = reduction_axes(axes, xs.len())?;
    let xv = decode_float("MVN", x)?;
    let kept: Vec<usize> = xs.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect();
    let ks = strides_of(&kept);
    let eff: Vec<usize> = (0..xs.len()).map(|i| if axes.contains(&i) { 0 } else { ks[i] }).collect();
    let map = super::values::strided_offsets(xs, &eff);
    let groups = numel(&kept);
    let count = (xv.len() / groups.max(1)).max(1) as f64;
    let mut mean = vec![0.0; groups];
    for (&g, &v) in map.iter().zip(&xv) {
        mean[g] += v / count;
    }
    let mut var = vec![0.0; groups];
    for (&g, &v) in map.iter().zip(&xv) {
        var[g] += (v - mean[g]) * (v - mean[g]) / count;
    }
    let out = map
        .iter()
        .zip(&xv)
        .map(|(&g, &v)| {
            let c = v - mean[g];
            if !normalize_variance {
                c
            } else {
                match eps_mode {
                    EpsMode::InsideSqrt => c / (var[g] + eps).sqrt(),
                    EpsMode::OutsideSqrt => c / (var[g].sqrt() + eps),
                }
            }
        })
        .collect();
    Ok(vec![encode("MVN", x.element_type(), xs.to_vec(), &Vals::F(out))?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v).expect("tensor")
    }
    fn f(t: &Tensor) -> Vec<f32> {
        t.values::<f32>().expect("f32").into_owned()
    }
    fn win<'a>(s: &'a [i64], d: &'a [i64], pb: &'a [i64], pe: &'a [i64]) -> WindowAttrs<'a> {
        WindowAttrs {
            strides: s,
            dilations: d,
            pads_begin: pb,
            pads_end: pe,
            auto_pad: PadType::Explicit,
            rounding: RoundingType::Floor,
        }
    }

    #[test]
    fn conv_2d_with_padding() {
        // 3x3 input 1..9, 2x2 ones kernel, pad 1 at the end: sums of 2x2 windows (clipped).
        let x = t(&[1, 1, 3, 3], (1..=9).map(|v| v as f32).collect());
        let w = t(&[1, 1, 2, 2], vec![1.0; 4]);
        let r = convolution("Convolution", &[x, w], false, &win(&[2, 2], &[1, 1], &[0, 0], &[1, 1])).expect("conv");
        assert_eq!(r[0].shape(), &[1, 1, 2, 2]);
        assert_eq!(f(&r[0]), vec![12.0, 9.0, 15.0, 9.0]);
    }

    #[test]
    fn conv_1d_dilated_and_grouped() {
        let x = t(&[1, 2, 5], vec![1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        let w = t(&[2, 1, 1, 2], vec![1.0, -1.0, 1.0, 1.0]);
        let r = convolution("GroupConvolution", &[x, w], true, &win(&[1], &[2], &[0], &[0])).expect("gconv");
        assert_eq!(r[0].shape(), &[1, 2, 3]);
        assert_eq!(f(&r[0]), vec![-2.0, -2.0, -2.0, 40.0, 60.0, 80.0]);
    }

    #[test]
    fn conv_3d_same_upper() {
        let x = t(&[1, 1, 2, 2, 2], vec![1.0; 8]);
        let w = t(&[1, 1, 2, 2, 2], vec![1.0; 8]);
        let mut a = win(&[1, 1, 1], &[1, 1, 1], &[], &[]);
        a.auto_pad = PadType::SameUpper;
        let r = convolution("Convolution", &[x, w], false, &a).expect("conv");
        assert_eq!(r[0].shape(), &[1, 1, 2, 2, 2]);
        assert_eq!(f(&r[0]), vec![8.0, 4.0, 4.0, 2.0, 4.0, 2.0, 2.0, 1.0]);
    }

    #[test]
    fn max_pool_with_indices_and_ceil() {
        let x = t(&[1, 1, 3, 3], vec![1.0, 9.0, 2.0, 4.0, 5.0, 6.0, 8.0, 7.0, 3.0]);
        let mut a = win(&[2, 2], &[1, 1], &[0, 0], &[0, 0]);
        a.rounding = RoundingType::Ceil;
        let r = max_pool(&[x], &[2, 2], &a, Some((E::I64, 0))).expect("pool");
        assert_eq!(r[0].shape(), &[1, 1, 2, 2]);
        assert_eq!(f(&r[0]), vec![9.0, 6.0, 8.0, 3.0]);
        assert_eq!(&*r[1].values::<i64>().expect("i64"), &[1, 5, 6, 8]);
    }

    #[test]
    fn avg_pool_exclude_pad() {
        let x = t(&[1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]);
        let a = win(&[1, 1], &[], &[1, 1], &[0, 0]);
        let r = avg_pool(std::slice::from_ref(&x), &[2, 2], &a, true).expect("pool");
        assert_eq!(f(&r[0]), vec![1.0, 1.5, 2.0, 2.5]);
        let r = avg_pool(&[x], &[2, 2], &a, false).expect("pool");
        assert_eq!(f(&r[0]), vec![0.25, 0.75, 1.0, 2.5]);
    }

    #[test]
    fn lrn_window_matches_openvino() {
        // Checked against the OpenVINO CPU plugin: size 4 sums one neighbour on each side.
        let x = t(&[1, 7, 1, 1], (1..=7).map(|v| v as f32).collect());
        let axes = Tensor::from_vec(vec![1], vec![1i64]).expect("axes");
        let r = lrn(&[x, axes], 1.0, 1.0, 0.0, 4).expect("lrn");
        let sq = [5.0, 14.0, 29.0, 50.0, 77.0, 110.0, 85.0];
        for (i, (&got, s)) in f(&r[0]).iter().zip(sq).enumerate() {
            assert!((got - (i + 1) as f32 * 4.0 / s).abs() < 1e-6, "{i}: {got}");
        }
    }

    #[test]
    fn softmax_and_log() {
        let x = t(&[2, 2], vec![0.0, 0.0, 1.0, 3.0]);
        let r = softmax("SoftMax", std::slice::from_ref(&x), 1, false).expect("sm");
        let e = 1.0 / (1.0 + 2f32.exp());
        assert_eq!(f(&r[0])[..2], [0.5, 0.5]);
        assert!((f(&r[0])[2] - e).abs() < 1e-7);
        let r = softmax("LogSoftmax", &[x], -1, true).expect("lsm");
        assert!((f(&r[0])[0] - 0.5f32.ln()).abs() < 1e-7);
    }

    #[test]
    fn batch_norm_and_mvn() {
        let x = t(&[1, 2, 2], vec![1.0, 3.0, 10.0, 20.0]);
        let p = |v: Vec<f32>| t(&[2], v);
        let r =
            batch_norm(&[x.clone(), p(vec![2.0, 1.0]), p(vec![1.0, 0.0]), p(vec![2.0, 10.0]), p(vec![4.0, 1.0])], 0.0)
                .expect("bn");
        assert_eq!(f(&r[0]), vec![0.0, 2.0, 0.0, 10.0]);
        let axes = Tensor::from_vec(vec![1], vec![2i64]).expect("axes");
        let r = mvn(&[x, axes], 0.0, true, EpsMode::InsideSqrt).expect("mvn");
        assert_eq!(f(&r[0]), vec![-1.0, 1.0, -1.0, 1.0]);
    }

    #[test]
    fn matmul_shapes() {
        let a = t(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let v = t(&[3], vec![1.0, 0.0, -1.0]);
        let r = matmul(&[a.clone(), v.clone()], false, false).expect("mm");
        assert_eq!((r[0].shape(), f(&r[0])), (&[2usize][..], vec![-2.0, -2.0]));
        let r = matmul(&[v, a.clone()], false, true).expect("mm");
        assert_eq!((r[0].shape(), f(&r[0])), (&[2usize][..], vec![-2.0, -2.0]));
        let b = t(&[2, 1, 2, 3], vec![1.0; 12]);
        let r = matmul(&[a, b], false, true).expect("mm");
        assert_eq!(r[0].shape(), &[2, 1, 2, 2]);
        assert_eq!(f(&r[0])[..4], [6.0, 6.0, 15.0, 15.0]);
        let i = Tensor::from_vec(vec![1, 2], vec![3i32, 4]).expect("i");
        let j = Tensor::from_vec(vec![2, 1], vec![5i32, 6]).expect("j");
        let r = matmul(&[i, j], false, false).expect("mm");
        assert_eq!(&*r[0].values::<i32>().expect("i32"), &[39]);
    }

    /// A second formulation of 2-D convolution: explicit zero padding, then a valid correlation.
    fn conv2d_padded(
        x: &[f32],
        (h, w): (usize, usize),
        k: &[f32],
        (kh, kw): (usize, usize),
        s: usize,
        p: usize,
    ) -> Vec<f32> {
        let (ph, pw) = (h + 2 * p, w + 2 * p);
        let mut padded = vec![0.0f32; ph * pw];
        for i in 0..h {
            for j in 0..w {
                padded[(i + p) * pw + j + p] = x[i * w + j];
            }
        }
        let (oh, ow) = ((ph - kh) / s + 1, (pw - kw) / s + 1);
        let mut out = vec![];
        for i in 0..oh {
            for j in 0..ow {
                let mut acc = 0.0f64;
                for a in 0..kh {
                    for b in 0..kw {
                        acc += padded[(i * s + a) * pw + j * s + b] as f64 * k[a * kw + b] as f64;
                    }
                }
                out.push(acc as f32);
            }
        }
        out
    }

    proptest! {
        #[test]
        fn conv_matches_padded_formulation(h in 1usize..6, w in 1usize..6, kh in 1usize..4, kw in 1usize..4, s in 1usize..3, p in 0usize..2, seed in 0u32..100) {
            prop_assume!(h + 2 * p >= kh && w + 2 * p >= kw);
            let xv: Vec<f32> = (0..h * w).map(|i| ((i as u32 * 7 + seed) % 9) as f32 - 4.0).collect();
            let kv: Vec<f32> = (0..kh * kw).map(|i| ((i as u32 * 3 + seed) % 5) as f32 - 2.0).collect();
            let (st, pp) = ([s as i64, s as i64], [p as i64, p as i64]);
            let r = convolution("Convolution", &[t(&[1, 1, h, w], xv.clone()), t(&[1, 1, kh, kw], kv.clone())], false, &win(&st, &[1, 1], &pp, &pp)).expect("conv");
            prop_assert_eq!(f(&r[0]), conv2d_padded(&xv, (h, w), &kv, (kh, kw), s, p));
        }

        #[test]
        fn max_pool_matches_padded_formulation(h in 1usize..6, w in 1usize..6, kh in 1usize..4, kw in 1usize..4, s in 1usize..3, seed in 0u32..100) {
            prop_assume!(h >= kh && w >= kw);
            let xv: Vec<f32> = (0..h * w).map(|i| ((i as u32 * 7 + seed) % 11) as f32).collect();
            let st = [s as i64, s as i64];
            let r = max_pool(&[t(&[1, 1, h, w], xv.clone())], &[kh as i64, kw as i64], &win(&st, &[1, 1], &[0, 0], &[0, 0]), None).expect("pool");
            let (oh, ow) = ((h - kh) / s + 1, (w - kw) / s + 1);
            let mut want = vec![];
            for i in 0..oh { for j in 0..ow {
                let mut m = f32::MIN;
                for a in 0..kh { for b in 0..kw { m = m.max(xv[(i * s + a) * w + j * s + b]); } }
                want.push(m);
            } }
            prop_assert_eq!(f(&r[0]), want);
        }
    }
}
