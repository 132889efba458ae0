//! OpenVINO IR v11 (`model.xml` + `model.bin`) for [`ir_graph::Model`]s.
//!
//! [`save_model`] writes the XML exactly the way OpenVINO's serializer lays it out (pugixml
//! formatting, port numbering, tensor-name escaping, deduplicated and optionally
//! FP16-compressed weights streamed into the `.bin`); [`read_model`] reads IR written by us
//! or by OpenVINO's own `ovc`, with constants left as views into the memory-mapped `.bin`.
//!
//! ```
//! use ir_graph::{ElementType, Model, PartialShape, ops::Relu};
//! let mut m = Model::new("tiny");
//! let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[1, 4])).unwrap();
//! let r = m.add_node(Relu {}, "y", &[x.into()]).unwrap();
//! m.add_result("y/sink_port_0", r.into()).unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let xml = dir.path().join("tiny.xml");
//! ir_serialize::save_model(&m, &xml, &ir_serialize::SaveOptions::default()).unwrap();
//! let back = ir_serialize::read_model(&xml).unwrap();
//! assert_eq!(back.node_count(), 3);
//! ```

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod error;
mod fp16;
mod reader;
mod stl_sort;
mod writer;
mod xml;

#[cfg(test)]
mod tests;

pub use error::SerializeError;
pub use reader::{MAX_OPSET, MappedFile, read_model, read_model_from};
pub use writer::{SaveProgress, save_model, save_model_with_progress, serialize, serialize_with_progress};

/// How [`save_model`] writes a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaveOptions {
    /// Store f32/f64 weights as f16 followed by a `decompression` Convert, like `ovc` does by
    /// default (the library default is `false`, as for `ov::serialize`).
    pub compress_to_fp16: bool,
}
