//! The hostile-input suite (issue 7): every kind of broken or malicious model we know of, built
//! in a temporary folder, run through the real tools (`ovc`, `benchmark_app`) or the library
//! entry points, checking for
//!
//! - a clean failure: exit code 1 (2 for usage errors), never a panic or a backtrace;
//! - one clear paragraph on stderr naming the problem (file, node, op, tensor, value);
//! - nothing half-written: the output folder is still empty after a failed conversion;
//! - bounded memory: the tools run under `ulimit -v` (address-space limit), in-process cases
//!   check the process's peak resident size.
//!
//! `onnx.rs` holds the ONNX cases, `ir.rs` the IR reader cases, `cli.rs` the command-line ones.

mod cli;
mod common;
mod ir;
mod onnx;
