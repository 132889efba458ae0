//! Vectorised element-wise kernels: unary activations, numpy-broadcast binary ops, softmax.
//!
//! Transcendentals use Cephes-style AVX2 approximations (max relative error ~2 ulp in the
//! normal range) because `std`'s scalar `expf` is ~10x slower and these ops sit on every
//! activation of a CNN or transformer. Non-x86 or pre-AVX2 CPUs fall back to `std`.

use super::{KernelResult, ensure, has_avx2_fma};

/// Element-wise unary operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `max(x, 0)` (NaN maps to 0).
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// `e^x`.
    Exp,
    /// Gauss error function.
    Erf,
    /// Square root (NaN below zero).
    Sqrt,
    /// `x * x`.
    Square,
    /// `|x|`.
    Abs,
    /// `-x`.
    Neg,
    /// Exact GELU, `0.5 x (1 + erf(x / sqrt 2))`.
    GeluErf,
    /// Tanh-approximated GELU.
    GeluTanh,
    /// `x * sigmoid(x)` (Swish with beta 1, SiLU).
    Swish,
    /// `x * min(max(x + 3, 0), 6) / 6`.
    HSwish,
}

/// Element-wise binary operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
}

// ---------------------------------------------------------------------------------------------
// Small vector helpers shared with conv/pool. Written as plain loops inside `avx2,fma`
// functions so LLVM vectorises them with ymm registers; reductions use explicit intrinsics
// because LLVM will not reassociate float sums on its own.

macro_rules! avx2_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn fast($($arg: $ty),*) $body
                if has_avx2_fma() {
                    // SAFETY: the CPU supports the enabled features (checked just above).
                    unsafe { fast($($arg),*) };
                    return;
                }
            }
            fn portable($($arg: $ty),*) $body
            portable($($arg),*)
        }
    };
}

avx2_dispatch! {
    /// `y[i] += alpha * x[i]` over the common length.
    pub(crate) fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
        for (o, &v) in y.iter_mut().zip(x) {
            *o += alpha * v;
        }
    }
}

avx2_dispatch! {
    /// `y[i] = max(y[i], x[i])`, ignoring NaN in `x`.
    pub(crate) fn max_into(y: &mut [f32], x: &[f32]) {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = if v > *o { v } else { *o };
        }
    }
}

avx2_dispatch! {
    /// `y[i] += x[i]`.
    pub(crate) fn add_into(y: &mut [f32], x: &[f32]) {
        for (o, &v) in y.iter_mut().zip(x) {
            *o += v;
        }
    }
}

avx2_dispatch! {
    /// `y[i] *= s`.
    pub(crate) fn scale(y: &mut [f32], s: f32) {
        for o in y.iter_mut() {
            *o *= s;
        }
    }
}

avx2_dispatch! {
    /// `y[i] = (x[i] - mean) * r * gamma[i] + beta[i]` (one layer-norm row).
    fn ln_apply(x: &[f32], mean: f32, r: f32, gamma: &[f32], beta: &[f32], y: &mut [f32]) {
        for (((o, &v), &g), &b) in y.iter_mut().zip(x).zip(gamma).zip(beta) {
            *o = (v - mean) * r * g + b;
        }
    }
}

/// Sum of `(x[i] - mean)^2` with eight independent lanes, so it vectorises without
/// reassociating one serial float sum.
fn sum_sq_dev(x: &[f32], mean: f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            let d = v - mean;
            *a += d * d;
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| (v - mean) * (v - mean)).sum();
    acc.iter().sum::<f32>() + tail
}

/// Layer normalisation over rows of `cols` values: `(x - mean) / sqrt(var + eps) * gamma +
/// beta`, with the variance taken around the mean in a second pass (no cancellation).
pub fn layer_norm(x: &[f32], cols: usize, eps: f32, gamma: &[f32], beta: &[f32], out: &mut [f32]) -> KernelResult {
    ensure(cols > 0 && x.len().is_multiple_of(cols), || {
        format!("layer_norm: len {} not a multiple of {cols}", x.len())
    })?;
    ensure(out.len() == x.len(), || "layer_norm: output length".into())?;
    ensure(gamma.len() == cols && beta.len() == cols, || "layer_norm: gamma/beta length".into())?;
    for (xr, yr) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
        let mean = sum(xr) / cols as f32;
        let var = sum_sq_dev(xr, mean) / cols as f32;
        let r = 1.0 / (var + eps).sqrt();
        ln_apply(xr, mean, r, gamma, beta, yr);
    }
    Ok(())
}

/// Sum of `x`.
pub(crate) fn sum(x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: feature checked.
        return unsafe { simd::sum(x) };
    }
    x.iter().sum()
}

/// Maximum of `x` (`-inf` when empty, NaN ignored).
pub(crate) fn max(x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: feature checked.
        return unsafe { simd::max(x) };
    }
    x.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

// ---------------------------------------------------------------------------------------------
// Unary.

/// `y = op(x)` element-wise; `x` and `y` must have equal length.
pub fn unary(op: UnaryOp, x: &[f32], y: &mut [f32]) -> KernelResult {
    ensure(x.len() == y.len(), || format!("unary: len {} != {}", x.len(), y.len()))?;
    y.copy_from_slice(x);
    unary_inplace(op, y);
    Ok(())
}

/// `x = op(x)` element-wise in place.
pub fn unary_inplace(op: UnaryOp, x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if matches!(op, UnaryOp::Erf | UnaryOp::GeluErf | UnaryOp::Exp) && super::has_avx512f() {
        // SAFETY: feature checked.
        unsafe { simd512::unary(op, x) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: feature checked.
        unsafe { simd::unary(op, x) };
        return;
    }
    for v in x.iter_mut() {
        *v = unary_scalar(op, *v);
    }
}

/// Elements below which a unary op is not worth splitting across threads.
const PAR_MIN_ELEMS: usize = 32 * 1024;

/// [`unary_inplace`] split across `pool` for large tensors (contiguous chunks, 64-byte
/// aligned boundaries so no two threads share a cache line).
pub fn unary_inplace_par(op: UnaryOp, x: &mut [f32], pool: Option<&super::ThreadPool>) {
    let t = match pool {
        Some(p) => p.current_num_threads().min(x.len() / PAR_MIN_ELEMS).max(1),
        None => 1,
    };
    if t <= 1 {
        unary_inplace(op, x);
        return;
    }
    let len = x.len();
    let ptr = super::SyncPtr(x.as_mut_ptr());
    super::run_tasks(pool, t, |i| {
        let (s, e) = super::split_range(len, t, 16, i);
        // SAFETY: split_range hands each task a disjoint in-bounds range of `x`, which
        // outlives the scoped tasks.
        let chunk = unsafe { std::slice::from_raw_parts_mut(ptr.get().add(s), e - s) };
        unary_inplace(op, chunk);
    });
}

/// Portable scalar definition of every unary op (the fallback path without AVX2).
pub(crate) fn unary_scalar(op: UnaryOp, v: f32) -> f32 {
    match op {
        UnaryOp::Relu => v.max(0.0),
        UnaryOp::Exp => v.exp(),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        UnaryOp::Tanh => v.tanh(),
        UnaryOp::Erf => erf_scalar(v),
        UnaryOp::Sqrt => v.sqrt(),
        UnaryOp::Square => v * v,
        UnaryOp::Abs => v.abs(),
        UnaryOp::Neg => -v,
        UnaryOp::GeluErf => 0.5 * v * (1.0 + erf_scalar(v * std::f32::consts::FRAC_1_SQRT_2)),
        UnaryOp::GeluTanh => 0.5 * v * (1.0 + (GELU_TANH_K * (v + 0.044_715 * v * v * v)).tanh()),
        UnaryOp::Swish => v / (1.0 + (-v).exp()),
        UnaryOp::HSwish => v * (v + 3.0).clamp(0.0, 6.0) / 6.0,
    }
}

/// `sqrt(2 / pi)`, the tanh-GELU input scale.
const GELU_TANH_K: f32 = 0.797_884_6;

/// Taylor coefficients of `erf(x) / x` in `x^2` (times `2/sqrt(pi)`), highest first; the
/// truncation error is below 1e-9 relative for `|x| < 0.5`, the range they are used on.
const ERF_SMALL: [f32; 7] = [
    std::f32::consts::FRAC_2_SQRT_PI / 9360.0,
    -std::f32::consts::FRAC_2_SQRT_PI / 1320.0,
    std::f32::consts::FRAC_2_SQRT_PI / 216.0,
    -std::f32::consts::FRAC_2_SQRT_PI / 42.0,
    std::f32::consts::FRAC_2_SQRT_PI / 10.0,
    -std::f32::consts::FRAC_2_SQRT_PI / 3.0,
    std::f32::consts::FRAC_2_SQRT_PI,
];

/// Numerical Recipes `erfcc` polynomial in `t = 1 / (1 + |x|/2)`, highest first: `erfc(x) =
/// t exp(-x^2 + P(t))` with fractional error below 1.2e-7 everywhere, so `1 - erfc` is
/// accurate to a few ulp once `erf >= 0.5`.
// The published coefficients are kept verbatim so they can be checked against the source.
#[allow(clippy::excessive_precision)]
const ERFC_NR: [f32; 10] = [
    0.170_872_77,
    -0.822_152_23,
    1.488_515_9,
    -1.135_203_98,
    0.278_868_07,
    -0.186_288_06,
    0.096_784_18,
    0.374_091_96,
    1.000_023_68,
    -1.265_512_23,
];

/// Scalar erf with the same formulas as the SIMD path.
pub(crate) fn erf_scalar(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs().min(4.0);
    if ax < 0.5 {
        let z = x * x;
        return x * ERF_SMALL.iter().fold(0.0, |acc, &c| acc * z + c);
    }
    let t = 1.0 / (1.0 + 0.5 * ax);
    let p = ERFC_NR.iter().fold(0.0, |acc, &c| acc * t + c);
    let erfc = t * (-ax * ax + p).exp();
    (1.0 - erfc).copysign(x)
}

/// 16-lane versions of the transcendental-heavy ops (erf/GELU dominate BERT's element-wise
/// time); same formulas and constants as the AVX2 path. Sign handling uses integer ops
/// because the float and/or/xor forms need AVX-512DQ.
#[cfg(target_arch = "x86_64")]
mod simd512 {
    use super::UnaryOp;
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn exp16(x: __m512) -> __m512 {
        unsafe {
            let xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0)), _mm512_set1_ps(88.8));
            let fx = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(
                xc,
                _mm512_set1_ps(std::f32::consts::LOG2_E),
            ));
            let r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693_359_4), xc);
            let r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.121_944_4e-4), r);
            let mut y = _mm512_set1_ps(1.987_569_1e-4);
            y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.398_199_9e-3));
            y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.333_452e-3));
            y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.166_579_6e-2));
            y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.666_666_5e-1));
            y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5e-1));
            let r2 = _mm512_mul_ps(r, r);
            y = _mm512_fmadd_ps(y, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0)));
            let n = _mm512_cvtps_epi32(fx);
            let n1 = _mm512_srai_epi32::<1>(n);
            let n2 = _mm512_sub_epi32(n, n1);
            let bias = _mm512_set1_epi32(127);
            let p1 = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(n1, bias)));
            let p2 = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(n2, bias)));
            let y = _mm512_mul_ps(_mm512_mul_ps(y, p1), p2);
            _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x), y, x)
        }
    }

    #[inline(always)]
    unsafe fn erf16(x: __m512) -> __m512 {
        unsafe {
            let sign = _mm512_set1_epi32(i32::MIN);
            let ax = _mm512_min_ps(_mm512_abs_ps(x), _mm512_set1_ps(4.0));
            let z = _mm512_mul_ps(x, x);
            let mut p = _mm512_set1_ps(super::ERF_SMALL[0]);
            for &c in &super::ERF_SMALL[1..] {
                p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(c));
            }
            let small = _mm512_mul_ps(p, x);
            let one = _mm512_set1_ps(1.0);
            let t = _mm512_div_ps(one, _mm512_fmadd_ps(ax, _mm512_set1_ps(0.5), one));
            let mut q = _mm512_set1_ps(super::ERFC_NR[0]);
            for &c in &super::ERFC_NR[1..] {
                q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(c));
            }
            let e = exp16(_mm512_fnmadd_ps(ax, ax, q));
            let big = _mm512_fnmadd_ps(t, e, one);
            let xs = _mm512_and_epi32(_mm512_castps_si512(x), sign);
            let big = _mm512_castsi512_ps(_mm512_or_epi32(_mm512_castps_si512(big), xs));
            let is_small = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(ax, _mm512_set1_ps(0.5));
            let r = _mm512_mask_blend_ps(is_small, big, small);
            _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x), r, x)
        }
    }

    #[inline(always)]
    unsafe fn apply16(op: UnaryOp, v: __m512) -> __m512 {
        unsafe {
            match op {
                UnaryOp::GeluErf => {
                    let e = erf16(_mm512_mul_ps(v, _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2)));
                    _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5), v), _mm512_add_ps(_mm512_set1_ps(1.0), e))
                }
                UnaryOp::Exp => exp16(v),
                _ => erf16(v),
            }
        }
    }

    /// Erf, GELU(erf) or exp over `x` in place; the tail goes through a masked vector.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn unary(op: UnaryOp, x: &mut [f32]) {
        unsafe {
            let mut chunks = x.chunks_exact_mut(16);
            for c in &mut chunks {
                let p = c.as_mut_ptr();
                _mm512_storeu_ps(p, apply16(op, _mm512_loadu_ps(p)));
            }
            let rem = chunks.into_remainder();
            if !rem.is_empty() {
                let m: __mmask16 = (1u32 << rem.len()).wrapping_sub(1) as __mmask16;
                let p = rem.as_mut_ptr();
                _mm512_mask_storeu_ps(p, m, apply16(op, _mm512_maskz_loadu_ps(m, p)));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::UnaryOp;
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
            _mm_cvtss_f32(s)
        }
    }

    /// Sum with four accumulators to hide add latency.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn sum(x: &[f32]) -> f32 {
        unsafe {
            let p = x.as_ptr();
            let n = x.len();
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            while i + 32 <= n {
                for (u, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_add_ps(*a, _mm256_loadu_ps(p.add(i + 8 * u)));
                }
                i += 32;
            }
            while i + 8 <= n {
                acc[0] = _mm256_add_ps(acc[0], _mm256_loadu_ps(p.add(i)));
                i += 8;
            }
            let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
            let mut s = hsum(v);
            while i < n {
                s += *p.add(i);
                i += 1;
            }
            s
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn max(x: &[f32]) -> f32 {
        unsafe {
            let p = x.as_ptr();
            let n = x.len();
            let mut m = _mm256_set1_ps(f32::NEG_INFINITY);
            let mut i = 0;
            while i + 8 <= n {
                // Operand order makes a NaN in x yield the running max (like the scalar path).
                m = _mm256_max_ps(_mm256_loadu_ps(p.add(i)), m);
                i += 8;
            }
            let mut t = [0.0f32; 8];
            _mm256_storeu_ps(t.as_mut_ptr(), m);
            let mut s = t.iter().fold(f32::NEG_INFINITY, |a, &v| if v > a { v } else { a });
            while i < n {
                let v = *p.add(i);
                if v > s {
                    s = v;
                }
                i += 1;
            }
            s
        }
    }

    /// Cephes `expf`: `e^x = 2^n * e^r`, `|r| <= ln2/2`, degree-6 polynomial; the 2^n scale
    /// is applied in two halves so results down to the denormal range stay finite.
    #[inline(always)]
    pub(super) unsafe fn exp8(x: __m256) -> __m256 {
        unsafe {
            let xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0)), _mm256_set1_ps(88.8));
            let fx = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
                xc,
                _mm256_set1_ps(std::f32::consts::LOG2_E),
            ));
            let r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693_359_4), xc);
            let r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.121_944_4e-4), r);
            let mut y = _mm256_set1_ps(1.987_569_1e-4);
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.398_199_9e-3));
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.333_452e-3));
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.166_579_6e-2));
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.666_666_5e-1));
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5e-1));
            let r2 = _mm256_mul_ps(r, r);
            y = _mm256_fmadd_ps(y, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0)));
            let n = _mm256_cvtps_epi32(fx);
            let n1 = _mm256_srai_epi32::<1>(n);
            let n2 = _mm256_sub_epi32(n, n1);
            let bias = _mm256_set1_epi32(127);
            let p1 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n1, bias)));
            let p2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n2, bias)));
            let y = _mm256_mul_ps(_mm256_mul_ps(y, p1), p2);
            // The clamps above turned NaN into a number; put NaN back.
            _mm256_blendv_ps(y, x, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x))
        }
    }

    #[inline(always)]
    unsafe fn sigmoid8(x: __m256) -> __m256 {
        unsafe {
            let one = _mm256_set1_ps(1.0);
            let e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
            _mm256_div_ps(one, _mm256_add_ps(one, e))
        }
    }

    /// Cephes `tanhf`: odd polynomial below 0.625 (where `1 - 2/(e^2x+1)` would cancel),
    /// the exp form above.
    #[inline(always)]
    unsafe fn tanh8(x: __m256) -> __m256 {
        unsafe {
            let sign = _mm256_set1_ps(-0.0);
            let ax = _mm256_andnot_ps(sign, x);
            let z = _mm256_mul_ps(x, x);
            let mut p = _mm256_set1_ps(-5.704_988_7e-3);
            p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.063_909e-2));
            p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.373_971_6e-2));
            p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.333_144_2e-1));
            p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.333_328e-1));
            let small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
            let one = _mm256_set1_ps(1.0);
            let e = exp8(_mm256_add_ps(ax, ax));
            let big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0), _mm256_add_ps(e, one)));
            let big = _mm256_or_ps(big, _mm256_and_ps(sign, x));
            let is_small = _mm256_cmp_ps::<_CMP_LT_OQ>(ax, _mm256_set1_ps(0.625));
            let r = _mm256_blendv_ps(big, small, is_small);
            _mm256_blendv_ps(r, x, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x))
        }
    }

    /// erf: Taylor polynomial below 0.5, `1 - erfc` (Numerical Recipes form) above; see
    /// `erf_scalar` for the accuracy argument.
    #[inline(always)]
    pub(super) unsafe fn erf8(x: __m256) -> __m256 {
        unsafe {
            let sign = _mm256_set1_ps(-0.0);
            let ax = _mm256_min_ps(_mm256_andnot_ps(sign, x), _mm256_set1_ps(4.0));
            let z = _mm256_mul_ps(x, x);
            let mut p = _mm256_set1_ps(super::ERF_SMALL[0]);
            for &c in &super::ERF_SMALL[1..] {
                p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(c));
            }
            let small = _mm256_mul_ps(p, x);
            let one = _mm256_set1_ps(1.0);
            let t = _mm256_div_ps(one, _mm256_fmadd_ps(ax, _mm256_set1_ps(0.5), one));
            let mut q = _mm256_set1_ps(super::ERFC_NR[0]);
            for &c in &super::ERFC_NR[1..] {
                q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(c));
            }
            let e = exp8(_mm256_fnmadd_ps(ax, ax, q));
            let big = _mm256_fnmadd_ps(t, e, one);
            let big = _mm256_or_ps(big, _mm256_and_ps(sign, x));
            let is_small = _mm256_cmp_ps::<_CMP_LT_OQ>(ax, _mm256_set1_ps(0.5));
            let r = _mm256_blendv_ps(big, small, is_small);
            _mm256_blendv_ps(r, x, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x))
        }
    }

    #[inline(always)]
    unsafe fn apply8(op: UnaryOp, v: __m256) -> __m256 {
        unsafe {
            let half = _mm256_set1_ps(0.5);
            let one = _mm256_set1_ps(1.0);
            match op {
                UnaryOp::Relu => _mm256_max_ps(v, _mm256_setzero_ps()),
                UnaryOp::Exp => exp8(v),
                UnaryOp::Sigmoid => sigmoid8(v),
                UnaryOp::Tanh => tanh8(v),
                UnaryOp::Erf => erf8(v),
                UnaryOp::Sqrt => _mm256_sqrt_ps(v),
                UnaryOp::Square => _mm256_mul_ps(v, v),
                UnaryOp::Abs => _mm256_andnot_ps(_mm256_set1_ps(-0.0), v),
                UnaryOp::Neg => _mm256_xor_ps(_mm256_set1_ps(-0.0), v),
                UnaryOp::GeluErf => {
                    let e = erf8(_mm256_mul_ps(v, _mm256_set1_ps(std::f32::consts::FRAC_1_SQRT_2)));
                    _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, e))
                }
                UnaryOp::GeluTanh => {
                    let v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
                    let inner = _mm256_fmadd_ps(v3, _mm256_set1_ps(0.044_715), v);
                    let th = tanh8(_mm256_mul_ps(inner, _mm256_set1_ps(super::GELU_TANH_K)));
                    _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, th))
                }
                UnaryOp::Swish => _mm256_mul_ps(v, sigmoid8(v)),
                UnaryOp::HSwish => {
                    let r = _mm256_add_ps(v, _mm256_set1_ps(3.0));
                    let r = _mm256_min_ps(_mm256_max_ps(r, _mm256_setzero_ps()), _mm256_set1_ps(6.0));
                    _mm256_div_ps(_mm256_mul_ps(v, r), _mm256_set1_ps(6.0))
                }
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn unary(op: UnaryOp, x: &mut [f32]) {
        unsafe {
            let mut chunks = x.chunks_exact_mut(8);
            for c in &mut chunks {
                let p = c.as_mut_ptr();
                _mm256_storeu_ps(p, apply8(op, _mm256_loadu_ps(p)));
            }
            let rem = chunks.into_remainder();
            if !rem.is_empty() {
                // Tail through the same SIMD code so results do not depend on position.
                let mut t = [0.0f32; 8];
                t[..rem.len()].copy_from_slice(rem);
                _mm256_storeu_ps(t.as_mut_ptr(), apply8(op, _mm256_loadu_ps(t.as_ptr())));
                rem.copy_from_slice(&t[..rem.len()]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Binary with numpy broadcasting.

/// Numpy broadcast of two shapes, or `None` when incompatible.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let da = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
            let db = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
            match (da, db) {
                (x, y) if x == y => Some(x),
                (1, y) => Some(y),
                (x, 1) => Some(x),
                _ => None,
            }
        })
        .collect()
}

trait Op {
    fn f(a: f32, b: f32) -> f32;
}
struct AddOp;
struct SubOp;
struct MulOp;
struct DivOp;
impl Op for AddOp {
    #[inline(always)]
    fn f(a: f32, b: f32) -> f32 {
        a + b
    }
}
impl Op for SubOp {
    #[inline(always)]
    fn f(a: f32, b: f32) -> f32 {
        a - b
    }
}
impl Op for MulOp {
    #[inline(always)]
    fn f(a: f32, b: f32) -> f32 {
        a * b
    }
}
impl Op for DivOp {
    #[inline(always)]
    fn f(a: f32, b: f32) -> f32 {
        a / b
    }
}

/// Inner contiguous loop for the four (a, b) stride combinations; plain loops so LLVM
/// vectorises them for whichever target features the caller enabled.
#[inline(always)]
fn inner<O: Op>(a: &[f32], sa: usize, b: &[f32], sb: usize, out: &mut [f32]) {
    match (sa, sb) {
        (1, 1) => {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = O::f(x, y);
            }
        }
        (0, 1) => {
            let x = a[0];
            for (o, &y) in out.iter_mut().zip(b) {
                *o = O::f(x, y);
            }
        }
        (1, 0) => {
            let y = b[0];
            for (o, &x) in out.iter_mut().zip(a) {
                *o = O::f(x, y);
            }
        }
        _ => out.fill(O::f(a[0], b[0])),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn inner_avx2<O: Op>(a: &[f32], sa: usize, b: &[f32], sb: usize, out: &mut [f32]) {
    inner::<O>(a, sa, b, sb, out)
}

fn inner_dispatch<O: Op>(avx: bool, a: &[f32], sa: usize, b: &[f32], sb: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx {
        // SAFETY: `avx` comes from `has_avx2_fma()`.
        unsafe { inner_avx2::<O>(a, sa, b, sb, out) };
        return;
    }
    let _ = avx;
    inner::<O>(a, sa, b, sb, out)
}

/// `out = a op b` with numpy broadcasting; `out` has the broadcast shape (row-major).
pub fn binary(
    op: BinaryOp,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    out: &mut [f32],
) -> KernelResult {
    let osh = broadcast_shape(a_shape, b_shape)
        .ok_or_else(|| super::KernelError(format!("cannot broadcast {a_shape:?} with {b_shape:?}")))?;
    let total: usize = osh.iter().product();
    let (na, nb): (usize, usize) = (a_shape.iter().product(), b_shape.iter().product());
    ensure(a.len() >= na && b.len() >= nb, || "binary: input shorter than its shape".into())?;
    ensure(out.len() >= total, || format!("binary: out len {} < {total}", out.len()))?;
    if total == 0 {
        return Ok(());
    }
    match op {
        BinaryOp::Add => binary_impl::<AddOp>(a, a_shape, b, b_shape, &osh, &mut out[..total]),
        BinaryOp::Sub => binary_impl::<SubOp>(a, a_shape, b, b_shape, &osh, &mut out[..total]),
        BinaryOp::Mul => binary_impl::<MulOp>(a, a_shape, b, b_shape, &osh, &mut out[..total]),
        BinaryOp::Div => binary_impl::<DivOp>(a, a_shape, b, b_shape, &osh, &mut out[..total]),
    }
    Ok(())
}

/// One collapsed dimension: extent and element strides in a and b (0 = broadcast).
#[derive(Clone, Copy, Debug)]
struct Dim {
    len: usize,
    sa: usize,
    sb: usize,
}

fn strides_for(shape: &[usize], r: usize, osh: &[usize]) -> Vec<usize> {
    let mut st = vec![0; r];
    let mut acc = 1;
    for i in (0..r).rev() {
        let d = if i + shape.len() >= r { shape[i + shape.len() - r] } else { 1 };
        st[i] = if d == 1 && osh[i] != 1 { 0 } else { acc };
        acc *= d;
    }
    st
}

fn binary_impl<O: Op>(a: &[f32], a_shape: &[usize], b: &[f32], b_shape: &[usize], osh: &[usize], out: &mut [f32]) {
    let r = osh.len();
    let sa = strides_for(a_shape, r, osh);
    let sb = strides_for(b_shape, r, osh);
    // Collapse from the innermost dimension outward so e.g. [N,C,H,W] + [1,C,1,1] becomes
    // three loops with a long contiguous inner run.
    let mut dims: Vec<Dim> = Vec::with_capacity(r);
    for i in (0..r).rev() {
        if osh[i] == 1 {
            continue;
        }
        let d = Dim { len: osh[i], sa: sa[i], sb: sb[i] };
        match dims.last_mut() {
            Some(l) if d.sa == l.sa * l.len && d.sb == l.sb * l.len => l.len *= d.len,
            _ => dims.push(d),
        }
    }
    if dims.is_empty() {
        dims.push(Dim { len: 1, sa: 1, sb: 1 });
    }
    let avx = has_avx2_fma();
    let inn = dims[0];
    // After collapsing, the inner strides are 0 or 1 unless the inner dim is broadcast in
    // both operands at different outer strides, which the generic case below handles.
    let (isa, isb) = (inn.sa.min(1), inn.sb.min(1));
    let inner_ok = inn.sa <= 1 && inn.sb <= 1;
    let outer = &dims[1..];
    let mut idx = vec![0usize; outer.len()];
    let (mut oa, mut ob) = (0usize, 0usize);
    for chunk in out.chunks_exact_mut(inn.len) {
        if inner_ok {
            let ra = if isa == 1 { &a[oa..oa + inn.len] } else { &a[oa..oa + 1] };
            let rb = if isb == 1 { &b[ob..ob + inn.len] } else { &b[ob..ob + 1] };
            inner_dispatch::<O>(avx, ra, isa, rb, isb, chunk);
        } else {
            for (i, o) in chunk.iter_mut().enumerate() {
                *o = O::f(a[oa + i * inn.sa], b[ob + i * inn.sb]);
            }
        }
        for (d, ix) in outer.iter().zip(idx.iter_mut()) {
            *ix += 1;
            oa += d.sa;
            ob += d.sb;
            if *ix < d.len {
                break;
            }
            *ix = 0;
            oa -= d.sa * d.len;
            ob -= d.sb * d.len;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Softmax.

/// Softmax over `axis` of a row-major tensor of `shape`.
pub fn softmax(x: &[f32], shape: &[usize], axis: usize, out: &mut [f32]) -> KernelResult {
    ensure(axis < shape.len(), || format!("softmax axis {axis} out of rank {}", shape.len()))?;
    let total: usize = shape.iter().product();
    ensure(x.len() >= total && out.len() >= total, || "softmax: slice shorter than shape".into())?;
    let outer: usize = shape[..axis].iter().product();
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    if total == 0 {
        return Ok(());
    }
    for o in 0..outer {
        let xs = &x[o * len * inner..][..len * inner];
        let ys = &mut out[o * len * inner..][..len * inner];
        if inner == 1 {
            softmax_row(xs, ys);
        } else {
            softmax_strided(xs, inner, ys);
        }
    }
    Ok(())
}

/// Softmax over the last axis of a `[rows, cols]` matrix.
pub fn softmax_last_axis(x: &[f32], cols: usize, out: &mut [f32]) -> KernelResult {
    ensure(cols > 0 && x.len().is_multiple_of(cols), || format!("softmax: len {} not a multiple of {cols}", x.len()))?;
    softmax(x, &[x.len() / cols, cols], 1, out)
}

fn softmax_row(x: &[f32], y: &mut [f32]) {
    let m = max(x);
    for (o, &v) in y.iter_mut().zip(x) {
        *o = v - m;
    }
    unary_inplace(UnaryOp::Exp, y);
    let s = sum(y);
    scale(y, 1.0 / s);
}

fn softmax_strided(x: &[f32], inner: usize, y: &mut [f32]) {
    let mut m = vec![f32::NEG_INFINITY; inner];
    for xa in x.chunks_exact(inner) {
        max_into(&mut m, xa);
    }
    let mut s = vec![0.0f32; inner];
    for (ya, xa) in y.chunks_exact_mut(inner).zip(x.chunks_exact(inner)) {
        for ((o, &v), &mv) in ya.iter_mut().zip(xa).zip(&m) {
            *o = v - mv;
        }
        unary_inplace(UnaryOp::Exp, ya);
        add_into(&mut s, ya);
    }
    for v in s.iter_mut() {
        *v = 1.0 / *v;
    }
    for ya in y.chunks_exact_mut(inner) {
        for (o, &r) in ya.iter_mut().zip(&s) {
            *o *= r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::reference;
    use super::super::test_util::{assert_close, rand_vec};
    use super::*;
    use proptest::prelude::*;

    fn unary_op() -> impl Strategy<Value = UnaryOp> {
        prop_oneof![
            Just(UnaryOp::Relu),
            Just(UnaryOp::Sigmoid),
            Just(UnaryOp::Tanh),
            Just(UnaryOp::Exp),
            Just(UnaryOp::Erf),
            Just(UnaryOp::Sqrt),
            Just(UnaryOp::Square),
            Just(UnaryOp::Abs),
            Just(UnaryOp::Neg),
            Just(UnaryOp::GeluErf),
            Just(UnaryOp::GeluTanh),
            Just(UnaryOp::Swish),
            Just(UnaryOp::HSwish),
        ]
    }

    #[test]
    fn erf_within_a_few_ulp_of_f64() {
        // Both the SIMD and the portable path against a ~1e-15 f64 erf, across the switch
        // points (0.5 and the 4.0 clamp) and the tiny range where erf(x) ~ 2x/sqrt(pi).
        let x: Vec<f32> = (-100_000..=100_000)
            .map(|i| i as f32 * 6e-5)
            .chain([1e-30, -1e-20, 0.0, -0.0, 4.5, -9.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN])
            .collect();
        let want: Vec<f32> = x.iter().map(|&v| ir_graph::eval::elementwise::erf(v as f64) as f32).collect();
        let mut got = vec![0.0; x.len()];
        unary(UnaryOp::Erf, &x, &mut got).expect("erf");
        assert_rel(&got, &want, 1e-6, "erf simd");
        let mut avx2 = vec![0.0; x.len()];
        super::super::test_util::with_isa(super::super::Isa::Avx2, || unary(UnaryOp::Erf, &x, &mut avx2))
            .expect("erf avx2");
        assert_rel(&avx2, &want, 1e-6, "erf avx2");
        let portable: Vec<f32> = x.iter().map(|&v| erf_scalar(v)).collect();
        assert_rel(&portable, &want, 1e-6, "erf scalar");
    }

    #[test]
    fn layer_norm_matches_two_pass_f64() {
        let (rows, cols) = (5, 77);
        let x: Vec<f32> = rand_vec(rows * cols, 4).iter().map(|v| v * 3.0 + 10.0).collect();
        let gamma = rand_vec(cols, 5);
        let beta = rand_vec(cols, 6);
        let mut got = vec![0.0; x.len()];
        layer_norm(&x, cols, 1e-5, &gamma, &beta, &mut got).expect("ln");
        let mut want = vec![0.0; x.len()];
        for (xr, yr) in x.chunks(cols).zip(want.chunks_mut(cols)) {
            let mean = xr.iter().map(|&v| v as f64).sum::<f64>() / cols as f64;
            let var = xr.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / cols as f64;
            for (i, (y, &v)) in yr.iter_mut().zip(xr).enumerate() {
                *y = ((v as f64 - mean) / (var + 1e-5).sqrt() * gamma[i] as f64 + beta[i] as f64) as f32;
            }
        }
        assert_close(&got, &want, 1e-5, "layer_norm");
    }

    /// Relative error check tight enough to validate the polynomial approximations.
    fn assert_rel(got: &[f32], want: &[f32], rtol: f32, what: &str) {
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let ok = g == w
                || (g.is_nan() && w.is_nan())
                || (g - w).abs() <= rtol * w.abs()
                || (w.abs() < 1e-37 && g.abs() < 1e-37);
            assert!(ok, "{what}[{i}]: got {g:e} want {w:e}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn unary_matches_std(op in unary_op(), len in 0usize..70, scale in prop_oneof![Just(1.0f32), Just(5.0), Just(40.0), Just(95.0)], seed in any::<u64>()) {
            let x: Vec<f32> = rand_vec(len, seed).iter().map(|v| v * scale).collect();
            let mut want = vec![0.0; len];
            reference::unary(op, &x, &mut want);
            let mut got = vec![0.0; len];
            unary(op, &x, &mut got).expect("unary");
            if matches!(op, UnaryOp::GeluErf | UnaryOp::GeluTanh | UnaryOp::Swish | UnaryOp::HSwish) {
                // `x * (1 + f)` cancels for negative x, so these compare absolutely near zero.
                assert_close(&got, &want, 1e-5, &format!("{op:?}"));
            } else {
                assert_rel(&got, &want, 1e-6, &format!("{op:?}"));
            }
        }
    }

    #[test]
    fn unary_accuracy_sweep() {
        // Dense sweep of the interesting ranges with the 1e-6 relative bound from the spec.
        let x: Vec<f32> = (-200_000..=200_000)
            .map(|i| i as f32 * 5e-4)
            .chain([
                -87.0,
                -88.5,
                88.5,
                88.72,
                89.0,
                -104.0,
                -120.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
                1e-30,
                -1e-30,
            ])
            .collect();
        for op in [UnaryOp::Relu, UnaryOp::Sigmoid, UnaryOp::Tanh, UnaryOp::Exp] {
            let mut want = vec![0.0; x.len()];
            reference::unary(op, &x, &mut want);
            let mut got = vec![0.0; x.len()];
            unary(op, &x, &mut got).expect("unary");
            assert_rel(&got, &want, 1e-6, &format!("{op:?}"));
        }
    }

    fn shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
        (1usize..5, proptest::collection::vec((1usize..6, 0u8..4), 0..5)).prop_map(|(_, dims)| {
            let mut a = Vec::new();
            let mut b = Vec::new();
            let r = dims.len();
            for (i, &(d, mode)) in dims.iter().enumerate() {
                match mode {
                    0 => {
                        a.push(d);
                        b.push(d);
                    }
                    1 => {
                        a.push(1);
                        b.push(d);
                    }
                    2 => {
                        a.push(d);
                        b.push(1);
                    }
                    _ => {
                        a.push(d);
                        if i >= r / 2 { b.push(d) } else { b.push(1) }
                    }
                }
            }
            // Drop some leading dims of b to exercise rank broadcasting.
            let cut = b.len() / 3;
            (a, b[cut..].to_vec())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn binary_matches_reference((ash, bsh) in shapes(), op in 0u8..4, swap in any::<bool>(), seed in any::<u64>()) {
            let (ash, bsh) = if swap { (bsh, ash) } else { (ash, bsh) };
            let op = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div][op as usize];
            let a = rand_vec(ash.iter().product(), seed);
            let b: Vec<f32> = rand_vec(bsh.iter().product(), seed + 1).iter().map(|v| v + 2.0).collect();
            let osh = broadcast_shape(&ash, &bsh).expect("compatible");
            let total: usize = osh.iter().product();
            let mut want = vec![0.0; total];
            reference::binary(op, &a, &ash, &b, &bsh, &mut want);
            let mut got = vec![f32::NAN; total];
            binary(op, &a, &ash, &b, &bsh, &mut got).expect("binary");
            assert_close(&got, &want, 1e-6, &format!("{op:?} {ash:?} {bsh:?}"));
        }

        #[test]
        fn softmax_matches_reference(shape in proptest::collection::vec(1usize..9, 1..4), axis_sel in 0usize..4, scale in prop_oneof![Just(1.0f32), Just(30.0)], seed in any::<u64>()) {
            let axis = axis_sel % shape.len();
            let total: usize = shape.iter().product();
            let x: Vec<f32> = rand_vec(total, seed).iter().map(|v| v * scale).collect();
            let mut want = vec![0.0; total];
            reference::softmax(&x, &shape, axis, &mut want);
            let mut got = vec![0.0; total];
            softmax(&x, &shape, axis, &mut got).expect("softmax");
            assert_close(&got, &want, 1e-5, &format!("softmax {shape:?} axis {axis}"));
        }
    }

    #[test]
    fn elementwise_portable_path() {
        super::super::test_util::portable(|| {
            let x: Vec<f32> = rand_vec(67, 5).iter().map(|v| v * 20.0).collect();
            for op in [UnaryOp::Relu, UnaryOp::Sigmoid, UnaryOp::Tanh, UnaryOp::Exp] {
                let mut want = vec![0.0; x.len()];
                let mut got = vec![0.0; x.len()];
                reference::unary(op, &x, &mut want);
                unary(op, &x, &mut got).expect("unary");
                assert_rel(&got, &want, 1e-6, &format!("portable {op:?}"));
            }
            let mut want = vec![0.0; x.len()];
            let mut got = vec![0.0; x.len()];
            reference::binary(BinaryOp::Sub, &x, &[67], &x[..1], &[1], &mut want);
            binary(BinaryOp::Sub, &x, &[67], &x[..1], &[1], &mut got).expect("binary");
            assert_close(&got, &want, 1e-6, "portable binary");
            softmax(&x, &[67], 0, &mut got).expect("softmax");
            reference::softmax(&x, &[67], 0, &mut want);
            assert_close(&got, &want, 1e-5, "portable softmax");
        });
    }

    #[test]
    fn binary_large_and_errors() {
        let ash = [2, 64, 7, 9];
        let bsh = [64, 1, 1];
        let a = rand_vec(2 * 64 * 63, 1);
        let b = rand_vec(64, 2);
        let mut want = vec![0.0; a.len()];
        let mut got = vec![0.0; a.len()];
        reference::binary(BinaryOp::Mul, &a, &ash, &b, &bsh, &mut want);
        binary(BinaryOp::Mul, &a, &ash, &b, &bsh, &mut got).expect("binary");
        assert_close(&got, &want, 1e-6, "large");
        assert!(binary(BinaryOp::Add, &a, &[2, 3], &b, &[4], &mut got).is_err());
        assert!(binary(BinaryOp::Add, &a[..3], &ash, &b, &bsh, &mut got).is_err());
        assert!(softmax(&a, &[2, 3], 2, &mut got).is_err());
        let x = rand_vec(3 * 1000, 3);
        let mut y = vec![0.0; x.len()];
        let mut w = vec![0.0; x.len()];
        softmax_last_axis(&x, 1000, &mut y).expect("softmax");
        reference::softmax(&x, &[3, 1000], 1, &mut w);
        assert_close(&y, &w, 1e-5, "softmax rows");
    }
}
