//! GridSample kernel, following the ONNX reference: denormalize, pad the coordinate
//! (clamp or reflect), then interpolate with taps fetched under the same padding rule.

use super::values::{Vals, decode_float, encode};
use crate::error::Result;
use crate::invalid;
use crate::ops::{GridSample, GridSampleMode, GridSamplePadding};
use crate::tensor::Tensor;

fn denormalize(v: f64, len: usize, align: bool) -> f64 {
    let l = len as f64;
    if align { (v + 1.0) / 2.0 * (l - 1.0) } else { ((v + 1.0) * l - 1.0) / 2.0 }
}

fn reflect(x: f64, lo: f64, hi: f64) -> f64 {
    let rng = hi - lo;
    if rng <= 0.0 {
        return lo;
    }
    if x < lo {
        let dx = lo - x;
        let n = (dx / rng).floor();
        let r = dx - n * rng;
        if n as i64 % 2 == 0 { lo + r } else { hi - r }
    } else if x > hi {
        let dx = x - hi;
        let n = (dx / rng).floor();
        let r = dx - n * rng;
        if n as i64 % 2 == 0 { hi - r } else { lo + r }
    } else {
        x
    }
}

/// Pads a continuous coordinate of an axis of length `len`.
fn pad_coord(op: &GridSample, x: f64, len: usize) -> f64 {
    let (lo, hi) = if op.align_corners { (0.0, len as f64 - 1.0) } else { (-0.5, len as f64 - 0.5) };
    match op.padding_mode {
        GridSamplePadding::Zeros => x,
        GridSamplePadding::Border => x.clamp(0.0, len as f64 - 1.0),
        GridSamplePadding::Reflection => {
            if x < lo || x > hi {
                reflect(x, lo, hi).clamp(0.0, len as f64 - 1.0)
            } else {
                x
            }
        }
    }
}

/// Index of tap `i` under the padding rule; `None` means a zero.
fn pad_index(op: &GridSample, i: i64, len: usize) -> Option<usize> {
    let last = len as i64 - 1;
    match op.padding_mode {
        GridSamplePadding::Zeros => (0..=last).contains(&i).then_some(i as usize),
        GridSamplePadding::Border => Some(i.clamp(0, last) as usize),
        GridSamplePadding::Reflection => {
            let (lo, hi) = if op.align_corners { (0.0, last as f64) } else { (-0.5, len as f64 - 0.5) };
            Some((reflect(i as f64, lo, hi) as i64).clamp(0, last) as usize)
        }
    }
}

fn cubic(t: f64) -> [f64; 4] {
    let a = -0.75;
    let c1 = |x: f64| ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    let c2 = |x: f64| ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
    [c2(t + 1.0), c1(t), c1(1.0 - t), c2(2.0 - t)]
}

/// GridSample-9 on `[N, C, H, W]` data and an `[N, H_out, W_out, 2]` grid.
pub fn grid_sample(op: &GridSample, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [x, grid] = inputs else {
        return Err(invalid!("GridSample expects 2 inputs"));
    };
    let (xs, gs) = (x.shape(), grid.shape());
    if xs.len() != 4 || gs.len() != 4 || gs[3] != 2 || gs[0] != xs[0] {
        return Err(invalid!("GridSample: data {xs:?} and grid {gs:?} do not fit"));
    }
    let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let (ho, wo) = (gs[1], gs[2]);
    let xv = decode_float("GridSample", x)?;
    let gv = decode_float("GridSample", grid)?;
    let mut out = vec![0.0; n * c * ho * wo];
    for b in 0..n {
        for i in 0..ho {
            for j in 0..wo {
                let g = ((b * ho + i) * wo + j) * 2;
                let px = pad_coord(op, denormalize(gv[g], w, op.align_corners), w);
                let py = pad_coord(op, denormalize(gv[g + 1], h, op.align_corners), h);
                for ch in 0..c {
                    let plane = &xv[(b * c + ch) * h * w..(b * c + ch + 1) * h * w];
                    let at = |r: i64, q: i64| -> f64 {
                        match (pad_index(op, r, h), pad_index(op, q, w)) {
                            (Some(r), Some(q)) => plane[r * w + q],
                            _ => 0.0,
                        }
                    };
                    let v = match op.mode {
                        GridSampleMode::Nearest => at(py.round_ties_even() as i64, px.round_ties_even() as i64),
                        GridSampleMode::Bilinear => {
                            let (x0, y0) = (px.floor(), py.floor());
                            let (dx, dy) = (px - x0, py - y0);
                            let (x0, y0) = (x0 as i64, y0 as i64);
                            at(y0, x0) * (1.0 - dx) * (1.0 - dy)
                                + at(y0, x0 + 1) * dx * (1.0 - dy)
                                + at(y0 + 1, x0) * (1.0 - dx) * dy
                                + at(y0 + 1, x0 + 1) * dx * dy
                        }
                        GridSampleMode::Bicubic => {
                            let (x0, y0) = (px.floor(), py.floor());
                            let (cx, cy) = (cubic(px - x0), cubic(py - y0));
                            let (x0, y0) = (x0 as i64, y0 as i64);
                            let mut s = 0.0;
                            for (ri, wy) in cy.iter().enumerate() {
                                for (qi, wx) in cx.iter().enumerate() {
                                    s += wy * wx * at(y0 - 1 + ri as i64, x0 - 1 + qi as i64);
                                }
                            }
                            s
                        }
                    };
                    out[((b * c + ch) * ho + i) * wo + j] = v;
                }
            }
        }
    }
    Ok(vec![encode("GridSample", x.element_type(), vec![n, c, ho, wo], &Vals::F(out))?])
}

/// Corner box `(y1, x1, y2, x2)` with min/max ordered.
fn corners(b: &[f64], enc: crate::ops::BoxEncoding) -> [f64; 4] {
    match enc {
        crate::ops::BoxEncoding::Corner => [b[0].min(b[2]), b[1].min(b[3]), b[0].max(b[2]), b[1].max(b[3])],
        crate::ops::BoxEncoding::Center => {
            let (xc, yc, w, h) = (b[0], b[1], b[2], b[3]);
            [yc - h / 2.0, xc - w / 2.0, yc + h / 2.0, xc + w / 2.0]
        }
    }
}

fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let area = |r: &[f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    let (aa, ab) = (area(a), area(b));
    if aa <= 0.0 || ab <= 0.0 {
        return 0.0;
    }
    let ih = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iw = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ih * iw;
    inter / (aa + ab - inter)
}

/// NonMaxSuppression-9 (hard NMS; a non-zero soft_nms_sigma is not evaluated).
pub fn nms(op: &crate::ops::NonMaxSuppression, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let (boxes, scores) = match inputs {
        [b, s, ..] => (b, s),
        _ => return Err(invalid!("NonMaxSuppression expects at least 2 inputs")),
    };
    let scalar = |i: usize| -> Result<Option<f64>> {
        match inputs.get(i) {
            Some(t) => Ok(super::values::decode_as_f64("NonMaxSuppression", t)?.first().copied()),
            None => Ok(None),
        }
    };
    let max_out = scalar(2)?.unwrap_or(0.0).max(0.0) as usize;
    let iou_th = scalar(3)?.unwrap_or(0.0);
    let score_th = scalar(4)?;
    if scalar(5)?.unwrap_or(0.0) != 0.0 {
        return Err(super::values::not_evaluable("NonMaxSuppression (soft)", scores.element_type()));
    }
    let (bs, ss) = (boxes.shape(), scores.shape());
    if bs.len() != 3 || bs[2] != 4 || ss.len() != 3 || ss[0] != bs[0] || ss[2] != bs[1] {
        return Err(invalid!("NonMaxSuppression: boxes {bs:?} and scores {ss:?} do not fit"));
    }
    let (n, nb, nc) = (bs[0], bs[1], ss[1]);
    let bv = super::values::decode_as_f64("NonMaxSuppression", boxes)?;
    let sv = super::values::decode_as_f64("NonMaxSuppression", scores)?;
    // (batch, class, box, score)
    let mut sel: Vec<(usize, usize, usize, f64)> = Vec::new();
    for b in 0..n {
        let bx: Vec<[f64; 4]> =
            (0..nb).map(|i| corners(&bv[(b * nb + i) * 4..(b * nb + i + 1) * 4], op.box_encoding)).collect();
        for c in 0..nc {
            let sc = &sv[(b * nc + c) * nb..(b * nc + c + 1) * nb];
            let mut cand: Vec<usize> = (0..nb).filter(|&i| score_th.is_none_or(|t| sc[i] > t)).collect();
            cand.sort_by(|&i, &j| sc[j].total_cmp(&sc[i]).then(i.cmp(&j)));
            let mut kept: Vec<usize> = Vec::new();
            for i in cand {
                if kept.len() >= max_out {
                    break;
                }
                if kept.iter().all(|&k| iou(&bx[i], &bx[k]) <= iou_th) {
                    kept.push(i);
                }
            }
            sel.extend(kept.into_iter().map(|i| (b, c, i, sc[i])));
        }
    }
    if op.sort_result_descending {
        sel.sort_by(|a, b| b.3.total_cmp(&a.3));
    }
    let m = sel.len();
    let idx = Vals::I(sel.iter().flat_map(|&(b, c, i, _)| [b as i128, c as i128, i as i128]).collect());
    let scv = Vals::F(sel.iter().flat_map(|&(b, c, _, s)| [b as f64, c as f64, s]).collect());
    Ok(vec![
        encode("NonMaxSuppression", op.output_type, vec![m, 3], &idx)?,
        encode("NonMaxSuppression", scores.element_type(), vec![m, 3], &scv)?,
        encode("NonMaxSuppression", op.output_type, vec![1], &Vals::I(vec![m as i128]))?,
    ])
}

/// ROIAlign-9, following the ONNX Runtime kernel that both ONNX and OpenVINO match.
pub fn roi_align(op: &crate::ops::RoiAlign, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [data, rois, idx] = inputs else {
        return Err(invalid!("ROIAlign expects 3 inputs"));
    };
    let (ds, rs) = (data.shape(), rois.shape());
    if ds.len() != 4 || rs.len() != 2 || rs[1] != 4 || idx.numel() != rs[0] {
        return Err(invalid!("ROIAlign: data {ds:?}, rois {rs:?} and batch_indices {:?} do not fit", idx.shape()));
    }
    let (n, c, h, w) = (ds[0], ds[1], ds[2], ds[3]);
    let (ph, pw) = (op.pooled_h as usize, op.pooled_w as usize);
    let xv = decode_float("ROIAlign", data)?;
    let rv = super::values::decode_as_f64("ROIAlign", rois)?;
    let bi = super::values::ints(idx)?;
    // OpenVINO's mapping: asymmetric `x * s` (boxes at least 1 pixel), half_pixel_for_nn
    // `x * s - 0.5` (ONNX's half_pixel), half_pixel `(x + 0.5) * s - 0.5`.
    let (src_off, dst_off, half) = match op.aligned_mode {
        crate::ops::RoiAlignedMode::Asymmetric => (0.0, 0.0, false),
        crate::ops::RoiAlignedMode::HalfPixelForNn => (0.0, -0.5, true),
        crate::ops::RoiAlignedMode::HalfPixel => (0.5, -0.5, true),
    };
    let scale = op.spatial_scale;
    let map = |v: f64| (v + src_off) * scale + dst_off;
    let nr = rs[0];
    let mut out = vec![0.0; nr * c * ph * pw];
    for r in 0..nr {
        let b = usize::try_from(bi[r])
            .ok()
            .filter(|&b| b < n)
            .ok_or_else(|| invalid!("ROIAlign: batch index {} out of range", bi[r]))?;
        let q = &rv[r * 4..r * 4 + 4];
        let (sw, sh) = (map(q[0]), map(q[1]));
        let (mut rw, mut rh) = (map(q[2]) - sw, map(q[3]) - sh);
        if !half {
            rw = rw.max(1.0);
            rh = rh.max(1.0);
        }
        let (bh, bw) = (rh / ph as f64, rw / pw as f64);
        let gh =
            if op.sampling_ratio > 0 { op.sampling_ratio as usize } else { (rh / ph as f64).ceil().max(0.0) as usize };
        let gw =
            if op.sampling_ratio > 0 { op.sampling_ratio as usize } else { (rw / pw as f64).ceil().max(0.0) as usize };
        let count = (gh * gw).max(1) as f64;
        // (positions, weights) of every sample of every bin.
        let mut taps: Vec<([usize; 4], [f64; 4])> = Vec::with_capacity(ph * pw * gh * gw);
        for py in 0..ph {
            for px in 0..pw {
                for iy in 0..gh {
                    let y = sh + py as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                    for ix in 0..gw {
                        let mut x = sw + px as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                        if y < -1.0 || y > h as f64 || x < -1.0 || x > w as f64 {
                            taps.push(([0; 4], [0.0; 4]));
                            continue;
                        }
                        let yy = y.max(0.0);
                        x = x.max(0.0);
                        let (mut yl, mut xl) = (yy as usize, x as usize);
                        let (yh, xh);
                        let mut yv = yy;
                        if yl >= h - 1 {
                            yl = h - 1;
                            yh = h - 1;
                            yv = yl as f64;
                        } else {
                            yh = yl + 1;
                        }
                        if xl >= w - 1 {
                            xl = w - 1;
                            xh = w - 1;
                            x = xl as f64;
                        } else {
                            xh = xl + 1;
                        }
                        let (ly, lx) = (yv - yl as f64, x - xl as f64);
                        let (hy, hx) = (1.0 - ly, 1.0 - lx);
                        taps.push((
                            [yl * w + xl, yl * w + xh, yh * w + xl, yh * w + xh],
                            [hy * hx, hy * lx, ly * hx, ly * lx],
                        ));
                    }
                }
            }
        }
        let per_bin = gh * gw;
        for ch in 0..c {
            let plane = &xv[(b * c + ch) * h * w..(b * c + ch + 1) * h * w];
            for bin in 0..ph * pw {
                let samples = &taps[bin * per_bin..(bin + 1) * per_bin];
                let v = match op.mode {
                    crate::ops::RoiAlignMode::Avg => {
                        samples.iter().map(|(p, wt)| (0..4).map(|k| wt[k] * plane[p[k]]).sum::<f64>()).sum::<f64>()
                            / count
                    }
                    crate::ops::RoiAlignMode::Max => samples
                        .iter()
                        .map(|(p, wt)| (0..4).map(|k| wt[k] * plane[p[k]]).fold(f64::NEG_INFINITY, f64::max))
                        .reduce(f64::max)
                        .unwrap_or(0.0),
                };
                out[(r * c + ch) * ph * pw + bin] = v;
            }
        }
    }
    Ok(vec![encode("ROIAlign", data.element_type(), vec![nr, c, ph, pw], &Vals::F(out))?])
}

/// DeformableConvolution-8 (2-D).
pub fn deformable_conv(op: &crate::ops::DeformableConvolution, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let (data, offsets, filters, mask) = match inputs {
        [d, o, f] => (d, o, f, None),
        [d, o, f, m] => (d, o, f, Some(m)),
        _ => return Err(invalid!("DeformableConvolution expects 3 or 4 inputs")),
    };
    let out_shape = super::static_output_shape(op, inputs)?;
    let (ds, os, fs) = (data.shape(), offsets.shape(), filters.shape());
    let (n, cin, h, w) = (ds[0], ds[1], ds[2], ds[3]);
    let (cout, cin_g, kh, kw) = (fs[0], fs[1], fs[2], fs[3]);
    let (ho, wo) = (out_shape[2], out_shape[3]);
    let (g, dg) = (op.group as usize, op.deformable_group as usize);
    if cin_g * g != cin || cout % g != 0 || cin % dg != 0 || os != [n, dg * kh * kw * 2, ho, wo] {
        return Err(invalid!("DeformableConvolution: data {ds:?}, offsets {os:?} and filters {fs:?} do not fit"));
    }
    if let Some(m) = mask
        && m.shape() != [n, dg * kh * kw, ho, wo]
    {
        return Err(invalid!("DeformableConvolution: mask {:?} does not fit", m.shape()));
    }
    let xv = decode_float("DeformableConvolution", data)?;
    let ov = decode_float("DeformableConvolution", offsets)?;
    let wv = decode_float("DeformableConvolution", filters)?;
    let mv = mask.map(|m| decode_float("DeformableConvolution", m)).transpose()?;
    let at = |i: usize| op.strides.get(i).copied().unwrap_or(1);
    let dil = |i: usize| op.dilations.get(i).copied().unwrap_or(1);
    let pb = |i: usize| op.pads_begin.get(i).copied().unwrap_or(0);
    let (cout_g, cin_dg) = (cout / g, cin / dg);
    let sample = |plane: &[f64], y: f64, x: f64| -> f64 {
        if !op.bilinear_interpolation_pad && (y < 0.0 || x < 0.0 || y > (h - 1) as f64 || x > (w - 1) as f64) {
            return 0.0;
        }
        let (y0, x0) = (y.floor(), x.floor());
        let (dy, dx) = (y - y0, x - x0);
        let (y0, x0) = (y0 as i64, x0 as i64);
        let get = |r: i64, q: i64| -> f64 {
            if (0..h as i64).contains(&r) && (0..w as i64).contains(&q) {
                plane[r as usize * w + q as usize]
            } else {
                0.0
            }
        };
        get(y0, x0) * (1.0 - dy) * (1.0 - dx)
            + get(y0, x0 + 1) * (1.0 - dy) * dx
            + get(y0 + 1, x0) * dy * (1.0 - dx)
            + get(y0 + 1, x0 + 1) * dy * dx
    };
    let mut out = vec![0.0; n * cout * ho * wo];
    for b in 0..n {
        for oc in 0..cout {
            let grp = oc / cout_g;
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = 0.0;
                    for icg in 0..cin_g {
                        let ic = grp * cin_g + icg;
                        let d = ic / cin_dg;
                        let plane = &xv[(b * cin + ic) * h * w..(b * cin + ic + 1) * h * w];
                        for i in 0..kh {
                            for j in 0..kw {
                                let tap = (d * kh + i) * kw + j;
                                let oidx = |ch: usize| ((b * dg * kh * kw * 2 + ch) * ho + oy) * wo + ox;
                                let y = (oy as i64 * at(0) - pb(0) + i as i64 * dil(0)) as f64 + ov[oidx(tap * 2)];
                                let x = (ox as i64 * at(1) - pb(1) + j as i64 * dil(1)) as f64 + ov[oidx(tap * 2 + 1)];
                                let mut v = sample(plane, y, x);
                                if let Some(m) = &mv {
                                    v *= m[((b * dg * kh * kw + tap) * ho + oy) * wo + ox];
                                }
                                acc += v * wv[((oc * cin_g + icg) * kh + i) * kw + j];
                            }
                        }
                    }
                    out[((b * cout + oc) * ho + oy) * wo + ox] = acc;
                }
            }
        }
    }
    Ok(vec![encode("DeformableConvolution", data.element_type(), vec![n, cout, ho, wo], &Vals::F(out))?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_and_nearest_corners() {
        let x = Tensor::from_vec(vec![1, 1, 2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).expect("x");
        let g = Tensor::from_vec(vec![1, 1, 2, 2], vec![-1.0f32, -1.0, 0.0, 0.0]).expect("g");
        let op = GridSample { align_corners: true, ..Default::default() };
        let r = grid_sample(&op, &[x.clone(), g.clone()]).expect("gs");
        assert_eq!(&*r[0].values::<f32>().expect("f"), &[1.0, 2.5]);
        // Without align_corners, -1 is the outer edge: half the corner pixel, half zero padding.
        let op = GridSample::default();
        let r = grid_sample(&op, &[x.clone(), g.clone()]).expect("gs");
        assert_eq!(&*r[0].values::<f32>().expect("f"), &[0.25, 2.5]);
        let op = GridSample { padding_mode: GridSamplePadding::Border, ..Default::default() };
        let r = grid_sample(&op, &[x, g]).expect("gs");
        assert_eq!(&*r[0].values::<f32>().expect("f"), &[1.0, 2.5]);
    }

    #[test]
    fn nms_suppresses_overlaps_and_keeps_boundary_iou() {
        // Box 1 overlaps box 0 with IoU 0.5 exactly (kept at threshold 0.5); box 2 is box 0.
        let boxes =
            Tensor::from_vec(vec![1, 3, 4], vec![0.0f32, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.5, 1.0, 1.0, 0.0, 0.0])
                .expect("b");
        let scores = Tensor::from_vec(vec![1, 1, 3], vec![0.9f32, 0.8, 0.7]).expect("s");
        let op = crate::ops::NonMaxSuppression {
            box_encoding: crate::ops::BoxEncoding::Corner,
            sort_result_descending: false,
            output_type: crate::ElementType::I64,
        };
        let k = |v: f32| Tensor::from_vec(vec![], vec![v]).expect("k");
        let max = Tensor::from_vec(vec![], vec![10i64]).expect("m");
        let r = nms(&op, &[boxes, scores, max, k(0.5), k(0.0)]).expect("nms");
        assert_eq!(r[0].shape(), &[2, 3]);
        assert_eq!(&*r[0].values::<i64>().expect("i"), &[0, 0, 0, 0, 0, 1]);
        assert_eq!(&*r[2].values::<i64>().expect("v"), &[2]);
    }

    #[test]
    fn roi_align_constant_plane_and_deformable_zero_offsets() {
        let x = Tensor::from_vec(vec![1, 1, 4, 4], vec![2.0f32; 16]).expect("x");
        let rois = Tensor::from_vec(vec![1, 4], vec![0.0f32, 0.0, 3.0, 3.0]).expect("r");
        let bi = Tensor::from_vec(vec![1], vec![0i64]).expect("b");
        let op = crate::ops::RoiAlign {
            pooled_h: 2,
            pooled_w: 2,
            sampling_ratio: 2,
            spatial_scale: 1.0,
            mode: crate::ops::RoiAlignMode::Avg,
            aligned_mode: crate::ops::RoiAlignedMode::HalfPixel,
        };
        let r = roi_align(&op, &[x.clone(), rois, bi]).expect("ra");
        assert_eq!(r[0].shape(), &[1, 1, 2, 2]);
        assert!(r[0].values::<f32>().expect("v").iter().all(|&v| (v - 2.0).abs() < 1e-6));
        // Zero offsets and no mask: a plain 2x2 convolution of ones over a constant plane.
        let op = crate::ops::DeformableConvolution {
            strides: vec![1, 1],
            dilations: vec![1, 1],
            pads_begin: vec![0, 0],
            pads_end: vec![0, 0],
            auto_pad: crate::ops::PadType::Explicit,
            group: 1,
            deformable_group: 1,
            bilinear_interpolation_pad: true,
        };
        let off = Tensor::from_vec(vec![1, 8, 3, 3], vec![0.0f32; 72]).expect("o");
        let wt = Tensor::from_vec(vec![1, 1, 2, 2], vec![1.0f32; 4]).expect("w");
        let r = deformable_conv(&op, &[x, off, wt]).expect("dc");
        assert_eq!(r[0].shape(), &[1, 1, 3, 3]);
        assert!(r[0].values::<f32>().expect("v").iter().all(|&v| (v - 8.0).abs() < 1e-6));
    }
}
