//! Row copies for the scratch planes of pooling and convolution: strided gathers (stride
//! phases) and short runs, the two shapes `copy_from_slice` and iterator loops handle badly
//! (a stride-2 `step_by` loop moved one float per cycle and was 16% of squeezenet; a 13- to
//! 55-float row through `memmove` pays a call and its size dispatch each time).

/// `dst[i] = src[i * step]` for every `i < dst.len()`.
///
/// # Panics
/// If `src` is shorter than `(dst.len() - 1) * step + 1` (callers size both from one window).
pub(crate) fn copy_strided(src: &[f32], step: usize, dst: &mut [f32]) {
    if dst.is_empty() {
        return;
    }
    assert!(src.len() > (dst.len() - 1) * step, "strided copy source too short");
    #[cfg(target_arch = "x86_64")]
    if step == 2 && super::isa() >= super::Isa::Avx512 {
        // SAFETY: AVX-512F checked; the length was asserted above.
        unsafe { avx512::copy_stride2(src, dst) };
        return;
    }
    for (i, d) in dst.iter_mut().enumerate() {
        *d = src[i * step];
    }
}

/// `dst.copy_from_slice(src)` without a library call for short runs.
pub(crate) fn copy_run(src: &[f32], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if dst.len() <= 256 && src.len() == dst.len() && super::isa() >= super::Isa::Avx512 {
        // SAFETY: AVX-512F checked; equal lengths checked.
        unsafe { avx512::copy_masked(src, dst) };
        return;
    }
    dst.copy_from_slice(src);
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// `dst[i] = src[2i]`: two loads and one two-source permute per 16 outputs; the tail
    /// uses masked loads, so no float past `src[2 * (dst.len() - 1)]` is touched.
    ///
    /// # Safety
    /// CPU must support AVX-512F; `src.len() > 2 * (dst.len() - 1)`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn copy_stride2(src: &[f32], dst: &mut [f32]) {
        let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let n = dst.len();
        let last = 2 * (n - 1) + 1;
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        let mut i = 0;
        // SAFETY: every load covers floats below `last <= src.len()` (masked past it) and
        // every store lies inside `dst`.
        unsafe {
            while i < n {
                let base = 2 * i;
                let lo_n = last.saturating_sub(base).min(16);
                let hi_n = last.saturating_sub(base + 16).min(16);
                let lo = _mm512_maskz_loadu_ps(mask(lo_n), s.add(base));
                let hi = _mm512_maskz_loadu_ps(mask(hi_n), s.wrapping_add(base + 16));
                let v = _mm512_permutex2var_ps(lo, evens, hi);
                _mm512_mask_storeu_ps(d.add(i), mask(n - i), v);
                i += 16;
            }
        }
    }

    /// Masked 16-float chunks of a short copy.
    ///
    /// # Safety
    /// CPU must support AVX-512F; `src.len() == dst.len()`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn copy_masked(src: &[f32], dst: &mut [f32]) {
        let n = dst.len();
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        let mut i = 0;
        // SAFETY: the masks keep every access below `n`.
        unsafe {
            while i < n {
                let m = mask(n - i);
                _mm512_mask_storeu_ps(d.add(i), m, _mm512_maskz_loadu_ps(m, s.add(i)));
                i += 16;
            }
        }
    }

    #[inline(always)]
    fn mask(n: usize) -> __mmask16 {
        if n >= 16 { 0xFFFF } else { ((1u32 << n) - 1) as __mmask16 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Isa;
    use crate::kernels::test_util::with_isa;

    #[test]
    fn strided_and_short_copies_match_plain_loops() {
        for isa in [Isa::Scalar, Isa::Avx512] {
            with_isa(isa, || {
                for n in [0usize, 1, 2, 15, 16, 17, 31, 32, 33, 55, 100] {
                    for step in 1..4 {
                        let len = if n == 0 { 0 } else { (n - 1) * step + 1 };
                        let src: Vec<f32> = (0..len).map(|v| v as f32).collect();
                        let mut got = vec![-1.0; n];
                        copy_strided(&src, step, &mut got);
                        let want: Vec<f32> = (0..n).map(|i| src[i * step]).collect();
                        assert_eq!(got, want, "n {n} step {step} {isa:?}");
                    }
                    let src: Vec<f32> = (0..n).map(|v| v as f32 * 0.5).collect();
                    let mut got = vec![-1.0; n];
                    copy_run(&src, &mut got);
                    assert_eq!(got, src, "run n {n} {isa:?}");
                }
            });
        }
    }
}
