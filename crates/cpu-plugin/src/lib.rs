//! CPU runtime for `ir_graph` models, mirroring OpenVINO's CPU plugin.
//!
//! [`compile_model`] copies and lowers a model: f16/bf16 weights feeding a decompression
//! `Convert` are decompressed once, constant subgraphs are folded, Convolution/GroupConvolution
//! absorb per-channel bias/scale/BatchNorm and a ReLU/Clamp, MatMul with constant weights
//! becomes a fully-connected step with pre-packed weights, and the remaining ops get a fast
//! kernel when one applies (pooling, broadcast element-wise, softmax, concat, transpose,
//! reshape-as-view) or fall back to the reference evaluator `Op::evaluate`. For static shapes,
//! intermediate f32 tensors live in arena buffers assigned by lifetime, so a request reuses its
//! memory across inferences. Dynamic shapes are re-inferred and re-planned per input shape
//! (cached).
//!
//! ```
//! use ir_graph::{Dim, ElementType, Model, PartialShape, Tensor, ops::Relu};
//!
//! // y = Relu(x), x: f32[?, 4]: one compiled model runs every batch size.
//! let mut model = Model::new("relu");
//! let shape = PartialShape::Ranked(vec![Dim::DYNAMIC, Dim::fixed(4)]);
//! let x = model.add_parameter("x", ElementType::F32, shape)?;
//! let y = model.add_node(Relu {}, "y", &[x.into()])?;
//! model.add_result("y/sink_port_0", y.into())?;
//!
//! let compiled = cpu_plugin::compile_model(&model, &cpu_plugin::Config::default())?;
//! let mut request = compiled.create_infer_request();
//! for batch in [1, 3] {
//!     let values: Vec<f32> = (0..batch * 4).map(|i| i as f32 - 5.0).collect();
//!     let outputs = request.infer(&[Tensor::from_vec(vec![batch, 4], values.clone())?])?;
//!     assert_eq!(outputs[0].shape(), &[batch, 4]);
//!     let want: Vec<f32> = values.iter().map(|v| v.max(0.0)).collect();
//!     assert_eq!(outputs[0].values::<f32>()?.as_ref(), want.as_slice());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Models come from untrusted files: library code reports errors instead of panicking.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod compiled;
mod config;
mod error;
mod interp;
pub mod kernels;
mod lower;
mod plan;
mod steps;

pub use compiled::{CompiledModel, InferRequest, PortInfo, ProfileEntry, compile_model};
pub use config::{Config, PerformanceHint};
pub use error::{PluginError, Result};
pub use interp::reference_infer;
