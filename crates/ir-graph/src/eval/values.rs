//! Widened element values, index arithmetic and byte-level element movement shared by the
//! reference kernels.
//!
//! Arithmetic works on wide values: every float type as `f64`, every integer type as `i128`
//! (so `u64` and `i64` both fit and wrapping happens once, when the result is stored), booleans
//! as `bool`. Data movement never decodes: it copies whole elements as bytes, so it works for
//! every byte-sized type and for strings.

use half::{bf16, f16};

use super::lowp;
use crate::element::ElementType as E;
use crate::error::{GraphError, Result};
use crate::shape::strides_of;
use crate::tensor::{Bytes, Tensor};

/// Values of one tensor widened for computation.
#[derive(Debug, Clone, PartialEq)]
pub enum Vals {
    /// Any float type.
    F(Vec<f64>),
    /// Any integer type.
    I(Vec<i128>),
    /// Boolean.
    B(Vec<bool>),
}

impl Vals {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Vals::F(v) => v.len(),
            Vals::I(v) => v.len(),
            Vals::B(v) => v.len(),
        }
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The error for an op/type pair the reference evaluator does not cover.
pub fn not_evaluable(op: &str, et: E) -> GraphError {
    GraphError::NotEvaluable { op: op.to_string(), element_type: et.to_string() }
}

fn widen<T: crate::element::Element, W>(t: &Tensor, f: impl Fn(T) -> W) -> Result<Vec<W>> {
    Ok(t.values::<T>()?.iter().map(|&v| f(v)).collect())
}

/// Decodes a tensor of any byte-sized numeric or boolean type.
pub fn decode(op: &str, t: &Tensor) -> Result<Vals> {
    Ok(match t.element_type() {
        E::F32 => Vals::F(widen(t, |v: f32| v as f64)?),
        E::F64 => Vals::F(widen(t, |v: f64| v)?),
        E::F16 => Vals::F(widen(t, |v: f16| v.to_f64())?),
        E::Bf16 => Vals::F(widen(t, |v: bf16| v.to_f64())?),
        E::I8 => Vals::I(widen(t, |v: i8| v as i128)?),
        E::I16 => Vals::I(widen(t, |v: i16| v as i128)?),
        E::I32 => Vals::I(widen(t, |v: i32| v as i128)?),
        E::I64 => Vals::I(widen(t, |v: i64| v as i128)?),
        E::U8 => Vals::I(t.raw().iter().map(|&v| v as i128).collect()),
        E::U16 => Vals::I(widen(t, |v: u16| v as i128)?),
        E::U32 => Vals::I(widen(t, |v: u32| v as i128)?),
        E::U64 => Vals::I(widen(t, |v: u64| v as i128)?),
        E::Boolean => Vals::B(t.raw().iter().map(|&v| v != 0).collect()),
        E::F8E4M3 => Vals::F(t.raw().iter().map(|&b| lowp::f8e4m3_to_f64(b)).collect()),
        E::F8E5M2 => Vals::F(t.raw().iter().map(|&b| lowp::f8e5m2_to_f64(b)).collect()),
        E::F8E8M0 => Vals::F(t.raw().iter().map(|&b| lowp::f8e8m0_to_f64(b)).collect()),
        et @ (E::F4E2M1 | E::Nf4 | E::I4 | E::U4 | E::U2 | E::U1) => {
            let bits = lowp::packed_bits(et).ok_or_else(|| not_evaluable(op, et))?;
            let codes = (0..t.numel()).map(|i| lowp::get_code(t.raw(), bits, i));
            match et {
                E::F4E2M1 => Vals::F(codes.map(lowp::f4e2m1_to_f64).collect()),
                E::Nf4 => Vals::F(codes.map(|c| f64::from(lowp::NF4_VALUES[usize::from(c & 0x0f)])).collect()),
                _ => Vals::I(codes.map(|c| lowp::int_of_code(et, c)).collect()),
            }
        }
        other => return Err(not_evaluable(op, other)),
    })
}

/// Decodes a float tensor; other types are not evaluable for `op`.
pub fn decode_float(op: &str, t: &Tensor) -> Result<Vec<f64>> {
    match decode(op, t)? {
        Vals::F(v) => Ok(v),
        _ => Err(not_evaluable(op, t.element_type())),
    }
}

/// Decodes any numeric tensor to `f64` (integers lose precision above 2^53).
pub fn decode_as_f64(op: &str, t: &Tensor) -> Result<Vec<f64>> {
    Ok(match decode(op, t)? {
        Vals::F(v) => v,
        Vals::I(v) => v.into_iter().map(|x| x as f64).collect(),
        Vals::B(v) => v.into_iter().map(|x| f64::from(u8::from(x))).collect(),
    })
}

fn narrow<T>(v: &Vals, f: impl Fn(f64) -> T, i: impl Fn(i128) -> T, b: impl Fn(bool) -> T) -> Vec<T> {
    match v {
        Vals::F(x) => x.iter().map(|&x| f(x)).collect(),
        Vals::I(x) => x.iter().map(|&x| i(x)).collect(),
        Vals::B(x) => x.iter().map(|&x| b(x)).collect(),
    }
}

/// Stores wide values as `et` with Convert's rules: floats round to nearest, float -> integer
/// truncates toward zero and saturates (NaN -> 0), integer -> integer wraps modulo 2^N, anything
/// -> boolean is `!= 0`.
pub fn encode(op: &str, et: E, shape: Vec<usize>, v: &Vals) -> Result<Tensor> {
    // `as` between Rust numeric types has exactly these semantics: saturating truncation from
    // floats, two's-complement wrapping between integers, correct rounding to floats.
    macro_rules! ints {
        ($t:ty) => {
            Tensor::from_vec(shape, narrow(v, |x| x as $t, |x| x as $t, |x| <$t>::from(x)))
        };
    }
    match et {
        E::F32 => Tensor::from_vec(shape, narrow(v, |x| x as f32, |x| x as f32, |x| f32::from(u8::from(x)))),
        E::F64 => Tensor::from_vec(shape, narrow(v, |x| x, |x| x as f64, |x| f64::from(u8::from(x)))),
        E::F16 => Tensor::from_vec(
            shape,
            narrow(v, f16::from_f64, |x| f16::from_f32(x as f32), |x| f16::from_f32(f32::from(u8::from(x)))),
        ),
        E::Bf16 => Tensor::from_vec(
            shape,
            narrow(v, bf16::from_f64, |x| bf16::from_f32(x as f32), |x| bf16::from_f32(f32::from(u8::from(x)))),
        ),
        E::I8 => ints!(i8),
        E::I16 => ints!(i16),
        E::I32 => ints!(i32),
        E::I64 => ints!(i64),
        E::U8 => ints!(u8),
        E::U16 => ints!(u16),
        E::U32 => ints!(u32),
        E::U64 => ints!(u64),
        E::Boolean => {
            let bytes = narrow(v, |x| u8::from(x != 0.0), |x| u8::from(x != 0), u8::from);
            Tensor::from_bytes(E::Boolean, shape, Bytes::from_pod_vec(bytes))
        }
        E::F8E4M3 | E::F8E5M2 | E::F8E8M0 => {
            let f = match et {
                E::F8E4M3 => lowp::f64_to_f8e4m3,
                E::F8E5M2 => lowp::f64_to_f8e5m2,
                _ => lowp::f64_to_f8e8m0,
            };
            let bytes = narrow(v, f, |x| f(x as f64), |x| f(f64::from(u8::from(x))));
            Tensor::from_bytes(et, shape, Bytes::from_pod_vec(bytes))
        }
        E::F4E2M1 | E::Nf4 => {
            let f = if et == E::F4E2M1 { lowp::f64_to_f4e2m1 } else { lowp::f64_to_nf4 };
            let codes = narrow(v, f, |x| f(x as f64), |x| f(f64::from(u8::from(x))));
            Tensor::from_bytes(et, shape, Bytes::from_pod_vec(lowp::pack_codes(&codes, 4)))
        }
        // Packed integers wrap like the wide ones.
        E::I4 | E::U4 | E::U2 => {
            let bits = lowp::packed_bits(et).ok_or_else(|| not_evaluable(op, et))?;
            let codes = narrow(
                v,
                |x| lowp::code_of_int(bits, lowp::trunc_to_i128(x)),
                |x| lowp::code_of_int(bits, x),
                u8::from,
            );
            Tensor::from_bytes(et, shape, Bytes::from_pod_vec(lowp::pack_codes(&codes, bits)))
        }
        other => Err(not_evaluable(op, other)),
    }
}

/// Stores `f64` results as the float type `et`.
pub fn encode_f(op: &str, et: E, shape: Vec<usize>, v: Vec<f64>) -> Result<Tensor> {
    encode(op, et, shape, &Vals::F(v))
}

/// A boolean tensor.
pub fn encode_b(shape: Vec<usize>, v: &[bool]) -> Result<Tensor> {
    Tensor::from_bools(shape, v)
}

/// An i64 tensor of `v`.
pub fn i64_tensor(shape: Vec<usize>, v: Vec<i64>) -> Result<Tensor> {
    Tensor::from_vec(shape, v)
}

/// Number of elements of a shape (saturating; callers check overflow through `Tensor`).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// For every position of `shape` in row-major order, `sum(index[k] * strides[k])`.
pub fn strided_offsets(shape: &[usize], strides: &[usize]) -> Vec<usize> {
    let n = numel(shape);
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let mut idx = vec![0usize; shape.len()];
    let mut off = 0usize;
    for _ in 0..n {
        out.push(off);
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            off += strides[k];
            if idx[k] < shape[k] {
                break;
            }
            off -= strides[k] * shape[k];
            idx[k] = 0;
        }
    }
    out
}

/// Numpy broadcast of two concrete shapes.
pub fn broadcast_pair(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let get = |s: &[usize], i: usize| if i + s.len() >= r { s[i + s.len() - r] } else { 1 };
    (0..r)
        .map(|i| match (get(a, i), get(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// For every element of `out` (row-major), the flat index of the element of a tensor of shape
/// `input` that numpy broadcasting maps onto it.
pub fn broadcast_map(input: &[usize], out: &[usize]) -> Result<Vec<usize>> {
    Ok(strided_offsets(out, &broadcast_strides(input, out)?))
}

/// Per axis of `out`, the step in `input`'s flat index numpy broadcasting takes (0 along
/// broadcast axes).
pub fn broadcast_strides(input: &[usize], out: &[usize]) -> Result<Vec<usize>> {
    if input.len() > out.len() {
        return Err(crate::invalid!("cannot broadcast {input:?} to {out:?}"));
    }
    let off = out.len() - input.len();
    let in_strides = strides_of(input);
    let mut strides = vec![0usize; out.len()];
    for (i, &d) in input.iter().enumerate() {
        if d == out[off + i] {
            strides[off + i] = in_strides[i];
        } else if d != 1 {
            return Err(crate::invalid!("cannot broadcast {input:?} to {out:?}"));
        }
    }
    Ok(strides)
}

/// Bytes per element of a byte-sized type; `None` for packed, string and dynamic types.
pub fn elem_size(et: E) -> Option<usize> {
    et.is_byte_aligned().then(|| et.bit_width() / 8)
}

/// Bytes with 8-byte alignment, filled by `fill`.
pub fn aligned_bytes(n: usize, fill: impl FnOnce(&mut [u8]) -> Result<()>) -> Result<Bytes> {
    let mut words = vec![0u64; n.div_ceil(8)];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
    fill(&mut bytes[..n])?;
    Bytes::from_pod_vec(words).slice(0, n).ok_or_else(|| crate::invalid!("buffer sizing failed"))
}

fn out_of_range(i: usize, n: usize) -> GraphError {
    crate::invalid!("element index {i} out of range for {n} elements")
}

/// Copies the element of `t` at flat index `sum(index[k] * strides[k])` for every position of
/// `shape` (row-major) into a new tensor of `shape`.
///
/// Unlike [`take`] over [`strided_offsets`] nothing per element is materialised besides the
/// result: a constant-folded broadcast of a scalar to a 400 MB weight used to build 8 bytes of
/// offset and 16 bytes of pick per element first (a 3 GB peak converting vgg19).
pub fn take_strided(op: &str, t: &Tensor, shape: Vec<usize>, strides: &[usize]) -> Result<Tensor> {
    let et = t.element_type();
    if et == E::String || strides.len() != shape.len() {
        return take(op, t, shape.clone(), &strided_offsets(&shape, strides));
    }
    let size = elem_size(et).ok_or_else(|| not_evaluable(op, et))?;
    let raw = t.raw();
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| crate::invalid!("{op}: {shape:?} has more elements than an address space"))?;
    if n > 0 {
        let last = shape
            .iter()
            .zip(strides)
            .try_fold(0usize, |acc, (&d, &s)| (d - 1).checked_mul(s).and_then(|v| v.checked_add(acc)))
            .ok_or_else(|| crate::invalid!("{op}: element offsets overflow"))?;
        if last >= raw.len() / size {
            return Err(out_of_range(last, raw.len() / size));
        }
    }
    let r = shape.len();
    let (inner, inner_stride) = if r == 0 { (1, 0) } else { (shape[r - 1], strides[r - 1]) };
    let (outer_shape, outer_strides) = (&shape[..r.saturating_sub(1)], &strides[..r.saturating_sub(1)]);
    let bytes = aligned_bytes(n * size, |dst| {
        if n == 0 {
            return Ok(());
        }
        let mut idx = vec![0usize; outer_shape.len()];
        let mut off = 0usize;
        // Every offset read below is at most `last`, checked above.
        for chunk in dst.chunks_exact_mut(inner * size) {
            match inner_stride {
                1 => chunk.copy_from_slice(&raw[off * size..(off + inner) * size]),
                0 => {
                    let e = &raw[off * size..(off + 1) * size];
                    for c in chunk.chunks_exact_mut(size) {
                        c.copy_from_slice(e);
                    }
                }
                st => {
                    for (j, c) in chunk.chunks_exact_mut(size).enumerate() {
                        let o = off + j * st;
                        c.copy_from_slice(&raw[o * size..(o + 1) * size]);
                    }
                }
            }
            for k in (0..outer_shape.len()).rev() {
                idx[k] += 1;
                off += outer_strides[k];
                if idx[k] < outer_shape[k] {
                    break;
                }
                off -= outer_strides[k] * outer_shape[k];
                idx[k] = 0;
            }
        }
        Ok(())
    })?;
    Tensor::from_bytes(et, shape, bytes)
}

/// Copies elements `idx` of `t` (flat indices) into a new tensor of `shape`.
pub fn take(op: &str, t: &Tensor, shape: Vec<usize>, idx: &[usize]) -> Result<Tensor> {
    take_multi(op, &[t], shape, &idx.iter().map(|&i| (0usize, i)).collect::<Vec<_>>())
}

/// Copies elements `(source, flat index)` from several tensors of one type into a new tensor.
pub fn take_multi(op: &str, srcs: &[&Tensor], shape: Vec<usize>, picks: &[(usize, usize)]) -> Result<Tensor> {
    let et = srcs.first().map(|t| t.element_type()).ok_or_else(|| crate::invalid!("no inputs"))?;
    if srcs.iter().any(|t| t.element_type() != et) {
        return Err(crate::invalid!("inputs of {op} have different element types"));
    }
    if et == E::String {
        let strs = srcs.iter().map(|t| t.strings()).collect::<Result<Vec<_>>>()?;
        let v = picks
            .iter()
            .map(|&(s, i)| {
                let src = strs.get(s).ok_or_else(|| out_of_range(s, strs.len()))?;
                src.get(i).cloned().ok_or_else(|| out_of_range(i, src.len()))
            })
            .collect::<Result<Vec<_>>>()?;
        return Tensor::from_strings(shape, &v);
    }
    let size = elem_size(et).ok_or_else(|| not_evaluable(op, et))?;
    let raws: Vec<&[u8]> = srcs.iter().map(|t| t.raw()).collect();
    let bytes = aligned_bytes(picks.len() * size, |dst| {
        for (k, &(s, i)) in picks.iter().enumerate() {
            let raw = raws.get(s).ok_or_else(|| out_of_range(s, raws.len()))?;
            let src = raw.get(i * size..(i + 1) * size).ok_or_else(|| out_of_range(i, raw.len() / size))?;
            dst[k * size..(k + 1) * size].copy_from_slice(src);
        }
        Ok(())
    })?;
    Tensor::from_bytes(et, shape, bytes)
}

/// The concrete value of an integer input as `i64`s.
pub fn ints(t: &Tensor) -> Result<Vec<i64>> {
    t.to_i64_vec()
}

/// A non-negative integer as `usize`.
pub fn to_usize(v: i64, what: &str) -> Result<usize> {
    usize::try_from(v).map_err(|_| crate::invalid!("{what} must be non-negative, got {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_broadcast() {
        assert_eq!(strided_offsets(&[2, 3], &[1, 2]), vec![0, 2, 4, 1, 3, 5]);
        assert_eq!(broadcast_map(&[3, 1], &[2, 3, 2]).expect("ok"), vec![0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2]);
        assert!(broadcast_map(&[3], &[2]).is_err());
        assert_eq!(broadcast_pair(&[2, 1], &[3]), Some(vec![2, 3]));
        assert_eq!(broadcast_pair(&[2], &[3]), None);
        assert_eq!(strided_offsets(&[0, 3], &[3, 1]), Vec::<usize>::new());
    }

    #[test]
    fn convert_rules() {
        let v = Vals::F(vec![-1.7, 2.9, 300.0, f64::NAN, -300.0]);
        let t = encode("t", E::I8, vec![5], &v).expect("enc");
        assert_eq!(&*t.values::<i8>().expect("i8"), &[-1, 2, 127, 0, -128]);
        let t = encode("t", E::U8, vec![5], &v).expect("enc");
        assert_eq!(t.raw(), &[0, 2, 255, 0, 0]);
        let w = Vals::I(vec![-1, 256, 257]);
        let t = encode("t", E::U8, vec![3], &w).expect("enc");
        assert_eq!(t.raw(), &[255, 0, 1]);
        let t = encode("t", E::U32, vec![3], &w).expect("enc");
        assert_eq!(&*t.values::<u32>().expect("u32"), &[u32::MAX, 256, 257]);
        let t = encode("t", E::Boolean, vec![5], &v).expect("enc");
        assert_eq!(t.bools().expect("b"), vec![true, true, true, true, true]);
    }

    #[test]
    fn low_precision_round_trips() {
        // i4 and u2 wrap; packed low bits first.
        let w = Vals::I(vec![-9, 8, 7]);
        let t = encode("t", E::I4, vec![3], &w).expect("enc");
        assert_eq!(t.raw(), &[0x87, 0x07]);
        assert_eq!(decode("t", &t).expect("dec"), Vals::I(vec![7, -8, 7]));
        let t = encode("t", E::U2, vec![5], &Vals::F(vec![-3.0, -2.5, 1.9, 0.0, 5.0])).expect("enc");
        assert_eq!(decode("t", &t).expect("dec"), Vals::I(vec![1, 2, 1, 0, 1]));
        let t = encode("t", E::F8E4M3, vec![3], &Vals::F(vec![1.0, -448.0, 1000.0])).expect("enc");
        assert_eq!(t.raw(), &[0x38, 0xfe, 0x7f]);
        let Vals::F(back) = decode("t", &t).expect("dec") else { panic!("float") };
        assert_eq!(back[..2], [1.0, -448.0]);
        assert!(back[2].is_nan());
        let t = encode("t", E::F4E2M1, vec![3], &Vals::I(vec![1, -7, 3])).expect("enc");
        assert_eq!(t.raw(), &[0xf2, 0x05]);
    }

    #[test]
    fn take_copies_strings_and_bytes() {
        let t = Tensor::from_vec(vec![3], vec![1i16, 2, 3]).expect("t");
        let r = take("t", &t, vec![2], &[2, 0]).expect("take");
        assert_eq!(&*r.values::<i16>().expect("i16"), &[3, 1]);
        let s = Tensor::from_strings(vec![2], &["a".into(), "bc".into()]).expect("s");
        let r = take("t", &s, vec![3], &[1, 1, 0]).expect("take");
        assert_eq!(r.strings().expect("s"), vec!["bc", "bc", "a"]);
        assert!(take("t", &t, vec![1], &[3]).is_err());
    }

    #[test]
    fn take_strided_matches_take_over_offsets() {
        let t = Tensor::from_vec(vec![24], (0..24).map(|v| v as i16).collect::<Vec<_>>()).expect("tensor");
        let cases: [(&[usize], &[usize]); 6] = [
            (&[2, 3, 4], &[12, 4, 1]),
            (&[4, 3, 2], &[1, 4, 12]),
            (&[3, 5], &[4, 0]),
            (&[5, 2, 3], &[0, 12, 1]),
            (&[], &[]),
            (&[2, 0, 3], &[1, 1, 1]),
        ];
        for (shape, strides) in cases {
            let got = take_strided("T", &t, shape.to_vec(), strides).expect("strided");
            let want = take("T", &t, shape.to_vec(), &strided_offsets(shape, strides)).expect("take");
            assert_eq!(got.shape(), want.shape());
            assert_eq!(got.raw(), want.raw(), "{shape:?} {strides:?}");
        }
        // An offset past the data is an error, not a panic.
        assert!(take_strided("T", &t, vec![2, 13], &[12, 1]).is_err());
        assert!(take_strided("T", &t, vec![3, usize::MAX / 2], &[usize::MAX / 2, 1]).is_err());
    }
}
