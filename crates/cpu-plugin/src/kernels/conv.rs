//! 2-D convolution, NCHW activations and OIHW weights.
//!
//! Strategy per shape:
//! * depthwise (`groups == c_in == c_out`): direct kernel vectorised along output rows, because
//!   im2col would multiply memory traffic by `kh*kw` for only `kh*kw` MACs per output;
//! * AVX-512, everything else unless the transposed form below is estimated cheaper: "in
//!   place" (`conv_implicit`): one zero-padded, stride-phase-split copy of the input, from
//!   which the micro-kernel reads every GEMM B row `(ci, ky, kx)` through an offset table;
//!   no im2col copy, at the price of a few junk columns per output row;
//! * otherwise: the input is gathered tile by tile straight into GEMM B-panel layout
//!   (im2col fused with packing; for 1x1/stride-1/no-pad it is a plain panel copy of the input)
//!   and multiplied by the pre-packed weights, with bias and activation fused in the store.
//!   Tiling over output positions bounds scratch memory to ~`TILE_BYTES` per thread;
//! * ungrouped convolutions on small maps (cost rule in `prefers_transposed`): the same product
//!   transposed, `out^T[P, c_out] = im2col^T[P, K] * W^T[K, c_out]`, with `W^T` packed once
//!   as the GEMM B operand and the positions as GEMM rows. The AVX-512 micro-kernel clips
//!   rows exactly, whereas positions as columns are padded to 16-lane vectors (49 -> 64 on a
//!   7x7 map); the `[P, c_out]` result is transposed into NCHW after a per-column
//!   bias/activation epilogue.

use super::copy::{copy_run, copy_strided};
use super::elementwise::axpy;
use super::gemm::{self, APanels, BPanels, Bias, Epilogue, Layout, MR, MR512, NR, NR512, PackedA, PackedB};
use super::{Activation, AlignedBuf, KernelError, KernelResult, SyncPtr, ThreadPool, ensure, run_tasks, threads_for};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Target size of one packed im2col tile; small enough to stay in L2 between fill and GEMM.
const TILE_BYTES: usize = 768 * 1024;

/// Shape and hyper-parameters of a 2-D convolution (index 0 = height, 1 = width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvParams {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
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
    /// Number of groups; `c_in` and `c_out` must be multiples of it.
    pub groups: usize,
}

fn out_dim(i: usize, k: usize, s: usize, d: usize, pb: usize, pe: usize) -> usize {
    let span = d * (k.max(1) - 1) + 1;
    let padded = i + pb + pe;
    if s == 0 || padded < span { 0 } else { (padded - span) / s + 1 }
}

impl ConvParams {
    /// Output height.
    pub fn out_h(&self) -> usize {
        out_dim(self.h, self.kh, self.stride[0], self.dilation[0], self.pads_begin[0], self.pads_end[0])
    }

    /// Output width.
    pub fn out_w(&self) -> usize {
        out_dim(self.w, self.kw, self.stride[1], self.dilation[1], self.pads_begin[1], self.pads_end[1])
    }

    /// Number of input elements (`n*c_in*h*w`).
    pub fn input_len(&self) -> usize {
        self.n * self.c_in * self.h * self.w
    }

    /// Number of weight elements (`c_out * c_in/groups * kh * kw`).
    pub fn weight_len(&self) -> usize {
        self.c_out * (self.c_in / self.groups.max(1)) * self.kh * self.kw
    }

    /// Number of output elements (`n*c_out*out_h*out_w`).
    pub fn output_len(&self) -> usize {
        self.n * self.c_out * self.out_h() * self.out_w()
    }

    /// Checks that the parameters describe a computable convolution.
    pub fn validate(&self) -> KernelResult {
        ensure(self.groups > 0, || "groups must be > 0".into())?;
        ensure(self.c_in.is_multiple_of(self.groups) && self.c_out.is_multiple_of(self.groups), || {
            format!("channels {}->{} not divisible by groups {}", self.c_in, self.c_out, self.groups)
        })?;
        ensure(self.kh > 0 && self.kw > 0, || "kernel size must be > 0".into())?;
        ensure(self.stride.iter().chain(&self.dilation).all(|&v| v > 0), || "stride/dilation must be > 0".into())?;
        ensure(self.h + self.pads_begin[0] + self.pads_end[0] > self.dilation[0] * (self.kh - 1), || {
            "kernel taller than padded input".into()
        })?;
        ensure(self.w + self.pads_begin[1] + self.pads_end[1] > self.dilation[1] * (self.kw - 1), || {
            "kernel wider than padded input".into()
        })
    }

    fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.groups == self.c_in && self.groups == self.c_out
    }

    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.pads_begin == [0, 0] && self.pads_end == [0, 0]
    }
}

#[derive(Clone, Debug)]
enum Packed {
    /// Plain `[c, kh*kw]` weights for the direct depthwise kernel.
    Depthwise(Vec<f32>),
    /// One packed `[c_out/g, c_in/g*kh*kw]` GEMM A operand per group.
    Gemm(Vec<PackedA>),
    /// Packed `[c_out, c_in*kh*kw]` A operand whose B rows are read in place from a padded,
    /// phase-split input copy, one per group (AVX-512 layout); see [`conv_implicit`].
    /// `offs` are [`implicit_offsets`] of the packed shape, reused while a call's shape is it.
    Implicit { pa: Vec<PackedA>, offs: Vec<usize> },
    /// `W^T[c_in*kh*kw, c_out]` packed as the GEMM B operand (ungrouped, small maps); boxed
    /// so the plan's step enum stays as small as with the other variants.
    Transposed(Box<PackedB>),
}

/// Estimated micro-kernel cost of an `m x n x 1` GEMM slice in units of one FMA-cycle-ish.
///
/// AVX-512 (`Zmm`): the kernel runs an `R x 16V` register tile on every `MR512 x NR512` block,
/// clipped to the live rows `R` and live 16-lane vectors `V`, and a tile needs about 8
/// independent accumulator chains to hide the FMA latency on two pipes, so a tile costs
/// `max(R*V, 8)`. AVX2 (`Ymm`): every `MR x NR` tile is computed in full.
fn gemm_cost(m: usize, n: usize, layout: Layout) -> usize {
    match layout {
        Layout::Zmm => {
            let per_col_tile = |v: usize| {
                let full = m / MR512 * (MR512 * v).max(8);
                let rem = m % MR512;
                full + if rem > 0 { (rem * v).max(8) } else { 0 }
            };
            let nv = NR512 / 16;
            let full = n / NR512 * per_col_tile(nv);
            let rem = n % NR512;
            full + if rem > 0 { per_col_tile(rem.div_ceil(16)) } else { 0 }
        }
        Layout::Ymm => m.div_ceil(MR) * MR * n.div_ceil(NR) * NR,
    }
}

/// Plan-time choice of the transposed formulation for an ungrouped convolution.
///
/// Compares [`gemm_cost`] of `[c_out, P]` (direct) and `[P, c_out]` (transposed) and takes
/// the transposed form when it is estimated at least 5% cheaper: it pays an extra transpose
/// pass and, on large maps, measured a few percent slower at equal estimated cost.
/// On 7x7 maps the direct form pads 49 positions to 64 columns (+31%) while 49 rows are
/// clipped exactly; on 14x14/28x28 maps the gain comes from `c_out` edge-row tiles (e.g.
/// 256 = 18*14 + 4) that are latency-bound; on 56x56 and larger maps with 16-multiple
/// channels both forms tie and the direct one is kept (measured 3-5% faster there).
pub(crate) fn prefers_transposed(p: &ConvParams, layout: Layout) -> bool {
    let np = p.out_h() * p.out_w();
    let k = p.c_in * p.kh * p.kw;
    if p.groups != 1 || np == 0 || k == 0 || p.c_out == 0 {
        return false;
    }
    20 * gemm_cost(np, p.c_out, layout) < 19 * gemm_cost(p.c_out, np, layout)
}

/// Whether [`conv_implicit`] can run `p` with operands in `layout` on this CPU.
fn implicit_applies(p: &ConvParams, layout: Layout) -> bool {
    cfg!(target_arch = "x86_64")
        && layout == Layout::Zmm
        && super::isa() >= super::Isa::Avx512
        && !p.is_depthwise()
        && p.c_in > 0
        // The phase-split copy holds s_h*s_w phases of ceil(h/s_h) x ceil(w/s_w): about the
        // input's size for real strides, but one float per phase for absurd ones.
        && p.stride.iter().all(|&s| s <= 4)
}

/// Plan-time choice of the in-place formulation. It drops the im2col copy
/// (`kh*kw` floats written and read per input float) for one padded copy of the input and,
/// with width padding, one compaction of the output; the price is `kw - 1 + pads` junk columns
/// per output row, computed and thrown away. Measured on resnet50's shapes (example
/// `conv_formulations`): 0.75-0.81x the direct form's time for 3x3 kernels on 14x14 to 56x56
/// maps and a tie with the transposed form on 7x7; the transposed form keeps the shapes where
/// its exactly clipped row tiles make it estimated (by [`gemm_cost`]) cheaper by the margins
/// below. Every ungrouped convolution the transposed form does not take runs in place.
pub(crate) fn prefers_implicit(p: &ConvParams, layout: Layout, threads: usize) -> bool {
    if !implicit_applies(p, layout) {
        return false;
    }
    if p.groups > 1 {
        // The alternative is the im2col path, which pads the same columns and copies.
        return true;
    }
    let wq = (p.w + p.pads_begin[1] + p.pads_end[1]).div_ceil(p.stride[1]);
    let cols = p.out_h().saturating_sub(1) * wq + p.out_w();
    let (t_cost, i_cost) = (gemm_cost(p.out_h() * p.out_w(), p.c_out, layout), gemm_cost(p.c_out, cols, layout));
    // Largest estimated cost ratio in-place / transposed at which the in-place form still
    // wins (example `conv_formulations`, weights streaming from memory as in a network).
    // Spatial kernels: the transposed fill writes kh*kw floats per input float, so the
    // in-place form wins at 1.31 (3x3 on 7x7 maps: 0.93x the transposed time) and ties at
    // 1.31 with stride 2. 1x1 kernels: a tie at 1.06 (1024->256 on 14x14), a 7% loss at
    // 1.31 (512->2048 on 7x7). On 2 threads the transposed form fills and transposes a lone
    // tile on one thread (1x1 1024->256 on 14x14: 1.31x the in-place time), so both bounds
    // are looser there.
    let (num, den) = match (p.kh * p.kw > 1, threads > 1) {
        (true, false) => (27, 20),
        (true, true) => (7, 5),
        (false, false) => (11, 10),
        (false, true) => (5, 4),
    };
    den * i_cost <= num * t_cost
}

/// Orientation of the GEMM an ungrouped convolution runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvFormulation {
    /// Chosen per shape at pack time by the module's micro-kernel cost estimate.
    Auto,
    /// `out[c_out, P] = W[c_out, K] * im2col[K, P]` (weights as A).
    Direct,
    /// `out^T[P, c_out] = im2col^T[P, K] * W^T[K, c_out]` (weights as B).
    Transposed,
    /// `out[c_out, P'] = W[c_out, K] * B[K, P']` with B's rows read straight from a padded,
    /// phase-split copy of the input (AVX-512 only; otherwise packed as `Direct`).
    Implicit,
}

/// Convolution weights re-laid out once (at compile time) for [`conv2d`].
#[derive(Clone, Debug)]
pub struct PackedConvWeights {
    params: ConvParams,
    packed: Packed,
}

impl PackedConvWeights {
    /// Packs OIHW `weights` for the convolution described by `params`.
    pub fn new(params: &ConvParams, weights: &[f32]) -> KernelResult<Self> {
        Self::with_formulation(params, weights, ConvFormulation::Auto)
    }

    /// Packs like [`PackedConvWeights::new`] for a plan that runs on `threads` threads (the
    /// transposed form fills and transposes each tile on one thread, so it is chosen less
    /// often on more).
    pub fn for_threads(params: &ConvParams, weights: &[f32], threads: usize) -> KernelResult<Self> {
        Self::build(params, weights, ConvFormulation::Auto, threads)
    }

    /// Packs like [`PackedConvWeights::new`] with the GEMM orientation forced (grouped and
    /// depthwise convolutions always use their own paths).
    pub fn with_formulation(params: &ConvParams, weights: &[f32], form: ConvFormulation) -> KernelResult<Self> {
        Self::build(params, weights, form, 1)
    }

    fn build(params: &ConvParams, weights: &[f32], form: ConvFormulation, threads: usize) -> KernelResult<Self> {
        params.validate()?;
        let wl = params.weight_len();
        ensure(weights.len() >= wl, || format!("weights len {} < {wl}", weights.len()))?;
        let layout = Layout::for_isa(super::isa());
        let implicit = match form {
            ConvFormulation::Auto => prefers_implicit(params, layout, threads),
            ConvFormulation::Implicit => implicit_applies(params, layout),
            ConvFormulation::Direct | ConvFormulation::Transposed => false,
        };
        let packed = if params.is_depthwise() {
            Packed::Depthwise(weights[..wl].to_vec())
        } else if implicit {
            #[cfg(target_arch = "x86_64")]
            let offs = implicit_offsets(params);
            #[cfg(not(target_arch = "x86_64"))]
            let offs = Vec::new();
            Packed::Implicit { pa: pack_groups(params, &weights[..wl])?, offs }
        } else if params.groups == 1
            && params.c_in > 0
            && match form {
                ConvFormulation::Auto => prefers_transposed(params, layout),
                ConvFormulation::Direct | ConvFormulation::Implicit => false,
                ConvFormulation::Transposed => true,
            }
        {
            let k = params.c_in * params.kh * params.kw;
            // OIHW weights are W[c_out, K] row-major, i.e. the transpose of the B wanted here.
            Packed::Transposed(Box::new(PackedB::new(k, params.c_out, &weights[..wl], k, true)?))
        } else {
            Packed::Gemm(pack_groups(params, &weights[..wl])?)
        };
        Ok(PackedConvWeights { params: *params, packed })
    }

    /// Whether the weights were packed for the transposed (positions-as-rows) formulation.
    pub fn is_transposed(&self) -> bool {
        matches!(self.packed, Packed::Transposed(_))
    }

    /// Whether the weights were packed for the in-place (no im2col) formulation.
    pub fn is_implicit(&self) -> bool {
        matches!(self.packed, Packed::Implicit { .. })
    }

    fn compatible(&self, p: &ConvParams) -> bool {
        let q = &self.params;
        // Spatial size, batch, strides and pads may change between runs; the packed
        // operand only depends on the channel/kernel geometry.
        q.c_in == p.c_in && q.c_out == p.c_out && q.kh == p.kh && q.kw == p.kw && q.groups == p.groups
    }
}

/// NCHW convolution `output = act(conv(input, weights) + bias)` using pre-packed weights.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    params: &ConvParams,
    packed: &PackedConvWeights,
    input: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    output: &mut [f32],
    pool: Option<&ThreadPool>,
) -> KernelResult {
    let p = params;
    p.validate()?;
    ensure(packed.compatible(p), || "packed weights do not match conv params".into())?;
    ensure(input.len() >= p.input_len(), || format!("input len {} < {}", input.len(), p.input_len()))?;
    ensure(output.len() >= p.output_len(), || format!("output len {} < {}", output.len(), p.output_len()))?;
    if let Some(b) = bias {
        ensure(b.len() >= p.c_out, || format!("bias len {} < c_out {}", b.len(), p.c_out))?;
    }
    if p.output_len() == 0 {
        return Ok(());
    }
    match &packed.packed {
        Packed::Depthwise(w) => {
            depthwise(p, w, input, bias, act, output, pool);
            Ok(())
        }
        Packed::Gemm(pa) => conv_gemm(p, pa, input, bias, act, output, pool),
        #[cfg(target_arch = "x86_64")]
        Packed::Implicit { pa, offs } if pa.first().is_some_and(|a| implicit_applies(p, a.layout())) => {
            let offs =
                if packed.params == *p { std::borrow::Cow::Borrowed(&offs[..]) } else { implicit_offsets(p).into() };
            conv_implicit(p, pa, &offs, input, bias, act, output, pool)
        }
        // Same packing as a one-group `Gemm`: a test-capped instruction set takes the im2col
        // path.
        Packed::Implicit { pa, .. } => conv_gemm(p, pa, input, bias, act, output, pool),
        Packed::Transposed(pb) => conv_transposed(p, pb, input, bias, act, output, pool),
    }
}

/// One packed `[c_out/g, c_in/g*kh*kw]` GEMM A operand per group of OIHW `weights`.
fn pack_groups(p: &ConvParams, weights: &[f32]) -> KernelResult<Vec<PackedA>> {
    let cout_g = p.c_out / p.groups;
    let k = p.c_in / p.groups * p.kh * p.kw;
    (0..p.groups).map(|g| PackedA::new(cout_g, k, &weights[g * cout_g * k..(g + 1) * cout_g * k], k)).collect()
}

/// Positions-as-rows convolution: per tile of output positions, im2col^T is written straight
/// into GEMM A-panel layout, multiplied by the pre-packed `W^T` into a `[rows, c_out]` scratch
/// with bias and activation fused in the store, and transposed into the NCHW output.
fn conv_transposed(
    p: &ConvParams,
    pb: &PackedB,
    input: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    output: &mut [f32],
    pool: Option<&ThreadPool>,
) -> KernelResult {
    let np = p.out_h() * p.out_w();
    let k = p.c_in * p.kh * p.kw;
    let n = p.c_out;
    if p.groups != 1 || pb.k() != k || pb.n() != n {
        return Err(KernelError("transposed conv weights do not match conv params".into()));
    }
    let layout = pb.layout();
    let mr = layout.mr();
    let t = threads_for(pool, p.n * n * np * k);
    let mt = balanced_tile((TILE_BYTES / (4 * k.max(1)) / mr * mr).max(4 * mr), np, mr, p.n, t);
    let tiles = np.div_ceil(mt);
    let items = p.n * tiles;
    let out = SyncPtr(output.as_mut_ptr());
    let next = AtomicUsize::new(0);
    let (workers, gemm_pool) = if items >= t { (t, None) } else { (1, pool) };
    let epi = Epilogue { bias: bias.map_or(Bias::None, |bb| Bias::PerCol(&bb[..n])), act, accumulate: false };
    run_tasks(pool.filter(|_| workers > 1), workers, |_| {
        let mut tile = AlignedBuf::zeroed(k * mt);
        let mut row = vec![0.0f32; mt];
        let mut res = AlignedBuf::zeroed(mt * n);
        loop {
            let item = next.fetch_add(1, Ordering::Relaxed);
            if item >= items {
                break;
            }
            let ti = item % tiles;
            let b = item / tiles;
            let p0 = ti * mt;
            let rows = mt.min(np - p0);
            let m_pad = rows.div_ceil(mr) * mr;
            let x = &input[b * p.c_in * p.h * p.w..][..p.c_in * p.h * p.w];
            let dst = &mut tile.as_mut_slice()[..k * m_pad];
            // An A row panel holds `mr` consecutive rows per k, the same geometry as an
            // `mr`-wide B column panel, so the im2col tile filler serves with width `mr`.
            match layout {
                Layout::Ymm => fill_tile::<MR>(p, x, p0, rows, m_pad, layout.kc(), dst, &mut row),
                Layout::Zmm => fill_tile::<MR512>(p, x, p0, rows, m_pad, layout.kc(), dst, &mut row),
            }
            let panels = APanels { data: &tile.as_slice()[..k * m_pad], m: rows, m_pad };
            let r = &mut res.as_mut_slice()[..rows * n];
            // SAFETY: `r` holds rows x n at row stride n; the bias was checked for c_out = n.
            unsafe { gemm::gemm_panels_prepacked_b(panels, pb, r.as_mut_ptr(), n, &epi, gemm_pool) };
            // SAFETY: the output was validated to hold n*c_out*np elements; this item writes
            // columns p0..p0+rows of every channel of batch b, disjoint from other items.
            unsafe { transpose_into(r, rows, n, out.get().add(b * n * np + p0), np) };
        }
    });
    Ok(())
}

/// Positions per tile (a multiple of `unit`, at most `max`) for `np` positions in each of
/// `per` independent slices run by `t` threads. When there are at least `t` but few tiles,
/// the tile count is rounded up to a multiple of `t` so no thread idles while another runs a
/// big tile (a 28x28 map at `K` = 256 used to split 768 + 16 positions over two threads).
fn balanced_tile(max: usize, np: usize, unit: usize, per: usize, t: usize) -> usize {
    let whole = np.div_ceil(unit) * unit;
    let tile = max.min(whole);
    let items = per * np.div_ceil(tile);
    if t <= 1 || items < t || items >= 4 * t {
        return tile;
    }
    let tiles = (items.div_ceil(t) * t).div_ceil(per);
    np.div_ceil(tiles).div_ceil(unit).max(1) * unit
}

/// `dst[j*ld + i] = src[i*cols + j]` for a `rows x cols` row-major `src`, in square blocks so
/// both sides stay within a few cache lines per block.
///
/// # Safety
/// `dst` must be valid for writes at `j*ld + i` for all `i < rows`, `j < cols`.
unsafe fn transpose_into(src: &[f32], rows: usize, cols: usize, dst: *mut f32, ld: usize) {
    const B: usize = 16;
    for j0 in (0..cols).step_by(B) {
        let j1 = (j0 + B).min(cols);
        for i0 in (0..rows).step_by(B) {
            let i1 = (i0 + B).min(rows);
            for j in j0..j1 {
                // SAFETY: forwarded from the caller.
                let d = unsafe { dst.add(j * ld) };
                for i in i0..i1 {
                    // SAFETY: forwarded from the caller.
                    unsafe { *d.add(i) = src[i * cols + j] };
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
thread_local! {
    /// Padded input copy of [`conv_implicit`] (calling thread) and each task's output block,
    /// kept per thread so steady-state inference neither allocates nor faults pages in.
    static PAD_BUF: std::cell::RefCell<AlignedBuf> = std::cell::RefCell::new(AlignedBuf::zeroed(0));
    static OUT_BUF: std::cell::RefCell<AlignedBuf> = std::cell::RefCell::new(AlignedBuf::zeroed(0));
}

/// Convolution (any groups but depthwise) without im2col. The input is copied once,
/// zero-padded and split by stride phase (`s_h * s_w` planes of `hq x wq` per channel, phase
/// `(py, px)` holding padded rows `py, py+s_h, ..` and columns `px, px+s_w, ..`), so GEMM row
/// `(ci, ky, kx)` of B is one phase plane of channel `ci` shifted by
/// `(ky*dh/s_h)*wq + kx*dw/s_w`, read in place by the micro-kernel. Output positions are
/// computed on the phase width `wq` (columns `ow..wq` of every row are junk) and compacted into
/// NCHW block by block (`ImplicitTask::run_blocked`); with `wq == ow` (1-wide kernels, stride 1,
/// no width padding) the GEMM writes the output directly, and with no padding and stride 1 it
/// reads the input itself.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn conv_implicit(
    p: &ConvParams,
    pa: &[PackedA],
    offs: &[usize],
    input: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    output: &mut [f32],
    pool: Option<&ThreadPool>,
) -> KernelResult {
    let (oh, ow) = (p.out_h(), p.out_w());
    let g = PhaseGeom::new(p);
    let khw = p.kh * p.kw;
    let (cin_g, cout_g) = (p.c_in / p.groups, p.c_out / p.groups);
    let k = cin_g * khw;
    let fits = |a: &PackedA| a.k() == k && a.m() == cout_g && implicit_applies(p, a.layout());
    if pa.len() != p.groups || !pa.iter().all(fits) {
        return Err(KernelError("implicit conv weights do not match conv params".into()));
    }
    if offs.len() != k {
        return Err(KernelError("implicit conv offsets do not match conv params".into()));
    }
    let ncols = (oh - 1) * g.wq + ow;
    let (padded, direct, wp) = (g.copied, g.wq == ow, g.wq);
    let plane = g.chan;
    let t = threads_for(pool, p.n * p.c_out * oh * ow * k);
    let epi = Epilogue { bias: bias.map_or(Bias::None, |b| Bias::PerRow(&b[..p.c_out])), act, accumulate: false };
    let out = SyncPtr(output.as_mut_ptr());
    let per_image = |xbuf: &mut AlignedBuf| {
        if padded {
            xbuf.ensure_len(p.c_in * plane);
        }
        let xp = SyncPtr(xbuf.as_mut_slice().as_mut_ptr());
        for b in 0..p.n {
            let x = &input[b * p.c_in * p.h * p.w..][..p.c_in * p.h * p.w];
            if padded {
                run_tasks(pool, t, |i| {
                    let (c0, c1) = super::split_range(p.c_in, t, 1, i);
                    // SAFETY: the buffer holds c_in planes; tasks own disjoint channel ranges.
                    let dst = unsafe { std::slice::from_raw_parts_mut(xp.get().add(c0 * plane), (c1 - c0) * plane) };
                    g.fill(p, &x[c0 * p.h * p.w..c1 * p.h * p.w], dst);
                });
            }
            // SAFETY: the padded copy (or the input itself) holds c_in planes of hp*wp floats.
            let src: &[f32] = if padded { unsafe { std::slice::from_raw_parts(xp.get(), p.c_in * plane) } } else { x };
            let by_cols = ncols.div_ceil(NR512) >= 2 * t;
            run_tasks(pool, t, |i| {
                let (rows, cols) = if by_cols {
                    ((0, cout_g), super::split_range(ncols, t, NR512, i))
                } else {
                    (super::split_range(cout_g, t, MR512, i), (0, ncols))
                };
                if rows.0 >= rows.1 || cols.0 >= cols.1 {
                    return;
                }
                let task = ImplicitTask { pa, src, offs, plane, cin_g, cout_g, ncols, wq: wp, epi, bias };
                if direct {
                    // SAFETY: the output holds n*c_out*oh*ow floats and, with wq == ow, image
                    // b's channel co, position q is at (b*c_out + co)*ncols + q.
                    unsafe { task.run_direct(out.get().add(b * p.c_out * ncols), rows, cols) };
                } else {
                    // SAFETY: as above, with positions q = oy*wq + ox (ox < ow) going to
                    // oy*ow + ox of each output plane of image b.
                    unsafe { task.run_blocked(out.get().add(b * p.c_out * oh * ow), oh * ow, ow, rows, cols) };
                }
            });
        }
    };
    PAD_BUF.with(|buf| match buf.try_borrow_mut() {
        Ok(mut xbuf) => per_image(&mut xbuf),
        // Only reachable if a kernel re-enters on the same thread; a private buffer is correct.
        Err(_) => per_image(&mut AlignedBuf::zeroed(0)),
    });
    Ok(())
}

/// Floats of one task's output block in [`conv_implicit`]: 256 KiB, beside the 168 KiB A
/// block in a 1 MiB L2.
#[cfg(target_arch = "x86_64")]
const OUT_BLOCK_FLOATS: usize = 64 * 1024;

/// One thread's share of an image in [`conv_implicit`]: rows (per group) x positions.
#[cfg(target_arch = "x86_64")]
struct ImplicitTask<'a> {
    pa: &'a [PackedA],
    src: &'a [f32],
    offs: &'a [usize],
    plane: usize,
    cin_g: usize,
    cout_g: usize,
    ncols: usize,
    wq: usize,
    epi: Epilogue<'a>,
    bias: Option<&'a [f32]>,
}

#[cfg(target_arch = "x86_64")]
impl ImplicitTask<'_> {
    /// B operand and epilogue of group `gi`.
    fn group(&self, gi: usize) -> (gemm::ImplicitB<'_>, Epilogue<'_>) {
        let ib = gemm::ImplicitB { base: self.src[gi * self.cin_g * self.plane..].as_ptr(), offs: self.offs };
        let (lo, hi) = (gi * self.cout_g, (gi + 1) * self.cout_g);
        let epi = Epilogue { bias: self.bias.map_or(Bias::None, |b| Bias::PerRow(&b[lo..hi])), ..self.epi };
        (ib, epi)
    }

    /// GEMM straight into NCHW (`wq == ow`, so positions are output offsets).
    ///
    /// # Safety
    /// `out` is valid for `c_out * ncols` floats; no other task writes `rows` x `cols` of
    /// any group there; AVX-512F and the packing were checked by `implicit_applies`.
    unsafe fn run_direct(&self, out: *mut f32, rows: (usize, usize), cols: (usize, usize)) {
        for (gi, a) in self.pa.iter().enumerate() {
            let (ib, epi) = self.group(gi);
            // SAFETY: forwarded; every B row read ends at the group's last plane float.
            unsafe {
                let c = out.add((gi * self.cout_g + rows.0) * self.ncols + cols.0);
                gemm::gemm_implicit_b(a, ib, c, self.ncols, &epi, rows, cols);
            }
        }
    }

    /// GEMM into a per-thread block of positions, each block compacted into NCHW (dropping
    /// the junk columns `ow..wq` of every row) while it is still in L2. Blocks are as wide as
    /// `OUT_BLOCK_FLOATS` allows when A is small enough to be re-read per block; otherwise
    /// one block spans the task (re-streaming big weights would cost more than the scratch's
    /// trip through memory).
    ///
    /// # Safety
    /// `out` is valid for `c_out` planes of `ohw` floats; no other task writes rows `rows` of
    /// any group at positions `cols`; AVX-512F and the packing were checked.
    unsafe fn run_blocked(&self, out: *mut f32, ohw: usize, ow: usize, rows: (usize, usize), cols: (usize, usize)) {
        let nrows = rows.1 - rows.0;
        let k = self.offs.len();
        let span = cols.1 - cols.0;
        let fit = (OUT_BLOCK_FLOATS / nrows.max(1) / NR512 * NR512).max(NR512);
        // A is re-read once per block, the scratch written and read back once in all:
        // block only while k * blocks stays below 3 scratch passes over the positions.
        let ncb = if k * span.div_ceil(fit) <= 3 * span { fit } else { span.div_ceil(NR512) * NR512 };
        OUT_BUF.with(|buf| {
            let mut local = AlignedBuf::zeroed(0);
            let mut guard = buf.try_borrow_mut();
            let scratch: &mut AlignedBuf = match guard.as_deref_mut() {
                Ok(b) => b,
                // Only reachable if a kernel re-enters on the same thread.
                Err(_) => &mut local,
            };
            scratch.ensure_len(nrows * ncb);
            let sp = scratch.as_mut_slice();
            for (gi, a) in self.pa.iter().enumerate() {
                let (ib, epi) = self.group(gi);
                let mut j0 = cols.0;
                while j0 < cols.1 {
                    let j1 = (j0 + ncb).min(cols.1);
                    // SAFETY: the scratch holds nrows x ncb floats at row pitch ncb; B reads
                    // end at the group's last plane float.
                    unsafe { gemm::gemm_implicit_b(a, ib, sp.as_mut_ptr(), ncb, &epi, rows, (j0, j1)) };
                    for r in rows.0..rows.1 {
                        let srow = &sp[(r - rows.0) * ncb..][..j1 - j0];
                        let plane = (gi * self.cout_g + r) * ohw;
                        for oy in j0 / self.wq..=(j1 - 1) / self.wq {
                            let lo = j0.max(oy * self.wq);
                            let hi = j1.min(oy * self.wq + ow);
                            if lo < hi {
                                // SAFETY: positions lo..hi of row oy are output columns
                                // lo - oy*wq .. hi - oy*wq < ow of this task's plane rows.
                                let d = unsafe {
                                    std::slice::from_raw_parts_mut(
                                        out.add(plane + oy * ow + lo - oy * self.wq),
                                        hi - lo,
                                    )
                                };
                                copy_run(&srow[lo - j0..hi - j0], d);
                            }
                        }
                    }
                    j0 = j1;
                }
            }
        });
    }
}

/// Offset of GEMM row `k = (ci, ky, kx)` of B (per group) into [`conv_implicit`]'s phase planes.
///
/// The padded row of output row oy and tap ky is oy*sh + ky*dh, i.e. row oy + ky*dh/sh of
/// phase (ky*dh) % sh, and oh - 1 + (kh-1)*dh/sh < hq (same for columns), so the last float read
/// for position ncols - 1 is still inside the tap's phase plane.
#[cfg(target_arch = "x86_64")]
fn implicit_offsets(p: &ConvParams) -> Vec<usize> {
    let g = PhaseGeom::new(p);
    let [sh, sw] = p.stride;
    let khw = p.kh * p.kw;
    (0..p.c_in / p.groups.max(1) * khw)
        .map(|kk| {
            let (ty, tx) = (kk % khw / p.kw * p.dilation[0], kk % p.kw * p.dilation[1]);
            kk / khw * g.chan + (ty % sh * sw + tx % sw) * g.plane + ty / sh * g.wq + tx / sw
        })
        .collect()
}

/// Layout of [`conv_implicit`]'s padded, phase-split input copy.
#[cfg(target_arch = "x86_64")]
struct PhaseGeom {
    /// Columns of one phase plane (its row pitch).
    wq: usize,
    /// Floats per phase plane and per channel (all phases).
    plane: usize,
    chan: usize,
    /// Phases some tap reads (`py * s_w + px`); the others are never filled.
    used: Vec<bool>,
    /// Whether a copy is needed at all (padding or stride); otherwise B is the input itself.
    copied: bool,
}

#[cfg(target_arch = "x86_64")]
impl PhaseGeom {
    fn new(p: &ConvParams) -> Self {
        let [sh, sw] = p.stride;
        let (hp, wp) = (p.h + p.pads_begin[0] + p.pads_end[0], p.w + p.pads_begin[1] + p.pads_end[1]);
        let (hq, wq) = (hp.div_ceil(sh), wp.div_ceil(sw));
        let mut used = vec![false; sh * sw];
        for ky in 0..p.kh {
            for kx in 0..p.kw {
                used[ky * p.dilation[0] % sh * sw + kx * p.dilation[1] % sw] = true;
            }
        }
        let copied = hp != p.h || wp != p.w || p.stride != [1, 1];
        PhaseGeom { wq, plane: hq * wq, chan: sh * sw * hq * wq, used, copied }
    }

    /// Copies `x` (whole `h x w` planes) into `dst` (`chan` floats per plane) as padded phase
    /// planes.
    fn fill(&self, p: &ConvParams, x: &[f32], dst: &mut [f32]) {
        let [sh, sw] = p.stride;
        let (pt, pl) = (p.pads_begin[0], p.pads_begin[1]);
        for (src, out) in x.chunks_exact(p.h * p.w).zip(dst.chunks_exact_mut(self.chan)) {
            for (ph, ph_out) in out.chunks_exact_mut(self.plane).enumerate() {
                if !self.used[ph] {
                    continue;
                }
                let (py, px) = (ph / sw, ph % sw);
                for (r, row) in ph_out.chunks_exact_mut(self.wq).enumerate() {
                    let y = (r * sh + py).wrapping_sub(pt);
                    if y >= p.h {
                        row.fill(0.0);
                        continue;
                    }
                    let line = &src[y * p.w..][..p.w];
                    if sw == 1 {
                        let lo = pl.min(self.wq);
                        let hi = (pl + p.w).min(self.wq);
                        row[..lo].fill(0.0);
                        copy_run(&line[..hi - lo], &mut row[lo..hi]);
                        row[hi..].fill(0.0);
                    } else {
                        // Columns c with 0 <= c*sw + px - pl < w are copied, the rest are pad.
                        let lo = (pl.saturating_sub(px)).div_ceil(sw).min(self.wq);
                        let hi = (pl + p.w).saturating_sub(px).div_ceil(sw).clamp(lo, self.wq);
                        row[..lo].fill(0.0);
                        row[hi..].fill(0.0);
                        if lo < hi {
                            copy_strided(&line[lo * sw + px - pl..], sw, &mut row[lo..hi]);
                        }
                    }
                }
            }
        }
    }
}

fn conv_gemm(
    p: &ConvParams,
    pa: &[PackedA],
    input: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    output: &mut [f32],
    pool: Option<&ThreadPool>,
) -> KernelResult {
    let (oh, ow) = (p.out_h(), p.out_w());
    let np = oh * ow;
    let cin_g = p.c_in / p.groups;
    let cout_g = p.c_out / p.groups;
    let k = cin_g * p.kh * p.kw;
    if pa.len() != p.groups {
        return Err(KernelError("packed weights group count mismatch".into()));
    }
    // The im2col tile is written straight into the panel geometry the weights were packed in.
    let layout = pa.first().map_or(Layout::Ymm, PackedA::layout);
    let nr = layout.nr();
    let t = threads_for(pool, p.n * p.c_out * np * k);
    let nt = balanced_tile((TILE_BYTES / (4 * k.max(1)) / nr * nr).max(4 * nr), np, nr, p.n * p.groups, t);
    let tiles = np.div_ceil(nt);
    let items = p.n * p.groups * tiles;
    let out = SyncPtr(output.as_mut_ptr());
    let next = AtomicUsize::new(0);
    // Item-level parallelism keeps each thread's tile hot in its own L2; only when there are
    // fewer items than threads is the GEMM itself split.
    let (workers, gemm_pool) = if items >= t { (t, None) } else { (1, pool) };
    // Narrow or strided maps break the row copies of `fill_tile` into many short runs (a
    // 7-wide map is 7-float memcpys); a masked gather per 16 columns has no such overhead.
    #[cfg(target_arch = "x86_64")]
    let gather_fill = layout == Layout::Zmm
        && super::isa() >= super::Isa::Avx512
        && !p.is_pointwise()
        && (p.stride[1] > 1 || ow < 32)
        && p.h * p.w < (1 << 24);
    run_tasks(pool.filter(|_| workers > 1), workers, |_| {
        let mut tile = AlignedBuf::zeroed(k * nt);
        let mut row = vec![0.0f32; nt];
        loop {
            let item = next.fetch_add(1, Ordering::Relaxed);
            if item >= items {
                break;
            }
            let ti = item % tiles;
            let g = item / tiles % p.groups;
            let b = item / tiles / p.groups;
            let p0 = ti * nt;
            let cols = nt.min(np - p0);
            let n_pad = cols.div_ceil(nr) * nr;
            let x = &input[(b * p.c_in + g * cin_g) * p.h * p.w..][..cin_g * p.h * p.w];
            let dst = &mut tile.as_mut_slice()[..k * n_pad];
            match layout {
                Layout::Ymm => fill_tile::<NR>(p, x, p0, cols, n_pad, layout.kc(), dst, &mut row),
                #[cfg(target_arch = "x86_64")]
                Layout::Zmm if gather_fill => {
                    // SAFETY: AVX-512F checked when `gather_fill` was set; `x` holds the
                    // group's c_in/g planes and `dst` the k x n_pad tile.
                    unsafe { gather::fill_tile_zmm(p, x, p0, cols, n_pad, layout.kc(), dst) }
                }
                Layout::Zmm => fill_tile::<NR512>(p, x, p0, cols, n_pad, layout.kc(), dst, &mut row),
            }
            let epi = Epilogue {
                bias: bias.map_or(Bias::None, |bb| Bias::PerRow(&bb[g * cout_g..(g + 1) * cout_g])),
                act,
                accumulate: false,
            };
            let panels = BPanels { data: &tile.as_slice()[..k * n_pad], n: cols, n_pad };
            // SAFETY: the output was validated to hold n*c_out*np elements; this item writes
            // rows g*cout_g.. of batch b, columns p0..p0+cols, disjoint from other items.
            unsafe {
                let c = out.get().add((b * p.c_out + g * cout_g) * np + p0);
                gemm::gemm_packed_panels(&pa[g], panels, c, np, &epi, gemm_pool);
            }
        }
    });
    Ok(())
}

/// Writes the `k x cols` im2col tile for output positions `p0..p0+cols` in B-panel layout
/// (`W`-column panels per `kc` block).
#[allow(clippy::too_many_arguments)]
fn fill_tile<const W: usize>(
    p: &ConvParams,
    x: &[f32],
    p0: usize,
    cols: usize,
    n_pad: usize,
    kc: usize,
    dst: &mut [f32],
    row: &mut [f32],
) {
    let (h, w) = (p.h, p.w);
    let ow = p.out_w();
    let khw = p.kh * p.kw;
    let k = dst.len() / n_pad;
    let pointwise = p.is_pointwise();
    for kidx in 0..k {
        let ci = kidx / khw;
        let ky = kidx % khw / p.kw;
        let kx = kidx % p.kw;
        let plane = &x[ci * h * w..][..h * w];
        let src: &[f32] = if pointwise {
            // Output position == input position: the "im2col" row is the input channel itself.
            &plane[p0..p0 + cols]
        } else {
            fill_row(p, plane, ky, kx, p0, &mut row[..cols], ow);
            &row[..cols]
        };
        let kb = kidx / kc * kc;
        let kcb = kc.min(k - kb);
        let base = kb * n_pad + (kidx - kb) * W;
        let full = src.chunks_exact(W);
        let tail = full.remainder();
        let mut jp = 0;
        for chunk in full {
            // Fixed-size copies compile to a few vector moves instead of a memmove call.
            if let (Ok(d), Ok(c)) =
                (<&mut [f32; W]>::try_from(&mut dst[base + jp * W * kcb..][..W]), <&[f32; W]>::try_from(chunk))
            {
                *d = *c;
            }
            jp += 1;
        }
        if !tail.is_empty() {
            let d = &mut dst[base + jp * W * kcb..][..W];
            d[..tail.len()].copy_from_slice(tail);
            d[tail.len()..].fill(0.0);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod gather {
    use super::super::gemm::NR512;
    use super::ConvParams;
    use std::arch::x86_64::*;

    /// [`super::fill_tile`] for the 32-column AVX-512 panels, one masked `vgatherdps` per 16
    /// output positions and tap (padding lanes are masked off and read as 0).
    ///
    /// # Safety
    /// CPU must support AVX-512F; `x` holds `c_in/groups` planes of `h*w < 2^24` floats and
    /// `dst` holds `k * n_pad` floats with `n_pad` a multiple of 32.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fill_tile_zmm(
        p: &ConvParams,
        x: &[f32],
        p0: usize,
        cols: usize,
        n_pad: usize,
        kc: usize,
        dst: &mut [f32],
    ) {
        const W: usize = NR512;
        let ow = p.out_w();
        let khw = p.kh * p.kw;
        let k = dst.len() / n_pad;
        // Per column: top-left input coordinate of its window; columns past `cols` get a row
        // far out of range so their lanes are always masked off.
        let mut iy0 = vec![i32::MIN / 2; n_pad];
        let mut ix0 = vec![0i32; n_pad];
        for j in 0..cols {
            let pos = p0 + j;
            iy0[j] = ((pos / ow) * p.stride[0]) as i32 - p.pads_begin[0] as i32;
            ix0[j] = ((pos % ow) * p.stride[1]) as i32 - p.pads_begin[1] as i32;
        }
        let (h, w) = (_mm512_set1_epi32(p.h as i32), _mm512_set1_epi32(p.w as i32));
        let wv = _mm512_set1_epi32(p.w as i32);
        let vecs = n_pad / 16;
        // SAFETY: every gathered index is checked against the plane bounds by its lane mask;
        // stores stay inside the k x n_pad tile.
        unsafe {
            let d = dst.as_mut_ptr();
            for kidx in 0..k {
                let ci = kidx / khw;
                let dy = _mm512_set1_epi32((kidx % khw / p.kw * p.dilation[0]) as i32);
                let dx = _mm512_set1_epi32((kidx % p.kw * p.dilation[1]) as i32);
                let plane = x.as_ptr().add(ci * p.h * p.w);
                let kb = kidx / kc * kc;
                let kcb = kc.min(k - kb);
                let base = kb * n_pad + (kidx - kb) * W;
                for v in 0..vecs {
                    let iy = _mm512_add_epi32(_mm512_loadu_si512(iy0.as_ptr().add(16 * v).cast()), dy);
                    let ix = _mm512_add_epi32(_mm512_loadu_si512(ix0.as_ptr().add(16 * v).cast()), dx);
                    let m = _mm512_cmplt_epu32_mask(iy, h) & _mm512_cmplt_epu32_mask(ix, w);
                    let idx = _mm512_add_epi32(_mm512_mullo_epi32(iy, wv), ix);
                    let g = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), m, idx, plane);
                    _mm512_storeu_ps(d.add(base + (v / 2) * W * kcb + (v % 2) * 16), g);
                }
            }
        }
    }
}

/// Gathers input values for tap (ky, kx) at output positions `p0..p0+row.len()` (0 in pads).
fn fill_row(p: &ConvParams, plane: &[f32], ky: usize, kx: usize, p0: usize, row: &mut [f32], ow: usize) {
    let (sh, sw) = (p.stride[0], p.stride[1]);
    let (lo, hi, off) = valid_range(p.w, ow, sw, kx * p.dilation[1], p.pads_begin[1]);
    let mut idx = 0;
    let mut pos = p0;
    while idx < row.len() {
        let oy = pos / ow;
        let ox0 = pos % ow;
        let seg = (ow - ox0).min(row.len() - idx);
        let out = &mut row[idx..idx + seg];
        let iy = (oy * sh + ky * p.dilation[0]) as isize - p.pads_begin[0] as isize;
        if iy < 0 || iy >= p.h as isize {
            out.fill(0.0);
        } else {
            let src = &plane[iy as usize * p.w..][..p.w];
            let a = lo.clamp(ox0, ox0 + seg);
            let b = hi.clamp(a, ox0 + seg);
            out[..a - ox0].fill(0.0);
            out[b - ox0..].fill(0.0);
            if a < b {
                let dst = &mut out[a - ox0..b - ox0];
                let s0 = (a as isize * sw as isize + off) as usize;
                if sw == 1 {
                    dst.copy_from_slice(&src[s0..s0 + (b - a)]);
                } else {
                    for (i, d) in dst.iter_mut().enumerate() {
                        *d = src[s0 + i * sw];
                    }
                }
            }
        }
        idx += seg;
        pos += seg;
    }
}

/// Output columns `lo..hi` whose input column `ox*s + off` (`off = tap - pad`) lies in `0..w`.
fn valid_range(w: usize, ow: usize, s: usize, tap: usize, pad: usize) -> (usize, usize, isize) {
    let off = tap as isize - pad as isize;
    let lo = if off >= 0 { 0 } else { ((-off) as usize).div_ceil(s) };
    let last = w as isize - 1 - off;
    let hi = if last < 0 { 0 } else { (last as usize / s + 1).min(ow) };
    (lo.min(ow), hi.max(lo.min(ow)), off)
}

fn depthwise(
    p: &ConvParams,
    w: &[f32],
    input: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    output: &mut [f32],
    pool: Option<&ThreadPool>,
) {
    let (oh, ow) = (p.out_h(), p.out_w());
    let planes = p.n * p.c_in;
    let khw = p.kh * p.kw;
    let t = threads_for(pool, planes * oh * ow * khw).min(planes);
    let out = SyncPtr(output.as_mut_ptr());
    #[cfg(target_arch = "x86_64")]
    if super::isa() >= super::Isa::Avx512 {
        depthwise_sweep(p, w, input, bias, act, out, t, pool);
        return;
    }
    run_tasks(pool, t, |ti| {
        let (q0, q1) = super::split_range(planes, t, 1, ti);
        for q in q0..q1 {
            let c = q % p.c_in;
            let x = &input[q * p.h * p.w..][..p.h * p.w];
            // SAFETY: output validated for planes*oh*ow elements; tasks own disjoint planes.
            let o = unsafe { std::slice::from_raw_parts_mut(out.get().add(q * oh * ow), oh * ow) };
            let b = bias.map_or(0.0, |bb| bb[c]);
            depthwise_plane(p, x, &w[c * khw..][..khw], b, act, o, ow);
        }
    });
}

/// AVX-512 depthwise convolution through padded, phase-split plane copies: every tap of an
/// output row is one contiguous masked load, with no per-tap edge handling or call overhead,
/// which dominated small maps and strided layers.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn depthwise_sweep(
    p: &ConvParams,
    w: &[f32],
    input: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    out: SyncPtr,
    t: usize,
    pool: Option<&ThreadPool>,
) {
    use super::pool::{Sweep, SweepMode, Window, avx512};
    let (oh, ow) = (p.out_h(), p.out_w());
    let planes = p.n * p.c_in;
    let khw = p.kh * p.kw;
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
    let row_step = win.row_step();
    run_tasks(pool, t, |ti| {
        let (q0, q1) = super::split_range(planes, t, 1, ti);
        let mut buf = vec![0.0f32; win.plane_len()];
        for q in q0..q1 {
            let c = q % p.c_in;
            win.fill(&input[q * p.h * p.w..][..p.h * p.w], 0.0, &mut buf);
            let mode = SweepMode::Fma { w: &w[c * khw..][..khw], bias: bias.map_or(0.0, |bb| bb[c]), act };
            let sweep = Sweep { offs: &offs, row_step, ow, mode };
            // SAFETY: output validated for planes*oh*ow elements; tasks own disjoint planes.
            let o = unsafe { std::slice::from_raw_parts_mut(out.get().add(q * oh * ow), oh * ow) };
            // SAFETY: the caller checked AVX-512F; `buf` was filled for `win`.
            unsafe { avx512::sweep_plane(&buf, &sweep, o) };
        }
    });
}

fn depthwise_plane(p: &ConvParams, x: &[f32], wts: &[f32], bias: f32, act: Activation, out: &mut [f32], ow: usize) {
    let sw = p.stride[1];
    let ranges: Vec<(usize, usize, isize)> =
        (0..p.kw).map(|kx| valid_range(p.w, ow, sw, kx * p.dilation[1], p.pads_begin[1])).collect();
    for (oy, orow) in out.chunks_exact_mut(ow).enumerate() {
        orow.fill(bias);
        for ky in 0..p.kh {
            let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pads_begin[0] as isize;
            if iy < 0 || iy >= p.h as isize {
                continue;
            }
            let irow = &x[iy as usize * p.w..][..p.w];
            for (kx, &(lo, hi, off)) in ranges.iter().enumerate() {
                if lo >= hi {
                    continue;
                }
                let wv = wts[ky * p.kw + kx];
                let s0 = (lo as isize * sw as isize + off) as usize;
                if sw == 1 {
                    axpy(wv, &irow[s0..s0 + (hi - lo)], &mut orow[lo..hi]);
                } else {
                    for (i, o) in orow[lo..hi].iter_mut().enumerate() {
                        *o += wv * irow[s0 + i * sw];
                    }
                }
            }
        }
        if act != Activation::None {
            for v in orow.iter_mut() {
                *v = act.apply(*v);
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

    fn run_case(p: ConvParams, with_bias: bool, act: Activation, seed: u64, pool: Option<&ThreadPool>) {
        let x = rand_vec(p.input_len(), seed);
        let w = rand_vec(p.weight_len(), seed + 1);
        let b = rand_vec(p.c_out, seed + 2);
        let bias = with_bias.then_some(&b[..]);
        let mut want = vec![0.0; p.output_len()];
        reference::conv2d(&p, &x, &w, bias, act, &mut want);
        let forms =
            [ConvFormulation::Auto, ConvFormulation::Direct, ConvFormulation::Transposed, ConvFormulation::Implicit];
        for form in forms {
            let packed = PackedConvWeights::with_formulation(&p, &w, form).expect("pack");
            let mut got = vec![f32::NAN; p.output_len()];
            conv2d(&p, &packed, &x, bias, act, &mut got, pool).expect("conv2d");
            assert_close(&got, &want, 1e-4, &format!("{p:?} {form:?}"));
        }
    }

    fn params() -> impl Strategy<Value = ConvParams> {
        (
            1usize..3,
            prop_oneof![Just(1usize), Just(2), Just(3), Just(4), Just(0)],
            prop_oneof![1usize..5, 17usize..40],
            prop_oneof![1usize..5, 17usize..40],
            prop_oneof![(1usize..14, 1usize..14), Just((7usize, 7usize)), Just((14, 14)), (5usize..20, 5usize..20)],
            (1usize..5, 1usize..5),
            (1usize..4, 1usize..4),
            (1usize..3, 1usize..3),
            (0usize..3, 0usize..3, 0usize..3, 0usize..3),
        )
            .prop_map(|(n, groups, cig, cog, (h, w), (kh, kw), (sh, sw), (dh, dw), (pt, pl, pb, pr))| {
                // groups == 0 encodes "depthwise with several channels".
                let (groups, cig, cog) = if groups == 0 { (cig + 2, 1, 1) } else { (groups, cig, cog) };
                let mut p = ConvParams {
                    n,
                    c_in: groups * cig,
                    h,
                    w,
                    c_out: groups * cog,
                    kh,
                    kw,
                    stride: [sh, sw],
                    dilation: [dh, dw],
                    pads_begin: [pt, pl],
                    pads_end: [pb, pr],
                    groups,
                };
                // Shrink the kernel until it fits the padded input.
                while p.validate().is_err() && (p.kh > 1 || p.kw > 1) {
                    p.kh = p.kh.saturating_sub(1).max(1);
                    p.kw = p.kw.saturating_sub(1).max(1);
                    p.dilation = [1, 1];
                }
                p
            })
    }

    fn act_strategy() -> impl Strategy<Value = Activation> {
        prop_oneof![Just(Activation::None), Just(Activation::Relu), Just(Activation::Clamp(-0.3, 0.4))]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn conv_matches_reference(p in params(), with_bias in any::<bool>(), act in act_strategy(), seed in any::<u64>()) {
            prop_assume!(p.validate().is_ok());
            run_case(p, with_bias, act, seed, None);
        }
    }

    fn base(c_in: usize, c_out: usize, hw: usize, k: usize, groups: usize) -> ConvParams {
        ConvParams {
            n: 1,
            c_in,
            h: hw,
            w: hw,
            c_out,
            kh: k,
            kw: k,
            stride: [1, 1],
            dilation: [1, 1],
            pads_begin: [k / 2; 2],
            pads_end: [k / 2; 2],
            groups,
        }
    }

    #[test]
    fn conv_larger_shapes() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
        // K above KC, several tiles, threaded and not.
        let mut p = base(40, 20, 23, 3, 1);
        run_case(p, true, Activation::Relu, 1, None);
        run_case(p, true, Activation::Relu, 1, Some(&pool));
        p.stride = [2, 2];
        p.pads_end = [0, 2];
        run_case(p, false, Activation::None, 2, Some(&pool));
        // Pointwise (no-copy path) with many tiles.
        let p = base(70, 33, 45, 1, 1);
        run_case(p, true, Activation::Clamp(0.0, 6.0), 3, Some(&pool));
        run_case(p, true, Activation::None, 3, None);
        // Depthwise and grouped.
        let mut p = base(32, 32, 30, 3, 32);
        run_case(p, true, Activation::Relu, 4, Some(&pool));
        p.stride = [2, 2];
        run_case(p, true, Activation::Relu, 5, None);
        let p = base(32, 64, 17, 3, 4);
        run_case(p, true, Activation::None, 6, Some(&pool));
        // Batch > 1, dilation.
        let mut p = base(8, 12, 19, 3, 2);
        p.n = 3;
        p.dilation = [2, 3];
        p.pads_end = [0, 3];
        run_case(p, true, Activation::None, 7, Some(&pool));
    }

    #[test]
    fn conv_implicit_blocks_and_splits() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
        // c_out above one 168-row block with a ragged panel, K above two k blocks, split by
        // rows (few columns) and by columns, batch 2, asymmetric pads and dilation.
        let mut p = base(70, 181, 6, 3, 1);
        p.n = 2;
        run_case(p, true, Activation::Relu, 61, Some(&pool));
        run_case(p, false, Activation::None, 62, None);
        let mut p = base(30, 20, 29, 3, 1);
        p.dilation = [2, 1];
        p.pads_begin = [2, 0];
        p.pads_end = [1, 3];
        run_case(p, true, Activation::Clamp(-0.2, 0.3), 63, Some(&pool));
        // No padding and 1-wide kernels: the GEMM writes NCHW directly.
        let mut p = base(300, 40, 23, 1, 1);
        p.kh = 3;
        p.pads_begin = [1, 0];
        p.pads_end = [1, 0];
        run_case(p, true, Activation::Relu, 64, Some(&pool));
        let p = base(300, 40, 23, 1, 1);
        run_case(p, true, Activation::Relu, 65, Some(&pool));
        // Several output blocks per task (200 rows leave 320 positions per block; a 30x30
        // map has 958), one thread and two; rows of a block end mid output row.
        let p = base(8, 200, 30, 3, 1);
        run_case(p, true, Activation::Relu, 69, Some(&pool));
        run_case(p, false, Activation::Clamp(-0.1, 0.2), 70, None);
        // Groups: 1x1 written directly, and padded 3x3 with a ragged 17-channel group.
        run_case(base(24, 36, 20, 1, 3), true, Activation::Relu, 66, Some(&pool));
        run_case(base(34, 34, 9, 3, 2), false, Activation::None, 67, None);
        if super::super::has_avx512f() {
            let w = rand_vec(p.weight_len(), 1);
            assert!(
                PackedConvWeights::with_formulation(&p, &w, ConvFormulation::Implicit).expect("pack").is_implicit()
            );
        }
        // Strides past 4 keep the im2col path (the phase copy would have s_h*s_w planes).
        let mut p = base(5, 7, 30, 3, 1);
        p.stride = [9, 5];
        run_case(p, true, Activation::None, 68, None);
        assert!(
            !PackedConvWeights::with_formulation(&p, &rand_vec(p.weight_len(), 2), ConvFormulation::Implicit)
                .expect("pack")
                .is_implicit()
        );
    }

    #[test]
    fn conv_gather_and_sweep_paths() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
        // Gathered im2col: 7x7 map with K above one k block, several panels and a ragged tile.
        let mut p = base(40, 30, 7, 3, 1);
        run_case(p, true, Activation::Relu, 41, None);
        p.n = 2;
        p.stride = [2, 2];
        p.pads_end = [0, 0];
        run_case(p, false, Activation::None, 42, Some(&pool));
        // Strided, dilated, asymmetric pads on a wide map (gather because stride > 1).
        let mut p = base(5, 9, 37, 3, 1);
        p.stride = [1, 3];
        p.dilation = [2, 1];
        p.pads_begin = [0, 2];
        p.pads_end = [3, 1];
        run_case(p, true, Activation::Clamp(-0.2, 0.3), 43, None);
        // Depthwise sweeps: 8-, 4- and 1-row blocks, masked column tails, stride 2/3, dilation.
        for (hw, k, s, d) in [(13, 3, 1, 1), (29, 3, 2, 1), (17, 5, 3, 2), (40, 3, 1, 1), (7, 3, 2, 1)] {
            let mut p = base(6, 6, hw, k, 6);
            p.stride = [s, s];
            p.dilation = [d, d];
            p.pads_end = [0, k / 2 + 1];
            run_case(p, true, Activation::Relu, 44 + hw as u64, Some(&pool));
            run_case(p, false, Activation::None, 45 + hw as u64, None);
        }
    }

    #[test]
    fn transposed_rule_picks_small_maps() {
        let is_t = |p: &ConvParams, l| prefers_transposed(p, l);
        for layout in [Layout::Zmm, Layout::Ymm] {
            // resnet50 stage 5 (7x7): 1x1 expand/reduce and the 3x3.
            assert!(is_t(&base(512, 2048, 7, 1, 1), layout));
            assert!(is_t(&base(2048, 512, 7, 1, 1), layout));
            assert!(is_t(&base(512, 512, 7, 3, 1), layout));
            // Large maps with 16-multiple channels, a single output channel and grouped or
            // depthwise convs keep their paths.
            assert!(!is_t(&base(64, 64, 56, 3, 1), layout));
            assert!(!is_t(&base(256, 1, 7, 3, 1), layout));
            assert!(!is_t(&base(512, 512, 7, 3, 2), layout));
            assert!(!is_t(&base(512, 512, 7, 3, 512), layout));
        }
        // AVX-512: 14x14 gains from exact position rows (256 = 18*14 + 4 leaves an edge tile),
        // 28x28 512->128 is within 5% and stays direct.
        assert!(is_t(&base(1024, 256, 14, 1, 1), Layout::Zmm));
        assert!(!is_t(&base(512, 128, 28, 1, 1), Layout::Zmm));
        // Strided downsampling onto a 7x7 map.
        let mut p = base(1024, 2048, 14, 1, 1);
        p.stride = [2, 2];
        assert!(is_t(&p, Layout::Zmm));
    }

    #[test]
    fn conv_transposed_shapes() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
        // P = 49 with K spanning several k blocks and c_out not a multiple of 16.
        run_case(base(70, 50, 7, 3, 1), true, Activation::Relu, 61, None);
        run_case(base(300, 64, 7, 1, 1), true, Activation::Clamp(-0.2, 0.5), 62, Some(&pool));
        // P = 196, strided/padded/dilated odd maps, batch 3 (several items for the pool).
        run_case(base(24, 40, 14, 3, 1), false, Activation::None, 63, Some(&pool));
        let mut p = base(9, 33, 13, 3, 1);
        p.n = 3;
        p.stride = [2, 2];
        p.dilation = [2, 1];
        p.pads_begin = [2, 0];
        p.pads_end = [1, 2];
        run_case(p, true, Activation::Relu, 64, Some(&pool));
        run_case(p, true, Activation::Relu, 65, None);
        // Several row tiles per image: K = 900 leaves room for 210 of the 529 positions.
        let p = base(100, 20, 23, 3, 1);
        run_case(p, true, Activation::None, 66, None);
        run_case(p, true, Activation::Relu, 67, Some(&pool));
        // Single output position.
        let mut p = base(16, 32, 3, 3, 1);
        p.pads_begin = [0, 0];
        p.pads_end = [0, 0];
        run_case(p, true, Activation::None, 68, None);
    }

    #[test]
    fn conv_portable_path() {
        super::super::test_util::portable(|| {
            run_case(base(6, 10, 9, 3, 1), true, Activation::Relu, 21, None);
            run_case(base(8, 8, 11, 3, 8), true, Activation::None, 22, None);
        });
    }

    #[test]
    fn conv_all_isa_paths() {
        use super::super::Isa;
        use super::super::test_util::with_isa;
        let mut strided = base(20, 17, 13, 3, 1);
        strided.stride = [2, 1];
        let cases =
            [base(6, 10, 9, 3, 1), base(40, 30, 23, 3, 1), base(70, 33, 12, 1, 1), base(32, 64, 17, 3, 4), strided];
        for (i, &p) in cases.iter().enumerate() {
            for isa in [Isa::Avx512, Isa::Avx2, Isa::Scalar] {
                with_isa(isa, || run_case(p, i % 2 == 0, Activation::Relu, 30 + i as u64, None));
            }
        }
    }

    #[test]
    fn conv_rejects_bad_args() {
        let p = base(4, 4, 5, 3, 1);
        let w = vec![0.0; p.weight_len()];
        let packed = PackedConvWeights::new(&p, &w).expect("pack");
        let x = vec![0.0; p.input_len() - 1];
        let mut y = vec![0.0; p.output_len()];
        assert!(conv2d(&p, &packed, &x, None, Activation::None, &mut y, None).is_err());
        let mut q = p;
        q.groups = 3;
        assert!(PackedConvWeights::new(&q, &w).is_err());
        assert!(PackedConvWeights::new(&p, &w[1..]).is_err());
    }
}
