//! Fourier transforms (naive O(N^2) DFTs along one axis at a time), STFT and Col2Im.

use super::values::{decode_as_f64, decode_float, encode_f, ints, numel};
use crate::error::Result;
use crate::invalid;
use crate::ops::{Col2Im, FftKind, Stft, normalize_fft_axes};
use crate::tensor::Tensor;

type C = (f64, f64);

/// Strides-free view of a line along `axis`: (outer count, axis length, inner count).
fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (numel(&shape[..axis]), shape[axis], numel(&shape[axis + 1..]))
}

/// Trims or zero-pads `axis` to `m` elements.
fn resize_axis(buf: &[C], shape: &mut [usize], axis: usize, m: usize) -> Vec<C> {
    let (outer, n, inner) = split(shape, axis);
    let mut out = vec![(0.0, 0.0); outer * m * inner];
    for o in 0..outer {
        for k in 0..n.min(m) {
            let src = (o * n + k) * inner;
            let dst = (o * m + k) * inner;
            out[dst..dst + inner].copy_from_slice(&buf[src..src + inner]);
        }
    }
    shape[axis] = m;
    out
}

/// The DFT of every line along `axis`; `inverse` uses e^{+i...} and scales by 1/N.
fn dft_axis(buf: &mut [C], shape: &[usize], axis: usize, inverse: bool) {
    let (outer, n, inner) = split(shape, axis);
    if n == 0 {
        return;
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let scale = if inverse { 1.0 / n as f64 } else { 1.0 };
    let mut line = vec![(0.0, 0.0); n];
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * n + k) * inner + i;
            for (k, l) in line.iter_mut().enumerate() {
                *l = buf[at(k)];
            }
            for k in 0..n {
                let (mut re, mut im) = (0.0, 0.0);
                for (t, &(xr, xi)) in line.iter().enumerate() {
                    // Reduce k*t mod n first so the angle stays small and exact.
                    let ang = sign * 2.0 * std::f64::consts::PI * ((k * t) % n) as f64 / n as f64;
                    let (s, c) = ang.sin_cos();
                    re += xr * c - xi * s;
                    im += xr * s + xi * c;
                }
                buf[at(k)] = (re * scale, im * scale);
            }
        }
    }
}

/// DFT-7, IDFT-7, RDFT-9 and IRDFT-9.
pub fn fft(kind: FftKind, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let op = match kind {
        FftKind::Dft => "DFT",
        FftKind::Idft => "IDFT",
        FftKind::Rdft => "RDFT",
        FftKind::Irdft => "IRDFT",
    };
    let (data, axes) = match inputs {
        [d, a] | [d, a, _] => (d, a),
        _ => return Err(invalid!("{op} expects 2 or 3 inputs")),
    };
    let vals = decode_float(op, data)?;
    let dshape = data.shape();
    let (mut shape, mut buf): (Vec<usize>, Vec<C>) = if kind.complex_input() {
        if dshape.last() != Some(&2) {
            return Err(invalid!("{op}: complex data needs a last dimension of 2, got {dshape:?}"));
        }
        (dshape[..dshape.len() - 1].to_vec(), vals.chunks_exact(2).map(|p| (p[0], p[1])).collect())
    } else {
        (dshape.to_vec(), vals.iter().map(|&v| (v, 0.0)).collect())
    };
    let axes = normalize_fft_axes(&ints(axes)?, shape.len())?;
    if axes.is_empty() {
        return Err(invalid!("{op}: axes must not be empty"));
    }
    let sizes: Vec<Option<usize>> = match inputs.get(2) {
        Some(s) => {
            let s = ints(s)?;
            if s.len() != axes.len() {
                return Err(invalid!("{op}: signal_size has {} values for {} axes", s.len(), axes.len()));
            }
            s.into_iter()
                .map(|v| match v {
                    -1 => Ok(None),
                    v if v >= 1 => Ok(Some(v as usize)),
                    v => Err(invalid!("{op}: signal_size {v} must be positive or -1")),
                })
                .collect::<Result<_>>()?
        }
        None => vec![None; axes.len()],
    };
    let last = axes.len() - 1;
    for (i, &a) in axes.iter().enumerate() {
        if kind == FftKind::Irdft && i == last {
            continue;
        }
        let m = sizes[i].unwrap_or(shape[a]);
        buf = resize_axis(&buf, &mut shape, a, m);
        dft_axis(&mut buf, &shape, a, matches!(kind, FftKind::Idft | FftKind::Irdft));
    }
    let a = axes[last];
    match kind {
        FftKind::Rdft => {
            let half = shape[a] / 2 + 1;
            buf = resize_axis(&buf, &mut shape, a, half);
        }
        FftKind::Irdft => {
            let n_in = shape[a];
            let m = match sizes[last] {
                Some(m) => m,
                None if n_in >= 1 => 2 * (n_in - 1),
                None => return Err(invalid!("IRDFT needs at least one input bin")),
            };
            if m == 0 {
                return Err(invalid!("IRDFT: output length is 0"));
            }
            let half = m / 2 + 1;
            let one_sided = resize_axis(&buf, &mut shape, a, half);
            // Hermitian extension to the full spectrum, then an inverse DFT.
            let (outer, _, inner) = split(&shape, a);
            let mut full = vec![(0.0, 0.0); outer * m * inner];
            for o in 0..outer {
                for k in 0..m {
                    for i in 0..inner {
                        let v = if k < half {
                            one_sided[(o * half + k) * inner + i]
                        } else {
                            let (re, im) = one_sided[(o * half + (m - k)) * inner + i];
                            (re, -im)
                        };
                        full[(o * m + k) * inner + i] = v;
                    }
                }
            }
            shape[a] = m;
            dft_axis(&mut full, &shape, a, true);
            return Ok(vec![encode_f(op, data.element_type(), shape, full.into_iter().map(|c| c.0).collect())?]);
        }
        _ => {}
    }
    shape.push(2);
    let flat: Vec<f64> = buf.into_iter().flat_map(|(r, i)| [r, i]).collect();
    Ok(vec![encode_f(op, data.element_type(), shape, flat)?])
}

/// STFT-15 on `[L]` or `[B, L]` real signals.
pub fn stft(op: &Stft, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [signal, window, frame, step] = inputs else {
        return Err(invalid!("STFT expects 4 inputs"));
    };
    let scalar = |t: &Tensor, what: &str| -> Result<usize> {
        match ints(t)?.as_slice() {
            [v] if *v >= 1 => Ok(*v as usize),
            other => Err(invalid!("STFT: {what} must be one positive value, got {other:?}")),
        }
    };
    let (f, s) = (scalar(frame, "frame_size")?, scalar(step, "frame_step")?);
    let ss = signal.shape();
    let (batch, len) = match ss {
        [l] => (1, *l),
        [b, l] => (*b, *l),
        _ => return Err(invalid!("STFT: signal must be 1-D or 2-D, got {ss:?}")),
    };
    if window.shape().len() != 1 || window.shape()[0] > f {
        return Err(invalid!("STFT: window {:?} must be 1-D and not longer than frame_size {f}", window.shape()));
    }
    if len < f {
        return Err(invalid!("STFT: frame_size {f} is longer than the signal ({len})"));
    }
    let x = decode_float("STFT", signal)?;
    let w = decode_as_f64("STFT", window)?;
    let mut wfull = vec![0.0; f];
    let off = (f - w.len()) / 2;
    wfull[off..off + w.len()].copy_from_slice(&w);
    let frames = (len - f) / s + 1;
    let bins = f / 2 + 1;
    let mut out = vec![0.0; batch * frames * bins * 2];
    for b in 0..batch {
        for t in 0..frames {
            let seg = &x[b * len + t * s..b * len + t * s + f];
            for k in 0..bins {
                let (mut re, mut im) = (0.0, 0.0);
                for (j, (&v, &wv)) in seg.iter().zip(&wfull).enumerate() {
                    let ang = -2.0 * std::f64::consts::PI * ((k * j) % f) as f64 / f as f64;
                    re += v * wv * ang.cos();
                    im += v * wv * ang.sin();
                }
                let idx = if op.transpose_frames { (b * bins + k) * frames + t } else { (b * frames + t) * bins + k };
                out[idx * 2] = re;
                out[idx * 2 + 1] = im;
            }
        }
    }
    let mut shape = if ss.len() == 2 { vec![batch] } else { vec![] };
    if op.transpose_frames {
        shape.extend([bins, frames, 2]);
    } else {
        shape.extend([frames, bins, 2]);
    }
    Ok(vec![encode_f("STFT", signal.element_type(), shape, out)?])
}

/// Col2Im-15.
pub fn col2im(op: &Col2Im, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [data, size, kernel] = inputs else {
        return Err(invalid!("Col2Im expects 3 inputs"));
    };
    let (size, kernel) = (ints(size)?, ints(kernel)?);
    if size.len() != 2 || kernel.len() != 2 || kernel.iter().any(|&k| k < 1) || size.iter().any(|&s| s < 0) {
        return Err(invalid!("Col2Im: bad output_size {size:?} or kernel_size {kernel:?}"));
    }
    let blocks = op.blocks(&size, &kernel)?;
    let ds = data.shape();
    let (n, ck, l) = match ds {
        [ck, l] => (1, *ck, *l),
        [n, ck, l] => (*n, *ck, *l),
        _ => return Err(invalid!("Col2Im: data must be 2-D or 3-D, got {ds:?}")),
    };
    let (kh, kw) = (kernel[0] as usize, kernel[1] as usize);
    let (h, w) = (size[0] as usize, size[1] as usize);
    if ck % (kh * kw) != 0 || l as i64 != blocks[0] * blocks[1] {
        return Err(invalid!("Col2Im: data {ds:?} does not fit kernel {kernel:?} and {blocks:?} blocks"));
    }
    let c = ck / (kh * kw);
    let v = decode_float("Col2Im", data)?;
    let mut out = vec![0.0; n * c * h * w];
    let nbw = blocks[1] as usize;
    for b in 0..n {
        for row in 0..ck {
            let (ch, i, j) = (row / (kh * kw), (row / kw) % kh, row % kw);
            for col in 0..l {
                let (bh, bw) = ((col / nbw) as i64, (col % nbw) as i64);
                let y = bh * op.strides[0] - op.pads_begin.first().copied().unwrap_or(0) + i as i64 * op.dilations[0];
                let x = bw * op.strides[1] - op.pads_begin.get(1).copied().unwrap_or(0) + j as i64 * op.dilations[1];
                if (0..h as i64).contains(&y) && (0..w as i64).contains(&x) {
                    out[((b * c + ch) * h + y as usize) * w + x as usize] += v[(b * ck + row) * l + col];
                }
            }
        }
    }
    let shape = if ds.len() == 3 { vec![n, c, h, w] } else { vec![c, h, w] };
    Ok(vec![encode_f("Col2Im", data.element_type(), shape, out)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v.to_vec()).expect("t")
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-4, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn rdft_irdft_round_trip_and_dft_matches() {
        let x = t(&[4], &[1.0, 2.0, 3.0, 4.0]);
        let ax = Tensor::from_vec(vec![1], vec![0i64]).expect("a");
        let r = fft(FftKind::Rdft, &[x.clone(), ax.clone()]).expect("r");
        assert_eq!(r[0].shape(), &[3, 2]);
        close(&r[0].values::<f32>().expect("v"), &[10.0, 0.0, -2.0, 2.0, -2.0, 0.0]);
        let back = fft(FftKind::Irdft, &[r[0].clone(), ax.clone()]).expect("ir");
        close(&back[0].values::<f32>().expect("v"), &[1.0, 2.0, 3.0, 4.0]);
        let xc = t(&[4, 2], &[1.0, 0.0, 2.0, 0.0, 3.0, 0.0, 4.0, 0.0]);
        let d = fft(FftKind::Dft, &[xc.clone(), ax.clone()]).expect("d");
        close(&d[0].values::<f32>().expect("v"), &[10.0, 0.0, -2.0, 2.0, -2.0, 0.0, -2.0, -2.0]);
        let i = fft(FftKind::Idft, &[d[0].clone(), ax]).expect("i");
        close(&i[0].values::<f32>().expect("v"), &xc.values::<f32>().expect("v"));
    }

    #[test]
    fn col2im_sums_overlaps() {
        // One channel, 2x2 kernel over a 3x3 image, stride 1: 4 blocks.
        let data = t(&[1, 4, 4], &[1.0; 16]);
        let op = Col2Im::default();
        let size = Tensor::from_vec(vec![2], vec![3i64, 3]).expect("s");
        let k = Tensor::from_vec(vec![2], vec![2i64, 2]).expect("k");
        let r = col2im(&op, &[data, size, k]).expect("c");
        assert_eq!(r[0].shape(), &[1, 1, 3, 3]);
        close(&r[0].values::<f32>().expect("v"), &[1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
    }

    #[test]
    fn stft_of_constant_signal() {
        let sig = t(&[1, 8], &[1.0; 8]);
        let win = t(&[4], &[1.0; 4]);
        let i = |v: i64| Tensor::scalar(v);
        let r = stft(&Stft { transpose_frames: false }, &[sig, win, i(4), i(2)]).expect("s");
        assert_eq!(r[0].shape(), &[1, 3, 3, 2]);
        let v = r[0].values::<f32>().expect("v");
        close(&v[..6], &[4.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
