//! Reading an ONNX file: memory map, protobuf decode, tensors as views into the maps.
//!
//! The model file is mapped once and decoded from a [`bytes::Bytes`] that owns the map; the
//! generated protobuf types store `bytes` fields as `bytes::Bytes`, so every `raw_data` payload
//! is a slice of the map rather than a copy. Typed payloads (`float_data`, `int64_data`, ...)
//! are varint/packed encoded in the file and have to be decoded, so those (normally small)
//! tensors are copied into owned buffers.
//!
//! External data (`data_location = EXTERNAL`) is resolved relative to the model's folder. Each
//! external file is mapped once and shared by every tensor stored in it; tensors stay views into
//! those maps. Absolute paths, `..` components, symlinks leaving the folder, ranges past the end
//! of the file and payloads whose size does not match the tensor's shape are refused.

#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use ir_graph::{ByteOwner, Bytes, ElementType, Tensor};
use memmap2::Mmap;
use prost::Message;

use crate::error::FrontendError;
use crate::proto::{self, ModelProto, TensorProto, tensor_proto::DataType};

/// A read-only memory map of a whole file, shared by every tensor that points into it.
pub struct MappedFile {
    /// `None` for an empty file (which cannot be mapped on every platform).
    map: Option<Mmap>,
    path: PathBuf,
    file: File,
}

impl MappedFile {
    /// Maps `path` read-only.
    pub fn open(path: &Path) -> Result<MappedFile, FrontendError> {
        let io = |source| FrontendError::Io { file: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the map is read-only. As with every memory-mapped model loader (OpenVINO's
            // included), a file truncated or rewritten by another process while mapped is outside
            // what we can guard against; we never hand out `&mut` access to the bytes.
            Some(unsafe { Mmap::map(&file) }.map_err(io)?)
        };
        Ok(MappedFile { map, path: path.to_path_buf(), file })
    }

    /// The mapped file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the file in bytes.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn as_slice(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

impl ByteOwner for MappedFile {
    fn bytes(&self) -> &[u8] {
        self.as_slice()
    }
    fn release(&self, start: usize, len: usize) {
        if let Some(map) = &self.map {
            release_map_range(map, start, len);
        }
    }
    fn file_region(&self) -> Option<(&File, u64)> {
        Some((&self.file, 0))
    }
}

/// Drops the resident pages of `map` that lie wholly inside `[start, start + len)`.
fn release_map_range(map: &memmap2::Mmap, start: usize, len: usize) {
    const PAGE: usize = 4096;
    let first = start.div_ceil(PAGE) * PAGE;
    let end = (start.saturating_add(len) / PAGE * PAGE).min(map.len());
    if first < end {
        // SAFETY: the map is a read-only file mapping; MADV_DONTNEED only discards resident
        // pages, which the kernel reloads from the unchanged file if they are read again, so no
        // live slice observes different bytes. Failure only means the pages stay resident.
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, first, end - first) };
    }
}

/// Lets a `bytes::Bytes` own the map, so protobuf decoding slices it instead of copying.
struct MapHandle(Arc<MappedFile>);

impl AsRef<[u8]> for MapHandle {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// A `bytes::Bytes` (e.g. a `raw_data` slice of the mapped model) as an [`ir_graph::ByteOwner`].
struct ProtoBytes(bytes::Bytes);

impl ByteOwner for ProtoBytes {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A decoded model file, with the map its tensors point into.
pub struct OnnxFile {
    /// The decoded protobuf.
    pub proto: ModelProto,
    /// The model file.
    pub path: PathBuf,
    /// The folder external data is resolved against.
    pub dir: PathBuf,
    /// The model file's map (kept alive by every `raw_data` view as well).
    pub map: Arc<MappedFile>,
}

/// Maps and decodes an ONNX model file; errors (never panics) on truncated or hostile bytes.
pub fn load(path: &Path) -> Result<OnnxFile, FrontendError> {
    let map = Arc::new(MappedFile::open(path)?);
    let buf = bytes::Bytes::from_owner(MapHandle(map.clone()));
    let proto = ModelProto::decode(buf)
        .map_err(|e| FrontendError::Decode { file: path.to_path_buf(), message: e.to_string() })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(OnnxFile { proto, path: path.to_path_buf(), dir, map })
}

/// Maps an ONNX `TensorProto.DataType` to the IR element type.
pub fn element_type(data_type: i32) -> Result<ElementType, String> {
    let dt = DataType::try_from(data_type).map_err(|_| format!("unknown ONNX data type {data_type}"))?;
    Ok(match dt {
        DataType::Float => ElementType::F32,
        DataType::Uint8 => ElementType::U8,
        DataType::Int8 => ElementType::I8,
        DataType::Uint16 => ElementType::U16,
        DataType::Int16 => ElementType::I16,
        DataType::Int32 => ElementType::I32,
        DataType::Int64 => ElementType::I64,
        DataType::String => ElementType::String,
        DataType::Bool => ElementType::Boolean,
        DataType::Float16 => ElementType::F16,
        DataType::Double => ElementType::F64,
        DataType::Uint32 => ElementType::U32,
        DataType::Uint64 => ElementType::U64,
        DataType::Bfloat16 => ElementType::Bf16,
        DataType::Float8e4m3fn => ElementType::F8E4M3,
        DataType::Float8e5m2 => ElementType::F8E5M2,
        DataType::Float8e8m0 => ElementType::F8E8M0,
        DataType::Uint4 => ElementType::U4,
        DataType::Int4 => ElementType::I4,
        DataType::Float4e2m1 => ElementType::F4E2M1,
        DataType::Uint2 => ElementType::U2,
        DataType::Undefined => ElementType::Dynamic,
        other => return Err(format!("ONNX data type {} has no OpenVINO equivalent", other.as_str_name())),
    })
}

/// Turns tensor protos into [`Tensor`]s, mapping each external data file once.
pub struct TensorLoader {
    /// Folder external `location`s are relative to; `None` when the model has no folder.
    dir: Option<PathBuf>,
    /// The canonical folder, computed on first use.
    canonical_dir: RefCell<Option<PathBuf>>,
    /// External files by canonical path.
    files: RefCell<HashMap<PathBuf, Arc<MappedFile>>>,
}

impl TensorLoader {
    /// A loader resolving external data relative to `dir`.
    pub fn new(dir: Option<PathBuf>) -> TensorLoader {
        TensorLoader { dir, canonical_dir: RefCell::new(None), files: RefCell::new(HashMap::new()) }
    }

    /// Number of distinct external files mapped so far.
    pub fn mapped_files(&self) -> usize {
        self.files.borrow().len()
    }

    /// Converts one tensor proto; `name` is used in errors when the proto has no name.
    pub fn tensor(&self, t: &TensorProto, name: &str) -> Result<Tensor, FrontendError> {
        let name = if t.name().is_empty() { name } else { t.name() };
        let bad = |m: String| FrontendError::tensor(name, m);
        let et = element_type(t.data_type()).map_err(bad)?;
        if et == ElementType::Dynamic {
            return Err(bad("data type is UNDEFINED".into()));
        }
        if t.segment.is_some() {
            return Err(bad("segmented tensors are not supported".into()));
        }
        let shape = t
            .dims
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| bad(format!("invalid dimension {d} in shape {:?}", t.dims))))
            .collect::<Result<Vec<usize>, _>>()?;
        let numel = ir_graph::shape::checked_numel(&shape).ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
        let finish = |data: Bytes| Tensor::from_bytes(et, shape.clone(), data).map_err(|e| bad(e.to_string()));

        if t.data_location == Some(proto::tensor_proto::DataLocation::External as i32) {
            if et == ElementType::String {
                return Err(bad("string tensors cannot be stored as external data".into()));
            }
            let data = self.external(t, name, et, &shape, numel)?;
            return finish(data);
        }
        if let Some(raw) = t.raw_data.as_ref().filter(|r| !r.is_empty()) {
            if et == ElementType::String {
                return Err(bad("string tensors must use string_data, not raw_data".into()));
            }
            return finish(Bytes::from_owner(Arc::new(ProtoBytes(raw.clone()))));
        }
        if et == ElementType::String {
            let values: Vec<String> = t.string_data.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect();
            return Tensor::from_strings(shape, &values).map_err(|e| bad(e.to_string()));
        }
        finish(typed_payload(t, et).map_err(bad)?)
    }

    fn external(
        &self,
        t: &TensorProto,
        name: &str,
        et: ElementType,
        shape: &[usize],
        numel: usize,
    ) -> Result<Bytes, FrontendError> {
        let mut location = None;
        let mut offset = None;
        let mut length = None;
        for kv in &t.external_data {
            match kv.key() {
                "location" => location = Some(kv.value().to_string()),
                "offset" => offset = Some(kv.value().to_string()),
                "length" => length = Some(kv.value().to_string()),
                _ => {} // checksum, basepath: ignored (as OpenVINO does)
            }
        }
        let location = location.unwrap_or_default();
        let err = |file: &Path, message: String| FrontendError::ExternalData {
            tensor: name.to_string(),
            file: file.to_path_buf(),
            message,
        };
        let loc_path = Path::new(&location);
        if location.is_empty() {
            return Err(err(loc_path, "no 'location' is given".into()));
        }
        let Some(dir) = &self.dir else {
            return Err(err(
                loc_path,
                "the model was not read from a file, so relative paths cannot be resolved".into(),
            ));
        };
        if loc_path.is_absolute() || loc_path.has_root() || location.starts_with(['/', '\\']) {
            return Err(err(
                loc_path,
                "absolute paths are not allowed; the location must be relative to the model folder".into(),
            ));
        }
        if loc_path.components().any(|c| matches!(c, Component::ParentDir | Component::Prefix(_))) {
            return Err(err(loc_path, "'..' components are not allowed in external data locations".into()));
        }
        let full = dir.join(loc_path);
        let canonical_dir = {
            let mut cached = self.canonical_dir.borrow_mut();
            match &*cached {
                Some(d) => d.clone(),
                None => {
                    let d =
                        dir.canonicalize().map_err(|e| err(dir, format!("cannot resolve the model folder: {e}")))?;
                    *cached = Some(d.clone());
                    d
                }
            }
        };
        let canonical = full.canonicalize().map_err(|e| err(&full, format!("cannot open: {e}")))?;
        if !canonical.starts_with(&canonical_dir) {
            return Err(err(
                &full,
                format!(
                    "resolves to '{}', which is outside the model folder '{}'",
                    canonical.display(),
                    canonical_dir.display()
                ),
            ));
        }
        if !canonical.is_file() {
            return Err(err(&full, "is not a regular file".into()));
        }
        let file = {
            let mut files = self.files.borrow_mut();
            match files.get(&canonical) {
                Some(f) => f.clone(),
                None => {
                    let f = Arc::new(MappedFile::open(&canonical)?);
                    files.insert(canonical.clone(), f.clone());
                    f
                }
            }
        };
        let parse = |what: &str, v: &Option<String>| -> Result<Option<u64>, FrontendError> {
            v.as_deref()
                .map(|s| {
                    s.trim()
                        .parse::<u64>()
                        .map_err(|_| err(&full, format!("{what} '{s}' is not a non-negative integer")))
                })
                .transpose()
        };
        let offset = parse("offset", &offset)?.unwrap_or(0);
        let length = parse("length", &length)?;
        let file_len = file.len() as u64;
        let expected = et
            .storage_size(numel)
            .ok_or_else(|| err(&full, format!("cannot size a {et} tensor of shape {shape:?}")))?;
        if offset > file_len {
            return Err(err(&full, format!("offset {offset} is past the end of the file ({file_len} bytes)")));
        }
        let length = length.unwrap_or(file_len - offset);
        offset.checked_add(length).filter(|&e| e <= file_len).ok_or_else(|| {
            err(
                &full,
                format!("range offset {offset} + length {length} is past the end of the file ({file_len} bytes)"),
            )
        })?;
        if length != expected as u64 {
            return Err(err(
                &full,
                format!("holds {length} bytes but the {et} tensor of shape {shape:?} needs {expected}"),
            ));
        }
        let (offset, length) = (offset as usize, length as usize);
        Bytes::from_owner(file as Arc<dyn ByteOwner>)
            .slice(offset, length)
            .ok_or_else(|| err(&full, format!("range {offset}+{length} is out of bounds")))
    }
}

/// Copies a tensor's typed field (`float_data`, `int32_data`, ...) into an owned buffer.
fn typed_payload(t: &TensorProto, et: ElementType) -> Result<Bytes, String> {
    use ElementType as E;
    let narrow = |f: fn(i32) -> Option<Vec<u8>>| -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(t.int32_data.len() * 2);
        for &v in &t.int32_data {
            out.extend(f(v).ok_or_else(|| format!("value {v} in int32_data does not fit {et}"))?);
        }
        Ok(out)
    };
    let bytes = match et {
        E::F32 => return Ok(Bytes::from_pod_vec(t.float_data.clone())),
        E::F64 => return Ok(Bytes::from_pod_vec(t.double_data.clone())),
        E::I64 => return Ok(Bytes::from_pod_vec(t.int64_data.clone())),
        E::I32 => return Ok(Bytes::from_pod_vec(t.int32_data.clone())),
        E::U64 => return Ok(Bytes::from_pod_vec(t.uint64_data.clone())),
        E::U32 => {
            let v = t
                .uint64_data
                .iter()
                .map(|&v| u32::try_from(v).map_err(|_| format!("value {v} does not fit u32")))
                .collect::<Result<Vec<u32>, _>>()?;
            return Ok(Bytes::from_pod_vec(v));
        }
        E::I16 => {
            let v = t
                .int32_data
                .iter()
                .map(|&v| i16::try_from(v).map_err(|_| format!("value {v} does not fit i16")))
                .collect::<Result<Vec<i16>, _>>()?;
            return Ok(Bytes::from_pod_vec(v));
        }
        // 16-bit floats are stored bit-wise in the low 16 bits.
        E::U16 | E::F16 | E::Bf16 => {
            let v = t
                .int32_data
                .iter()
                .map(|&v| u16::try_from(v).or_else(|_| i16::try_from(v).map(|x| x as u16)))
                .collect::<Result<Vec<u16>, _>>()
                .map_err(|_| format!("int32_data holds a value that does not fit 16 bits for {et}"))?;
            return Ok(Bytes::from_pod_vec(v));
        }
        E::I8 => narrow(|v| i8::try_from(v).ok().map(|x| vec![x as u8]))?,
        E::Boolean => narrow(|v| Some(vec![u8::from(v != 0)]))?,
        // One byte per entry: u8 and 8-bit floats one value each; 4-bit types two values (packed
        // low nibble first, as OpenVINO stores them); u2 four values.
        E::U8 | E::F8E4M3 | E::F8E5M2 | E::F8E8M0 | E::U4 | E::I4 | E::F4E2M1 | E::U2 => {
            narrow(|v| u8::try_from(v).ok().or_else(|| i8::try_from(v).ok().map(|x| x as u8)).map(|b| vec![b]))?
        }
        other => return Err(format!("typed data of {other} tensors is not supported")),
    };
    Ok(Bytes::from_pod_vec(bytes))
}
