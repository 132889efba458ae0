//! Packed, cache-blocked SGEMM `C[m,n] (+)= A[m,k] * B[k,n]` with a fused epilogue.
//!
//! Layout follows the BLIS/MLAS scheme: B is packed into `nr`-wide column panels per `kc`
//! block (a `kc x nr` micro-panel stays in L1), A into `mr`-tall row panels per `mc x kc`
//! block (lives in L2), and a register-tile micro-kernel sweeps the A panels of a block
//! against one B micro-panel. Two tile geometries exist, picked at run time:
//! * AVX-512F: 14x32, 28 zmm accumulators + 2 B vectors + 1 broadcast (31 of 32 registers);
//!   the 512-bit FMA pipes double the f32 peak of AVX2 on CPUs that have them;
//! * AVX2+FMA (and the portable fallback): 6x16, 12 ymm accumulators.
//!
//! Packed operands ([`PackedB`], [`PackedA`], conv im2col panels) remember the `Layout` they
//! were built in, so a call always runs a kernel matching its operands' panel geometry.

use super::{
    Activation, AlignedBuf, Isa, KernelResult, SyncPtr, ThreadPool, ensure, isa, run_tasks, split_range, threads_for,
};
use std::cell::RefCell;

/// Rows of the AVX2 micro-kernel tile (also the portable layout).
pub const MR: usize = 6;
/// Columns of the AVX2 micro-kernel tile (two ymm registers).
pub const NR: usize = 16;
/// Depth of one packed AVX2 block; `KC * NR * 4` bytes = 16 KiB keeps a B micro-panel in L1.
pub const KC: usize = 256;
/// Rows of A packed per AVX2 block; a multiple of `MR` so pre-packed A panels line up.
pub const MC: usize = 120;
/// Column panels per B block (`NC = 64 * NR = 1024` columns, a 1 MiB block at `KC`); bounds
/// the per-thread B packing buffer and keeps the block in L2/L3 while all of A streams by.
const NC_PANELS: usize = 64;

/// Rows of the AVX-512 tile: 14 rows x 2 zmm = 28 accumulators leave 3 registers for the two
/// B vectors and the A broadcast, and 28 independent FMA chains cover 2 pipes x 4 cycles.
pub(crate) const MR512: usize = 14;
/// zmm registers per row of the AVX-512 tile.
const NV512: usize = 2;
/// Columns of the AVX-512 tile.
pub(crate) const NR512: usize = 16 * NV512;
/// Depth of one AVX-512 block: the 32 KiB B micro-panel plus a streaming 14 KiB A micro-panel
/// fit Zen 5's 48 KiB L1d.
const KC512: usize = 256;
/// Rows of A per AVX-512 block (12 panels, 168 KiB at `KC512`: comfortably inside a 1 MiB L2).
const MC512: usize = 12 * MR512;
/// Column panels per AVX-512 B block (1024 columns, 1 MiB at `KC512`).
const NC_PANELS512: usize = 32;

/// Panel geometry of packed operands; each variant belongs to one micro-kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// 6x16 tiles (AVX2 and portable kernels).
    Ymm,
    /// 14x32 tiles (AVX-512 kernel).
    Zmm,
}

impl Layout {
    /// The layout whose native kernel runs at instruction-set level `isa`.
    pub(crate) fn for_isa(isa: Isa) -> Self {
        if isa >= Isa::Avx512 { Layout::Zmm } else { Layout::Ymm }
    }

    /// Rows per A panel.
    pub(crate) const fn mr(self) -> usize {
        match self {
            Layout::Ymm => MR,
            Layout::Zmm => MR512,
        }
    }

    /// Columns per B panel.
    pub(crate) const fn nr(self) -> usize {
        match self {
            Layout::Ymm => NR,
            Layout::Zmm => NR512,
        }
    }

    /// Depth of one packed k block.
    pub(crate) const fn kc(self) -> usize {
        match self {
            Layout::Ymm => KC,
            Layout::Zmm => KC512,
        }
    }

    const fn mc(self) -> usize {
        match self {
            Layout::Ymm => MC,
            Layout::Zmm => MC512,
        }
    }

    const fn nc_panels(self) -> usize {
        match self {
            Layout::Ymm => NC_PANELS,
            Layout::Zmm => NC_PANELS512,
        }
    }
}

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

/// B (`k x n`) packed into column panels per k block, built once for constant weights.
///
/// The panel geometry follows the best kernel of the CPU at pack time.
#[derive(Clone, Debug)]
pub struct PackedB {
    k: usize,
    n: usize,
    n_pad: usize,
    layout: Layout,
    data: AlignedBuf,
}

impl PackedB {
    /// Packs `B[k,n]` (row stride `ldb`), or `B^T` given as `[n,k]` when `transposed`.
    pub fn new(k: usize, n: usize, b: &[f32], ldb: usize, transposed: bool) -> KernelResult<Self> {
        check_b(k, n, b, ldb, transposed)?;
        let isa = isa();
        let layout = Layout::for_isa(isa);
        let n_pad = n.div_ceil(layout.nr()) * layout.nr();
        let mut data = AlignedBuf::zeroed(k * n_pad);
        pack_b(layout, isa, data.as_mut_slice(), k, n, n_pad, b, ldb, transposed);
        Ok(PackedB { k, n, n_pad, layout, data })
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

    /// Panel geometry; an A operand fed to [`gemm_panels_prepacked_b`] must use the same.
    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }
}

/// A (`m x k`) packed into row panels per k block, e.g. conv weights `[c_out, K]`.
///
/// The panel geometry follows the best kernel of the CPU at pack time.
#[derive(Clone, Debug)]
pub struct PackedA {
    m: usize,
    k: usize,
    m_pad: usize,
    layout: Layout,
    data: AlignedBuf,
}

impl PackedA {
    /// Packs row-major `A[m,k]` with row stride `lda`.
    pub fn new(m: usize, k: usize, a: &[f32], lda: usize) -> KernelResult<Self> {
        check_a(m, k, a, lda)?;
        let isa = isa();
        let layout = Layout::for_isa(isa);
        let m_pad = m.div_ceil(layout.mr()) * layout.mr();
        let mut data = AlignedBuf::zeroed(k * m_pad);
        let dst = data.as_mut_slice();
        let mut kb = 0;
        while kb < k {
            let kcb = layout.kc().min(k - kb);
            pack_a_block(layout, isa, &mut dst[kb * m_pad..(kb + kcb) * m_pad], a, lda, 0, m, kb, kcb);
            kb += kcb;
        }
        Ok(PackedA { m, k, m_pad, layout, data })
    }

    /// Number of output rows.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Inner (reduction) dimension.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Panel geometry; a B operand fed to [`gemm_packed_panels`] must use the same.
    pub(crate) fn layout(&self) -> Layout {
        self.layout
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
    let isa = isa();
    if m == 1 {
        let src = if trans_b { GemvB::Cols { b, ldb } } else { GemvB::Rows { b, ldb } };
        gemv(isa, n, k, &a[..k], src, c, epi, pool);
        return Ok(());
    }
    if n == 1 {
        gemv_n1(isa, m, k, a, lda, b, ldb, trans_b, c, ldc, epi, pool);
        return Ok(());
    }
    let core = Core {
        m,
        n,
        k,
        a: ASrc::Raw { a, lda },
        b: BSrc::Raw { b, ldb, trans: trans_b },
        c: SyncPtr(c.as_mut_ptr()),
        ldc,
        epi,
        layout: Layout::for_isa(isa),
        isa,
    };
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
    let isa = isa();
    if m == 1 {
        gemv(isa, n, k, &a[..k], GemvB::Packed(b), c, epi, pool);
        return Ok(());
    }
    let core = Core {
        m,
        n,
        k,
        a: ASrc::Raw { a, lda },
        b: BSrc::Panels(b.panels()),
        c: SyncPtr(c.as_mut_ptr()),
        ldc,
        epi,
        layout: b.layout,
        isa,
    };
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
    let core = Core {
        m,
        n,
        k,
        a: ASrc::Packed(a),
        b: BSrc::Raw { b, ldb, trans: trans_b },
        c: SyncPtr(c.as_mut_ptr()),
        ldc,
        epi,
        layout: a.layout,
        isa: isa(),
    };
    core_parallel(&core, pool);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Crate-internal building blocks (used by conv to feed im2col tiles straight into panels).

/// View of B already in panel layout: per k block at `kb * n_pad`, panel `jp` at `jp*nr*kcb`
/// (`nr`, `kc` of the layout of the A operand it is multiplied with).
#[derive(Clone, Copy)]
pub(crate) struct BPanels<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) n: usize,
    pub(crate) n_pad: usize,
}

/// Runs the blocked GEMM on pre-packed A and panel B, writing rows of stride `ldc` at `c`.
///
/// # Safety
/// `c` must be valid for writes of `(a.m-1)*ldc + b.n` elements, `b.data` must hold
/// `a.k * b.n_pad` elements in `a.layout()`, and the epilogue bias lengths must be checked by
/// the caller.
pub(crate) unsafe fn gemm_packed_panels(
    a: &PackedA,
    b: BPanels<'_>,
    c: *mut f32,
    ldc: usize,
    epi: &Epilogue<'_>,
    pool: Option<&ThreadPool>,
) {
    debug_assert!(b.data.len() >= a.k * b.n_pad && b.n_pad.is_multiple_of(a.layout.nr()));
    let core = Core {
        m: a.m,
        n: b.n,
        k: a.k,
        a: ASrc::Packed(a),
        b: BSrc::Panels(b),
        c: SyncPtr(c),
        ldc,
        epi,
        layout: a.layout,
        isa: isa(),
    };
    core_parallel(&core, pool);
}

/// View of A already in panel layout: per k block at `kb * m_pad`, panel `ip` at `ip*mr*kcb`
/// (`mr`, `kc` of the layout of the B operand it is multiplied with).
#[derive(Clone, Copy)]
pub(crate) struct APanels<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) m: usize,
    pub(crate) m_pad: usize,
}

/// Runs the blocked GEMM on panel A and pre-packed B, writing rows of stride `ldc` at `c`.
///
/// # Safety
/// `c` must be valid for writes of `(a.m-1)*ldc + b.n()` elements, `a.data` must hold
/// `b.k() * a.m_pad` elements in `b.layout()`, and the epilogue bias lengths must be checked
/// by the caller.
pub(crate) unsafe fn gemm_panels_prepacked_b(
    a: APanels<'_>,
    b: &PackedB,
    c: *mut f32,
    ldc: usize,
    epi: &Epilogue<'_>,
    pool: Option<&ThreadPool>,
) {
    debug_assert!(a.data.len() >= b.k * a.m_pad && a.m_pad.is_multiple_of(b.layout.mr()));
    let core = Core {
        m: a.m,
        n: b.n,
        k: b.k,
        a: ASrc::Panels(a),
        b: BSrc::Panels(b.panels()),
        c: SyncPtr(c),
        ldc,
        epi,
        layout: b.layout,
        isa: isa(),
    };
    core_parallel(&core, pool);
}

/// A B operand given by row addresses instead of packed panels: row `k` of B is the `n`
/// contiguous floats at `base + offs[k]`. A convolution reads its taps straight from
/// its padded, stride-phase-split input copy this way, with no im2col copy.
#[derive(Clone, Copy)]
pub(crate) struct ImplicitB<'a> {
    /// Address every row offset is relative to.
    pub(crate) base: *const f32,
    /// Element offset of each row of B from `base` (length `k`).
    pub(crate) offs: &'a [usize],
}

/// `C[i0..i1, j0..j1] = epilogue(A * B)` restricted to that block, for a pre-packed AVX-512
/// `A` and an [`ImplicitB`]; `c` points at element `(i0, j0)` of the block and row `i` of it
/// starts `(i - i0) * ldc` floats later. Rows of B are read with lane masks, so no float past
/// column `j1 - 1` of any row is touched.
///
/// # Safety
/// The CPU must support AVX-512F and `a` must be packed in the 14x32 layout; `b.offs` holds
/// `a.k()` offsets and `b.base + offs[k] + j` is readable for every `k` and `j0 <= j < j1`;
/// `c` is valid for writes at `(i - i0)*ldc + (j - j0)` over the block; `i0` is a multiple of
/// the panel height; the epilogue bias lengths cover rows `i0..i1`.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn gemm_implicit_b(
    a: &PackedA,
    b: ImplicitB<'_>,
    c: *mut f32,
    ldc: usize,
    epi: &Epilogue<'_>,
    (i0, i1): (usize, usize),
    (j0, j1): (usize, usize),
) {
    debug_assert!(a.layout == Layout::Zmm && b.offs.len() >= a.k && i0.is_multiple_of(MR512));
    let (k, m_pad) = (a.k, a.m_pad);
    let (row_bias, col_bias) = (epi.row_ptr(), epi.col_ptr());
    let data = a.data.as_slice();
    let mut kb = 0;
    while kb < k {
        let kcb = KC512.min(k - kb);
        let accumulate = epi.accumulate || kb > 0;
        let finalize = kb + kcb == k;
        let offs = b.offs[kb..kb + kcb].as_ptr();
        let mut ic = i0;
        while ic < i1 {
            let mcb = MC512.min(i1 - ic);
            let a_block = &data[kb * m_pad + ic * kcb..];
            let mut j = j0;
            while j < j1 {
                let cols = NR512.min(j1 - j);
                let mut ir = 0;
                while ir < mcb {
                    let i = ic + ir;
                    // SAFETY: (i, j) lies in the block the caller vouched for; the A panel
                    // holds MR512*kcb floats of the packed block.
                    unsafe {
                        let tile = Tile {
                            c: c.add((i - i0) * ldc + (j - j0)),
                            ldc,
                            rows: MR512.min(mcb - ir),
                            cols,
                            accumulate,
                            finalize,
                            row_bias: if row_bias.is_null() { row_bias } else { row_bias.add(i) },
                            col_bias: if col_bias.is_null() { col_bias } else { col_bias.add(j) },
                            act: epi.act,
                        };
                        avx512::ukernel_implicit(
                            kcb,
                            a_block[ir * kcb..][..MR512 * kcb].as_ptr(),
                            b.base.add(j),
                            offs,
                            &tile,
                        );
                    }
                    ir += MR512;
                }
                j += NR512;
            }
            ic += mcb;
        }
        kb += kcb;
    }
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

#[allow(clippy::too_many_arguments)]
fn pack_b(
    layout: Layout,
    isa: Isa,
    dst: &mut [f32],
    k: usize,
    n: usize,
    n_pad: usize,
    b: &[f32],
    ldb: usize,
    trans: bool,
) {
    let mut kb = 0;
    while kb < k {
        let kcb = layout.kc().min(k - kb);
        pack_b_block(layout, isa, &mut dst[kb * n_pad..(kb + kcb) * n_pad], b, ldb, trans, kb, kcb, 0, n);
        kb += kcb;
    }
}

/// Packs rows `kb..kb+kcb`, columns `j0..j0+cols` of op(B) into `layout.nr()`-wide panels at
/// `dst[0..]` (the last panel zero-padded).
#[allow(clippy::too_many_arguments)]
fn pack_b_block(
    layout: Layout,
    isa: Isa,
    dst: &mut [f32],
    b: &[f32],
    ldb: usize,
    trans: bool,
    kb: usize,
    kcb: usize,
    j0: usize,
    cols: usize,
) {
    match layout {
        Layout::Ymm => pack_b_block_w::<NR>(isa, dst, b, ldb, trans, kb, kcb, j0, cols),
        Layout::Zmm => pack_b_block_w::<NR512>(isa, dst, b, ldb, trans, kb, kcb, j0, cols),
    }
}

#[allow(clippy::too_many_arguments)]
fn pack_b_block_w<const W: usize>(
    isa: Isa,
    dst: &mut [f32],
    b: &[f32],
    ldb: usize,
    trans: bool,
    kb: usize,
    kcb: usize,
    j0: usize,
    cols: usize,
) {
    let _ = isa;
    for (jp, panel) in dst.chunks_exact_mut(W * kcb).take(cols.div_ceil(W)).enumerate() {
        let pj = j0 + jp * W;
        let pc = W.min(cols - jp * W);
        if !trans {
            for (p, row) in panel.chunks_exact_mut(W).enumerate() {
                let src = &b[(kb + p) * ldb + pj..][..pc];
                // Fixed-size copy: a few vector moves instead of a memmove call per row.
                if let (Ok(d), Ok(s)) = (<&mut [f32; W]>::try_from(&mut *row), <&[f32; W]>::try_from(src)) {
                    *d = *s;
                } else {
                    row[..pc].copy_from_slice(src);
                    row[pc..].fill(0.0);
                }
            }
            continue;
        }
        let base = pj * ldb + kb;
        #[cfg(target_arch = "x86_64")]
        if isa >= Isa::Avx512 && b.len() >= base + (pc - 1) * ldb + kcb {
            // SAFETY: AVX-512F is available; the source rows were bounds-checked just above
            // and the panel holds W*kcb floats.
            unsafe { avx512::pack_transposed::<W>(b.as_ptr().add(base), ldb, pc, kcb, panel) };
            continue;
        }
        if pc < W {
            panel.fill(0.0);
        }
        for jj in 0..pc {
            let src = &b[base + jj * ldb..][..kcb];
            for (p, &v) in src.iter().enumerate() {
                panel[p * W + jj] = v;
            }
        }
    }
}

/// Packs rows `i0..i0+rows`, columns `kb..kb+kcb` of A into `layout.mr()`-row panels at
/// `dst[0..]` (the last panel zero-padded).
#[allow(clippy::too_many_arguments)]
fn pack_a_block(
    layout: Layout,
    isa: Isa,
    dst: &mut [f32],
    a: &[f32],
    lda: usize,
    i0: usize,
    rows: usize,
    kb: usize,
    kcb: usize,
) {
    match layout {
        Layout::Ymm => pack_a_block_h::<MR>(isa, dst, a, lda, i0, rows, kb, kcb),
        Layout::Zmm => pack_a_block_h::<MR512>(isa, dst, a, lda, i0, rows, kb, kcb),
    }
}

#[allow(clippy::too_many_arguments)]
fn pack_a_block_h<const H: usize>(
    isa: Isa,
    dst: &mut [f32],
    a: &[f32],
    lda: usize,
    i0: usize,
    rows: usize,
    kb: usize,
    kcb: usize,
) {
    let _ = isa;
    for (pi, panel) in dst.chunks_exact_mut(H * kcb).take(rows.div_ceil(H)).enumerate() {
        let r0 = pi * H;
        let nr = H.min(rows - r0);
        let base = (i0 + r0) * lda + kb;
        // The gather is a visible share of small-n GEMMs, so it goes through register
        // transposes whenever the CPU allows.
        #[cfg(target_arch = "x86_64")]
        {
            let in_bounds = a.len() >= base + (nr - 1) * lda + kcb;
            if isa >= Isa::Avx512 && in_bounds {
                // SAFETY: AVX-512F is available; bounds checked above; the panel holds H*kcb.
                unsafe { avx512::pack_transposed::<H>(a.as_ptr().add(base), lda, nr, kcb, panel) };
                continue;
            }
            if H == MR && nr == MR && isa >= Isa::Avx2 && in_bounds {
                // SAFETY: AVX2 is available; bounds checked above; the panel holds MR*kcb.
                unsafe { avx2::pack_a_panel(a.as_ptr().add(base), lda, kcb, panel) };
                continue;
            }
        }
        if nr < H {
            panel.fill(0.0);
        }
        for ii in 0..nr {
            let src = &a[base + ii * lda..][..kcb];
            for (p, &v) in src.iter().enumerate() {
                panel[p * H + ii] = v;
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
    Panels(APanels<'a>),
}

#[derive(Clone, Copy)]
enum BSrc<'a> {
    Panels(BPanels<'a>),
    /// Packed block by block inside the driver so each block is still cache-hot when used.
    Raw {
        b: &'a [f32],
        ldb: usize,
        trans: bool,
    },
}

struct Core<'a> {
    m: usize,
    n: usize,
    k: usize,
    a: ASrc<'a>,
    b: BSrc<'a>,
    c: SyncPtr,
    ldc: usize,
    epi: &'a Epilogue<'a>,
    /// Panel geometry of both operands.
    layout: Layout,
    /// Instruction-set level captured on the calling thread, so pool workers agree with it.
    isa: Isa,
}

/// One micro-tile store request: where the result goes and what to fuse into it.
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

/// The native kernel of `layout` when `isa` can run it, else the portable one for its geometry
/// (only reachable when operands were packed under a different, test-forced, level).
fn select_ukernel(layout: Layout, isa: Isa) -> UKernel {
    match layout {
        #[cfg(target_arch = "x86_64")]
        Layout::Zmm if isa >= Isa::Avx512 => avx512::ukernel,
        #[cfg(target_arch = "x86_64")]
        Layout::Ymm if isa >= Isa::Avx2 => avx2::ukernel,
        Layout::Zmm => ukernel_scalar::<MR512, NR512>,
        Layout::Ymm => ukernel_scalar::<MR, NR>,
    }
}

thread_local! {
    static A_BUF: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::zeroed(0));
    static B_BUF: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::zeroed(0));
}

fn core_parallel(core: &Core<'_>, pool: Option<&ThreadPool>) {
    let (mr, nr) = (core.layout.mr(), core.layout.nr());
    let n_panels = core.n.div_ceil(nr);
    let t = threads_for(pool, core.m * core.n * core.k);
    if t <= 1 {
        core_run(core, 0, core.m, 0, n_panels);
        return;
    }
    // Splitting M shares the packed B block and packs disjoint parts of A, so prefer it
    // whenever every thread still gets several micro-tile rows -- unless B is much wider
    // than A is tall (transformer FCs, m = tokens): then streaming B dominates and each
    // thread should read only its own columns of it.
    let wide_b = core.n > 2 * core.m && n_panels >= t * 4;
    if (core.m >= t * mr * 4 && !wide_b) || n_panels < t {
        let t = t.min(core.m.div_ceil(mr));
        run_tasks(pool, t, |i| {
            let (i0, i1) = split_range(core.m, t, mr, i);
            core_run(core, i0, i1, 0, n_panels);
        });
    } else {
        run_tasks(pool, t, |i| {
            let (p0, p1) = split_range(n_panels, t, 1, i);
            core_run(core, 0, core.m, p0, p1);
        });
    }
}

/// Computes rows `i0..i1` (multiple of `mr` at i0) of C restricted to B panels `jp0..jp1`.
fn core_run(core: &Core<'_>, i0: usize, i1: usize, jp0: usize, jp1: usize) {
    if i0 >= i1 || jp0 >= jp1 {
        return;
    }
    A_BUF.with(|ca| {
        B_BUF.with(|cb| match (ca.try_borrow_mut(), cb.try_borrow_mut()) {
            (Ok(mut abuf), Ok(mut bbuf)) => core_run_with(core, i0, i1, jp0, jp1, &mut abuf, &mut bbuf),
            // Only reachable if a task re-enters on the same thread; private buffers are correct.
            _ => core_run_with(core, i0, i1, jp0, jp1, &mut AlignedBuf::zeroed(0), &mut AlignedBuf::zeroed(0)),
        })
    });
}

#[allow(clippy::too_many_arguments)]
fn core_run_with(
    core: &Core<'_>,
    i0: usize,
    i1: usize,
    jp0: usize,
    jp1: usize,
    buf: &mut AlignedBuf,
    bbuf: &mut AlignedBuf,
) {
    let (layout, isa) = (core.layout, core.isa);
    let (mr, nr, kc, mc, ncp) = (layout.mr(), layout.nr(), layout.kc(), layout.mc(), layout.nc_panels());
    let ukr = select_ukernel(layout, isa);
    let (k, n, ldc) = (core.k, core.n, core.ldc);
    let epi = core.epi;
    let (row_bias, col_bias) = (epi.row_ptr(), epi.col_ptr());
    if let ASrc::Raw { .. } = core.a {
        buf.ensure_len(mc.min((i1 - i0).div_ceil(mr) * mr) * kc.min(k));
    }
    if let BSrc::Raw { .. } = core.b {
        bbuf.ensure_len(ncp.min(jp1 - jp0) * nr * kc.min(k));
    }
    let mut jc = jp0;
    while jc < jp1 {
        let jc1 = (jc + ncp).min(jp1);
        let mut kb = 0;
        while kb < k {
            let kcb = kc.min(k - kb);
            let accumulate = epi.accumulate || kb > 0;
            let finalize = kb + kcb == k;
            let b_block: &[f32] = match core.b {
                BSrc::Panels(bp) => &bp.data[kb * bp.n_pad + jc * nr * kcb..],
                BSrc::Raw { b, ldb, trans } => {
                    let cols = (jc1 * nr).min(n) - jc * nr;
                    let dst = &mut bbuf.as_mut_slice()[..(jc1 - jc) * nr * kcb];
                    pack_b_block(layout, isa, dst, b, ldb, trans, kb, kcb, jc * nr, cols);
                    bbuf.as_slice()
                }
            };
            let mut ic = i0;
            while ic < i1 {
                let mcb = mc.min(i1 - ic);
                let a_block: &[f32] = match core.a {
                    ASrc::Raw { a, lda } => {
                        let dst = &mut buf.as_mut_slice()[..mcb.div_ceil(mr) * mr * kcb];
                        pack_a_block(layout, isa, dst, a, lda, ic, mcb, kb, kcb);
                        buf.as_slice()
                    }
                    ASrc::Packed(pa) => &pa.data.as_slice()[kb * pa.m_pad + ic * kcb..],
                    ASrc::Panels(ap) => &ap.data[kb * ap.m_pad + ic * kcb..],
                };
                for jp in jc..jc1 {
                    let j0 = jp * nr;
                    let cols = nr.min(n - j0);
                    let bp = b_block[(jp - jc) * nr * kcb..][..nr * kcb].as_ptr();
                    let mut ir = 0;
                    while ir < mcb {
                        let rows = mr.min(mcb - ir);
                        let ap = a_block[ir * kcb..][..mr * kcb].as_ptr();
                        let i = ic + ir;
                        // SAFETY: the entry points validated C for m rows of n columns at ldc
                        // and the bias lengths; (i, j0) is inside, `rows`/`cols` clip the tile.
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
                        // SAFETY: ap/bp point at full mr*kcb / nr*kcb packed panels of the
                        // layout `ukr` was selected for.
                        unsafe { ukr(kcb, ap, bp, &tile) };
                        ir += mr;
                    }
                }
                ic += mcb;
            }
            kb += kcb;
        }
        jc = jc1;
    }
}

/// Writes an accumulator tile (row-major, row stride `W`) through the epilogue, clipped.
///
/// # Safety
/// `t` must describe a valid destination (see [`Tile`]) with `t.cols <= W`.
#[inline(always)]
unsafe fn store_tile_scalar<const W: usize>(acc: &[[f32; W]], t: &Tile) {
    for (i, arow) in acc.iter().enumerate().take(t.rows) {
        // SAFETY: rows/cols are clipped to the validated C region; biases are validated.
        unsafe {
            let rb = if t.row_bias.is_null() { 0.0 } else { *t.row_bias.add(i) };
            let crow = t.c.add(i * t.ldc);
            for (j, &a) in arow.iter().enumerate().take(t.cols) {
                let mut v = a;
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

/// Portable `H x W` micro-kernel for CPUs without the SIMD level of the operands' layout.
///
/// # Safety
/// `a` holds `kc*H`, `b` holds `kc*W` floats; `t` is a valid destination.
unsafe fn ukernel_scalar<const H: usize, const W: usize>(kc: usize, a: *const f32, b: *const f32, t: &Tile) {
    let mut acc = [[0.0f32; W]; H];
    // SAFETY: guaranteed by the caller.
    let (a, b) = unsafe { (std::slice::from_raw_parts(a, kc * H), std::slice::from_raw_parts(b, kc * W)) };
    for (ap, bp) in a.chunks_exact(H).zip(b.chunks_exact(W)) {
        for (row, &av) in acc.iter_mut().zip(ap) {
            for (o, &bv) in row.iter_mut().zip(bp) {
                *o += av * bv;
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
            // The C tile is touched only after the k loop; requesting it now hides the miss.
            for i in 0..t.rows {
                let p = t.c.add(i * t.ldc) as *const i8;
                _mm_prefetch::<_MM_HINT_T0>(p);
                _mm_prefetch::<_MM_HINT_T0>(p.add(60));
            }
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

    /// Packs one full 6-row A panel: 8 columns at a time through an 8x8 transpose (rows 6
    /// and 7 zero), since the scalar gather was a visible share of small-n GEMMs.
    ///
    /// # Safety
    /// CPU must support AVX2; `a` holds 6 rows of `kcb` floats at stride `lda`;
    /// `panel.len() >= 6 * kcb`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn pack_a_panel(a: *const f32, lda: usize, kcb: usize, panel: &mut [f32]) {
        unsafe {
            debug_assert!(panel.len() >= MR * kcb);
            let d = panel.as_mut_ptr();
            let z = _mm256_setzero_ps();
            let mut p = 0;
            while p + 8 <= kcb {
                let r0 = _mm256_loadu_ps(a.add(p));
                let r1 = _mm256_loadu_ps(a.add(lda + p));
                let r2 = _mm256_loadu_ps(a.add(2 * lda + p));
                let r3 = _mm256_loadu_ps(a.add(3 * lda + p));
                let r4 = _mm256_loadu_ps(a.add(4 * lda + p));
                let r5 = _mm256_loadu_ps(a.add(5 * lda + p));
                let t0 = _mm256_unpacklo_ps(r0, r1);
                let t1 = _mm256_unpackhi_ps(r0, r1);
                let t2 = _mm256_unpacklo_ps(r2, r3);
                let t3 = _mm256_unpackhi_ps(r2, r3);
                let t4 = _mm256_unpacklo_ps(r4, r5);
                let t5 = _mm256_unpackhi_ps(r4, r5);
                let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let u4 = _mm256_shuffle_ps::<0x44>(t4, z);
                let u5 = _mm256_shuffle_ps::<0xEE>(t4, z);
                let u6 = _mm256_shuffle_ps::<0x44>(t5, z);
                let u7 = _mm256_shuffle_ps::<0xEE>(t5, z);
                let cols = [
                    _mm256_permute2f128_ps::<0x20>(u0, u4),
                    _mm256_permute2f128_ps::<0x20>(u1, u5),
                    _mm256_permute2f128_ps::<0x20>(u2, u6),
                    _mm256_permute2f128_ps::<0x20>(u3, u7),
                    _mm256_permute2f128_ps::<0x31>(u0, u4),
                    _mm256_permute2f128_ps::<0x31>(u1, u5),
                    _mm256_permute2f128_ps::<0x31>(u2, u6),
                    _mm256_permute2f128_ps::<0x31>(u3, u7),
                ];
                // 8-wide stores of 6-wide groups in ascending order: each store's two extra
                // lanes are overwritten by the next one; only the very last group of the
                // panel must not spill past its end.
                for (c, v) in cols.iter().enumerate().take(7) {
                    _mm256_storeu_ps(d.add((p + c) * MR), *v);
                }
                if p + 8 < kcb {
                    _mm256_storeu_ps(d.add((p + 7) * MR), cols[7]);
                } else {
                    let mut t = [0.0f32; 8];
                    _mm256_storeu_ps(t.as_mut_ptr(), cols[7]);
                    std::ptr::copy_nonoverlapping(t.as_ptr(), d.add((p + 7) * MR), MR);
                }
                p += 8;
            }
            while p < kcb {
                for ii in 0..MR {
                    *d.add(p * MR + ii) = *a.add(ii * lda + p);
                }
                p += 1;
            }
        }
    }

    #[inline(always)]
    unsafe fn store(c: &[__m256; 12], t: &Tile) {
        unsafe {
            if t.rows != MR || t.cols != NR {
                let mut tmp = [[0.0f32; NR]; MR];
                for (i, v) in c.iter().enumerate() {
                    _mm256_storeu_ps(tmp.as_mut_ptr().cast::<f32>().add(i * 8), *v);
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
                let (r0, r1, r2, r3) =
                    (b.add(p * ldb), b.add((p + 1) * ldb), b.add((p + 2) * ldb), b.add((p + 3) * ldb));
                let (x0, x1, x2, x3) = (
                    _mm256_set1_ps(x[p]),
                    _mm256_set1_ps(x[p + 1]),
                    _mm256_set1_ps(x[p + 2]),
                    _mm256_set1_ps(x[p + 3]),
                );
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
                    *o.add(j) +=
                        x[p] * *r0.add(j) + x[p + 1] * *r1.add(j) + x[p + 2] * *r2.add(j) + x[p + 3] * *r3.add(j);
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
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
            _mm_cvtss_f32(s)
        }
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

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Activation, Bias, Epilogue, MR512 as MR, NR512 as NR, NV512 as NV, Tile};
    use std::arch::x86_64::*;

    /// How many k steps ahead the micro-kernels prefetch their streaming operand: ~900
    /// cycles at 14 cycles per step, beyond a DRAM round trip.
    const PF_K: usize = 64;

    /// Mask selecting the first `n` (clamped to 16) of 16 lanes.
    #[inline(always)]
    fn lane_mask(n: usize) -> __mmask16 {
        if n >= 16 { 0xFFFF } else { ((1u32 << n) - 1) as __mmask16 }
    }

    /// 14x32 micro-kernel entry. Dispatches on the live rows and 16-column vectors of the
    /// tile so edge tiles (e.g. the 2 leftover rows of m = 128) skip dead FMAs entirely.
    ///
    /// # Safety
    /// CPU must support AVX-512F; `a` holds `kc*MR`, `b` holds `kc*NR` floats; `t` is valid.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn ukernel(kc: usize, a: *const f32, b: *const f32, t: &Tile) {
        macro_rules! by_rows {
            ($($r:literal)*) => {
                match t.rows {
                    $($r => if t.cols > 16 { tile::<$r, NV>(kc, a, b, t) } else { tile::<$r, 1>(kc, a, b, t) },)*
                    _ => if t.cols > 16 { tile::<MR, NV>(kc, a, b, t) } else { tile::<MR, 1>(kc, a, b, t) },
                }
            };
        }
        // SAFETY: forwarded from the caller; `tile` only touches the first `t.rows` rows.
        unsafe { by_rows!(1 2 3 4 5 6 7 8 9 10 11 12 13) }
    }

    /// `R x 16V` register tile over `MR x NR` packed panels: per k step, V B loads and R
    /// broadcasts (folded into the FMAs as `{1to16}` memory operands) feed `R*V` FMAs.
    ///
    /// # Safety
    /// As [`ukernel`], with `R <= MR`, `V <= NV`, `t.rows == R` and `t.cols <= 16*V`.
    // Kept out of line: inlined into the dispatcher's match, LLVM spilled the 28 accumulators.
    #[inline(never)]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const R: usize, const V: usize>(kc: usize, a: *const f32, b: *const f32, t: &Tile) {
        unsafe {
            // The C tile is touched only after the k loop; requesting it now hides the miss.
            for i in 0..R {
                let p = t.c.wrapping_add(i * t.ldc) as *const i8;
                _mm_prefetch::<_MM_HINT_T0>(p);
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64 * V - 4));
            }
            let mut c = [[_mm512_setzero_ps(); V]; R];
            let mut a = a;
            let mut b = b;
            macro_rules! step {
                ($o:expr) => {{
                    // B streams from memory on its first use (weights of small maps, im2col
                    // tiles); the hardware prefetcher alone left 7x7-map layers ~25% slower
                    // than with the weights in L3. Prefetches never fault, so running past the
                    // end of B is harmless.
                    let pf = b.wrapping_add($o * NR + PF_K * NR) as *const i8;
                    _mm_prefetch::<_MM_HINT_T0>(pf);
                    _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(64));
                    let mut bv = [_mm512_setzero_ps(); V];
                    for (v, x) in bv.iter_mut().enumerate() {
                        *x = _mm512_loadu_ps(b.add($o * NR + 16 * v));
                    }
                    for (i, row) in c.iter_mut().enumerate() {
                        let x = _mm512_set1_ps(*a.add($o * MR + i));
                        for (acc, &bb) in row.iter_mut().zip(&bv) {
                            *acc = _mm512_fmadd_ps(x, bb, *acc);
                        }
                    }
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
            // The epilogue loops are too big for LLVM to unroll 14 times, and a dynamically
            // indexed `c` would be demoted to the stack inside the k loop. Spilling once into
            // a plain buffer here keeps every access to `c` constant-indexed.
            let mut out = [[[0.0f32; 16]; V]; R];
            for (o, row) in out.iter_mut().zip(&c) {
                for (ov, &x) in o.iter_mut().zip(row) {
                    _mm512_storeu_ps(ov.as_mut_ptr(), x);
                }
            }
            store(&out, t);
        }
    }

    /// [`ukernel`] with B rows at `b + offs[p]` (see `ImplicitB`) instead of a packed panel.
    ///
    /// # Safety
    /// CPU must support AVX-512F; `a` holds `kc*MR` floats; `offs` holds `kc` offsets and
    /// `b + offs[p] + j` is readable for `j < t.cols`; `t` is valid.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn ukernel_implicit(kc: usize, a: *const f32, b: *const f32, offs: *const usize, t: &Tile) {
        macro_rules! by_rows {
            ($($r:literal)*) => {
                match t.rows {
                    $($r => if t.cols > 16 {
                        tile_implicit::<$r, NV>(kc, a, b, offs, t)
                    } else {
                        tile_implicit::<$r, 1>(kc, a, b, offs, t)
                    },)*
                    _ => if t.cols > 16 {
                        tile_implicit::<MR, NV>(kc, a, b, offs, t)
                    } else {
                        tile_implicit::<MR, 1>(kc, a, b, offs, t)
                    },
                }
            };
        }
        // SAFETY: forwarded from the caller; `tile_implicit` only touches the first `t.rows` rows.
        unsafe { by_rows!(1 2 3 4 5 6 7 8 9 10 11 12 13) }
    }

    /// [`tile`] reading B row `p` at `b + offs[p]` with masked loads (lanes past `t.cols` are
    /// never read, so a row may end at the last live column).
    ///
    /// # Safety
    /// As [`ukernel_implicit`], with `R <= MR`, `V <= NV`, `t.rows == R`, `t.cols <= 16*V`.
    #[inline(never)]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile_implicit<const R: usize, const V: usize>(
        kc: usize,
        a: *const f32,
        b: *const f32,
        offs: *const usize,
        t: &Tile,
    ) {
        unsafe {
            for i in 0..R {
                let p = t.c.wrapping_add(i * t.ldc) as *const i8;
                _mm_prefetch::<_MM_HINT_T0>(p);
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64 * V - 4));
            }
            let mut mask = [0 as __mmask16; V];
            for (v, m) in mask.iter_mut().enumerate() {
                *m = lane_mask(t.cols.saturating_sub(16 * v));
            }
            let mut c = [[_mm512_setzero_ps(); V]; R];
            let mut a = a;
            let mut offs = offs;
            macro_rules! step {
                ($o:expr) => {{
                    // Here A (the weights) is the operand streaming from memory.
                    _mm_prefetch::<_MM_HINT_T0>(a.wrapping_add($o * MR + PF_K * MR) as *const i8);
                    let row = b.add(*offs.add($o));
                    let mut bv = [_mm512_setzero_ps(); V];
                    for (v, x) in bv.iter_mut().enumerate() {
                        *x = _mm512_maskz_loadu_ps(mask[v], row.add(16 * v));
                    }
                    for (i, acc_row) in c.iter_mut().enumerate() {
                        let x = _mm512_set1_ps(*a.add($o * MR + i));
                        for (acc, &bb) in acc_row.iter_mut().zip(&bv) {
                            *acc = _mm512_fmadd_ps(x, bb, *acc);
                        }
                    }
                }};
            }
            let mut p = 0;
            while p + 4 <= kc {
                step!(0);
                step!(1);
                step!(2);
                step!(3);
                a = a.add(4 * MR);
                offs = offs.add(4);
                p += 4;
            }
            while p < kc {
                step!(0);
                a = a.add(MR);
                offs = offs.add(1);
                p += 1;
            }
            let mut out = [[[0.0f32; 16]; V]; R];
            for (o, row) in out.iter_mut().zip(&c) {
                for (ov, &x) in o.iter_mut().zip(row) {
                    _mm512_storeu_ps(ov.as_mut_ptr(), x);
                }
            }
            store(&out, t);
        }
    }

    /// Epilogue + store of an `R x 16V` tile; column edges use lane masks, so there is no
    /// scalar fallback for partial tiles.
    #[inline(always)]
    unsafe fn store<const R: usize, const V: usize>(c: &[[[f32; 16]; V]; R], t: &Tile) {
        unsafe {
            let mut mask = [0 as __mmask16; V];
            let mut cb = [_mm512_setzero_ps(); V];
            for v in 0..V {
                mask[v] = lane_mask(t.cols.saturating_sub(16 * v));
                if !t.col_bias.is_null() {
                    cb[v] = _mm512_maskz_loadu_ps(mask[v], t.col_bias.wrapping_add(16 * v));
                }
            }
            let (lo, hi, act) = match t.act {
                Activation::None => (_mm512_setzero_ps(), _mm512_setzero_ps(), 0),
                Activation::Relu => (_mm512_setzero_ps(), _mm512_setzero_ps(), 1),
                Activation::Clamp(l, h) => (_mm512_set1_ps(l), _mm512_set1_ps(h), 2),
            };
            for (i, row) in c.iter().enumerate() {
                let p = t.c.add(i * t.ldc);
                let rb = if t.row_bias.is_null() { 0.0 } else { *t.row_bias.add(i) };
                let rb = _mm512_set1_ps(rb);
                for v in 0..V {
                    let q = p.wrapping_add(16 * v);
                    let mut x = _mm512_loadu_ps(row[v].as_ptr());
                    if t.accumulate {
                        x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask[v], q));
                    }
                    if t.finalize {
                        x = _mm512_add_ps(_mm512_add_ps(x, rb), cb[v]);
                        if act >= 1 {
                            // max(v, lo) with v first so NaN in v is replaced like f32::max does.
                            x = _mm512_max_ps(x, lo);
                        }
                        if act == 2 {
                            x = _mm512_min_ps(x, hi);
                        }
                    }
                    _mm512_mask_storeu_ps(q, mask[v], x);
                }
            }
        }
    }

    /// In-register 16x16 transpose: `out[j]` lane `i` = `r[i]` lane `j`.
    #[inline(always)]
    unsafe fn transpose16(r: &[__m512; 16]) -> [__m512; 16] {
        unsafe {
            let mut t = [_mm512_setzero_ps(); 16];
            for j in 0..8 {
                t[2 * j] = _mm512_unpacklo_ps(r[2 * j], r[2 * j + 1]);
                t[2 * j + 1] = _mm512_unpackhi_ps(r[2 * j], r[2 * j + 1]);
            }
            // u[4g + c], 128-bit lane l = column 4l + c of rows 4g..4g+4.
            let mut u = [_mm512_setzero_ps(); 16];
            for g in 0..4 {
                let (lo01, hi01, lo23, hi23) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
                u[4 * g] = _mm512_shuffle_ps::<0x44>(lo01, lo23);
                u[4 * g + 1] = _mm512_shuffle_ps::<0xEE>(lo01, lo23);
                u[4 * g + 2] = _mm512_shuffle_ps::<0x44>(hi01, hi23);
                u[4 * g + 3] = _mm512_shuffle_ps::<0xEE>(hi01, hi23);
            }
            let mut out = [_mm512_setzero_ps(); 16];
            for c in 0..4 {
                let v0 = _mm512_shuffle_f32x4::<0x88>(u[c], u[4 + c]);
                let v1 = _mm512_shuffle_f32x4::<0x88>(u[8 + c], u[12 + c]);
                let w0 = _mm512_shuffle_f32x4::<0xDD>(u[c], u[4 + c]);
                let w1 = _mm512_shuffle_f32x4::<0xDD>(u[8 + c], u[12 + c]);
                out[c] = _mm512_shuffle_f32x4::<0x88>(v0, v1);
                out[c + 8] = _mm512_shuffle_f32x4::<0xDD>(v0, v1);
                out[c + 4] = _mm512_shuffle_f32x4::<0x88>(w0, w1);
                out[c + 12] = _mm512_shuffle_f32x4::<0xDD>(w0, w1);
            }
            out
        }
    }

    /// `panel[p*W + i] = src[i*ld + p]` for `i < rows` (zero for `rows <= i < W`), `p < kcb`:
    /// packs A row panels and transposed-B column panels through 16x16 register transposes,
    /// with masked loads/stores for ragged edges.
    ///
    /// # Safety
    /// CPU must support AVX-512F; `src` holds `rows` rows of `kcb` floats at stride `ld`,
    /// `1 <= rows <= W`; `panel.len() >= W * kcb`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn pack_transposed<const W: usize>(
        src: *const f32,
        ld: usize,
        rows: usize,
        kcb: usize,
        panel: &mut [f32],
    ) {
        unsafe {
            debug_assert!((1..=W).contains(&rows) && panel.len() >= W * kcb);
            let d = panel.as_mut_ptr();
            for g0 in (0..W).step_by(16) {
                let live = rows.saturating_sub(g0).min(16);
                let smask = lane_mask(W - g0);
                let mut p = 0;
                while p < kcb {
                    let cols = (kcb - p).min(16);
                    let lmask = lane_mask(cols);
                    let mut r = [_mm512_setzero_ps(); 16];
                    for (i, x) in r.iter_mut().enumerate() {
                        if i < live {
                            let row = src.add((g0 + i) * ld + p);
                            *x = _mm512_maskz_loadu_ps(lmask, row);
                            // Callers pack panel after panel: W rows further down is the next
                            // panel. Each row contributes only a short (kc-long) stream, too
                            // short for the hardware prefetcher, so fetch it a panel ahead.
                            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(W * ld) as *const i8);
                        }
                    }
                    let cols_t = transpose16(&r);
                    if cols == 16 && p + 16 < kcb && W - g0 < 16 && 2 * (W - g0) >= 16 {
                        // Narrow panel (A): full-width stores in ascending order, each one's
                        // spill-over lanes rewritten by the next, are cheaper than masked ones.
                        for (c, v) in cols_t.iter().enumerate() {
                            _mm512_storeu_ps(d.add((p + c) * W + g0), *v);
                        }
                    } else {
                        for (c, v) in cols_t.iter().enumerate().take(cols) {
                            _mm512_mask_storeu_ps(d.add((p + c) * W + g0), smask, *v);
                        }
                    }
                    p += 16;
                }
            }
        }
    }

    /// `acc[j] += sum_r x[r] * rows[r][j]` over 4 rows at a time (row-major GEMV core).
    ///
    /// # Safety
    /// CPU must support AVX-512F; `b` holds `(k-1)*ldb + w` floats from the first column.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemv_rows(x: &[f32], b: *const f32, ldb: usize, acc: &mut [f32]) {
        unsafe {
            let w = acc.len();
            let k = x.len();
            let o = acc.as_mut_ptr();
            let mut p = 0;
            while p < k {
                // Up to 4 rows per pass over `acc`; missing rows reuse row p with weight 0.
                let nr = (k - p).min(4);
                let r: [*const f32; 4] = std::array::from_fn(|u| b.add((p + if u < nr { u } else { 0 }) * ldb));
                let mut xs = [_mm512_setzero_ps(); 4];
                for (u, xv) in xs.iter_mut().enumerate().take(nr) {
                    *xv = _mm512_set1_ps(*x.get_unchecked(p + u));
                }
                let mut j = 0;
                while j < w {
                    let m = lane_mask(w - j);
                    let mut v = _mm512_maskz_loadu_ps(m, o.add(j));
                    let mut s = _mm512_mul_ps(xs[1], _mm512_maskz_loadu_ps(m, r[1].add(j)));
                    v = _mm512_fmadd_ps(xs[0], _mm512_maskz_loadu_ps(m, r[0].add(j)), v);
                    s = _mm512_fmadd_ps(xs[3], _mm512_maskz_loadu_ps(m, r[3].add(j)), s);
                    v = _mm512_fmadd_ps(xs[2], _mm512_maskz_loadu_ps(m, r[2].add(j)), v);
                    _mm512_mask_storeu_ps(o.add(j), m, _mm512_add_ps(v, s));
                    j += 16;
                }
                p += nr;
            }
        }
    }

    /// `out[r] = dot(x, mat[r*ld .. r*ld+k])`, four rows at a time, masked k tail.
    ///
    /// # Safety
    /// CPU must support AVX-512F; `mat` holds `(out.len()-1)*ld + x.len()` floats.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dot_rows(x: &[f32], mat: *const f32, ld: usize, out: &mut [f32]) {
        unsafe {
            let k = x.len();
            let xp = x.as_ptr();
            let mut r = 0;
            while r < out.len() {
                let nr = (out.len() - r).min(4);
                let m: [*const f32; 4] = std::array::from_fn(|u| mat.add((r + if u < nr { u } else { 0 }) * ld));
                let mut acc = [_mm512_setzero_ps(); 4];
                let mut p = 0;
                while p < k {
                    let lm = lane_mask(k - p);
                    let xv = _mm512_maskz_loadu_ps(lm, xp.add(p));
                    for (a, &row) in acc.iter_mut().zip(&m) {
                        *a = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(lm, row.add(p)), *a);
                    }
                    p += 16;
                }
                for (u, a) in acc.iter().enumerate().take(nr) {
                    out[r + u] = _mm512_reduce_add_ps(*a);
                }
                r += nr;
            }
        }
    }

    /// GEMV over pre-packed 32-column panels: `acc[jp*NR + j] += sum_p x[p] * panel[p][j]`.
    ///
    /// # Safety
    /// CPU must support AVX-512F; `panels` holds `acc.len()/NR` panels of `x.len()*NR` floats.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemv_panels(x: &[f32], panels: *const f32, acc: &mut [f32]) {
        unsafe {
            let kcb = x.len();
            for (jp, out) in acc.chunks_exact_mut(NR).enumerate() {
                let mut b = panels.add(jp * NR * kcb);
                // Four independent accumulator sets hide the FMA latency.
                let mut s = [[_mm512_setzero_ps(); NV]; 4];
                let mut p = 0;
                while p + 4 <= kcb {
                    for (u, su) in s.iter_mut().enumerate() {
                        let xv = _mm512_set1_ps(*x.get_unchecked(p + u));
                        for (v, sv) in su.iter_mut().enumerate() {
                            *sv = _mm512_fmadd_ps(xv, _mm512_loadu_ps(b.add(u * NR + 16 * v)), *sv);
                        }
                    }
                    b = b.add(4 * NR);
                    p += 4;
                }
                while p < kcb {
                    let xv = _mm512_set1_ps(*x.get_unchecked(p));
                    for (v, sv) in s[0].iter_mut().enumerate() {
                        *sv = _mm512_fmadd_ps(xv, _mm512_loadu_ps(b.add(16 * v)), *sv);
                    }
                    b = b.add(NR);
                    p += 1;
                }
                let [s0, s1, s2, s3] = s;
                for (v, o) in out.chunks_exact_mut(16).enumerate() {
                    let t = _mm512_add_ps(_mm512_add_ps(s0[v], s1[v]), _mm512_add_ps(s2[v], s3[v]));
                    _mm512_storeu_ps(o.as_mut_ptr(), _mm512_add_ps(_mm512_loadu_ps(o.as_ptr()), t));
                }
            }
        }
    }

    /// GEMV epilogue: `out[j] = act((accumulate ? out[j] : 0) + acc[j] + bias)` for output
    /// row 0, columns `j0..j0+out.len()`, matching [`Epilogue::apply`] operation by operation.
    ///
    /// # Safety
    /// CPU must support AVX-512F; `acc.len() >= out.len()`; the bias was validated for the row
    /// / columns.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemv_store(out: &mut [f32], acc: &[f32], epi: &Epilogue<'_>, j0: usize) {
        unsafe {
            debug_assert!(acc.len() >= out.len());
            let w = out.len();
            let (o, a) = (out.as_mut_ptr(), acc.as_ptr());
            let (row_bias, col_bias) = match epi.bias {
                Bias::None => (None, std::ptr::null()),
                Bias::PerRow(b) => (Some(_mm512_set1_ps(b[0])), std::ptr::null()),
                Bias::PerCol(b) => (None, b[j0..j0 + w].as_ptr()),
            };
            let mut j = 0;
            while j < w {
                let m = lane_mask(w - j);
                let mut v = _mm512_maskz_loadu_ps(m, a.add(j));
                if epi.accumulate {
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, o.add(j)));
                }
                if let Some(rb) = row_bias {
                    v = _mm512_add_ps(v, rb);
                }
                if !col_bias.is_null() {
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, col_bias.add(j)));
                }
                match epi.act {
                    Activation::None => {}
                    Activation::Relu => v = _mm512_max_ps(v, _mm512_setzero_ps()),
                    Activation::Clamp(lo, hi) => {
                        v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(lo)), _mm512_set1_ps(hi))
                    }
                }
                _mm512_mask_storeu_ps(o.add(j), m, v);
                j += 16;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GEMV (m == 1) and matrix-vector (n == 1) paths: memory-bound, so no packing.

#[derive(Clone, Copy)]
enum GemvB<'a> {
    /// `B[p*ldb + j]`.
    Rows {
        b: &'a [f32],
        ldb: usize,
    },
    /// `B[j*ldb + p]` (transposed B).
    Cols {
        b: &'a [f32],
        ldb: usize,
    },
    Packed(&'a PackedB),
}

#[allow(clippy::too_many_arguments)]
fn gemv(
    isa: Isa,
    n: usize,
    k: usize,
    x: &[f32],
    b: GemvB<'_>,
    c: &mut [f32],
    epi: &Epilogue<'_>,
    pool: Option<&ThreadPool>,
) {
    // Packed panels cannot be split inside; otherwise split on whole zmm vectors.
    let align = if let GemvB::Packed(pb) = b { pb.layout.nr() } else { 16 };
    let t = threads_for(pool, n * k).min(n.div_ceil(align));
    let cp = SyncPtr(c.as_mut_ptr());
    run_tasks(pool, t, |ti| {
        let (j0, j1) = split_range(n, t, align, ti);
        if j0 >= j1 {
            return;
        }
        let w = j1 - j0;
        let mut acc = vec![0.0f32; w.div_ceil(align) * align];
        gemv_range(isa, k, x, b, j0, &mut acc[..], w);
        // SAFETY: c holds n elements (validated); tasks write disjoint [j0, j1).
        let out = unsafe { std::slice::from_raw_parts_mut(cp.get().add(j0), w) };
        #[cfg(target_arch = "x86_64")]
        if isa >= Isa::Avx512 {
            // SAFETY: AVX-512F is available; acc.len() >= w; the bias was validated.
            unsafe { avx512::gemv_store(out, &acc, epi, j0) };
            return;
        }
        for (jj, (o, &v)) in out.iter_mut().zip(&acc).enumerate() {
            *o = epi.apply(v, *o, epi.accumulate, 0, j0 + jj);
        }
    });
}

/// Sums columns `j0..j0+w` of `x * B` into `acc` (len >= w, padded to `nr` for packed B).
fn gemv_range(isa: Isa, k: usize, x: &[f32], b: GemvB<'_>, j0: usize, acc: &mut [f32], w: usize) {
    match b {
        GemvB::Rows { b, ldb } => {
            let acc = &mut acc[..w];
            let bj = &b[j0..];
            #[cfg(target_arch = "x86_64")]
            {
                if isa >= Isa::Avx512 {
                    // SAFETY: AVX-512F is available; B validated for (k-1)*ldb + n elements,
                    // j0 + w <= n.
                    unsafe { avx512::gemv_rows(x, bj.as_ptr(), ldb, acc) };
                    return;
                }
                if isa >= Isa::Avx2 {
                    // SAFETY: as above, with AVX2+FMA.
                    unsafe { avx2::gemv_rows(x, bj.as_ptr(), ldb, acc) };
                    return;
                }
            }
            for (p, &xv) in x.iter().enumerate() {
                for (o, &bv) in acc.iter_mut().zip(&bj[p * ldb..][..w]) {
                    *o += xv * bv;
                }
            }
        }
        GemvB::Cols { b, ldb } => {
            let acc = &mut acc[..w];
            dot_rows(isa, x, &b[j0 * ldb..], ldb, acc);
        }
        GemvB::Packed(pb) => {
            let (nr, kc) = (pb.layout.nr(), pb.layout.kc());
            let (jp0, np) = (j0 / nr, w.div_ceil(nr));
            let acc = &mut acc[..np * nr];
            let mut kb = 0;
            while kb < k {
                let kcb = kc.min(k - kb);
                let panels = &pb.data.as_slice()[kb * pb.n_pad + jp0 * nr * kcb..][..np * nr * kcb];
                let xs = &x[kb..kb + kcb];
                kb += kcb;
                #[cfg(target_arch = "x86_64")]
                match pb.layout {
                    Layout::Zmm if isa >= Isa::Avx512 => {
                        // SAFETY: `panels` was sliced to exactly np panels of kcb*nr floats.
                        unsafe { avx512::gemv_panels(xs, panels.as_ptr(), acc) };
                        continue;
                    }
                    Layout::Ymm if isa >= Isa::Avx2 => {
                        // SAFETY: as above.
                        unsafe { avx2::gemv_panels(xs, panels.as_ptr(), acc) };
                        continue;
                    }
                    _ => {}
                }
                for (out, panel) in acc.chunks_exact_mut(nr).zip(panels.chunks_exact(nr * kcb)) {
                    for (&xv, row) in xs.iter().zip(panel.chunks_exact(nr)) {
                        for (o, &bv) in out.iter_mut().zip(row) {
                            *o += xv * bv;
                        }
                    }
                }
            }
        }
    }
}

/// `out[r] = dot(x, mat[r*ld..][..k])`.
fn dot_rows(isa: Isa, x: &[f32], mat: &[f32], ld: usize, out: &mut [f32]) {
    let k = x.len();
    if out.is_empty() {
        return;
    }
    let need = (out.len() - 1) * ld + k;
    debug_assert!(mat.len() >= need);
    #[cfg(target_arch = "x86_64")]
    if mat.len() >= need {
        if isa >= Isa::Avx512 {
            // SAFETY: AVX-512F is available; length checked just above.
            unsafe { avx512::dot_rows(x, mat.as_ptr(), ld, out) };
            return;
        }
        if isa >= Isa::Avx2 {
            // SAFETY: AVX2+FMA is available; length checked just above.
            unsafe { avx2::dot_rows(x, mat.as_ptr(), ld, out) };
            return;
        }
    }
    let _ = isa;
    for (r, o) in out.iter_mut().enumerate() {
        *o = x.iter().zip(&mat[r * ld..][..k]).map(|(a, b)| a * b).sum();
    }
}

#[allow(clippy::too_many_arguments)]
fn gemv_n1(
    isa: Isa,
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
            let o = unsafe { std::slice::from_raw_parts_mut(op.get().add(i0), i1 - i0) };
            dot_rows(isa, &col, &a[i0 * lda..], lda, o);
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
    fn check_case(
        m: usize,
        n: usize,
        k: usize,
        pad: (usize, usize, usize),
        trans: bool,
        bias_kind: u8,
        act: Activation,
        acc: bool,
        seed: u64,
        prepack: u8,
        pool: Option<&ThreadPool>,
    ) {
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
    fn gemm_portable_path() {
        super::super::test_util::portable(|| {
            for (i, &(m, n, k)) in [(1, 37, 300), (7, 1, 9), (13, 35, 270), (65, 40, 3), (2, 2, 2)].iter().enumerate() {
                for prepack in 0..3 {
                    let trans = i % 2 == 0;
                    check_case(
                        m,
                        n,
                        k,
                        (1, 2, 3),
                        trans,
                        (i % 3) as u8,
                        Activation::Clamp(-0.2, 0.3),
                        i % 2 == 1,
                        i as u64,
                        prepack,
                        None,
                    );
                }
            }
        });
    }

    /// Runs every ISA path (AVX-512, AVX2, portable) on the same inputs, including operands
    /// packed under one level and consumed under another, and checks all against the
    /// reference. Levels above the CPU's are capped, so this also passes on older machines.
    #[test]
    fn gemm_all_isa_paths_agree() {
        use super::super::Isa;
        use super::super::test_util::with_isa;
        let pool = pool2();
        let isas = [Isa::Avx512, Isa::Avx2, Isa::Scalar];
        let shapes =
            [(1, 45, 300), (1, 64, 17), (9, 1, 40), (14, 32, 16), (15, 33, 17), (29, 70, 300), (130, 100, 530)];
        for (si, &(m, n, k)) in shapes.iter().enumerate() {
            for &isa in &isas {
                for prepack in 0..3 {
                    for trans in [false, true] {
                        let seed = si as u64 * 100;
                        let act = [Activation::None, Activation::Relu, Activation::Clamp(-0.3, 0.4)][si % 3];
                        let p = if si % 2 == 0 { Some(&pool) } else { None };
                        with_isa(isa, || {
                            check_case(m, n, k, (1, 2, 3), trans, (si % 3) as u8, act, si % 2 == 1, seed, prepack, p)
                        });
                    }
                }
            }
            // Pre-packed under one level, run under every other one (the portable kernel must
            // follow the packed geometry).
            let (a, b) = (rand_vec(m * k, si as u64), rand_vec(k * n, si as u64 + 1));
            let cb = rand_vec(n, 5);
            let epi = Epilogue { bias: Bias::PerCol(&cb), act: Activation::Relu, accumulate: false };
            let mut want = vec![0.0; m * n];
            reference::gemm(m, n, k, &a, k, &b, n, false, &mut want, n, &epi);
            for &pack_isa in &isas {
                let pb = with_isa(pack_isa, || PackedB::new(k, n, &b, n, false).expect("pack"));
                // Guards against the dispatch silently never picking the wide kernel.
                let native = Layout::for_isa(pack_isa.min(super::super::isa()));
                assert_eq!(pb.layout, native, "{pack_isa:?}");
                let pa = with_isa(pack_isa, || PackedA::new(m, k, &a, k).expect("pack"));
                for &run_isa in &isas {
                    with_isa(run_isa, || {
                        let mut got = vec![f32::NAN; m * n];
                        gemm_prepacked(m, &a, k, &pb, &mut got, n, &epi, None).expect("gemm_prepacked");
                        assert_close(&got, &want, 1e-4, &format!("prepacked {pack_isa:?}->{run_isa:?} {m}x{n}x{k}"));
                        let mut got = vec![f32::NAN; m * n];
                        gemm_packed_a(&pa, n, &b, n, false, &mut got, n, &epi, None).expect("gemm_packed_a");
                        assert_close(&got, &want, 1e-4, &format!("packed_a {pack_isa:?}->{run_isa:?} {m}x{n}x{k}"));
                    });
                }
            }
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
