//! 2-D max / average pooling (NCHW) and global average pooling.
//!
//! Each output row is produced by sweeping the kernel taps over whole rows: for every tap the
//! range of output columns whose input column is inside the image is computed once, so the
//! inner loop is a branch-free (and for stride 1, SIMD) max/add over contiguous memory.

use super::copy::{copy_run, copy_strided};
use super::elementwise::{add_into, max_into, sum};
use super::{Activation, Isa, KernelResult, SyncPtr, ThreadPool, ensure, isa, run_tasks, split_range, threads_for};

/// Geometry of a 2-D pooling (index 0 = height, 1 = width); the output size is chosen by the
/// caller (floor or ceil mode, see [`PoolParams::out_dim`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolParams {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Strides (h, w).
    pub stride: [usize; 2],
    /// Dilations (h, w).
    pub dilation: [usize; 2],
    /// Leading pads (top, left).
    pub pads_begin: [usize; 2],
    /// Trailing pads (bottom, right).
    pub pads_end: [usize; 2],
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
}

impl PoolParams {
    /// Output extent for one axis in floor or ceil mode (ONNX rule: the last window must start
    /// inside the input or the leading pad).
    pub fn out_dim(i: usize, k: usize, s: usize, d: usize, pb: usize, pe: usize, ceil_mode: bool) -> usize {
        let span = d * (k.max(1) - 1) + 1;
        let padded = i + pb + pe;
        if s == 0 || padded < span {
            return 0;
        }
        let num = padded - span;
        let mut o = if ceil_mode { num.div_ceil(s) + 1 } else { num / s + 1 };
        if ceil_mode && o > 1 && (o - 1) * s >= i + pb {
            o -= 1;
        }
        o
    }

    /// Number of input elements.
    pub fn input_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }

    /// Number of output elements.
    pub fn output_len(&self) -> usize {
        self.n * self.c * self.out_h * self.out_w
    }

    /// Checks kernel/stride/dilation are non-zero.
    pub fn validate(&self) -> KernelResult {
        ensure(self.kh > 0 && self.kw > 0, || "pool kernel must be > 0".into())?;
        ensure(self.stride.iter().chain(&self.dilation).all(|&v| v > 0), || "pool stride/dilation must be > 0".into())
    }

    fn check(&self, input: &[f32], output: &[f32]) -> KernelResult {
        self.validate()?;
        ensure(input.len() >= self.input_len(), || format!("pool input len {} < {}", input.len(), self.input_len()))?;
        ensure(output.len() >= self.output_len(), || {
            format!("pool output len {} < {}", output.len(), self.output_len())
        })
    }
}

/// Output columns `lo..hi` whose input column `ox*s + off` lies in `0..w` (`off = tap - pad`).
fn valid_range(w: usize, ow: usize, s: usize, tap: usize, pad: usize) -> (usize, usize, isize) {
    let off = tap as isize - pad as isize;
    let lo = if off >= 0 { 0 } else { ((-off) as usize).div_ceil(s) }.min(ow);
    let last = w as isize - 1 - off;
    let hi = if last < 0 { 0 } else { (last as usize / s + 1).min(ow) };
    (lo, hi.max(lo), off)
}

/// Number of taps of one axis landing in `lo..hi` (input coordinates, possibly negative).
fn taps_in(o: usize, k: usize, s: usize, d: usize, pb: usize, lo: isize, hi: isize) -> usize {
    (0..k)
        .filter(|&t| {
            let i = (o * s + t * d) as isize - pb as isize;
            i >= lo && i < hi
        })
        .count()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Max,
    Avg { include_pad: bool },
}

/// Max pooling; a window covering only padding yields `-inf`, NaN inputs are ignored.
pub fn max_pool2d(p: &PoolParams, input: &[f32], output: &mut [f32], pool: Option<&ThreadPool>) -> KernelResult {
    p.check(input, output)?;
    run_pool(p, Kind::Max, input, output, pool);
    Ok(())
}

/// Average pooling; with `count_include_pad` the divisor counts padding taps (within the
/// declared pads only, ONNX semantics), otherwise only real input taps. Empty windows give 0.
pub fn avg_pool2d(
    p: &PoolParams,
    count_include_pad: bool,
    input: &[f32],
    output: &mut [f32],
    pool: Option<&ThreadPool>,
) -> KernelResult {
    p.check(input, output)?;
    run_pool(p, Kind::Avg { include_pad: count_include_pad }, input, output, pool);
    Ok(())
}

/// Mean of each of `nc` contiguous planes of `hw` elements into `output[nc]`.
pub fn global_avg_pool(
    nc: usize,
    hw: usize,
    input: &[f32],
    output: &mut [f32],
    pool: Option<&ThreadPool>,
) -> KernelResult {
    ensure(input.len() >= nc * hw && output.len() >= nc, || "global_avg_pool: slice too short".into())?;
    if hw == 0 {
        output[..nc].fill(0.0);
        return Ok(());
    }
    let t = threads_for(pool, nc * hw / 4).min(nc.max(1));
    let out = SyncPtr(output.as_mut_ptr());
    let inv = 1.0 / hw as f32;
    run_tasks(pool, t, |ti| {
        let (q0, q1) = split_range(nc, t, 1, ti);
        for q in q0..q1 {
            let v = sum(&input[q * hw..(q + 1) * hw]) * inv;
            // SAFETY: output validated for nc elements; tasks own disjoint indices.
            unsafe { *out.get().add(q) = v };
        }
    });
    Ok(())
}

fn run_pool(p: &PoolParams, kind: Kind, input: &[f32], output: &mut [f32], pool: Option<&ThreadPool>) {
    let planes = p.n * p.c;
    let (oh, ow) = (p.out_h, p.out_w);
    if planes == 0 || oh == 0 || ow == 0 {
        return;
    }
    let t = threads_for(pool, planes * oh * ow * p.kh * p.kw / 4).min(planes);
    let out = SyncPtr(output.as_mut_ptr());
    // Per-column tap ranges and divisors are identical for every plane: compute them once.
    let ranges: Vec<(usize, usize, isize)> =
        (0..p.kw).map(|kx| valid_range(p.w, ow, p.stride[1], kx * p.dilation[1], p.pads_begin[1])).collect();
    let col_div: Vec<f32> = match kind {
        Kind::Max => Vec::new(),
        Kind::Avg { include_pad } => (0..ow)
            .map(|ox| {
                let hi = if include_pad { (p.w + p.pads_end[1]) as isize } else { p.w as isize };
                let lo = if include_pad { -(p.pads_begin[1] as isize) } else { 0 };
                taps_in(ox, p.kw, p.stride[1], p.dilation[1], p.pads_begin[1], lo, hi) as f32
            })
            .collect(),
    };
    #[cfg(target_arch = "x86_64")]
    if isa() >= Isa::Avx512 {
        run_pool_sweep(p, kind, input, out, &col_div, t, pool);
        return;
    }
    run_tasks(pool, t, |ti| {
        let (q0, q1) = split_range(planes, t, 1, ti);
        let mut acc = vec![0.0f32; ow];
        for q in q0..q1 {
            let x = &input[q * p.h * p.w..][..p.h * p.w];
            // SAFETY: output validated for planes*oh*ow elements; tasks own disjoint planes.
            let o = unsafe { std::slice::from_raw_parts_mut(out.get().add(q * oh * ow), oh * ow) };
            for (oy, orow) in o.chunks_exact_mut(ow).enumerate() {
                pool_row(p, kind, x, oy, &ranges, &col_div, &mut acc, orow);
            }
        }
    });
}

/// AVX-512 pooling through padded, phase-split plane copies (see [`Window`]).
#[cfg(target_arch = "x86_64")]
fn run_pool_sweep(
    p: &PoolParams,
    kind: Kind,
    input: &[f32],
    out: SyncPtr,
    col_div: &[f32],
    t: usize,
    pool: Option<&ThreadPool>,
) {
    let (oh, ow) = (p.out_h, p.out_w);
    let win = Window {
        h: p.h,
        w: p.w,
        kh: p.kh,
        kw: p.kw,
        stride: p.stride,
        dilation: p.dilation,
        pads_begin: p.pads_begin,
        oh,
        ow,
    };
    let offs = win.tap_offsets();
    let row_div: Vec<f32> = match kind {
        Kind::Max => Vec::new(),
        Kind::Avg { include_pad } => {
            let (lo, hi) = if include_pad {
                (-(p.pads_begin[0] as isize), (p.h + p.pads_end[0]) as isize)
            } else {
                (0, p.h as isize)
            };
            (0..oh).map(|oy| taps_in(oy, p.kh, p.stride[0], p.dilation[0], p.pads_begin[0], lo, hi) as f32).collect()
        }
    };
    let (mode, pad) = match kind {
        Kind::Max => (SweepMode::Max, f32::NEG_INFINITY),
        Kind::Avg { .. } => (SweepMode::Avg { row_div: &row_div, col_div }, 0.0),
    };
    let sweep = Sweep { offs: &offs, row_step: win.row_step(), ow, mode };
    let planes = p.n * p.c;
    run_tasks(pool, t, |ti| {
        let (q0, q1) = split_range(planes, t, 1, ti);
        let mut buf = vec![0.0f32; win.plane_len()];
        for q in q0..q1 {
            win.fill(&input[q * p.h * p.w..][..p.h * p.w], pad, &mut buf);
            // SAFETY: output validated for planes*oh*ow elements; tasks own disjoint planes.
            let o = unsafe { std::slice::from_raw_parts_mut(out.get().add(q * oh * ow), oh * ow) };
            // SAFETY: the caller checked AVX-512F; `buf` was filled for `win`.
            unsafe { avx512::sweep_plane(&buf, &sweep, o) };
        }
    });
}

#[allow(clippy::too_many_arguments)]
fn pool_row(
    p: &PoolParams,
    kind: Kind,
    x: &[f32],
    oy: usize,
    ranges: &[(usize, usize, isize)],
    col_div: &[f32],
    acc: &mut [f32],
    orow: &mut [f32],
) {
    let sw = p.stride[1];
    let is_max = kind == Kind::Max;
    orow.fill(if is_max { f32::NEG_INFINITY } else { 0.0 });
    for ky in 0..p.kh {
        let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pads_begin[0] as isize;
        if iy < 0 || iy >= p.h as isize {
            continue;
        }
        let irow = &x[iy as usize * p.w..][..p.w];
        for &(lo, hi, off) in ranges {
            if lo >= hi {
                continue;
            }
            let s0 = (lo as isize * sw as isize + off) as usize;
            let dst = &mut orow[lo..hi];
            if sw == 1 {
                let src = &irow[s0..s0 + (hi - lo)];
                if is_max { max_into(dst, src) } else { add_into(dst, src) }
            } else {
                // Gather the strided taps once so the combine step stays a SIMD loop.
                let g = &mut acc[..hi - lo];
                for (i, v) in g.iter_mut().enumerate() {
                    *v = irow[s0 + i * sw];
                }
                if is_max { max_into(dst, g) } else { add_into(dst, g) }
            }
        }
    }
    if let Kind::Avg { include_pad } = kind {
        let (lo, hi) =
            if include_pad { (-(p.pads_begin[0] as isize), (p.h + p.pads_end[0]) as isize) } else { (0, p.h as isize) };
        let rows = taps_in(oy, p.kh, p.stride[0], p.dilation[0], p.pads_begin[0], lo, hi) as f32;
        for (v, &cd) in orow.iter_mut().zip(col_div) {
            let cnt = rows * cd;
            *v = if cnt > 0.0 { *v / cnt } else { 0.0 };
        }
    }
}

/// Window sweep geometry shared by pooling and depthwise convolution: the input plane is copied
/// once with its padding materialised and its columns split by phase modulo the horizontal
/// stride, so every tap of every output row reads a contiguous, edge-free run of memory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) kh: usize,
    pub(crate) kw: usize,
    pub(crate) stride: [usize; 2],
    pub(crate) dilation: [usize; 2],
    pub(crate) pads_begin: [usize; 2],
    pub(crate) oh: usize,
    pub(crate) ow: usize,
}

impl Window {
    /// Padded rows touched by the sweep.
    fn rows(&self) -> usize {
        (self.oh - 1) * self.stride[0] + (self.kh - 1) * self.dilation[0] + 1
    }

    /// Columns per phase of the padded, phase-split plane.
    fn wq(&self) -> usize {
        ((self.ow - 1) * self.stride[1] + (self.kw - 1) * self.dilation[1] + 1).div_ceil(self.stride[1])
    }

    /// Floats of scratch one padded, phase-split plane needs.
    pub(crate) fn plane_len(&self) -> usize {
        self.stride[1] * self.rows() * self.wq()
    }

    /// Distance between the first taps of consecutive output rows.
    pub(crate) fn row_step(&self) -> usize {
        self.stride[0] * self.wq()
    }

    /// Offset of each tap (row-major over `kh x kw`) for output `(0, 0)` in the scratch plane.
    pub(crate) fn tap_offsets(&self) -> Vec<usize> {
        let (hp, wq, sw) = (self.rows(), self.wq(), self.stride[1]);
        let mut v = Vec::with_capacity(self.kh * self.kw);
        for ky in 0..self.kh {
            for kx in 0..self.kw {
                let c = kx * self.dilation[1];
                v.push(((c % sw) * hp + ky * self.dilation[0]) * wq + c / sw);
            }
        }
        v
    }

    /// Copies plane `x` (`h x w`) into `buf` (`plane_len()`), writing `pad` outside the input.
    pub(crate) fn fill(&self, x: &[f32], pad: f32, buf: &mut [f32]) {
        let (hp, wq, sw) = (self.rows(), self.wq(), self.stride[1]);
        let (pt, pl) = (self.pads_begin[0], self.pads_begin[1]);
        for r in 0..hp {
            let iy = r as isize - pt as isize;
            let src = (iy >= 0 && (iy as usize) < self.h).then(|| &x[iy as usize * self.w..][..self.w]);
            for ph in 0..sw {
                let dst = &mut buf[(ph * hp + r) * wq..][..wq];
                let Some(row) = src else {
                    dst.fill(pad);
                    continue;
                };
                if sw == 1 {
                    let lo = pl.min(wq);
                    let n = self.w.min(wq - lo);
                    dst[..lo].fill(pad);
                    copy_run(&row[..n], &mut dst[lo..lo + n]);
                    dst[lo + n..].fill(pad);
                } else {
                    // Phase columns q with input column q*sw + ph - pl inside 0..w: pad fills
                    // around one branch-free strided copy.
                    let qlo = pl.saturating_sub(ph).div_ceil(sw).min(wq);
                    let qhi = if self.w + pl > ph { ((self.w - 1 + pl - ph) / sw + 1).min(wq) } else { 0 }.max(qlo);
                    dst[..qlo].fill(pad);
                    dst[qhi..].fill(pad);
                    let s0 = qlo * sw + ph - pl;
                    copy_strided(&row[s0.min(self.w)..], sw, &mut dst[qlo..qhi]);
                }
            }
        }
    }
}

/// What a window sweep computes per output element.
#[derive(Clone, Copy)]
pub(crate) enum SweepMode<'a> {
    /// `act(bias + sum(w[t] * x[t]))` (depthwise convolution).
    Fma { w: &'a [f32], bias: f32, act: Activation },
    /// `max(x[t])`, NaN inputs ignored (padding must be `-inf`).
    Max,
    /// `sum(x[t]) / (row_div[oy] * col_div[ox])`, 0 for an empty window (padding must be 0).
    Avg { row_div: &'a [f32], col_div: &'a [f32] },
}

/// One plane's sweep: tap offsets for output (0, 0), the per-output-row step and the width.
pub(crate) struct Sweep<'a> {
    pub(crate) offs: &'a [usize],
    pub(crate) row_step: usize,
    pub(crate) ow: usize,
    pub(crate) mode: SweepMode<'a>,
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use super::{Activation, Sweep, SweepMode};
    use std::arch::x86_64::*;

    #[inline(always)]
    fn lane_mask(n: usize) -> __mmask16 {
        if n >= 16 { 0xFFFF } else { ((1u32 << n) - 1) as __mmask16 }
    }

    /// Computes the `out.len() / s.ow` output rows of one plane from its scratch copy `buf`.
    ///
    /// # Safety
    /// CPU must support AVX-512F; `buf` must be a plane filled by `Window::fill` for the
    /// window `s` was derived from, and `out` must hold whole output rows of that window.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn sweep_plane(buf: &[f32], s: &Sweep<'_>, out: &mut [f32]) {
        let oh = out.len() / s.ow.max(1);
        let mut oy = 0;
        // Several output rows per pass give independent accumulator chains, so the taps'
        // FMAs (or max/add) are not serialised on one register's latency.
        // SAFETY: forwarded from the caller.
        unsafe {
            while oy + 8 <= oh {
                rows::<8>(buf.as_ptr(), s, oy, out.as_mut_ptr());
                oy += 8;
            }
            while oy + 4 <= oh {
                rows::<4>(buf.as_ptr(), s, oy, out.as_mut_ptr());
                oy += 4;
            }
            while oy < oh {
                rows::<1>(buf.as_ptr(), s, oy, out.as_mut_ptr());
                oy += 1;
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn rows<const R: usize>(buf: *const f32, s: &Sweep<'_>, oy: usize, out: *mut f32) {
        let ow = s.ow;
        let mut ox = 0;
        // SAFETY: masked loads stay inside each tap's row (see `Window::wq`), stores inside
        // rows `oy..oy+R` of `out`.
        unsafe {
            while ox < ow {
                let m = lane_mask(ow - ox);
                let base = buf.add(oy * s.row_step + ox);
                let mut acc = [_mm512_setzero_ps(); R];
                match s.mode {
                    SweepMode::Fma { w, bias, act } => {
                        acc = [_mm512_set1_ps(bias); R];
                        for (&o, &wt) in s.offs.iter().zip(w) {
                            let wv = _mm512_set1_ps(wt);
                            for (r, a) in acc.iter_mut().enumerate() {
                                *a = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, base.add(o + r * s.row_step)), *a);
                            }
                        }
                        for (r, a) in acc.iter_mut().enumerate() {
                            let mut v = *a;
                            match act {
                                Activation::None => {}
                                // max(v, lo) with v first so NaN is replaced like f32::max does.
                                Activation::Relu => v = _mm512_max_ps(v, _mm512_setzero_ps()),
                                Activation::Clamp(lo, hi) => {
                                    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(lo)), _mm512_set1_ps(hi))
                                }
                            }
                            _mm512_mask_storeu_ps(out.add((oy + r) * ow + ox), m, v);
                        }
                    }
                    SweepMode::Max => {
                        acc = [_mm512_set1_ps(f32::NEG_INFINITY); R];
                        for &o in s.offs {
                            for (r, a) in acc.iter_mut().enumerate() {
                                // x first: a NaN x yields the second operand, i.e. is ignored.
                                *a = _mm512_max_ps(_mm512_maskz_loadu_ps(m, base.add(o + r * s.row_step)), *a);
                            }
                        }
                        for (r, a) in acc.iter().enumerate() {
                            _mm512_mask_storeu_ps(out.add((oy + r) * ow + ox), m, *a);
                        }
                    }
                    SweepMode::Avg { row_div, col_div } => {
                        for &o in s.offs {
                            for (r, a) in acc.iter_mut().enumerate() {
                                *a = _mm512_add_ps(_mm512_maskz_loadu_ps(m, base.add(o + r * s.row_step)), *a);
                            }
                        }
                        let cd = _mm512_maskz_loadu_ps(m, col_div.as_ptr().add(ox));
                        for (r, a) in acc.iter().enumerate() {
                            let cnt = _mm512_mul_ps(_mm512_set1_ps(row_div[oy + r]), cd);
                            let nz = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(cnt, _mm512_setzero_ps());
                            let v = _mm512_maskz_div_ps(nz, *a, cnt);
                            _mm512_mask_storeu_ps(out.add((oy + r) * ow + ox), m, v);
                        }
                    }
                }
                ox += 16;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::reference;
    use super::super::test_util::{assert_close, rand_vec};
    use super::*;
    use proptest::prelude::*;

    fn params() -> impl Strategy<Value = (PoolParams, bool)> {
        (
            (1usize..3, 1usize..4, 1usize..17, 1usize..17),
            (1usize..5, 1usize..5),
            (1usize..4, 1usize..4),
            (1usize..3, 1usize..3),
            (0usize..3, 0usize..3, 0usize..3, 0usize..3),
            any::<bool>(),
        )
            .prop_map(|((n, c, h, w), (kh, kw), (sh, sw), (dh, dw), (pt, pl, pb, pr), ceil)| {
                let out_h = PoolParams::out_dim(h, kh, sh, dh, pt, pb, ceil);
                let out_w = PoolParams::out_dim(w, kw, sw, dw, pl, pr, ceil);
                let p = PoolParams {
                    n,
                    c,
                    h,
                    w,
                    kh,
                    kw,
                    stride: [sh, sw],
                    dilation: [dh, dw],
                    pads_begin: [pt, pl],
                    pads_end: [pb, pr],
                    out_h,
                    out_w,
                };
                (p, ceil)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn pools_match_reference((p, _ceil) in params(), include_pad in any::<bool>(), seed in any::<u64>(), threaded in any::<bool>()) {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
            let pool = if threaded { Some(&pool) } else { None };
            let x = rand_vec(p.input_len(), seed);
            let mut want = vec![0.0; p.output_len()];
            let mut got = vec![f32::NAN; p.output_len()];
            reference::max_pool2d(&p, &x, &mut want);
            max_pool2d(&p, &x, &mut got, pool).expect("max");
            assert_close(&got, &want, 1e-6, &format!("max {p:?}"));
            reference::avg_pool2d(&p, include_pad, &x, &mut want);
            avg_pool2d(&p, include_pad, &x, &mut got, pool).expect("avg");
            assert_close(&got, &want, 1e-5, &format!("avg {p:?} include_pad={include_pad}"));
        }

        #[test]
        fn global_avg_matches_reference(nc in 1usize..9, hw in 1usize..200, seed in any::<u64>()) {
            let x = rand_vec(nc * hw, seed);
            let mut want = vec![0.0; nc];
            let mut got = vec![0.0; nc];
            reference::global_avg_pool(nc, hw, &x, &mut want);
            global_avg_pool(nc, hw, &x, &mut got, None).expect("gap");
            assert_close(&got, &want, 1e-5, "global avg");
        }
    }

    #[test]
    fn pool_portable_path() {
        let p = PoolParams {
            n: 1,
            c: 3,
            h: 13,
            w: 11,
            kh: 3,
            kw: 2,
            stride: [1, 2],
            dilation: [1, 1],
            pads_begin: [1, 0],
            pads_end: [1, 1],
            out_h: 13,
            out_w: 6,
        };
        let x = rand_vec(p.input_len(), 4);
        let mut want = vec![0.0; p.output_len()];
        let mut got = vec![0.0; p.output_len()];
        super::super::test_util::portable(|| {
            reference::max_pool2d(&p, &x, &mut want);
            max_pool2d(&p, &x, &mut got, None).expect("max");
            assert_close(&got, &want, 1e-6, "portable max");
            reference::avg_pool2d(&p, false, &x, &mut want);
            avg_pool2d(&p, false, &x, &mut got, None).expect("avg");
            assert_close(&got, &want, 1e-5, "portable avg");
        });
    }

    #[test]
    fn pool_large_threaded_and_errors() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
        let p = PoolParams {
            n: 1,
            c: 64,
            h: 112,
            w: 112,
            kh: 3,
            kw: 3,
            stride: [2, 2],
            dilation: [1, 1],
            pads_begin: [1, 1],
            pads_end: [1, 1],
            out_h: 56,
            out_w: 56,
        };
        let x = rand_vec(p.input_len(), 9);
        let mut want = vec![0.0; p.output_len()];
        let mut got = vec![0.0; p.output_len()];
        reference::max_pool2d(&p, &x, &mut want);
        max_pool2d(&p, &x, &mut got, Some(&pool)).expect("max");
        assert_close(&got, &want, 1e-6, "max large");
        assert!(max_pool2d(&p, &x[1..], &mut got, None).is_err());
        let mut q = p;
        q.stride = [0, 1];
        assert!(avg_pool2d(&q, true, &x, &mut got, None).is_err());
        let mut g = vec![0.0; 64];
        let mut gw = vec![0.0; 64];
        global_avg_pool(64, 112 * 112, &x, &mut g, Some(&pool)).expect("gap");
        reference::global_avg_pool(64, 112 * 112, &x, &mut gw);
        assert_close(&g, &gw, 1e-5, "gap large");
    }
}
