//! String ops (`StringNormalizer`, `StringConcat`, `StringSplit`, `RegexFullMatch`) and
//! `ai.onnx.ml` `LabelEncoder`, onto our own `onnx_ext1` ops (OpenVINO has none of them).
//!
//! String attributes (stop words, delimiter, pattern, keys and values) become string Const
//! inputs of those ops.

use ir_graph::ops::{self, CaseChange};
use ir_graph::{ElementType, OutputRef, Tensor};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    r.register("", "StringNormalizer", &[10], string_normalizer);
    r.register("", "StringConcat", &[20], string_concat);
    r.register("", "StringSplit", &[20], string_split);
    r.register("", "RegexFullMatch", &[20], regex_full_match);
    r.register("ai.onnx.ml", "LabelEncoder", &[1, 2, 4], label_encoder);
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

/// The one list among `{prefix}_strings`, `{prefix}_int64s`, `{prefix}_floats` (and, from opset
/// 4, `{prefix}_tensor`) that is set, as a 1-D tensor.
fn table_attr(c: &NodeContext<'_>, prefix: &str) -> Result<Tensor, FrontendError> {
    let mut found = Vec::new();
    if let Some(v) = c.attr_strings(&format!("{prefix}_strings"))? {
        found.push(strings(c, vec![v.len()], &v)?);
    }
    if let Some(v) = c.attr_ints(&format!("{prefix}_int64s"))? {
        found.push(Tensor::from_vec(vec![v.len()], v).map_err(|e| c.error(e.to_string()))?);
    }
    if let Some(v) = c.attr_floats(&format!("{prefix}_floats"))? {
        found.push(Tensor::from_vec(vec![v.len()], v).map_err(|e| c.error(e.to_string()))?);
    }
    if c.opset() >= 4
        && let Some(t) = c.attr_tensor(&format!("{prefix}_tensor"))?
    {
        let n = t.numel();
        found.push(t.reshaped(vec![n]).map_err(|e| c.error(e.to_string()))?);
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(c.error(format!("one of the '{prefix}_*' attributes is required"))),
        _ => Err(c.error(format!("only one of the '{prefix}_*' attributes may be set"))),
    }
}

/// The default value for `et` values: `default_tensor` (opset 4) or the `default_*` attribute
/// of that type, with ONNX's defaults (`"_Unused"`, -1, -0.0).
fn default_value(c: &NodeContext<'_>, et: ElementType) -> Result<Tensor, FrontendError> {
    if c.opset() >= 4
        && let Some(t) = c.attr_tensor("default_tensor")?
    {
        if t.numel() != 1 || t.element_type() != et {
            return Err(c.error(format!(
                "default_tensor must be one {et} value, got {} of shape {:?}",
                t.element_type(),
                t.shape()
            )));
        }
        return t.reshaped(vec![]).map_err(|e| c.error(e.to_string()));
    }
    let bad = |e: ir_graph::GraphError| c.error(e.to_string());
    match et {
        ElementType::String => strings(c, vec![], &[c.attr_string("default_string", "_Unused")?]),
        ElementType::F32 => Ok(Tensor::scalar(c.attr_float("default_float", -0.0)?)),
        ElementType::F64 => Ok(Tensor::scalar(f64::from(c.attr_float("default_float", -0.0)?))),
        ElementType::I64 => Ok(Tensor::scalar(c.attr_int("default_int64", -1)?)),
        ElementType::I32 => Tensor::from_vec(vec![], vec![-1i32]).map_err(bad),
        ElementType::I16 => Tensor::from_vec(vec![], vec![-1i16]).map_err(bad),
        other => Err(c.error(format!("values of type {other} are not supported"))),
    }
}

fn label_encoder(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let xt = c.element_type(x);
    let (keys, values, default) = if c.opset() < 2 {
        // Opset 1: strings <-> their index in `classes_strings`, by the input's type.
        let classes = c.attr_strings("classes_strings")?.unwrap_or_default();
        let labels = strings(c, vec![classes.len()], &classes)?;
        let n = i64::try_from(classes.len()).map_err(|_| c.error("too many classes"))?;
        let index = Tensor::from_vec(vec![classes.len()], (0..n).collect()).map_err(|e| c.error(e.to_string()))?;
        if xt == ElementType::String {
            (labels, index, Tensor::scalar(c.attr_int("default_int64", -1)?))
        } else {
            let d = strings(c, vec![], &[c.attr_string("default_string", "_Unused")?])?;
            (index, labels, d)
        }
    } else {
        let keys = table_attr(c, "keys")?;
        let values = table_attr(c, "values")?;
        let default = default_value(c, values.element_type())?;
        (keys, values, default)
    };
    if keys.numel() != values.numel() {
        return Err(c.error(format!("{} keys but {} values", keys.numel(), values.numel())));
    }
    if xt != ElementType::Dynamic && xt != keys.element_type() {
        return Err(c.error(format!("the input is {xt} but the keys are {}", keys.element_type())));
    }
    let k = c.constant(keys)?;
    let v = c.constant(values)?;
    let d = c.constant(default)?;
    Ok(vec![c.add(ops::LabelEncoder {}, &[x, k, v, d])?])
}
