//! Graph rewrites: each a small named pass; [`run_passes`] applies a list to a fixed point.

use crate::error::Result;
use crate::model::Model;

mod constant_folding;
mod dead_code;

pub use constant_folding::ConstantFolding;
pub use dead_code::DeadCode;

/// One named rewrite of a model.
pub trait Pass {
    /// Short name for logs and `--verbose`.
    fn name(&self) -> &'static str;
    /// Applies the rewrite once; returns whether anything changed. Must leave the model valid.
    fn run(&self, model: &mut Model) -> Result<bool>;
}

/// Applies `passes` in order, repeatedly, until none changes the model (at most `max_rounds`).
pub fn run_passes(model: &mut Model, passes: &[&dyn Pass], max_rounds: usize) -> Result<()> {
    for _ in 0..max_rounds {
        let mut changed = false;
        for p in passes {
            changed |= p.run(model)?;
        }
        if !changed {
            break;
        }
    }
    Ok(())
}

/// The conversion pipeline every frontend runs: fold constants, then drop dead nodes.
pub fn standard_pipeline(model: &mut Model) -> Result<()> {
    standard_pipeline_with(model, &ConstantFolding::default())
}

/// [`standard_pipeline`] with a given constant folding configuration (e.g. a smaller
/// [`ConstantFolding::max_bytes`] for untrusted models).
pub fn standard_pipeline_with(model: &mut Model, fold: &ConstantFolding) -> Result<()> {
    run_passes(model, &[fold, &DeadCode], 8)
}
