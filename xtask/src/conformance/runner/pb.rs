//! Reading the `input_K.pb` / `output_K.pb` files of a test data set into [`Tensor`]s.
//!
//! The files hold a serialized `onnx.TensorProto` (or, for optional values, an
//! `onnx.OptionalProto`; sequences and maps use `SequenceProto` / `MapProto`, which have no
//! tensor form). Only the fields the test data uses are declared here, with their onnx.proto
//! field numbers; prost skips the others.

use anyhow::{Context, Result, bail, ensure};
use ir_graph::{Bytes, ElementType, Tensor};
use prost::Message;

/// `onnx.TensorProto`, the fields test data uses.
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    #[prost(int32, optional, tag = "2")]
    pub data_type: Option<i32>,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub string_data: Vec<Vec<u8>>,
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    #[prost(string, optional, tag = "8")]
    pub name: Option<String>,
    #[prost(bytes = "vec", optional, tag = "9")]
    pub raw_data: Option<Vec<u8>>,
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    #[prost(uint64, repeated, tag = "11")]
    pub uint64_data: Vec<u64>,
    #[prost(int32, optional, tag = "14")]
    pub data_location: Option<i32>,
}

/// `onnx.OptionalProto` (onnx-data.proto), the tensor case.
#[derive(Clone, PartialEq, Message)]
pub struct OptionalProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(int32, optional, tag = "2")]
    pub elem_type: Option<i32>,
    #[prost(message, optional, tag = "3")]
    pub tensor_value: Option<TensorProto>,
}

/// ONNX `TensorProto.DataType` name, for messages.
pub fn onnx_type_name(t: i32) -> &'static str {
    match t {
        1 => "FLOAT",
        2 => "UINT8",
        3 => "INT8",
        4 => "UINT16",
        5 => "INT16",
        6 => "INT32",
        7 => "INT64",
        8 => "STRING",
        9 => "BOOL",
        10 => "FLOAT16",
        11 => "DOUBLE",
        12 => "UINT32",
        13 => "UINT64",
        14 => "COMPLEX64",
        15 => "COMPLEX128",
        16 => "BFLOAT16",
        17 => "FLOAT8E4M3FN",
        18 => "FLOAT8E4M3FNUZ",
        19 => "FLOAT8E5M2",
        20 => "FLOAT8E5M2FNUZ",
        21 => "UINT4",
        22 => "INT4",
        23 => "FLOAT4E2M1",
        24 => "FLOAT8E8M0",
        25 => "UINT2",
        26 => "INT2",
        27 => "FLOAT6E2M3",
        28 => "FLOAT6E3M2",
        _ => "UNDEFINED",
    }
}

/// The IR element type of an ONNX data type, when the IR has one.
pub fn element_type(t: i32) -> Option<ElementType> {
    use ElementType as E;
    Some(match t {
        1 => E::F32,
        2 => E::U8,
        3 => E::I8,
        4 => E::U16,
        5 => E::I16,
        6 => E::I32,
        7 => E::I64,
        8 => E::String,
        9 => E::Boolean,
        10 => E::F16,
        11 => E::F64,
        12 => E::U32,
        13 => E::U64,
        16 => E::Bf16,
        17 => E::F8E4M3,
        19 => E::F8E5M2,
        21 => E::U4,
        22 => E::I4,
        23 => E::F4E2M1,
        24 => E::F8E8M0,
        25 => E::U2,
        _ => return None,
    })
}

/// Converts a decoded TensorProto into a tensor.
pub fn tensor_from_proto(p: &TensorProto) -> Result<Tensor> {
    let dt = p.data_type.unwrap_or(0);
    let et = element_type(dt)
        .with_context(|| format!("ONNX element type {} ({dt}) has no IR equivalent", onnx_type_name(dt)))?;
    ensure!(p.data_location.unwrap_or(0) == 0, "external data in test data is not supported");
    let shape: Vec<usize> = p
        .dims
        .iter()
        .map(|&d| usize::try_from(d).with_context(|| format!("negative dim in {:?}", p.dims)))
        .collect::<Result<_>>()?;
    let numel: usize = shape.iter().product();
    if et == ElementType::String {
        let strings: Vec<String> = p.string_data.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect();
        return Tensor::from_strings(shape, &strings).map_err(|e| anyhow::anyhow!("{e}"));
    }
    let bytes: Vec<u8> = if let Some(raw) = &p.raw_data { raw.clone() } else { typed_bytes(p, et, numel)? };
    let need = et.storage_size(numel).context("no storage size")?;
    if bytes.len() != need {
        bail!("{et} tensor of shape {shape:?} needs {need} bytes, the proto holds {}", bytes.len());
    }
    Tensor::from_bytes(et, shape, Bytes::from_pod_vec(bytes)).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Little-endian bytes from the typed repeated fields.
fn typed_bytes(p: &TensorProto, et: ElementType, numel: usize) -> Result<Vec<u8>> {
    use ElementType as E;
    let mut out = Vec::new();
    match et {
        E::F32 => p.float_data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        E::F64 => p.double_data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        E::I64 => p.int64_data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        E::U32 => p.uint64_data.iter().for_each(|&v| out.extend_from_slice(&(v as u32).to_le_bytes())),
        E::U64 => p.uint64_data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        E::I32 => p.int32_data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        E::I16 | E::U16 | E::F16 | E::Bf16 => {
            p.int32_data.iter().for_each(|&v| out.extend_from_slice(&(v as u16).to_le_bytes()))
        }
        E::I8 | E::U8 | E::Boolean | E::F8E4M3 | E::F8E5M2 | E::F8E8M0 => {
            out.extend(p.int32_data.iter().map(|&v| v as u8))
        }
        // Each int32 holds two 4-bit values (low nibble first) or four 2-bit values.
        E::I4 | E::U4 | E::F4E2M1 => {
            let bytes: Vec<u8> = p.int32_data.iter().map(|&v| v as u8).collect();
            out = bytes;
            out.truncate(numel.div_ceil(2));
        }
        E::U2 => {
            out = p.int32_data.iter().map(|&v| v as u8).collect();
            out.truncate(numel.div_ceil(4));
        }
        other => bail!("typed data of {other} is not supported"),
    }
    Ok(out)
}

/// The kind of value a .pb file holds, from case.json (`tensor` when unknown).
pub fn read_value(path: &std::path::Path, kind: &str) -> Result<Tensor> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    match kind {
        "tensor" | "" => {
            let p = TensorProto::decode(bytes.as_slice()).with_context(|| format!("decoding {}", path.display()))?;
            tensor_from_proto(&p)
        }
        "optional" => {
            let o = OptionalProto::decode(bytes.as_slice()).with_context(|| format!("decoding {}", path.display()))?;
            // OptionalProto.DataType: 0 undefined, 1 tensor; anything else holds no tensor.
            match (&o.tensor_value, o.elem_type.unwrap_or(0)) {
                (Some(t), _) => tensor_from_proto(t),
                (None, 0 | 1) => bail!(
                    "an empty optional cannot be fed to an IR input (IR has no optional type; an optional(tensor) \
                     graph input is a required tensor input)"
                ),
                (None, t) => bail!("an optional of element kind {t} (not a tensor) cannot be fed as a tensor"),
            }
        }
        other => bail!("a {other} value cannot be fed as a tensor"),
    }
}

/// Name stored in a TensorProto file (empty when absent or not a tensor).
pub fn stored_name(path: &std::path::Path) -> String {
    std::fs::read(path)
        .ok()
        .and_then(|b| TensorProto::decode(b.as_slice()).ok())
        .and_then(|p| p.name)
        .unwrap_or_default()
}
