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
}
