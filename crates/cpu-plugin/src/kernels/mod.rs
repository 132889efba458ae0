//! Fast f32 compute kernels of the CPU plugin, working on raw slices.
//!
//! This module tree is self-contained on purpose: it only depends on `std` and `rayon`, so the
//! graph layer can route any matmul-, conv-, pool- or element-wise-shaped node here without the
//! kernels knowing about graph types. Every entry point validates slice lengths up front and
//! returns a [`KernelError`] instead of panicking, because the fast paths use raw pointers.
//!
//! Threading: every kernel takes an `Option<&rayon::ThreadPool>`; `None` runs on the calling
//! thread. Work is only split when each thread gets at least [`MIN_MACS_PER_THREAD`] worth of
//! work, since on small shapes fork/join costs more than it saves.

pub mod conv;
mod copy;
pub mod elementwise;
pub mod gemm;
pub mod pool;
pub mod reference;
pub mod rnn;

use std::fmt;

/// Thread pool type accepted by the kernels (`None` = run on the calling thread).
pub type ThreadPool = rayon::ThreadPool;

/// Minimum multiply-accumulates per thread before a kernel splits work across threads.
pub const MIN_MACS_PER_THREAD: usize = 64 * 1024;

/// Activation fused into the output store of GEMM and convolution.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, lo), hi)`, e.g. ReLU6 is `Clamp(0.0, 6.0)`.
    Clamp(f32, f32),
}

impl Activation {
    /// Applies the activation to one value (the scalar definition all SIMD paths must match).
    #[inline(always)]
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Activation::None => v,
            Activation::Relu => v.max(0.0),
            Activation::Clamp(lo, hi) => v.max(lo).min(hi),
        }
    }
}

/// Error returned when shapes, strides or slice lengths are inconsistent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelError(pub String);

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kernel argument error: {}", self.0)
    }
}

impl std::error::Error for KernelError {}

/// Result type of all kernel entry points.
pub type KernelResult<T = ()> = Result<T, KernelError>;

/// Returns `Err` with `msg` unless `cond` holds; used for argument validation.
#[inline]
pub(crate) fn ensure(cond: bool, msg: impl FnOnce() -> String) -> KernelResult {
    if cond { Ok(()) } else { Err(KernelError(msg())) }
}

/// Number of threads worth using for `macs` multiply-accumulates on `pool`.
pub fn threads_for(pool: Option<&ThreadPool>, macs: usize) -> usize {
    match pool {
        None => 1,
        Some(p) => p.current_num_threads().min(macs / MIN_MACS_PER_THREAD).max(1),
    }
}

/// Instruction-set level the kernels dispatch on, ordered from least to most capable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Isa {
    /// Portable Rust, no explicit SIMD.
    Scalar,
    /// AVX2 + FMA (256-bit).
    Avx2,
    /// AVX-512F (512-bit, mask registers); implies AVX2 + FMA.
    Avx512,
}

/// Best instruction-set level of this CPU (capped by the test override on this thread).
#[inline]
pub(crate) fn isa() -> Isa {
    let hw = detected_isa();
    #[cfg(test)]
    if let Some(cap) = test_util::FORCE_ISA.with(|f| f.get()) {
        return hw.min(cap);
    }
    hw
}

#[inline]
fn detected_isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        // std caches the CPUID/XGETBV result, so this is a couple of loads after the first call.
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") {
            return if has!("avx512f") { Isa::Avx512 } else { Isa::Avx2 };
        }
    }
    Isa::Scalar
}

/// True when the AVX2+FMA kernels can be used on this CPU.
#[inline]
pub fn has_avx2_fma() -> bool {
    isa() >= Isa::Avx2
}

/// True when the AVX-512F kernels can be used on this CPU.
#[inline]
pub fn has_avx512f() -> bool {
    isa() >= Isa::Avx512
}

/// Runs `f(0..tasks)` on `pool` (or inline when there is one task / no pool) and waits.
pub(crate) fn run_tasks<F>(pool: Option<&ThreadPool>, tasks: usize, f: F)
where
    F: Fn(usize) + Sync,
{
    match pool {
        Some(p) if tasks > 1 => p.scope(|s| {
            let f = &f;
            // The calling thread takes task 0 itself instead of idling at the join.
            for t in 1..tasks {
                s.spawn(move |_| f(t));
            }
            f(0);
        }),
        _ => {
            for t in 0..tasks {
                f(t);
            }
        }
    }
}

/// Splits `0..len` into `parts` nearly equal ranges whose boundaries are multiples of `align`.
pub(crate) fn split_range(len: usize, parts: usize, align: usize, idx: usize) -> (usize, usize) {
    let units = len.div_ceil(align);
    let per = units / parts;
    let rem = units % parts;
    let start = idx * per + idx.min(rem);
    let end = start + per + usize::from(idx < rem);
    ((start * align).min(len), (end * align).min(len))
}

/// Raw output pointer shared by tasks that write provably disjoint regions.
#[derive(Clone, Copy)]
pub(crate) struct SyncPtr(pub *mut f32);
// SAFETY: only used to hand disjoint output regions to scoped tasks that finish before the
// owning `&mut [f32]` is released.
unsafe impl Send for SyncPtr {}
unsafe impl Sync for SyncPtr {}

impl SyncPtr {
    /// The pointer; a method so closures capture the `Sync` wrapper, not the raw field.
    #[inline(always)]
    pub(crate) fn get(&self) -> *mut f32 {
        self.0
    }
}

/// Heap buffer of f32 whose first element is 64-byte aligned, so packed panels never straddle
/// cache lines in the micro-kernel's loads.
pub(crate) struct AlignedBuf {
    buf: Vec<f32>,
    off: usize,
    len: usize,
}

impl AlignedBuf {
    /// Zero-filled buffer of `len` floats.
    pub(crate) fn zeroed(len: usize) -> Self {
        let buf = vec![0.0f32; len + 16];
        let addr = buf.as_ptr() as usize;
        let off = ((64 - addr % 64) % 64) / 4;
        AlignedBuf { buf, off, len }
    }

    /// Grows (never shrinks) to at least `len` floats; contents become unspecified.
    pub(crate) fn ensure_len(&mut self, len: usize) {
        if self.len < len {
            *self = AlignedBuf::zeroed(len);
        }
    }

    pub(crate) fn as_slice(&self) -> &[f32] {
        &self.buf[self.off..self.off + self.len]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.buf[self.off..self.off + self.len]
    }
}

impl Clone for AlignedBuf {
    fn clone(&self) -> Self {
        let mut b = AlignedBuf::zeroed(self.len);
        b.as_mut_slice().copy_from_slice(self.as_slice());
        b
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlignedBuf(len={})", self.len)
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::Isa;
    use std::cell::Cell;

    thread_local! {
        /// Caps `isa()` on this thread so tests can run every dispatch path on one machine.
        pub static FORCE_ISA: Cell<Option<Isa>> = const { Cell::new(None) };
    }

    /// Runs `f` with the kernels capped at instruction-set level `cap` on the current thread
    /// (kernels capture the level at entry, so pool workers follow the caller's choice).
    pub fn with_isa<R>(cap: Isa, f: impl FnOnce() -> R) -> R {
        let prev = FORCE_ISA.with(|c| c.replace(Some(cap)));
        let r = f();
        FORCE_ISA.with(|c| c.set(prev));
        r
    }

    /// Runs `f` with the portable (non-SIMD) kernels on the current thread.
    pub fn portable<R>(f: impl FnOnce() -> R) -> R {
        with_isa(Isa::Scalar, f)
    }

    /// Asserts `got` matches `want` within relative tolerance `rtol` (absolute near zero).
    pub fn assert_close(got: &[f32], want: &[f32], rtol: f32, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let tol = rtol * w.abs().max(1.0);
            let ok = (g - w).abs() <= tol || (g.is_nan() && w.is_nan()) || g == w;
            assert!(ok, "{what}: index {i}: got {g}, want {w}");
        }
    }

    /// Deterministic pseudo-random data in [-1, 1) from a seed.
    pub fn rand_vec(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }
}
