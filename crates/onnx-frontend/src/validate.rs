//! Structural checks of a decoded model that do not depend on any translator: opset imports,
//! graph outputs, declared types and shapes of graph inputs/outputs, sub-graph nesting depth.
//!
//! Node-order checks (cycles, dangling inputs, two producers of one tensor) happen while the
//! graph is sorted in [`crate::translate`]; tensor payloads are checked against their shapes by
//! [`crate::load::TensorLoader`].

#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::HashMap;
use std::path::Path;

use crate::error::FrontendError;
use crate::load::element_type;
use crate::proto::{GraphProto, ModelProto, ValueInfoProto, tensor_shape_proto::dimension, type_proto};
use crate::translate::{DEFAULT_DOMAIN, canonical_domain, display_name};

/// The newest default-domain (`ai.onnx`) opset this frontend knows: the one of the ONNX release
/// the conformance suite is pinned to (onnx 1.23). A model stamped with a newer opset may use
/// semantics we have never seen, so it is refused rather than converted by guesswork.
pub const MAX_KNOWN_OPSET: i64 = 28;

/// Deepest nesting of sub-graphs (`If`/`Loop`/`Scan` bodies inside bodies) that is accepted.
/// (prost refuses messages nested deeper than 100, about 32 sub-graph levels, while decoding.)
pub const MAX_SUBGRAPH_DEPTH: usize = 16;

/// Checks everything about `proto` that can be checked before translation.
pub fn check_model(proto: &ModelProto, file: &Path) -> Result<(), FrontendError> {
    let invalid = |m: String| FrontendError::InvalidModel { file: file.to_path_buf(), message: m };
    let graph = proto.graph.as_ref().ok_or_else(|| invalid("the model has no graph".into()))?;
    if proto.opset_import.is_empty() {
        return Err(invalid("the model has no opset import".into()));
    }
    let mut seen: HashMap<&str, i64> = HashMap::new();
    for o in &proto.opset_import {
        let domain = canonical_domain(o.domain());
        let version = o.version();
        if let Some(&previous) = seen.get(domain)
            && previous != version
        {
            return Err(invalid(format!(
                "domain '{domain}' is imported twice, with opset versions {previous} and {version}"
            )));
        }
        seen.insert(domain, version);
        if domain == DEFAULT_DOMAIN {
            if version < 1 {
                return Err(invalid(format!("opset import of domain '{domain}' has invalid version {version}")));
            }
            if version > MAX_KNOWN_OPSET {
                return Err(invalid(format!(
                    "the model imports opset {version} of domain '{domain}', which is newer than any this converter \
                     knows (the newest is {MAX_KNOWN_OPSET})"
                )));
            }
        } else if version < 1 {
            return Err(invalid(format!("opset import of domain '{domain}' has invalid version {version}")));
        }
    }
    if graph.node.is_empty() && graph.output.is_empty() {
        return Err(invalid("the graph is empty: it has no nodes and no outputs".into()));
    }
    if graph.output.is_empty() {
        return Err(invalid("the graph has no outputs".into()));
    }
    for (i, o) in graph.output.iter().enumerate() {
        if o.name().is_empty() {
            return Err(invalid(format!("graph output #{i} has no name")));
        }
    }
    for v in &graph.input {
        check_value_info(v, "graph input").map_err(invalid)?;
    }
    for v in &graph.output {
        check_value_info(v, "graph output").map_err(invalid)?;
    }
    for (i, n) in graph.node.iter().enumerate() {
        if n.op_type().is_empty() {
            return Err(invalid(format!("node #{i} ('{}') has no op_type", display_name(n))));
        }
    }
    check_depth(graph).map_err(invalid)
}

/// Declared element type and dims of a graph input/output must be meaningful.
fn check_value_info(v: &ValueInfoProto, what: &str) -> Result<(), String> {
    let name = v.name();
    let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Ok(());
    };
    if let Some(e) = t.elem_type {
        element_type(e).map_err(|m| format!("{what} '{name}': {m}"))?;
    }
    let Some(shape) = &t.shape else { return Ok(()) };
    let mut numel: u64 = 1;
    for d in &shape.dim {
        if let Some(dimension::Value::DimValue(n)) = d.value {
            if n < 0 {
                return Err(format!("{what} '{name}' has a negative dimension {n}"));
            }
            // Unsigned: an absurd (but representable) element count is fine as a declaration;
            // only products that do not fit 64 bits are refused.
            numel = numel.checked_mul(n as u64).ok_or_else(|| {
                format!("{what} '{name}' has a shape whose element count overflows 64 bits ({:?})", dims_of(v))
            })?;
        }
    }
    Ok(())
}

fn dims_of(v: &ValueInfoProto) -> Vec<String> {
    let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Vec::new();
    };
    t.shape
        .iter()
        .flat_map(|s| &s.dim)
        .map(|d| match &d.value {
            Some(dimension::Value::DimValue(n)) => n.to_string(),
            Some(dimension::Value::DimParam(p)) => p.clone(),
            None => "?".into(),
        })
        .collect()
}

/// Sub-graph nesting is bounded, iteratively (a hostile depth cannot overflow our stack).
fn check_depth(graph: &GraphProto) -> Result<(), String> {
    let mut stack: Vec<(&GraphProto, usize)> = vec![(graph, 0)];
    while let Some((g, depth)) = stack.pop() {
        for n in &g.node {
            for a in &n.attribute {
                for sub in a.g.iter().chain(&a.graphs) {
                    if depth + 1 > MAX_SUBGRAPH_DEPTH {
                        return Err(format!(
                            "sub-graphs are nested more than {MAX_SUBGRAPH_DEPTH} levels deep (attribute '{}' of node \
                             '{}' ({}))",
                            a.name(),
                            display_name(n),
                            n.op_type()
                        ));
                    }
                    stack.push((sub, depth + 1));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{NodeProto, OperatorSetIdProto, ValueInfoProto};
    use crate::test_support::{F32, value_info};

    fn check(m: &ModelProto) -> String {
        check_model(m, Path::new("m.onnx")).err().map(|e| e.to_string()).unwrap_or_default()
    }

    fn base() -> ModelProto {
        ModelProto {
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(13) }],
            graph: Some(GraphProto {
                input: vec![value_info("x", F32, &[Some(2)])],
                node: vec![NodeProto {
                    op_type: Some("Relu".into()),
                    input: vec!["x".into()],
                    output: vec!["y".into()],
                    ..Default::default()
                }],
                output: vec![value_info("y", F32, &[Some(2)])],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn opset_imports() {
        assert_eq!(check(&base()), "");
        let mut m = base();
        m.opset_import[0].version = Some(MAX_KNOWN_OPSET + 1);
        assert!(check(&m).contains(&format!("opset {}", MAX_KNOWN_OPSET + 1)));
        m.opset_import[0].version = Some(0);
        assert!(check(&m).contains("invalid version 0"));
        let mut m = base();
        m.opset_import.push(OperatorSetIdProto { domain: Some("ai.onnx".into()), version: Some(11) });
        assert!(check(&m).contains("imported twice"));
    }

    #[test]
    fn empty_graphs_and_bad_declarations() {
        let mut m = base();
        m.graph = Some(GraphProto::default());
        assert!(check(&m).contains("the graph is empty"));
        let mut m = base();
        if let Some(g) = m.graph.as_mut() {
            g.output.clear();
        }
        assert!(check(&m).contains("no outputs"));
        let mut m = base();
        let neg: ValueInfoProto = value_info("x", F32, &[Some(-3)]);
        if let Some(g) = m.graph.as_mut() {
            g.input = vec![neg];
        }
        assert!(check(&m).contains("negative dimension -3"));
        let mut m = base();
        if let Some(g) = m.graph.as_mut() {
            g.input = vec![value_info("x", F32, &[Some(1 << 40), Some(1 << 40)])];
        }
        assert!(check(&m).contains("overflows"));
        let mut m = base();
        if let Some(g) = m.graph.as_mut() {
            g.output = vec![value_info("y", 99, &[Some(2)])];
        }
        assert!(check(&m).contains("unknown ONNX data type 99"));
    }
}
