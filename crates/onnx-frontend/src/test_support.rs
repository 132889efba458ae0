//! Builds small ONNX models in Rust with the prost types, for tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ir_graph::{Model, Op};
use prost::Message;

use crate::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType, tensor_proto::DataType,
    tensor_shape_proto, type_proto,
};

/// ONNX data type codes used in tests.
pub const F32: i32 = DataType::Float as i32;
/// int64.
pub const I64: i32 = DataType::Int64 as i32;
/// bool.
pub const BOOL: i32 = DataType::Bool as i32;
/// int32.
pub const I32: i32 = DataType::Int32 as i32;

/// An attribute value (test-only, so size differences between variants do not matter).
#[allow(clippy::large_enum_variant)]
pub enum A {
    I(i64),
    F(f32),
    S(&'static str),
    Is(Vec<i64>),
    Fs(Vec<f32>),
    T(TensorProto),
}

/// A node: op type, inputs, outputs, attributes.
pub fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, A)>) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs.into_iter().map(|(n, a)| attr(n, a)).collect(),
        ..Default::default()
    }
}

/// One attribute proto.
pub fn attr(name: &str, a: A) -> AttributeProto {
    let mut p = AttributeProto { name: Some(name.into()), ..Default::default() };
    match a {
        A::I(v) => {
            p.i = Some(v);
            p.set_type(AttributeType::Int);
        }
        A::F(v) => {
            p.f = Some(v);
            p.set_type(AttributeType::Float);
        }
        A::S(v) => {
            p.s = Some(bytes::Bytes::copy_from_slice(v.as_bytes()));
            p.set_type(AttributeType::String);
        }
        A::Is(v) => {
            p.ints = v;
            p.set_type(AttributeType::Ints);
        }
        A::Fs(v) => {
            p.floats = v;
            p.set_type(AttributeType::Floats);
        }
        A::T(t) => {
            p.t = Some(t);
            p.set_type(AttributeType::Tensor);
        }
    }
    p
}

/// A tensor value info; `None` dims are `dim_param`s.
pub fn value_info(name: &str, elem: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(n) => tensor_shape_proto::dimension::Value::DimValue(*n),
                None => tensor_shape_proto::dimension::Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A static-shape value info.
pub fn vi(name: &str, elem: i32, dims: &[i64]) -> ValueInfoProto {
    value_info(name, elem, &dims.iter().map(|&d| Some(d)).collect::<Vec<_>>())
}

/// An f32 tensor stored in `raw_data`.
pub fn f32_raw(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(F32),
        raw_data: Some(raw.into()),
        ..Default::default()
    }
}

/// An f32 tensor stored in `float_data`.
pub fn f32_typed(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(F32),
        float_data: values.to_vec(),
        ..Default::default()
    }
}

/// An i64 tensor stored in `int64_data`.
pub fn i64_typed(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(I64),
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

/// An f32 tensor whose data lives in an external file.
pub fn f32_external(name: &str, dims: &[i64], location: &str, offset: Option<u64>, length: Option<u64>) -> TensorProto {
    let mut ext = vec![kv("location", location)];
    if let Some(o) = offset {
        ext.push(kv("offset", &o.to_string()));
    }
    if let Some(l) = length {
        ext.push(kv("length", &l.to_string()));
    }
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(F32),
        data_location: Some(crate::proto::tensor_proto::DataLocation::External as i32),
        external_data: ext,
        ..Default::default()
    }
}

fn kv(k: &str, v: &str) -> StringStringEntryProto {
    StringStringEntryProto { key: Some(k.into()), value: Some(v.into()) }
}

/// A model builder.
pub struct Builder {
    /// The graph.
    pub graph: GraphProto,
    /// Opset imports (domain -> version).
    pub opsets: Vec<(String, i64)>,
}

impl Builder {
    /// A builder importing the default domain at `opset`.
    pub fn new(opset: i64) -> Builder {
        Builder {
            graph: GraphProto { name: Some("g".into()), ..Default::default() },
            opsets: vec![(String::new(), opset)],
        }
    }

    /// Adds a graph input.
    pub fn input(mut self, v: ValueInfoProto) -> Builder {
        self.graph.input.push(v);
        self
    }

    /// Adds a graph output (type unchecked).
    pub fn output(mut self, name: &str) -> Builder {
        self.graph.output.push(ValueInfoProto { name: Some(name.into()), ..Default::default() });
        self
    }

    /// Adds an initializer.
    pub fn init(mut self, t: TensorProto) -> Builder {
        self.graph.initializer.push(t);
        self
    }

    /// Adds a node.
    pub fn node(mut self, n: NodeProto) -> Builder {
        self.graph.node.push(n);
        self
    }

    /// The model proto.
    pub fn proto(&self) -> ModelProto {
        ModelProto {
            ir_version: Some(8),
            opset_import: self
                .opsets
                .iter()
                .map(|(d, v)| OperatorSetIdProto { domain: Some(d.clone()), version: Some(*v) })
                .collect(),
            graph: Some(self.graph.clone()),
            ..Default::default()
        }
    }

    /// Writes the model as `model.onnx` into `dir`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let p = dir.join("model.onnx");
        std::fs::write(&p, self.proto().encode_to_vec()).expect("write model");
        p
    }

    /// Writes and reads (translate only) in a fresh temp dir.
    pub fn read(&self) -> Result<Model, crate::FrontendError> {
        let dir = tempfile::tempdir().expect("tempdir");
        crate::read_onnx(&self.write(dir.path()))
    }

    /// Writes and reads, panicking with the error message on failure.
    pub fn read_ok(&self) -> Model {
        self.read().unwrap_or_else(|e| panic!("conversion failed: {e}"))
    }
}

/// Counts of IR op types.
pub fn op_counts(m: &Model) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (_, n) in m.nodes() {
        *out.entry(n.op.type_name().to_string()).or_insert(0) += 1;
    }
    out
}

/// The op feeding the first Result.
pub fn result_producer(m: &Model) -> &Op {
    let r = m.results()[0];
    let src = m.node(r).expect("result").inputs[0];
    &m.node(src.node).expect("producer").op
}

/// A 1-D f32 tensor.
pub fn f32v(x: &[f32]) -> ir_graph::Tensor {
    ir_graph::Tensor::from_vec(vec![x.len()], x.to_vec()).expect("tensor")
}

/// The values of an f32 tensor.
pub fn vals(t: &ir_graph::Tensor) -> Vec<f32> {
    t.values::<f32>().expect("f32").into_owned()
}

/// Runs a converted model on the reference evaluator.
pub fn run(m: &Model, ins: &[ir_graph::Tensor]) -> Vec<ir_graph::Tensor> {
    ir_graph::eval::graph::run_model(m, ins).unwrap_or_else(|e| panic!("evaluation failed: {e}"))
}
