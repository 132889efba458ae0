//! String ops (`StringNormalizer`, `StringConcat`, `StringSplit`, `RegexFullMatch`) and
//! `ai.onnx.ml` `LabelEncoder`, onto our own `onnx_ext1` ops (OpenVINO has none of them).
//!
//! String attributes (stop words, delimiter, pattern, keys and values) become string Const
//! inputs of those ops.

use ir_graph::ops::{self, CaseChange};
use ir_graph::{OutputRef, Tensor};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    r.register("", "StringNormalizer", &[10], string_normalizer);
    r.register("", "StringConcat", &[20], string_concat);
    r.register("", "StringSplit", &[20], string_split);
    r.register("", "RegexFullMatch", &[20], regex_full_match);
}

fn strings(c: &NodeContext<'_>, shape: Vec<usize>, v: &[String]) -> Result<Tensor, FrontendError> {
    Tensor::from_strings(shape, v).map_err(|e| c.error(e.to_string()))
}

fn string_const(c: &mut NodeContext<'_>, s: &str) -> Result<OutputRef, FrontendError> {
    let t = strings(c, vec![], &[s.to_string()])?;
    c.constant(t)
}

/// `locale` is accepted and ignored: case mappings are Unicode's default ones whatever the
/// locale, so results do not depend on the machine.
fn string_normalizer(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let case_change_action = match c.attr_string("case_change_action", "NONE")?.as_str() {
        "NONE" => CaseChange::None,
        "LOWER" => CaseChange::Lower,
        "UPPER" => CaseChange::Upper,
        other => return Err(c.error(format!("case_change_action '{other}' is not NONE, LOWER or UPPER"))),
    };
    let is_case_sensitive = c.attr_int("is_case_sensitive", 0)? != 0;
    let stops = c.attr_strings("stopwords")?.unwrap_or_default();
    let stops = strings(c, vec![stops.len()], &stops)?;
    let stops = c.constant(stops)?;
    Ok(vec![c.add(ops::StringNormalizer { case_change_action, is_case_sensitive }, &[x, stops])?])
}

fn string_concat(c: &mut NodeContext<'_>) -> R {
    let (x, y) = (c.input(0)?, c.input(1)?);
    Ok(vec![c.add(ops::StringConcat {}, &[x, y])?])
}

fn string_split(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let delimiter = c.attr_string("delimiter", "")?;
    let maxsplit = match c.attr_int_opt("maxsplit")? {
        Some(m) if m < 0 => return Err(c.error(format!("maxsplit must not be negative, got {m}"))),
        Some(m) => m,
        None => -1,
    };
    let d = string_const(c, &delimiter)?;
    let n = c.add_node(ops::StringSplit { maxsplit }, &[x, d])?;
    Ok(vec![OutputRef::new(n, 0), OutputRef::new(n, 1)])
}

fn regex_full_match(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let pattern = c.attr_string("pattern", "")?;
    if !c.has_attr("pattern") {
        return Err(c.error("attribute 'pattern' is required"));
    }
    // A bad pattern fails at conversion rather than at the first inference.
    ir_graph::eval::strings::compile_re2(&pattern).map_err(|e| c.error(e.to_string()))?;
    let p = string_const(c, &pattern)?;
    Ok(vec![c.add(ops::RegexFullMatch {}, &[x, p])?])
}
