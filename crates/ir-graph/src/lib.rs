//! The one shared language of the toolchain: OpenVINO's operation set as a typed graph.
//!
//! A [`Model`] holds nodes in an arena; an edge is an [`OutputRef`] (producer node, output
//! index). Every node carries an [`Op`], one typed struct per OpenVINO op version, which knows
//! its IR spelling, infers output types and shapes, and can be evaluated on [`Tensor`]s by the
//! reference evaluator (used for constant folding and as the oracle of the CPU plugin).
//!
//! ```
//! use ir_graph::{ElementType, Model, PartialShape, ops::Relu};
//! let mut m = Model::new("tiny");
//! let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[1, 4])).unwrap();
//! let r = m.add_node(Relu {}, "relu", &[x.into()]).unwrap();
//! m.add_result("relu/sink_port_0", r.into()).unwrap();
//! assert_eq!(m.port(r.into()).unwrap().shape, PartialShape::fixed(&[1, 4]));
//! ```

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod attrs;
pub mod element;
pub mod error;
pub mod eval;
pub mod model;
pub mod ops;
pub mod passes;
pub mod shape;
pub mod tensor;

pub use element::{Element, ElementType};
pub use error::{GraphError, Result};
pub use model::{Model, Node, NodeId, OutputPort, OutputRef, RtAttribute, RtValue};
pub use ops::{Op, OpSpec, OutputType};
pub use shape::{Dim, PartialShape};
pub use tensor::{ByteOwner, Bytes, Tensor};
