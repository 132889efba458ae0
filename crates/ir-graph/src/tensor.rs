//! Tensors: element type + shape + bytes behind a cheap shared handle.
//!
//! The bytes may live in a memory map (weights of a model file) or in memory the process owns;
//! cloning a [`Tensor`] or slicing its [`Bytes`] never copies. Mapped bytes carry no alignment
//! guarantee (IR `.bin` files pack constants without padding), so typed access goes through
//! [`Tensor::values`], which borrows when the bytes happen to be aligned and copies otherwise.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::element::{Element, ElementType};
use crate::error::{GraphError, Result};
use crate::shape::checked_numel;

/// Something that owns a byte buffer and can be shared across threads (a `Vec`, a memory map).
pub trait ByteOwner: Send + Sync {
    /// The whole buffer.
    fn bytes(&self) -> &[u8];
    /// Hints that `[start, start + len)` will not be read again soon. File-backed owners drop
    /// those resident pages (they are re-read from the file if touched again), which keeps the
    /// peak RSS of a streaming pass over gigabytes of mapped weights small; memory owners ignore it.
    fn release(&self, _start: usize, _len: usize) {}
    /// The open file these bytes map and the file offset of the first byte, when they are a map
    /// of a file: lets a writer copy them file to file inside the kernel instead of through the
    /// map.
    fn file_region(&self) -> Option<(&std::fs::File, u64)> {
        None
    }
}

impl ByteOwner for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// Owned values of a plain scalar type; keeps their natural alignment.
struct PodVec<T: bytemuck::Pod + Send + Sync>(Vec<T>);

impl<T: bytemuck::Pod + Send + Sync> ByteOwner for PodVec<T> {
    fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
}

/// A shared, sliceable view of bytes.
#[derive(Clone)]
pub struct Bytes {
    owner: Arc<dyn ByteOwner>,
    start: usize,
    len: usize,
}

impl Bytes {
    /// Wraps an owner; the view covers all of it.
    pub fn from_owner(owner: Arc<dyn ByteOwner>) -> Bytes {
        let len = owner.bytes().len();
        Bytes { owner, start: 0, len }
    }

    /// Takes ownership of plain values without copying them.
    pub fn from_pod_vec<T: bytemuck::Pod + Send + Sync>(v: Vec<T>) -> Bytes {
        Bytes::from_owner(Arc::new(PodVec(v)))
    }

    /// An empty view.
    pub fn empty() -> Bytes {
        Bytes::from_pod_vec::<u8>(Vec::new())
    }

    /// A sub-view `[offset, offset + len)`; `None` when out of range.
    pub fn slice(&self, offset: usize, len: usize) -> Option<Bytes> {
        let end = offset.checked_add(len)?;
        (end <= self.len).then(|| Bytes { owner: self.owner.clone(), start: self.start + offset, len })
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // The constructor and `slice` keep start + len within the owner.
        self.owner.bytes().get(self.start..self.start + self.len).unwrap_or(&[])
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops the resident pages behind `[offset, offset + len)` of this view when the owner is a
    /// file map (see [`ByteOwner::release`]); out-of-range parts are ignored.
    pub fn release_range(&self, offset: usize, len: usize) {
        let end = offset.saturating_add(len).min(self.len);
        if offset < end {
            self.owner.release(self.start + offset, end - offset);
        }
    }

    /// Drops the resident pages behind the whole view when the owner is a file map.
    pub fn release_pages(&self) {
        self.release_range(0, self.len);
    }

    /// The file behind this view and the file offset of its first byte, when the owner is a
    /// file map (see [`ByteOwner::file_region`]).
    pub fn file_region(&self) -> Option<(&std::fs::File, u64)> {
        self.owner.file_region().map(|(f, base)| (f, base + self.start as u64))
    }

    /// Whether two views share the same owner and range (cheap identity test).
    pub fn same_view(&self, other: &Bytes) -> bool {
        Arc::ptr_eq(&self.owner, &other.owner) && self.start == other.start && self.len == other.len
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.len)
    }
}

/// A concrete tensor value.
#[derive(Clone)]
pub struct Tensor {
    element_type: ElementType,
    shape: Vec<usize>,
    data: Bytes,
}

impl Tensor {
    /// Builds a tensor from raw bytes, checking the byte count against the shape.
    pub fn from_bytes(element_type: ElementType, shape: Vec<usize>, data: Bytes) -> Result<Tensor> {
        let numel = checked_numel(&shape).ok_or_else(|| GraphError::Invalid(format!("shape {shape:?} overflows")))?;
        if element_type == ElementType::String {
            let t = Tensor { element_type, shape, data };
            let n = t.strings()?.len();
            if n != numel {
                return Err(GraphError::Invalid(format!(
                    "string tensor holds {n} strings but its shape {:?} needs {numel}",
                    t.shape
                )));
            }
            return Ok(t);
        }
        let need = element_type
            .storage_size(numel)
            .ok_or_else(|| GraphError::Invalid(format!("no fixed storage size for {element_type}")))?;
        if need != data.len() {
            return Err(GraphError::Invalid(format!(
                "{element_type} tensor of shape {shape:?} needs {need} bytes but has {}",
                data.len()
            )));
        }
        Ok(Tensor { element_type, shape, data })
    }

    /// Builds a tensor from typed values.
    pub fn from_vec<T: Element>(shape: Vec<usize>, values: Vec<T>) -> Result<Tensor> {
        Tensor::from_bytes(T::TYPE, shape, Bytes::from_pod_vec(values))
    }

    /// A scalar tensor.
    pub fn scalar<T: Element>(v: T) -> Tensor {
        Tensor { element_type: T::TYPE, shape: Vec::new(), data: Bytes::from_pod_vec(vec![v]) }
    }

    /// A boolean tensor (one byte per value).
    pub fn from_bools(shape: Vec<usize>, values: &[bool]) -> Result<Tensor> {
        let bytes: Vec<u8> = values.iter().map(|&b| b as u8).collect();
        Tensor::from_bytes(ElementType::Boolean, shape, Bytes::from_pod_vec(bytes))
    }

    /// A string tensor, packed the IR way: i32 count, count+1 i32 end offsets, then UTF-8 bytes.
    pub fn from_strings(shape: Vec<usize>, values: &[String]) -> Result<Tensor> {
        let mut out = Vec::new();
        let count = i32::try_from(values.len()).map_err(|_| GraphError::Invalid("too many strings".into()))?;
        out.extend_from_slice(&count.to_le_bytes());
        let mut end = 0i32;
        out.extend_from_slice(&end.to_le_bytes());
        for s in values {
            end = end
                .checked_add(i32::try_from(s.len()).map_err(|_| GraphError::Invalid("string too long".into()))?)
                .ok_or_else(|| GraphError::Invalid("string data too long".into()))?;
            out.extend_from_slice(&end.to_le_bytes());
        }
        for s in values {
            out.extend_from_slice(s.as_bytes());
        }
        Tensor::from_bytes(ElementType::String, shape, Bytes::from_pod_vec(out))
    }

    /// A tensor of zeros of a byte-sized or packed type.
    pub fn zeros(element_type: ElementType, shape: Vec<usize>) -> Result<Tensor> {
        if element_type == ElementType::String {
            let n = checked_numel(&shape).ok_or_else(|| GraphError::Invalid("shape overflows".into()))?;
            return Tensor::from_strings(shape, &vec![String::new(); n]);
        }
        let n = checked_numel(&shape)
            .and_then(|n| element_type.storage_size(n))
            .ok_or_else(|| GraphError::Invalid(format!("cannot size a {element_type} tensor of {shape:?}")))?;
        Tensor::from_bytes(element_type, shape, Bytes::from_pod_vec(vec![0u8; n]))
    }

    /// Element type.
    pub fn element_type(&self) -> ElementType {
        self.element_type
    }

    /// Shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The raw storage.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The raw bytes.
    pub fn raw(&self) -> &[u8] {
        self.data.as_slice()
    }

    /// Same data, new shape with the same element count.
    pub fn reshaped(&self, shape: Vec<usize>) -> Result<Tensor> {
        if checked_numel(&shape) != Some(self.numel()) {
            return Err(GraphError::Invalid(format!("cannot reshape {:?} to {shape:?}", self.shape)));
        }
        Ok(Tensor { element_type: self.element_type, shape, data: self.data.clone() })
    }

    /// Typed values, borrowed when the bytes are aligned, copied otherwise.
    pub fn values<T: Element>(&self) -> Result<Cow<'_, [T]>> {
        if T::TYPE != self.element_type {
            return Err(GraphError::Invalid(format!(
                "tensor holds {} values, asked for {}",
                self.element_type,
                T::TYPE
            )));
        }
        let raw = self.raw();
        match bytemuck::try_cast_slice::<u8, T>(raw) {
            Ok(s) => Ok(Cow::Borrowed(s)),
            Err(_) => {
                Ok(Cow::Owned(raw.chunks_exact(std::mem::size_of::<T>()).map(bytemuck::pod_read_unaligned).collect()))
            }
        }
    }

    /// Boolean values.
    pub fn bools(&self) -> Result<Vec<bool>> {
        if self.element_type != ElementType::Boolean {
            return Err(GraphError::Invalid(format!("tensor holds {}, asked for boolean", self.element_type)));
        }
        Ok(self.raw().iter().map(|&b| b != 0).collect())
    }

    /// String values of a string tensor.
    pub fn strings(&self) -> Result<Vec<String>> {
        let raw = self.raw();
        let bad = || GraphError::Invalid("malformed string tensor data".into());
        let rd = |i: usize| -> Result<i32> {
            let b = raw.get(i * 4..i * 4 + 4).ok_or_else(bad)?;
            Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        if raw.is_empty() {
            return Ok(Vec::new());
        }
        let count = usize::try_from(rd(0)?).map_err(|_| bad())?;
        let header = count.checked_add(2).and_then(|n| n.checked_mul(4)).ok_or_else(bad)?;
        if header > raw.len() {
            return Err(bad());
        }
        let body = &raw[header..];
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let (a, b) = (rd(1 + i)?, rd(2 + i)?);
            let (a, b) = (usize::try_from(a).map_err(|_| bad())?, usize::try_from(b).map_err(|_| bad())?);
            let s = body.get(a..b).ok_or_else(bad)?;
            out.push(String::from_utf8_lossy(s).into_owned());
        }
        Ok(out)
    }

    /// Values of any integer type widened to i64 (for shape-like inputs: axes, shapes, indices).
    pub fn to_i64_vec(&self) -> Result<Vec<i64>> {
        use ElementType as E;
        Ok(match self.element_type {
            E::I64 => self.values::<i64>()?.into_owned(),
            E::I32 => self.values::<i32>()?.iter().map(|&v| v as i64).collect(),
            E::I16 => self.values::<i16>()?.iter().map(|&v| v as i64).collect(),
            E::I8 => self.values::<i8>()?.iter().map(|&v| v as i64).collect(),
            E::U8 | E::Boolean => self.raw().iter().map(|&v| v as i64).collect(),
            E::U16 => self.values::<u16>()?.iter().map(|&v| v as i64).collect(),
            E::U32 => self.values::<u32>()?.iter().map(|&v| v as i64).collect(),
            E::U64 => self
                .values::<u64>()?
                .iter()
                .map(|&v| i64::try_from(v).map_err(|_| GraphError::Invalid(format!("value {v} exceeds i64"))))
                .collect::<Result<_>>()?,
            t => {
                return Err(GraphError::Invalid(format!("expected integer values, got {t}")));
            }
        })
    }

    /// Values of any real-number type converted to f64 (for scalar attributes given as inputs).
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        use ElementType as E;
        Ok(match self.element_type {
            E::F32 => self.values::<f32>()?.iter().map(|&v| v as f64).collect(),
            E::F64 => self.values::<f64>()?.into_owned(),
            E::F16 => self.values::<half::f16>()?.iter().map(|v| v.to_f64()).collect(),
            E::Bf16 => self.values::<half::bf16>()?.iter().map(|v| v.to_f64()).collect(),
            _ => self.to_i64_vec()?.iter().map(|&v| v as f64).collect(),
        })
    }

    /// Content equality: type, shape and bytes.
    pub fn same_content(&self, other: &Tensor) -> bool {
        self.element_type == other.element_type && self.shape == other.shape && self.raw() == other.raw()
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor({} {:?}, {} bytes)", self.element_type, self.shape, self.data.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_packing_matches_ir() {
        let t = Tensor::from_strings(vec![3], &["hello".into(), "".into(), "wörld".into()]).expect("pack");
        assert_eq!(t.raw().len(), 31);
        assert_eq!(&t.raw()[..8], &[3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(t.strings().expect("unpack"), vec!["hello", "", "wörld"]);
    }

    #[test]
    fn unaligned_values_copy() {
        let raw: Vec<u8> = [0u8].iter().chain(1.5f32.to_le_bytes().iter()).copied().collect();
        let b = Bytes::from_pod_vec(raw).slice(1, 4).expect("in range");
        let t = Tensor::from_bytes(ElementType::F32, vec![1], b).expect("sized");
        assert_eq!(&*t.values::<f32>().expect("f32"), &[1.5]);
    }

    #[test]
    fn size_mismatch_is_an_error() {
        assert!(Tensor::from_bytes(ElementType::F32, vec![2], Bytes::from_pod_vec(vec![0u8; 7])).is_err());
    }
}
