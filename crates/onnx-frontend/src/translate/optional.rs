//! Optional values. IR has no optional type, so an optional is resolved at conversion time:
//! a present input is a plain tensor (or a sequence resolved the same way) and an absent one is
//! known to be empty.

use ir_graph::{OutputRef, Tensor};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    r.register("", "Optional", &[15], wrap);
    r.register("", "OptionalHasElement", &[15, 18], has_element);
    r.register("", "OptionalGetElement", &[15, 18], get_element);
}

fn wrap(c: &mut NodeContext<'_>) -> R {
    if c.opt_sequence_input(0).is_some() {
        return super::sequence::identity(c);
    }
    match c.opt_input(0) {
        Some(x) => Ok(vec![x]),
        None => Err(c.error("an empty optional cannot be expressed in IR (it has no optional type)")),
    }
}

/// Whether the input holds a value: decided here, since only tensors reach this point.
fn has_element(c: &mut NodeContext<'_>) -> R {
    let present = c.opt_input(0).is_some() || c.opt_sequence_input(0).is_some();
    let t = Tensor::from_bools(vec![], &[present]).map_err(|e| c.error(e.to_string()))?;
    Ok(vec![c.constant(t)?])
}

fn get_element(c: &mut NodeContext<'_>) -> R {
    if c.opt_sequence_input(0).is_some() {
        return super::sequence::identity(c);
    }
    match c.opt_input(0) {
        Some(x) => Ok(vec![x]),
        None => Err(c.error("the optional input is empty")),
    }
}
