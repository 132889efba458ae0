//! Graph rewrites: each a small named pass; [`run_passes`] applies a list to a fixed point.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::model::Model;

mod constant_folding;
mod dead_code;
mod unroll_if;

pub use constant_folding::ConstantFolding;
pub use dead_code::DeadCode;
pub use unroll_if::UnrollIf;

/// One named rewrite of a model.
pub trait Pass {
    /// Short name for logs and `--verbose`.
    fn name(&self) -> &'static str;
    /// Applies the rewrite once; returns whether anything changed. Must leave the model valid.
    fn run(&self, model: &mut Model) -> Result<bool>;
}

/// One run of one pass, as [`run_passes_timed`] reports it (for `ovc --verbose`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassTiming {
    /// [`Pass::name`].
    pub name: &'static str,
    /// Round of the fixed-point loop, from 1.
    pub round: usize,
    /// Wall time of this run.
    pub elapsed: Duration,
    /// Whether it changed the model.
    pub changed: bool,
    /// Nodes in the model after the run.
    pub nodes_after: usize,
}

/// Applies `passes` in order, repeatedly, until none changes the model (at most `max_rounds`).
pub fn run_passes(model: &mut Model, passes: &[&dyn Pass], max_rounds: usize) -> Result<()> {
    run_passes_timed(model, passes, max_rounds).map(|_| ())
}

/// [`run_passes`], returning every pass run with its wall time, in order.
pub fn run_passes_timed(model: &mut Model, passes: &[&dyn Pass], max_rounds: usize) -> Result<Vec<PassTiming>> {
    let mut timings = Vec::new();
    for round in 1..=max_rounds {
        let mut changed = false;
        for p in passes {
            let started = Instant::now();
            let c = p.run(model)?;
            timings.push(PassTiming {
                name: p.name(),
                round,
                elapsed: started.elapsed(),
                changed: c,
                nodes_after: model.node_count(),
            });
            changed |= c;
        }
        if !changed {
            break;
        }
    }
    Ok(timings)
}

/// The conversion pipeline every frontend runs: fold constants, inline `If`s with constant
/// conditions, then drop dead nodes.
pub fn standard_pipeline(model: &mut Model) -> Result<()> {
    standard_pipeline_with(model, &ConstantFolding::default())
}

/// [`standard_pipeline`] with a given constant folding configuration (e.g. a smaller
/// [`ConstantFolding::max_bytes`] for untrusted models).
pub fn standard_pipeline_with(model: &mut Model, fold: &ConstantFolding) -> Result<()> {
    standard_pipeline_timed(model, fold).map(|_| ())
}

/// [`standard_pipeline_with`], returning the timing of every pass run.
pub fn standard_pipeline_timed(model: &mut Model, fold: &ConstantFolding) -> Result<Vec<PassTiming>> {
    run_passes_timed(model, &[fold, &UnrollIf, &DeadCode], 8)
}
