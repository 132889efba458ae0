//! FP16 weight compression at save time, the way `ovc` / `ov::save_model` do it.
//!
//! Every f32/f64 constant becomes `Const(f16, "<name>_compressed") -> Convert(f32)` marked
//! `decompression`, except constants that are precision sensitive (they feed shape
//! computations), constants OpenVINO would keep because at least 75 % of their values do not
//! fit f16, and every constant of a model that is already optimized (quantized or with
//! compressed weights). Values are converted while the `.bin` is written, chunk by chunk.

use std::borrow::Cow;
use std::collections::HashSet;

use half::f16;
use ir_graph::{Bytes, ElementType, Model, NodeId, Op, Tensor};

/// rt_info attribute OpenVINO puts on constants it refuses to compress.
pub(crate) const DISABLE_ATTR: &str = "DisablePrecisionConversion";
/// Its value in files written by OpenVINO 2026 (any source type must not become f16).
pub(crate) const DISABLE_VALUE: &str = "dynamic:f16";

/// Older spellings of the same "keep this precision" marker that the reader may find.
const DISABLE_ALIASES: [&str; 3] = [DISABLE_ATTR, "disable_fp16_compression", "precise"];

/// Inputs OpenVINO marks precision sensitive (`mark_as_precision_sensitive`): everything that
/// flows into them (up to a ShapeOf) is shape arithmetic and must stay exact.
fn ov_sensitive_inputs(type_name: &str) -> &'static [usize] {
    match type_name {
        "Reshape" | "Broadcast" | "Interpolate" | "TopK" | "OneHot" | "Tile" => &[1],
        "BatchToSpace" | "SpaceToBatch" => &[1, 2, 3],
        "ConvolutionBackpropData" | "GroupConvolutionBackpropData" => &[2],
        _ => &[],
    }
}

/// Further shape-like inputs (axes, orders, begins/ends, split lengths). They are integer by
/// type, so only a float constant reaching them through a conversion chain is affected; such a
/// constant is kept f32 without OpenVINO's marker, since OpenVINO itself does not look here.
fn extra_shape_inputs(type_name: &str) -> &'static [usize] {
    match type_name {
        "Transpose" | "Unsqueeze" | "Squeeze" | "Split" | "CumSum" => &[1],
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL1" | "ReduceL2"
        | "ReduceLogicalAnd" | "ReduceLogicalOr" => &[1],
        "Gather" | "VariadicSplit" | "Pad" | "Roll" => &[1, 2],
        "StridedSlice" => &[1, 2, 3],
        "Slice" => &[1, 2, 3, 4],
        _ => &[],
    }
}

/// What the writer does with each constant.
#[derive(Debug, Default)]
pub(crate) struct Fp16Plan {
    /// Constants written as f16 + Convert.
    pub compress: HashSet<NodeId>,
    /// Constants that get OpenVINO's `DisablePrecisionConversion` marker.
    pub mark_sensitive: HashSet<NodeId>,
}

/// Decides which constants to compress. `enabled == false` gives an empty plan.
pub(crate) fn plan(model: &Model, enabled: bool) -> Fp16Plan {
    let mut plan = Fp16Plan::default();
    if !enabled || is_model_optimized(model) {
        return plan;
    }
    let mut keep: HashSet<NodeId> = HashSet::new();
    let mut visited_ov = HashSet::new();
    let mut visited_extra = HashSet::new();
    for (_, node) in model.nodes() {
        let name = node.op.type_name();
        for &i in ov_sensitive_inputs(name) {
            if let Some(src) = node.inputs.get(i) {
                walk_shape_path(model, src.node, &mut visited_ov, &mut plan.mark_sensitive);
            }
        }
        for &i in extra_shape_inputs(name) {
            if let Some(src) = node.inputs.get(i) {
                walk_shape_path(model, src.node, &mut visited_extra, &mut keep);
            }
        }
    }
    for (id, node) in model.nodes() {
        let Op::Constant(c) = &node.op else { continue };
        let t = c.value.element_type();
        if !matches!(t, ElementType::F32 | ElementType::F64) {
            continue;
        }
        if plan.mark_sensitive.contains(&id) || keep.contains(&id) {
            continue;
        }
        if node.rt_info.iter().any(|a| DISABLE_ALIASES.contains(&a.name.as_str())) {
            continue;
        }
        if mostly_out_of_range(&c.value) {
            continue;
        }
        plan.compress.insert(id);
    }
    plan
}

/// Walks producers upwards from `start`, stopping at ShapeOf, collecting constants.
fn walk_shape_path(model: &Model, start: NodeId, visited: &mut HashSet<NodeId>, out: &mut HashSet<NodeId>) {
    let mut stack = vec![start];
    while let Some(id) = stack.pop() {
        if !visited.insert(id) {
            continue;
        }
        let Ok(node) = model.node(id) else { continue };
        match node.op {
            Op::ShapeOf(_) | Op::ShapeOf1(_) => continue,
            Op::Constant(_) => {
                out.insert(id);
            }
            _ => {}
        }
        stack.extend(node.inputs.iter().map(|i| i.node));
    }
}

/// OpenVINO skips compression of models that are already quantized or weight-compressed.
fn is_model_optimized(model: &Model) -> bool {
    let consumers = model.consumers();
    for (id, node) in model.nodes() {
        let name = node.op.type_name();
        if name == "FakeQuantize" || name == "FakeConvert" {
            return true;
        }
        // Const{i4,u4,i8,u8,nf4,f8} -> Convert -> [Subtract] -> Multiply: compressed weights.
        let Op::Constant(c) = &node.op else { continue };
        use ElementType as E;
        if !matches!(c.value.element_type(), E::I4 | E::U4 | E::I8 | E::U8 | E::Nf4 | E::F8E4M3 | E::F8E5M2) {
            continue;
        }
        let users = |n: NodeId| consumers.get(&n.into()).cloned().unwrap_or_default();
        for (conv, _) in users(id) {
            if !matches!(model.node(conv).map(|n| &n.op), Ok(Op::Convert(_))) {
                continue;
            }
            for (next, _) in users(conv) {
                match model.node(next).map(|n| &n.op) {
                    Ok(Op::Multiply(_)) => return true,
                    Ok(Op::Subtract(_))
                        if users(next)
                            .iter()
                            .any(|(m, _)| matches!(model.node(*m).map(|n| &n.op), Ok(Op::Multiply(_)))) =>
                    {
                        return true;
                    }
                    _ => {}
                }
            }
        }
    }
    false
}

/// Smallest positive f16 subnormal, 2^-24.
const F16_MIN_SUBNORMAL: f64 = 5.960_464_477_539_063e-8;
/// Largest finite f16.
const F16_MAX: f64 = 65504.0;

fn out_of_range(x: f64) -> bool {
    // NaN is neither: OpenVINO's comparisons are false for it.
    (x.abs() < F16_MIN_SUBNORMAL && x != 0.0) || x.abs() > F16_MAX
}

/// OpenVINO keeps a constant in f32 when at least 75 % of its values do not fit f16; empty
/// constants are never compressed.
fn mostly_out_of_range(t: &Tensor) -> bool {
    let verdict = count_out_of_range(t);
    // The scan touched every page of a possibly mapped constant; the writer reads it again later.
    t.data().release_pages();
    verdict
}

/// Bytes scanned per parallel task by [`count_out_of_range`] (a multiple of 8).
const SCAN_BLOCK: usize = 1 << 20;

fn count_out_of_range(t: &Tensor) -> bool {
    use rayon::prelude::*;
    let raw = t.raw();
    let width = match t.element_type() {
        ElementType::F32 => 4,
        ElementType::F64 => 8,
        _ => return true,
    };
    let n = raw.len() / width;
    let bad: usize = raw
        .par_chunks(SCAN_BLOCK)
        .enumerate()
        .map(|(i, block)| {
            let bad = if width == 4 {
                block
                    .chunks_exact(4)
                    .filter(|b| out_of_range(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64))
                    .count()
            } else {
                block
                    .chunks_exact(8)
                    .filter(|b| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(b);
                        out_of_range(f64::from_le_bytes(a))
                    })
                    .count()
            };
            // Streaming over a possibly mapped constant: drop the pages once scanned.
            t.data().release_range(i * SCAN_BLOCK, block.len());
            bad
        })
        .sum();
    n == 0 || (bad as f32) / (n as f32) >= 0.75
}

/// Clamping conversion used by OpenVINO's writer: saturate to ±65504, round to nearest.
/// The reference the block conversion [`f32_bytes_to_f16_bytes`] is tested against.
#[cfg(test)]
fn f32_to_f16(x: f32) -> f16 {
    if x > 65504.0 {
        f16::MAX
    } else if x < -65504.0 {
        f16::MIN
    } else {
        f16::from_f32(x)
    }
}

/// Values converted per block by [`f32_bytes_to_f16_bytes`] (stack buffers).
const BLOCK: usize = 1024;

/// [`f32_to_f16`] over little-endian f32 bytes, to little-endian f16 bytes. Clamping first and
/// then converting a block at a time lets `half` use the CPU's vector conversion (F16C); the
/// result is bit for bit the one of the scalar conversion.
fn f32_bytes_to_f16_bytes(src: &[u8]) -> Vec<u8> {
    use half::slice::HalfFloatSliceExt;
    let mut out = Vec::with_capacity(src.len() / 2);
    let mut vals = [0f32; BLOCK];
    let mut halves = [f16::ZERO; BLOCK];
    for block in src.chunks(BLOCK * 4) {
        let n = block.len() / 4;
        for (d, v) in vals.iter_mut().zip(block.chunks_exact(4)) {
            // `clamp` keeps NaN, saturates infinities: the same as `f32_to_f16`'s branches.
            *d = f32::from_le_bytes([v[0], v[1], v[2], v[3]]).clamp(-65504.0, 65504.0);
        }
        halves[..n].convert_from_f32_slice(&vals[..n]);
        for h in &halves[..n] {
            out.extend_from_slice(&h.to_le_bytes());
        }
    }
    out
}

/// OpenVINO's f64 path additionally flushes values below the smallest subnormal to zero.
fn f64_to_f16(x: f64) -> f16 {
    if x.abs() < F16_MIN_SUBNORMAL && x != 0.0 {
        f16::ZERO
    } else if x > F16_MAX {
        f16::MAX
    } else if x < -F16_MAX {
        f16::MIN
    } else {
        f16::from_f64(x)
    }
}

/// Output bytes per chunk when streaming a payload.
pub(crate) const CHUNK: usize = 1 << 16;

/// The bytes one Const contributes to the `.bin`, produced chunk by chunk.
#[derive(Clone)]
pub(crate) enum Payload {
    /// Written as stored.
    Raw(Bytes),
    /// f32 data written as f16.
    F16FromF32(Bytes),
    /// f64 data written as f16.
    F16FromF64(Bytes),
}

impl Payload {
    /// Size in the `.bin`.
    pub fn len(&self) -> usize {
        match self {
            Payload::Raw(b) => b.len(),
            Payload::F16FromF32(b) => b.len() / 2,
            Payload::F16FromF64(b) => b.len() / 4,
        }
    }

    /// Number of chunks of at most [`CHUNK`] output bytes.
    pub fn chunks(&self) -> usize {
        self.len().div_ceil(CHUNK)
    }

    /// The stored bytes the payload is made from.
    fn source(&self) -> &Bytes {
        match self {
            Payload::Raw(b) | Payload::F16FromF32(b) | Payload::F16FromF64(b) => b,
        }
    }

    /// Source bytes per output byte.
    fn ratio(&self) -> usize {
        match self {
            Payload::Raw(_) => 1,
            Payload::F16FromF32(_) => 2,
            Payload::F16FromF64(_) => 4,
        }
    }

    /// Drops the resident map pages behind output chunks `first..end` (pages straddling two
    /// chunks included).
    pub fn release_chunks(&self, first: usize, end: usize) {
        let r = self.ratio();
        self.source().release_range(first * CHUNK * r, (end - first) * CHUNK * r);
    }

    /// Output bytes of chunks `first..end`.
    pub fn chunk_range_len(&self, first: usize, end: usize) -> u64 {
        ((end * CHUNK).min(self.len()) - (first * CHUNK).min(self.len())) as u64
    }

    /// Drops the resident map pages behind the whole payload.
    pub fn release(&self) {
        self.source().release_pages();
    }

    /// Output bytes `[i * CHUNK, min((i + 1) * CHUNK, len))`.
    pub fn chunk(&self, i: usize) -> Cow<'_, [u8]> {
        let start = i * CHUNK;
        let end = (start + CHUNK).min(self.len());
        match self {
            Payload::Raw(b) => Cow::Borrowed(b.as_slice().get(start..end).unwrap_or(&[])),
            Payload::F16FromF32(b) => {
                let src = b.as_slice().get(start * 2..end * 2).unwrap_or(&[]);
                Cow::Owned(f32_bytes_to_f16_bytes(src))
            }
            Payload::F16FromF64(b) => {
                let src = b.as_slice().get(start * 4..end * 4).unwrap_or(&[]);
                let mut out = Vec::with_capacity(end - start);
                for v in src.chunks_exact(8) {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(v);
                    out.extend_from_slice(&f64_to_f16(f64::from_le_bytes(a)).to_le_bytes());
                }
                Cow::Owned(out)
            }
        }
    }

    /// Whether both payloads produce the same bytes.
    pub fn same_output(&self, other: &Payload) -> bool {
        if self.len() != other.len() {
            return false;
        }
        if let (Payload::Raw(a), Payload::Raw(b)) = (self, other) {
            return a.as_slice() == b.as_slice();
        }
        (0..self.chunks()).all(|i| self.chunk(i) == other.chunk(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_clamps_and_rounds() {
        assert_eq!(f32_to_f16(1e6), f16::MAX);
        assert_eq!(f32_to_f16(-1e6), f16::MIN);
        assert_eq!(f32_to_f16(f32::INFINITY), f16::MAX);
        assert_eq!(f32_to_f16(0.5), f16::from_f32(0.5));
        assert_eq!(f64_to_f16(1e-9), f16::ZERO);
        assert!(f32_to_f16(f32::NAN).is_nan());
    }

    #[test]
    fn block_conversion_matches_the_scalar_one() {
        let mut vals: Vec<f32> = vec![
            0.0,
            -0.0,
            1.0,
            -1.5,
            65504.0,
            65519.0,
            65520.0,
            1e6,
            -1e6,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            f32::from_bits(0x7f80_0001),
            f32::from_bits(0xffc1_2345),
            1e-8,
            -3e-5,
            6e-8,
            f32::MIN_POSITIVE,
        ];
        let mut x = 0x1234_5678u32;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            vals.push(f32::from_bits(x));
        }
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let expect: Vec<u8> = vals.iter().flat_map(|&v| f32_to_f16(v).to_le_bytes()).collect();
        assert_eq!(f32_bytes_to_f16_bytes(&bytes), expect);
    }

    #[test]
    fn range_rule() {
        let big = Tensor::from_vec(vec![4], vec![1e6f32, 1e6, 1e6, 1.0]).expect("tensor");
        assert!(mostly_out_of_range(&big));
        let half_big = Tensor::from_vec(vec![4], vec![1e6f32, 1e6, 1.0, 1.0]).expect("tensor");
        assert!(!mostly_out_of_range(&half_big));
        let tiny = Tensor::from_vec(vec![1], vec![1e-30f64]).expect("tensor");
        assert!(mostly_out_of_range(&tiny));
    }

    #[test]
    fn chunked_conversion_spans_chunks() {
        let n = CHUNK; // f16 output of n f32 values is two chunks
        let vals: Vec<f32> = (0..n).map(|i| i as f32 * 0.25).collect();
        let t = Tensor::from_vec(vec![n], vals.clone()).expect("tensor");
        let p = Payload::F16FromF32(t.data().clone());
        assert_eq!(p.len(), n * 2);
        assert_eq!(p.chunks(), 2);
        let all: Vec<u8> = (0..p.chunks()).flat_map(|i| p.chunk(i).into_owned()).collect();
        let expect: Vec<u8> = vals.iter().flat_map(|&v| f32_to_f16(v).to_le_bytes()).collect();
        assert_eq!(all, expect);
    }
}
