//! Transposed convolution kernel: every input element scatters `x * w` into the output.

use super::values::{Vals, decode_float, encode, numel};
use crate::error::Result;
use crate::invalid;
use crate::ops::DeconvAttrs;
use crate::tensor::Tensor;

fn unravel(mut flat: usize, shape: &[usize], out: &mut [usize]) {
    for k in (0..shape.len()).rev() {
        out[k] = flat % shape[k];
        flat /= shape[k];
    }
}

/// ConvolutionBackpropData (`grouped`: GroupConvolutionBackpropData); input 2, when given, is
/// the output spatial shape.
pub fn deconvolution(op: &str, inputs: &[Tensor], grouped: bool, a: &DeconvAttrs<'_>) -> Result<Vec<Tensor>> {
    let (x, f) = match inputs {
        [x, f] | [x, f, _] => (x, f),
        _ => return Err(invalid!("{op} expects 2 or 3 inputs")),
    };
    let (xs, fs) = (x.shape(), f.shape());
    let off = usize::from(grouped);
    if xs.len() < 3 || fs.len() != xs.len() + off {
        return Err(invalid!("{op}: data {xs:?} and filter {fs:?} ranks do not match"));
    }
    let (g, cig, cog) = if grouped { (fs[0], fs[1], fs[2]) } else { (1, fs[0], fs[1]) };
    if xs[1] != g * cig {
        return Err(invalid!("{op}: data has {} channels, filter expects {}", xs[1], g * cig));
    }
    let n = xs.len() - 2;
    let spatial = &xs[2..];
    let kernel = &fs[2 + off..];
    let requested = match inputs.get(2) {
        Some(t) => Some(t.to_i64_vec()?),
        None => None,
    };
    let mut out_sp = Vec::with_capacity(n);
    let mut pb = Vec::with_capacity(n);
    for i in 0..n {
        let r =
            requested.as_ref().map(|r| r.get(i).copied().ok_or_else(|| invalid!("short output_shape"))).transpose()?;
        let (o, p) = a.axis(i, spatial[i] as i64, kernel[i] as i64, r)?;
        out_sp.push(usize::try_from(o).map_err(|_| invalid!("{op}: negative output size {o}"))?);
        pb.push(p);
    }
    let s: Vec<i64> = (0..n).map(|i| a.strides.get(i).copied().unwrap_or(1)).collect();
    let d: Vec<i64> = (0..n).map(|i| a.dilations.get(i).copied().unwrap_or(1)).collect();
    let (xv, fv) = (decode_float(op, x)?, decode_float(op, f)?);
    let (sp_in, sp_out, kn) = (numel(spatial), numel(&out_sp), numel(kernel));
    let ost = crate::shape::strides_of(&out_sp);
    let c_out = g * cog;
    let mut out = vec![0.0; xs[0] * c_out * sp_out];
    let (mut ip, mut kp) = (vec![0; n], vec![0; n]);
    for b in 0..xs[0] {
        for gi in 0..g {
            for ci in 0..cig {
                let xbase = (b * xs[1] + gi * cig + ci) * sp_in;
                for xi in 0..sp_in {
                    let v = xv[xbase + xi];
                    if v == 0.0 {
                        continue;
                    }
                    unravel(xi, spatial, &mut ip);
                    for kf in 0..kn {
                        unravel(kf, kernel, &mut kp);
                        let mut flat = 0usize;
                        let mut inside = true;
                        for k in 0..n {
                            let o = ip[k] as i64 * s[k] + kp[k] as i64 * d[k] - pb[k];
                            if o < 0 || o >= out_sp[k] as i64 {
                                inside = false;
                                break;
                            }
                            flat += o as usize * ost[k];
                        }
                        if !inside {
                            continue;
                        }
                        for co in 0..cog {
                            let fidx = ((gi * cig + ci) * cog + co) * kn + kf;
                            out[(b * c_out + gi * cog + co) * sp_out + flat] += v * fv[fidx];
                        }
                    }
                }
            }
        }
    }
    let mut shape = vec![xs[0], c_out];
    shape.extend_from_slice(&out_sp);
    Ok(vec![encode(op, x.element_type(), shape, &Vals::F(out))?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::PadType;

    fn attrs<'a>(s: &'a [i64], pb: &'a [i64], pe: &'a [i64], op: &'a [i64]) -> DeconvAttrs<'a> {
        DeconvAttrs {
            strides: s,
            dilations: &[],
            pads_begin: pb,
            pads_end: pe,
            auto_pad: PadType::Explicit,
            output_padding: op,
        }
    }

    #[test]
    fn matches_onnx_convtranspose_example() {
        // ONNX test_convtranspose: x = 0..9 (3x3), W = ones [1, 2, 3, 3] -> 5x5 sums.
        let x = Tensor::from_vec(vec![1, 1, 3, 3], (0..9).map(|v| v as f32).collect()).expect("x");
        let w = Tensor::from_vec(vec![1, 2, 3, 3], vec![1.0f32; 18]).expect("w");
        let r = deconvolution("ConvolutionBackpropData", &[x, w], false, &attrs(&[1, 1], &[0, 0], &[0, 0], &[]))
            .expect("deconv");
        assert_eq!(r[0].shape(), &[1, 2, 5, 5]);
        let v = r[0].values::<f32>().expect("f32");
        let row0 = [0.0, 1.0, 3.0, 3.0, 2.0];
        let row2 = [9.0, 21.0, 36.0, 27.0, 15.0];
        assert_eq!(&v[..5], &row0);
        assert_eq!(&v[10..15], &row2);
        assert_eq!(&v[25..30], &row0);
    }

    #[test]
    fn output_shape_pads_zeros_at_the_end_and_groups() {
        let x = Tensor::from_vec(vec![1, 2, 2], vec![1.0f32, 2.0, 10.0, 20.0]).expect("x");
        let w = Tensor::from_vec(vec![2, 1, 1, 1], vec![1.0f32, -1.0]).expect("w");
        let shape = Tensor::from_vec(vec![1], vec![5i64]).expect("s");
        let r = deconvolution("GroupConvolutionBackpropData", &[x, w, shape], true, &attrs(&[2], &[0], &[0], &[]))
            .expect("deconv");
        assert_eq!(r[0].shape(), &[1, 2, 5]);
        assert_eq!(&*r[0].values::<f32>().expect("f32"), &[1.0, 0.0, 2.0, 0.0, 0.0, -10.0, 0.0, -20.0, 0.0, 0.0]);
    }
}
