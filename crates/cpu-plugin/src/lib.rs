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
//! ```no_run
//! # fn demo(model: &ir_graph::Model, x: ir_graph::Tensor) -> Result<(), cpu_plugin::PluginError> {
//! let compiled = cpu_plugin::compile_model(model, &cpu_plugin::Config::default())?;
//! let mut request = compiled.create_infer_request();
//! let outputs = request.infer(&[x])?;
//! # let _ = outputs; Ok(()) }
//! ```

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
