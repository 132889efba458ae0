//! Naive, obviously-correct versions of every fast kernel, used as test oracles.
//!
//! These favour readability over speed and index slices directly, so they panic on
//! inconsistent arguments; callers (tests) are expected to pass valid shapes.

use super::Activation;
use super::conv::ConvParams;
use super::elementwise::{BinaryOp, UnaryOp};
use super::gemm::{Bias, Epilogue};
use super::pool::PoolParams;

/// Triple-loop `C = act((accumulate ? C : 0) + A*op(B) + bias)`.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    trans_b: bool,
    c: &mut [f32],
    ldc: usize,
    epi: &Epilogue<'_>,
) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for p in 0..k {
                let bv = if trans_b { b[j * ldb + p] } else { b[p * ldb + j] };
                s += a[i * lda + p] as f64 * bv as f64;
            }
            let mut v = s as f32;
            if epi.accumulate {
                v += c[i * ldc + j];
            }
            match epi.bias {
                Bias::None => {}
                Bias::PerRow(bias) => v += bias[i],
                Bias::PerCol(bias) => v += bias[j],
            }
            c[i * ldc + j] = epi.act.apply(v);
        }
    }
}

/// Direct 7-loop NCHW convolution with OIHW weights (`[c_out, c_in/groups, kh, kw]`).
pub fn conv2d(
    p: &ConvParams,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    output: &mut [f32],
) {
    let (oh, ow) = (p.out_h(), p.out_w());
    let cin_g = p.c_in / p.groups;
    let cout_g = p.c_out / p.groups;
    for b in 0..p.n {
        for co in 0..p.c_out {
            let g = co / cout_g;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = 0.0f64;
                    for ci in 0..cin_g {
                        for ky in 0..p.kh {
                            for kx in 0..p.kw {
                                let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pads_begin[0] as isize;
                                let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.pads_begin[1] as isize;
                                if iy < 0 || ix < 0 || iy >= p.h as isize || ix >= p.w as isize {
                                    continue;
                                }
                                let cin = g * cin_g + ci;
                                let x = input[((b * p.c_in + cin) * p.h + iy as usize) * p.w + ix as usize];
                                let w = weights[((co * cin_g + ci) * p.kh + ky) * p.kw + kx];
                                s += x as f64 * w as f64;
                            }
                        }
                    }
                    let v = s as f32 + bias.map_or(0.0, |bb| bb[co]);
                    output[((b * p.c_out + co) * oh + oy) * ow + ox] = act.apply(v);
                }
            }
        }
    }
}

/// Calls `f(value_or_none_if_padding, inside_padded_area)` for each tap of one pooling window.
fn for_window(p: &PoolParams, plane: &[f32], oy: usize, ox: usize, mut f: impl FnMut(Option<f32>, bool)) {
    for ky in 0..p.kh {
        for kx in 0..p.kw {
            let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pads_begin[0] as isize;
            let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.pads_begin[1] as isize;
            let in_padded = iy < (p.h + p.pads_end[0]) as isize && ix < (p.w + p.pads_end[1]) as isize;
            if iy < 0 || ix < 0 || iy >= p.h as isize || ix >= p.w as isize {
                f(None, in_padded);
            } else {
                f(Some(plane[iy as usize * p.w + ix as usize]), true);
            }
        }
    }
}

/// Naive max pooling; a window with no valid input yields `-inf`.
pub fn max_pool2d(p: &PoolParams, input: &[f32], output: &mut [f32]) {
    for nc in 0..p.n * p.c {
        let plane = &input[nc * p.h * p.w..][..p.h * p.w];
        for oy in 0..p.out_h {
            for ox in 0..p.out_w {
                let mut m = f32::NEG_INFINITY;
                for_window(p, plane, oy, ox, |v, _| {
                    if let Some(v) = v {
                        m = m.max(v);
                    }
                });
                output[(nc * p.out_h + oy) * p.out_w + ox] = m;
            }
        }
    }
}

/// Naive average pooling; padding taps count only with `count_include_pad` (and only inside
/// the padded extent), an empty window yields 0.
pub fn avg_pool2d(p: &PoolParams, count_include_pad: bool, input: &[f32], output: &mut [f32]) {
    for nc in 0..p.n * p.c {
        let plane = &input[nc * p.h * p.w..][..p.h * p.w];
        for oy in 0..p.out_h {
            for ox in 0..p.out_w {
                let mut s = 0.0f64;
                let mut cnt = 0usize;
                for_window(p, plane, oy, ox, |v, in_padded| match v {
                    Some(v) => {
                        s += v as f64;
                        cnt += 1;
                    }
                    None => {
                        if count_include_pad && in_padded {
                            cnt += 1;
                        }
                    }
                });
                output[(nc * p.out_h + oy) * p.out_w + ox] = if cnt == 0 { 0.0 } else { (s / cnt as f64) as f32 };
            }
        }
    }
}

/// Mean over each of `nc` contiguous planes of `hw` values.
pub fn global_avg_pool(nc: usize, hw: usize, input: &[f32], output: &mut [f32]) {
    for i in 0..nc {
        let s: f64 = input[i * hw..(i + 1) * hw].iter().map(|&v| v as f64).sum();
        output[i] = (s / hw as f64) as f32;
    }
}

/// Scalar unary op using `std` math.
pub fn unary(op: UnaryOp, x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = match op {
            UnaryOp::Relu => v.max(0.0),
            UnaryOp::Exp => v.exp(),
            UnaryOp::Sigmoid => (1.0 / (1.0 + (-(v as f64)).exp())) as f32,
            UnaryOp::Tanh => v.tanh(),
            other => super::elementwise::unary_scalar(other, v),
        };
    }
}

/// Numpy-broadcast binary op computed by unravelling every output index.
pub fn binary(op: BinaryOp, a: &[f32], a_shape: &[usize], b: &[f32], b_shape: &[usize], out: &mut [f32]) {
    let r = a_shape.len().max(b_shape.len());
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut v = vec![1; r - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (ash, bsh) = (pad(a_shape), pad(b_shape));
    let osh: Vec<usize> = ash.iter().zip(&bsh).map(|(&x, &y)| if x == 1 { y } else { x }).collect();
    let total: usize = osh.iter().product();
    for (flat, o) in out.iter_mut().enumerate().take(total) {
        let mut rem = flat;
        let (mut ia, mut ib) = (0, 0);
        let (mut sa, mut sb) = (1, 1);
        for d in (0..r).rev() {
            let idx = rem % osh[d];
            rem /= osh[d];
            if ash[d] != 1 {
                ia += idx * sa;
            }
            if bsh[d] != 1 {
                ib += idx * sb;
            }
            sa *= ash[d];
            sb *= bsh[d];
        }
        let (x, y) = (a[ia], b[ib]);
        *o = match op {
            BinaryOp::Add => x + y,
            BinaryOp::Sub => x - y,
            BinaryOp::Mul => x * y,
            BinaryOp::Div => x / y,
        };
    }
}

/// Softmax along `axis` in f64.
pub fn softmax(x: &[f32], shape: &[usize], axis: usize, out: &mut [f32]) {
    let outer: usize = shape[..axis].iter().product();
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    for o in 0..outer {
        for i in 0..inner {
            let idx = |a: usize| (o * len + a) * inner + i;
            let m = (0..len).map(|a| x[idx(a)]).fold(f32::NEG_INFINITY, f32::max) as f64;
            let s: f64 = (0..len).map(|a| (x[idx(a)] as f64 - m).exp()).sum();
            for a in 0..len {
                out[idx(a)] = ((x[idx(a)] as f64 - m).exp() / s) as f32;
            }
        }
    }
}
