//! Removes nodes that no Result depends on.

use super::Pass;
use crate::error::Result;
use crate::model::Model;

/// Dead-code elimination.
pub struct DeadCode;

impl Pass for DeadCode {
    fn name(&self) -> &'static str {
        "dead-code"
    }
    fn run(&self, model: &mut Model) -> Result<bool> {
        Ok(model.remove_dead_nodes() > 0)
    }
}
