//! Packed, cache-blocked SGEMM `C[m,n] (+)= A[m,k] * B[k,n]` with a fused epilogue.
//!
//! Layout follows the BLIS/MLAS scheme: B is packed into `NR`-wide column panels per `KC`
//! block (a `KC x NR` micro-panel is 16 KiB and stays in L1), A into `MR`-tall row panels per
//! `MC x KC` block (~120 KiB, lives in L2), and a 6x16 micro-kernel keeps 12 ymm accumulators.
//! Constant weights are packed once with [`PackedB::new`] / [`PackedA::new`].

use super::{
    Activation, AlignedBuf, KernelResult, SyncPtr, ThreadPool, ensure, has_avx2_fma, run_tasks,
    split_range, threads_for,
};
use std::cell::RefCell;

/// Rows of the micro-kernel tile.
pub const MR: usize = 6;
/// Columns of the micro-kernel tile (two ymm registers).
pub const NR: usize = 16;
/// Depth of one packed block; `KC * NR * 4` bytes = 16 KiB keeps a B micro-panel in L1.
pub const KC: usize = 256;
/// Rows of A packed per block; a multiple of `MR` so pre-packed A panels line up.
pub const MC: usize = 120;

/// Bias added in the GEMM epilogue.
#[derive(Clone, Copy, Debug, Default)]
pub enum Bias<'a> {
    /// No bias.
    #[default]
    None,
    /// One value per output row (length `m`), e.g. conv bias with weights as A.
    PerRow(&'a [f32]),
    /// One value per output column (length `n`), e.g. MatMul/FullyConnected bias.
    PerCol(&'a [f32]),
}

/// Work fused into the store of C: `C = act((accumulate ? C : 0) + A*B + bias)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    /// Bias added before the activation.
    pub bias: Bias<'a>,
    /// Activation applied last.
    pub act: Activation,
    /// Add the product to the existing contents of C (BLAS beta = 1) instead of overwriting.
    pub accumulate: bool,
}

impl<'a> Epilogue<'a> {
    /// Plain `C = A*B`.
    pub fn none() -> Self {
        Self::default()
    }

    fn check(&self, m: usize, n: usize) -> KernelResult {
        match self.bias {
            Bias::None => Ok(()),
            Bias::PerRow(b) => ensure(b.len() >= m, || format!("row bias len {} < m {m}", b.len())),
            Bias::PerCol(b) => ensure(b.len() >= n, || format!("col bias len {} < n {n}", b.len())),
        }
    }

    #[inline(always)]
    fn row_ptr(&self) -> *const f32 {
        match self.bias {
            Bias::PerRow(b) => b.as_ptr(),
            _ => std::ptr::null(),
        }
    }

    #[inline(always)]
    fn col_ptr(&self) -> *const f32 {
        match self.bias {
            Bias::PerCol(b) => b.as_ptr(),
            _ => std::ptr::null(),
        }
    }

    /// Scalar definition of the epilogue for element (i, j); SIMD stores must match it.
    #[inline(always)]
    fn apply(&self, v: f32, old: f32, accumulate: bool, i: usize, j: usize) -> f32 {
        let mut v = if accumulate { v + old } else { v };
        match self.bias {
            Bias::None => {}
            Bias::PerRow(b) => v += b.get(i).copied().unwrap_or(0.0),
            Bias::PerCol(b) => v += b.get(j).copied().unwrap_or(0.0),
        }
        self.act.apply(v)
    }
}

/// B (`k x n`) packed into `NR`-column panels per `KC` block, built once for constant weights.
#[derive(Clone, Debug)]
pub struct PackedB {
    k: usize,
    n: usize,
    n_pad: usize,
    data: AlignedBuf,
}

impl PackedB {
    /// Packs `B[k,n]` (row stride `ldb`), or `B^T` given as `[n,k]` when `transposed`.
    pub fn new(k: usize, n: usize, b: &[f32], ldb: usize, transposed: bool) -> KernelResult<Self> {
        check_b(k, n, b, ldb, transposed)?;
        let n_pad = n.div_ceil(NR) * NR;
        let mut data = AlignedBuf::zeroed(k * n_pad);
        pack_b(data.as_mut_slice(), k, n, n_pad, b, ldb, transposed);
        Ok(PackedB { k, n, n_pad, data })
    }

    /// Inner (reduction) dimension.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of output columns.
    pub fn n(&self) -> usize {
        self.n
    }

    fn panels(&self) -> BPanels<'_> {
        BPanels { data: self.data.as_slice(), n: self.n, n_pad: self.n_pad }
    }
}

/// A (`m x k`) packed into `MR`-row panels per `KC` block, e.g. conv weights `[c_out, K]`.
#[derive(Clone, Debug)]
pub struct PackedA {
    m: usize,
    k: usize,
    m_pad: usize,
    data: AlignedBuf,
}

impl PackedA {
    /// Packs row-major `A[m,k]` with row stride `lda`.
    pub fn new(m: usize, k: usize, a: &[f32], lda: usize) -> KernelResult<Self> {
        check_a(m, k, a, lda)?;
        let m_pad = m.div_ceil(MR) * MR;
        let mut data = AlignedBuf::zeroed(k * m_pad);
        let dst = data.as_mut_slice();
        let mut kb = 0;
        while kb < k {
            let kcb = KC.min(k - kb);
            pack_a_block(&mut dst[kb * m_pad..(kb + kcb) * m_pad], a, lda, 0, m, kb, kcb);
            kb += kcb;
        }
        Ok(PackedA { m, k, m_pad, data })
    }

    /// Number of output rows.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Inner (reduction) dimension.
    pub fn k(&self) -> usize {
        self.k
    }
}

/// `C[m,n] = epilogue(A[m,k] * op(B))`, `op(B) = B[k,n]` or, with `trans_b`, `B[n,k]^T`.
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
    pool: Option<&ThreadPool>,
) -> KernelResult {
    check_a(m, k, a, lda)?;
    check_b(k, n, b, ldb, trans_b)?;
    check_c(m, n, c, ldc)?;
    epi.check(m, n)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        store_zero_k(m, n, c, ldc, epi);
        return Ok(());
    }
    if m == 1 {
        let src = if trans_b { GemvB::Cols { b, ldb } } else { GemvB::Rows { b, ldb } };
        gemv(n, k, &a[..k], src, c, epi, pool);
        return Ok(());
    }
    if n == 1 {
        gemv_n1(m, k, a, lda, b, ldb, trans_b, c, ldc, epi, pool);
        return Ok(());
    }
    let n_pad = n.div_ceil(NR) * NR;
    let mut packed = AlignedBuf::zeroed(k * n_pad);
    pack_b(packed.as_mut_slice(), k, n, n_pad, b, ldb, trans_b);
    let panels = BPanels { data: packed.as_slice(), n, n_pad };
    let core = Core { m, n, k, a: ASrc::Raw { a, lda }, b: panels, c: SyncPtr(c.as_mut_ptr()), ldc, epi };
    core_parallel(&core, pool);
    Ok(())
}

/// `C[m,n] = epilogue(A[m,k] * B)` with B pre-packed by [`PackedB::new`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_prepacked(
    m: usize,
    a: &[f32],
    lda: usize,
    b: &PackedB,
    c: &mut [f32],
    ldc: usize,
    epi: &Epilogue<'_>,
    pool: Option<&ThreadPool>,
) -> KernelResult {
    let (k, n) = (b.k, b.n);
    check_a(m, k, a, lda)?;
    check_c(m, n, c, ldc)?;
    epi.check(m, n)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        store_zero_k(m, n, c, ldc, epi);
        return Ok(());
    }
    if m == 1 {
        gemv(n, k, &a[..k], GemvB::Packed(b), c, epi, pool);
        return Ok(());
    }
    let core = Core { m, n, k, a: ASrc::Raw { a, lda }, b: b.panels(), c: SyncPtr(c.as_mut_ptr()), ldc, epi };
    core_parallel(&core, pool);
    Ok(())
}

/// `C[m,n] = epilogue(A * op(B))` with A pre-packed by [`PackedA::new`] and B packed per call.
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed_a(
    a: &PackedA,
    n: usize,
    b: &[f32],
    ldb: usize,
    trans_b: bool,
    c: &mut [f32],
    ldc: usize,
    epi: &Epilogue<'_>,
    pool: Option<&ThreadPool>,
) -> KernelResult {
    let (m, k) = (a.m, a.k);
    check_b(k, n, b, ldb, trans_b)?;
    check_c(m, n, c, ldc)?;
    epi.check(m, n)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        store_zero_k(m, n, c, ldc, epi);
        return Ok(());
    }
    let n_pad = n.div_ceil(NR) * NR;
    let mut packed = AlignedBuf::zeroed(k * n_pad);
    pack_b(packed.as_mut_slice(), k, n, n_pad, b, ldb, trans_b);
    let panels = BPanels { data: packed.as_slice(), n, n_pad };
    // SAFETY: c was validated to hold (m-1)*ldc+n elements above.
    unsafe { gemm_packed_panels(a, panels, c.as_mut_ptr(), ldc, epi, pool) };
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Crate-internal building blocks (used by conv to feed im2col tiles straight into panels).

/// View of B already in panel layout: per `KC` block at `kb * n_pad`, panel `jp` at `jp*NR*kcb`.
#[derive(Clone, Copy)]
pub(crate) struct BPanels<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) n: usize,
    pub(crate) n_pad: usize,
}

/// Offset of element (p, j) of a `k x n_pad` panel-layout matrix.
#[inline(always)]
pub(crate) fn panel_offset(k: usize, n_pad: usize, p: usize, j: usize) -> usize {
    let kb = p / KC * KC;
    let kcb = KC.min(k - kb);
    kb * n_pad + (j / NR) * NR * kcb + (p - kb) * NR + j % NR
}

/// Runs the blocked GEMM on pre-packed A and panel B, writing rows of stride `ldc` at `c`.
///
/// # Safety
/// `c` must be valid for writes of `(a.m-1)*ldc + b.n` elements, `b.data` must hold
/// `a.k * b.n_pad` elements, and the epilogue bias lengths must be checked by the caller.
pub(crate) unsafe fn gemm_packed_panels(
    a: &PackedA,
    b: BPanels<'_>,
    c: *mut f32,
    ldc: usize,
    epi: &Epilogue<'_>,
    pool: Option<&ThreadPool>,
) {
    debug_assert!(b.data.len() >= a.k * b.n_pad);
    let core = Core { m: a.m, n: b.n, k: a.k, a: ASrc::Packed(a), b, c: SyncPtr(c), ldc, epi };
    core_parallel(&core, pool);
}

// ---------------------------------------------------------------------------------------------
// Validation helpers.

fn check_a(m: usize, k: usize, a: &[f32], lda: usize) -> KernelResult {
    if m == 0 || k == 0 {
        return Ok(());
    }
    ensure(lda >= k, || format!("lda {lda} < k {k}"))?;
    let need = (m - 1) * lda + k;
    ensure(a.len() >= need, || format!("A len {} < {need}", a.len()))
}

fn check_b(k: usize, n: usize, b: &[f32], ldb: usize, trans: bool) -> KernelResult {
    if n == 0 || k == 0 {
        return Ok(());
    }
    let (rows, cols) = if trans { (n, k) } else { (k, n) };
    ensure(ldb >= cols, || format!("ldb {ldb} < {cols}"))?;
    let need = (rows - 1) * ldb + cols;
    ensure(b.len() >= need, || format!("B len {} < {need}", b.len()))
}

fn check_c(m: usize, n: usize, c: &[f32], ldc: usize) -> KernelResult {
    if m == 0 || n == 0 {
        return Ok(());
    }
    ensure(ldc >= n, || format!("ldc {ldc} < n {n}"))?;
    let need = (m - 1) * ldc + n;
    ensure(c.len() >= need, || format!("C len {} < {need}", c.len()))
}

fn store_zero_k(m: usize, n: usize, c: &mut [f32], ldc: usize, epi: &Epilogue<'_>) {
    for i in 0..m {
        for j in 0..n {
            let x = &mut c[i * ldc + j];
            *x = epi.apply(0.0, *x, epi.accumulate, i, j);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Packing.

fn pack_b(dst: &mut [f32], k: usize, n: usize, n_pad: usize, b: &[f32], ldb: usize, trans: bool) {
    let mut kb = 0;
    while kb < k {
        let kcb = KC.min(k - kb);
        let block = &mut dst[kb * n_pad..(kb + kcb) * n_pad];
        for (jp, panel) in block.chunks_exact_mut(NR * kcb).enumerate() {
            let j0 = jp * NR;
            let cols = NR.min(n - j0);
            if !trans {
                for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
                    let src = &b[(kb + p) * ldb + j0..][..cols];
                    row[..cols].copy_from_slice(src);
                    row[cols..].fill(0.0);
                }
            } else {
                if cols < NR {
                    panel.fill(0.0);
                }
                for jj in 0..cols {
                    let src = &b[(j0 + jj) * ldb + kb..][..kcb];
                    for (p, &v) in src.iter().enumerate() {
                        panel[p * NR + jj] = v;
                    }
                }
            }
        }
        kb += kcb;
    }
}

/// Packs rows `i0..i0+rows`, columns `kb..kb+kcb` of A into `MR`-row panels at `dst[0..]`.
fn pack_a_block(dst: &mut [f32], a: &[f32], lda: usize, i0: usize, rows: usize, kb: usize, kcb: usize) {
    for (pi, panel) in dst.chunks_exact_mut(MR * kcb).take(rows.div_ceil(MR)).enumerate() {
        let r0 = pi * MR;
        let nr = MR.min(rows - r0);
        if nr < MR {
            panel.fill(0.0);
        }
        if nr == MR {
            // Six row streams interleaved: the compiler keeps six pointers and writes
            // each packed 6-float group contiguously.
            let base = (i0 + r0) * lda + kb;
            let r: [&[f32]; MR] = std::array::from_fn(|ii| &a[base + ii * lda..][..kcb]);
            for (p, out) in panel.chunks_exact_mut(MR).enumerate() {
                for ii in 0..MR {
                    out[ii] = r[ii][p];
                }
            }
        } else {
            for ii in 0..nr {
                let src = &a[(i0 + r0 + ii) * lda + kb..][..kcb];
                for (p, &v) in src.iter().enumerate() {
                    panel[p * MR + ii] = v;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Blocked driver.

#[derive(Clone, Copy)]
enum ASrc<'a> {
    Raw { a: &'a [f32], lda: usize },
    Packed(&'a PackedA),
}

struct Core<'a> {
    m: usize,
    n: usize,
    k: usize,
    a: ASrc<'a>,
    b: BPanels<'a>,
    c: SyncPtr,
    ldc: usize,
    epi: &'a Epilogue<'a>,
}

/// One micro-tile store request: where the 6x16 result goes and what to fuse into it.
struct Tile {
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
    finalize: bool,
    /// Bias for the tile's first row (null when none).
    row_bias: *const f32,
    /// Bias for the tile's first column (null when none).
    col_bias: *const f32,
    act: Activation,
}

type UKernel = unsafe fn(usize, *const f32, *const f32, &Tile);

fn select_ukernel() -> UKernel {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            return avx2::ukernel;
        }
    }
    ukernel_scalar
}

thread_local! {
    static A_BUF: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::zeroed(0));
}

fn core_parallel(core: &Core<'_>, pool: Option<&ThreadPool>) {
    let n_panels = core.n.div_ceil(NR);
    let t = threads_for(pool, core.m * core.n * core.k);
    if t <= 1 {
        core_run(core, 0, core.m, 0, n_panels);
        return;
    }
    // Splitting M shares the packed B block and packs disjoint parts of A, so prefer it
    // whenever every thread still gets several micro-tile rows.
    if core.m >= t * MR * 4 || n_panels < t {
        let t = t.min(core.m.div_ceil(MR));
        run_tasks(pool, t, |i| {
            let (i0, i1) = split_range(core.m, t, MR, i);
            core_run(core, i0, i1, 0, n_panels);
        });
    } else {
        run_tasks(pool, t, |i| {
            let (p0, p1) = split_range(n_panels, t, 1, i);
            core_run(core, 0, core.m, p0, p1);
        });
    }
}

/// Computes rows `i0..i1` (multiple of MR at i0) of C restricted to B panels `jp0..jp1`.
fn core_run(core: &Core<'_>, i0: usize, i1: usize, jp0: usize, jp1: usize) {
    if i0 >= i1 || jp0 >= jp1 {
        return;
    }
    A_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => core_run_with(core, i0, i1, jp0, jp1, &mut buf),
        // Only reachable if a task re-enters on the same thread; a private buffer is correct.
        Err(_) => core_run_with(core, i0, i1, jp0, jp1, &mut AlignedBuf::zeroed(0)),
    });
}

fn core_run_with(core: &Core<'_>, i0: usize, i1: usize, jp0: usize, jp1: usize, buf: &mut AlignedBuf) {
    let ukr = select_ukernel();
    let (k, n, ldc) = (core.k, core.n, core.ldc);
    let epi = core.epi;
    let (row_bias, col_bias) = (epi.row_ptr(), epi.col_ptr());
    if let ASrc::Raw { .. } = core.a {
        buf.ensure_len(MC.min((i1 - i0).div_ceil(MR) * MR) * KC.min(k));
    }
    let mut kb = 0;
    while kb < k {
        let kcb = KC.min(k - kb);
        let accumulate = epi.accumulate || kb > 0;
        let finalize = kb + kcb == k;
        let b_block = &core.b.data[kb * core.b.n_pad..];
        let mut ic = i0;
        while ic < i1 {
            let mcb = MC.min(i1 - ic);
            let a_block: &[f32] = match core.a {
                ASrc::Raw { a, lda } => {
                    let dst = &mut buf.as_mut_slice()[..mcb.div_ceil(MR) * MR * kcb];
                    pack_a_block(dst, a, lda, ic, mcb, kb, kcb);
                    buf.as_slice()
                }
                ASrc::Packed(pa) => &pa.data.as_slice()[kb * pa.m_pad + ic * kcb..],
            };
            for jp in jp0..jp1 {
                let j0 = jp * NR;
                let cols = NR.min(n - j0);
                let bp = b_block[jp * NR * kcb..][..NR * kcb].as_ptr();
                let mut ir = 0;
                while ir < mcb {
                    let rows = MR.min(mcb - ir);
                    let ap = a_block[ir * kcb..][..MR * kcb].as_ptr();
                    let i = ic + ir;
                    // SAFETY: the entry points validated C for m rows of n columns at ldc and
                    // the bias lengths; (i, j0) is inside that range and `rows`/`cols` clip it.
                    let tile = unsafe {
                        Tile {
                            c: core.c.0.add(i * ldc + j0),
                            ldc,
                            rows,
                            cols,
                            accumulate,
                            finalize,
                            row_bias: if row_bias.is_null() { row_bias } else { row_bias.add(i) },
                            col_bias: if col_bias.is_null() { col_bias } else { col_bias.add(j0) },
                            act: epi.act,
                        }
                    };
                    // SAFETY: ap/bp point at full MR*kcb / NR*kcb packed panels (sliced above).
                    unsafe { ukr(kcb, ap, bp, &tile) };
                    ir += MR;
                }
            }
            ic += mcb;
        }
        kb += kcb;
    }
}

/// Writes a 6x16 accumulator tile (row-major in `acc`) through the epilogue, clipped.
///
/// # Safety
/// `t` must describe a valid destination (see [`Tile`]).
#[inline(always)]
unsafe fn store_tile_scalar(acc: &[f32; MR * NR], t: &Tile) {
    for i in 0..t.rows {
        // SAFETY: rows/cols are clipped to the validated C region; biases are validated.
        unsafe {
            let rb = if t.row_bias.is_null() { 0.0 } else { *t.row_bias.add(i) };
            let crow = t.c.add(i * t.ldc);
            for j in 0..t.cols {
                let mut v = acc[i * NR + j];
                if t.accumulate {
                    v += *crow.add(j);
                }
                if t.finalize {
                    v += rb;
                    if !t.col_bias.is_null() {
                        v += *t.col_bias.add(j);
                    }
                    v = t.act.apply(v);
                }
                *crow.add(j) = v;
            }
        }
    }
}

/// Portable micro-kernel for CPUs without AVX2+FMA.
///
/// # Safety
/// `a` holds `kc*MR`, `b` holds `kc*NR` floats; `t` is a valid destination.
unsafe fn ukernel_scalar(kc: usize, a: *const f32, b: *const f32, t: &Tile) {
    let mut acc = [0.0f32; MR * NR];
    // SAFETY: guaranteed by the caller.
    let (a, b) = unsafe { (std::slice::from_raw_parts(a, kc * MR), std::slice::from_raw_parts(b, kc * NR)) };
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for i in 0..MR {
            let av = ap[i];
            for j in 0..NR {
                acc[i * NR + j] += av * bp[j];
            }
        }
    }
    // SAFETY: guaranteed by the caller.
    unsafe { store_tile_scalar(&acc, t) };
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Activation, MR, NR, Tile, store_tile_scalar};
    use std::arch::x86_64::*;

    /// 6x16 AVX2+FMA micro-kernel: 12 accumulators, 2 B loads + 6 broadcasts per k step.
    ///
    /// # Safety
    /// CPU must support AVX2+FMA; `a` holds `kc*MR`, `b` holds `kc*NR` floats; `t` is valid.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn ukernel(kc: usize, a: *const f32, b: *const f32, t: &Tile) {
        unsafe {
            let mut c = [_mm256_setzero_ps(); 12];
            let mut a = a;
            let mut b = b;
            macro_rules! step {
                ($o:expr) => {{
                    let b0 = _mm256_loadu_ps(b.add($o * NR));
                    let b1 = _mm256_loadu_ps(b.add($o * NR + 8));
                    let x = _mm256_broadcast_ss(&*a.add($o * MR));
                    c[0] = _mm256_fmadd_ps(x, b0, c[0]);
                    c[1] = _mm256_fmadd_ps(x, b1, c[1]);
                    let x = _mm256_broadcast_ss(&*a.add($o * MR + 1));
                    c[2] = _mm256_fmadd_ps(x, b0, c[2]);
                    c[3] = _mm256_fmadd_ps(x, b1, c[3]);
                    let x = _mm256_broadcast_ss(&*a.add($o * MR + 2));
                    c[4] = _mm256_fmadd_ps(x, b0, c[4]);
                    c[5] = _mm256_fmadd_ps(x, b1, c[5]);
                    let x = _mm256_broadcast_ss(&*a.add($o * MR + 3));
                    c[6] = _mm256_fmadd_ps(x, b0, c[6]);
                    c[7] = _mm256_fmadd_ps(x, b1, c[7]);
                    let x = _mm256_broadcast_ss(&*a.add($o * MR + 4));
                    c[8] = _mm256_fmadd_ps(x, b0, c[8]);
                    c[9] = _mm256_fmadd_ps(x, b1, c[9]);
                    let x = _mm256_broadcast_ss(&*a.add($o * MR + 5));
                    c[10] = _mm256_fmadd_ps(x, b0, c[10]);
                    c[11] = _mm256_fmadd_ps(x, b1, c[11]);
                }};
            }
            let mut p = 0;
            while p + 4 <= kc {
                step!(0);
                step!(1);
                step!(2);
                step!(3);
                a = a.add(4 * MR);
                b = b.add(4 * NR);
                p += 4;
            }
            while p < kc {
                step!(0);
                a = a.add(MR);
                b = b.add(NR);
                p += 1;
            }
            store(&c, t);
        }
    }

    #[inline(always)]
    unsafe fn store(c: &[__m256; 12], t: &Tile) {
        unsafe {
            if t.rows != MR || t.cols != NR {
                let mut tmp = [0.0f32; MR * NR];
                for (i, v) in c.iter().enumerate() {
                    _mm256_storeu_ps(tmp.as_mut_ptr().add(i * 8), *v);
                }
                store_tile_scalar(&tmp, t);
                return;
            }
            let (cb0, cb1) = if t.col_bias.is_null() {
                (_mm256_setzero_ps(), _mm256_setzero_ps())
            } else {
                (_mm256_loadu_ps(t.col_bias), _mm256_loadu_ps(t.col_bias.add(8)))
            };
            let (lo, hi, act) = match t.act {
                Activation::None => (_mm256_setzero_ps(), _mm256_setzero_ps(), 0),
                Activation::Relu => (_mm256_setzero_ps(), _mm256_setzero_ps(), 1),
                Activation::Clamp(l, h) => (_mm256_set1_ps(l), _mm256_set1_ps(h), 2),
            };
            for i in 0..MR {
                let p = t.c.add(i * t.ldc);
                let mut v0 = c[2 * i];
                let mut v1 = c[2 * i + 1];
                if t.accumulate {
                    v0 = _mm256_add_ps(v0, _mm256_loadu_ps(p));
                    v1 = _mm256_add_ps(v1, _mm256_loadu_ps(p.add(8)));
                }
                if t.finalize {
                    if !t.row_bias.is_null() {
                        let r = _mm256_set1_ps(*t.row_bias.add(i));
                        v0 = _mm256_add_ps(v0, r);
                        v1 = _mm256_add_ps(v1, r);
                    }
                    v0 = _mm256_add_ps(v0, cb0);
                    v1 = _mm256_add_ps(v1, cb1);
                    if act >= 1 {
                        // max(v, lo) with v first so NaN in v is replaced like f32::max does.
                        v0 = _mm256_max_ps(v0, lo);
                        v1 = _mm256_max_ps(v1, lo);
                    }
                    if act == 2 {
                        v0 = _mm256_min_ps(v0, hi);
                        v1 = _mm256_min_ps(v1, hi);
                    }
                }
                _mm256_storeu_ps(p, v0);
                _mm256_storeu_ps(p.add(8), v1);
            }
        }
    }

    /// `acc[j] += sum_r x[r] * rows[r][j]` over 4 rows at a time (row-major GEMV core).
    ///
    /// # Safety
    /// CPU must support AVX2+FMA; `b` holds `(k-1)*ldb + w` floats from the first column.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gemv_rows(x: &[f32], b: *const f32, ldb: usize, acc: &mut [f32]) {
        unsafe {
            let w = acc.len();
            let k = x.len();
            let o = acc.as_mut_ptr();
            let mut p = 0;
            while p + 4 <= k {
                let (r0, r1, r2, r3) = (b.add(p * ldb), b.add((p + 1) * ldb), b.add((p + 2) * ldb), b.add((p + 3) * ldb));
                let (x0, x1, x2, x3) = (_mm256_set1_ps(x[p]), _mm256_set1_ps(x[p + 1]), _mm256_set1_ps(x[p + 2]), _mm256_set1_ps(x[p + 3]));
                let mut j = 0;
                while j + 8 <= w {
                    let mut v = _mm256_loadu_ps(o.add(j));
                    let mut u = _mm256_mul_ps(x1, _mm256_loadu_ps(r1.add(j)));
                    v = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r0.add(j)), v);
                    u = _mm256_fmadd_ps(x3, _mm256_loadu_ps(r3.add(j)), u);
                    v = _mm256_fmadd_ps(x2, _mm256_loadu_ps(r2.add(j)), v);
                    _mm256_storeu_ps(o.add(j), _mm256_add_ps(v, u));
                    j += 8;
                }
                while j < w {
                    *o.add(j) += x[p] * *r0.add(j) + x[p + 1] * *r1.add(j) + x[p + 2] * *r2.add(j) + x[p + 3] * *r3.add(j);
                    j += 1;
                }
                p += 4;
            }
            while p < k {
                let r0 = b.add(p * ldb);
                let x0 = _mm256_set1_ps(x[p]);
                let mut j = 0;
                while j + 8 <= w {
                    let v = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r0.add(j)), _mm256_loadu_ps(o.add(j)));
                    _mm256_storeu_ps(o.add(j), v);
                    j += 8;
                }
                while j < w {
                    *o.add(j) += x[p] * *r0.add(j);
                    j += 1;
                }
                p += 1;
            }
        }
    }

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// `out[r] = dot(x, mat[r*ld .. r*ld+k])`, four rows at a time.
    ///
    /// # Safety
    /// CPU must support AVX2+FMA; `mat` holds `(out.len()-1)*ld + x.len()` floats.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_rows(x: &[f32], mat: *const f32, ld: usize, out: &mut [f32]) {
        unsafe {
            let k = x.len();
            let xp = x.as_ptr();
            let rows = out.len();
            let mut r = 0;
            while r + 4 <= rows {
                let m0 = mat.add(r * ld);
                let (m1, m2, m3) = (m0.add(ld), m0.add(2 * ld), m0.add(3 * ld));
                let mut a0 = _mm256_setzero_ps();
                let mut a1 = _mm256_setzero_ps();
                let mut a2 = _mm256_setzero_ps();
                let mut a3 = _mm256_setzero_ps();
                let mut p = 0;
                while p + 8 <= k {
                    let xv = _mm256_loadu_ps(xp.add(p));
                    a0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(m0.add(p)), a0);
                    a1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(m1.add(p)), a1);
                    a2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(m2.add(p)), a2);
                    a3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(m3.add(p)), a3);
                    p += 8;
                }
                let mut s = [hsum(a0), hsum(a1), hsum(a2), hsum(a3)];
                while p < k {
                    let xv = *xp.add(p);
                    s[0] += xv * *m0.add(p);
                    s[1] += xv * *m1.add(p);
                    s[2] += xv * *m2.add(p);
                    s[3] += xv * *m3.add(p);
                    p += 1;
                }
                out[r..r + 4].copy_from_slice(&s);
                r += 4;
            }
            while r < rows {
                let m0 = mat.add(r * ld);
                let mut a0 = _mm256_setzero_ps();
                let mut p = 0;
                while p + 8 <= k {
                    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xp.add(p)), _mm256_loadu_ps(m0.add(p)), a0);
                    p += 8;
                }
                let mut s = hsum(a0);
                while p < k {
                    s += *xp.add(p) * *m0.add(p);
                    p += 1;
                }
                out[r] = s;
                r += 1;
            }
        }
    }

    /// GEMV over pre-packed panels: `acc[jp*NR + j] += sum_p x[p] * panel[p][j]` for one block.
    ///
    /// # Safety
    /// CPU must support AVX2+FMA; `panels` holds `acc.len()/NR` panels of `x.len()*NR` floats.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gemv_panels(x: &[f32], panels: *const f32, acc: &mut [f32]) {
        unsafe {
            let kcb = x.len();
            for (jp, out) in acc.chunks_exact_mut(NR).enumerate() {
                let mut b = panels.add(jp * NR * kcb);
                // Four independent accumulator pairs hide the FMA latency.
                let mut s = [_mm256_setzero_ps(); 8];
                let mut p = 0;
                while p + 4 <= kcb {
                    for u in 0..4 {
                        let xv = _mm256_set1_ps(*x.get_unchecked(p + u));
                        s[2 * u] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(b.add(u * NR)), s[2 * u]);
                        s[2 * u + 1] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(b.add(u * NR + 8)), s[2 * u + 1]);
                    }
                    b = b.add(4 * NR);
                    p += 4;
                }
                while p < kcb {
                    let xv = _mm256_set1_ps(*x.get_unchecked(p));
                    s[0] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(b), s[0]);
                    s[1] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(b.add(8)), s[1]);
                    b = b.add(NR);
                    p += 1;
                }
                let lo = _mm256_add_ps(_mm256_add_ps(s[0], s[2]), _mm256_add_ps(s[4], s[6]));
                let hi = _mm256_add_ps(_mm256_add_ps(s[1], s[3]), _mm256_add_ps(s[5], s[7]));
                let o = out.as_mut_ptr();
                _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), lo));
                _mm256_storeu_ps(o.add(8), _mm256_add_ps(_mm256_loadu_ps(o.add(8)), hi));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GEMV (m == 1) and matrix-vector (n == 1) paths: memory-bound, so no packing.

#[derive(Clone, Copy)]
enum GemvB<'a> {
    /// `B[p*ldb + j]`.
    Rows { b: &'a [f32], ldb: usize },
    /// `B[j*ldb + p]` (transposed B).
    Cols { b: &'a [f32], ldb: usize },
    Packed(&'a PackedB),
}

fn gemv(n: usize, k: usize, x: &[f32], b: GemvB<'_>, c: &mut [f32], epi: &Epilogue<'_>, pool: Option<&ThreadPool>) {
    let t = threads_for(pool, n * k);
    let align = if matches!(b, GemvB::Packed(_)) { NR } else { 8 };
    let t = t.min(n.div_ceil(align));
    let cp = SyncPtr(c.as_mut_ptr());
    run_tasks(pool, t, |ti| {
        let (j0, j1) = split_range(n, t, align, ti);
        if j0 >= j1 {
            return;
        }
        let w = j1 - j0;
        let mut acc = vec![0.0f32; w.div_ceil(NR) * NR];
        gemv_range(k, x, b, j0, &mut acc[..], w);
        // SAFETY: c holds n elements (validated); tasks write disjoint [j0, j1).
        let out = unsafe { std::slice::from_raw_parts_mut(cp.0.add(j0), w) };
        for (jj, (o, &v)) in out.iter_mut().zip(&acc).enumerate() {
            *o = epi.apply(v, *o, epi.accumulate, 0, j0 + jj);
        }
    });
}

/// Sums columns `j0..j0+w` of `x * B` into `acc` (len >= w, padded to NR for packed B).
fn gemv_range(k: usize, x: &[f32], b: GemvB<'_>, j0: usize, acc: &mut [f32], w: usize) {
    let avx = has_avx2_fma();
    match b {
        GemvB::Rows { b, ldb } => {
            let acc = &mut acc[..w];
            let bj = &b[j0..];
            #[cfg(target_arch = "x86_64")]
            if avx {
                // SAFETY: B validated for (k-1)*ldb + n elements, j0 + w <= n.
                unsafe { avx2::gemv_rows(x, bj.as_ptr(), ldb, acc) };
                return;
            }
            let _ = avx;
            for (p, &xv) in x.iter().enumerate() {
                for (o, &bv) in acc.iter_mut().zip(&bj[p * ldb..][..w]) {
                    *o += xv * bv;
                }
            }
        }
        GemvB::Cols { b, ldb } => {
            let acc = &mut acc[..w];
            dot_rows(x, &b[j0 * ldb..], ldb, acc);
        }
        GemvB::Packed(pb) => {
            let mut kb = 0;
            let (jp0, np) = (j0 / NR, w.div_ceil(NR));
            while kb < k {
                let kcb = KC.min(k - kb);
                let panels = &pb.data.as_slice()[kb * pb.n_pad + jp0 * NR * kcb..][..np * NR * kcb];
                let xs = &x[kb..kb + kcb];
                #[cfg(target_arch = "x86_64")]
                if avx {
                    // SAFETY: `panels` was sliced to exactly np panels of kcb*NR floats.
                    unsafe { avx2::gemv_panels(xs, panels.as_ptr(), &mut acc[..np * NR]) };
                    kb += kcb;
                    continue;
                }
                for (jp, out) in acc[..np * NR].chunks_exact_mut(NR).enumerate() {
                    let panel = &panels[jp * NR * kcb..][..NR * kcb];
                    for (&xv, row) in xs.iter().zip(panel.chunks_exact(NR)) {
                        for (o, &bv) in out.iter_mut().zip(row) {
                            *o += xv * bv;
                        }
                    }
                }
                kb += kcb;
            }
        }
    }
}

/// `out[r] = dot(x, mat[r*ld..][..k])`.
fn dot_rows(x: &[f32], mat: &[f32], ld: usize, out: &mut [f32]) {
    let k = x.len();
    if out.is_empty() {
        return;
    }
    debug_assert!(mat.len() >= (out.len() - 1) * ld + k);
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() && mat.len() >= (out.len() - 1) * ld + k {
        // SAFETY: length checked just above.
        unsafe { avx2::dot_rows(x, mat.as_ptr(), ld, out) };
        return;
    }
    for (r, o) in out.iter_mut().enumerate() {
        *o = x.iter().zip(&mat[r * ld..][..k]).map(|(a, b)| a * b).sum();
    }
}

#[allow(clippy::too_many_arguments)]
fn gemv_n1(
    m: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    trans_b: bool,
    c: &mut [f32],
    ldc: usize,
    epi: &Epilogue<'_>,
    pool: Option<&ThreadPool>,
) {
    // A strided B column is gathered once so the dot products read two contiguous streams.
    let col: Vec<f32> = if trans_b { b[..k].to_vec() } else { (0..k).map(|p| b[p * ldb]).collect() };
    let mut out = vec![0.0f32; m];
    let t = threads_for(pool, m * k).min(m.div_ceil(8));
    let op = SyncPtr(out.as_mut_ptr());
    run_tasks(pool, t, |ti| {
        let (i0, i1) = split_range(m, t, 8, ti);
        if i0 < i1 {
            // SAFETY: tasks write disjoint ranges of `out`, which outlives the scope.
            let o = unsafe { std::slice::from_raw_parts_mut(op.0.add(i0), i1 - i0) };
            dot_rows(&col, &a[i0 * lda..], lda, o);
        }
    });
    for (i, &v) in out.iter().enumerate() {
        let x = &mut c[i * ldc];
        *x = epi.apply(v, *x, epi.accumulate, i, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::super::reference;
    use super::super::test_util::{assert_close, rand_vec};
    use super::*;
    use proptest::prelude::*;

    #[allow(clippy::too_many_arguments)]
    fn check_case(m: usize, n: usize, k: usize, pad: (usize, usize, usize), trans: bool, bias_kind: u8, act: Activation, acc: bool, seed: u64, prepack: u8, pool: Option<&ThreadPool>) {
        let lda = k + pad.0;
        let ldb = if trans { k + pad.1 } else { n + pad.1 };
        let ldc = n + pad.2;
        let a = rand_vec(m * lda, seed);
        let b = rand_vec(if trans { n * ldb } else { k * ldb }, seed + 1);
        let c0 = rand_vec(m * ldc, seed + 2);
        let rb = rand_vec(m, seed + 3);
        let cb = rand_vec(n, seed + 4);
        let bias = match bias_kind {
            1 => Bias::PerRow(&rb),
            2 => Bias::PerCol(&cb),
            _ => Bias::None,
        };
        let epi = Epilogue { bias, act, accumulate: acc };
        let mut want = c0.clone();
        reference::gemm(m, n, k, &a, lda, &b, ldb, trans, &mut want, ldc, &epi);
        let mut got = c0.clone();
        match prepack {
            0 => gemm(m, n, k, &a, lda, &b, ldb, trans, &mut got, ldc, &epi, pool).expect("gemm"),
            1 => {
                let pb = PackedB::new(k, n, &b, ldb, trans).expect("pack");
                gemm_prepacked(m, &a, lda, &pb, &mut got, ldc, &epi, pool).expect("gemm_prepacked");
            }
            _ => {
                let pa = PackedA::new(m, k, &a, lda).expect("pack");
                gemm_packed_a(&pa, n, &b, ldb, trans, &mut got, ldc, &epi, pool).expect("gemm_packed_a");
            }
        }
        assert_close(&got, &want, 1e-4, &format!("gemm m={m} n={n} k={k} trans={trans} prepack={prepack}"));
    }

    fn act_strategy() -> impl Strategy<Value = Activation> {
        prop_oneof![Just(Activation::None), Just(Activation::Relu), Just(Activation::Clamp(-0.5, 0.7))]
    }

    fn pool2() -> ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(160))]
        #[test]
        fn gemm_small_matches_reference(
            m in 1usize..70, n in 1usize..70, k in 1usize..70,
            pad in (0usize..3, 0usize..3, 0usize..3), trans in any::<bool>(), bias in 0u8..3,
            act in act_strategy(), acc in any::<bool>(), seed in any::<u64>(), prepack in 0u8..3,
        ) {
            check_case(m, n, k, pad, trans, bias, act, acc, seed, prepack, None);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn gemm_large_matches_reference(
            m in prop_oneof![Just(1usize), 100usize..260], n in prop_oneof![Just(1usize), 17usize..300], k in 250usize..600,
            trans in any::<bool>(), bias in 0u8..3, act in act_strategy(), acc in any::<bool>(),
            seed in any::<u64>(), prepack in 0u8..3, threaded in any::<bool>(),
        ) {
            let pool = pool2();
            check_case(m, n, k, (1, 3, 2), trans, bias, act, acc, seed, prepack, if threaded { Some(&pool) } else { None });
        }
    }

    #[test]
    fn gemm_degenerate_shapes() {
        for (m, n, k) in [(0, 5, 3), (4, 0, 3), (3, 4, 0), (1, 1, 1), (1, 33, 0)] {
            for acc in [false, true] {
                check_case(m, n, k, (0, 0, 0), false, 2, Activation::Relu, acc, 7, 0, None);
                check_case(m, n, k, (0, 0, 0), true, 1, Activation::None, acc, 7, 1, None);
            }
        }
    }

    #[test]
    fn gemm_rejects_short_slices() {
        let a = vec![0.0; 5];
        let b = vec![0.0; 6];
        let mut c = vec![0.0; 4];
        assert!(gemm(2, 2, 3, &a, 3, &b, 2, false, &mut c, 2, &Epilogue::none(), None).is_err());
        assert!(PackedB::new(3, 2, &b[..5], 2, false).is_err());
        assert!(gemm(2, 2, 3, &[0.0; 6], 2, &b, 2, false, &mut c, 2, &Epilogue::none(), None).is_err());
    }

    #[test]
    fn gemm_threaded_big() {
        let pool = pool2();
        for prepack in 0..3 {
            check_case(300, 200, 700, (0, 0, 0), false, 2, Activation::Relu, false, 11, prepack, Some(&pool));
            check_case(7, 1000, 300, (0, 0, 0), true, 1, Activation::None, true, 12, prepack, Some(&pool));
            check_case(1, 3000, 300, (0, 0, 0), false, 2, Activation::None, false, 13, prepack, Some(&pool));
        }
        check_case(3000, 1, 300, (0, 0, 0), false, 1, Activation::None, false, 14, 0, Some(&pool));
    }
}
