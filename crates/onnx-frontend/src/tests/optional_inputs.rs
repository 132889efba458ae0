//! Graph inputs declared `optional(tensor)` become required tensor Parameters; optional
//! sequences and optional outputs stay refused.

use ir_graph::eval::graph::run_model;
use ir_graph::{ElementType, PartialShape, Tensor};

use crate::proto::{TypeProto, ValueInfoProto, type_proto};
use crate::test_support::*;

/// `v` with its type wrapped in `optional(...)`.
fn optional(v: ValueInfoProto) -> ValueInfoProto {
    let inner = v.r#type.clone().map(Box::new);
    ValueInfoProto {
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::OptionalType(Box::new(type_proto::Optional { elem_type: inner }))),
            ..Default::default()
        }),
        ..v
    }
}

/// A `sequence(tensor)` value info.
fn sequence_of(v: ValueInfoProto) -> ValueInfoProto {
    let inner = v.r#type.clone().map(Box::new);
    ValueInfoProto {
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::SequenceType(Box::new(type_proto::Sequence { elem_type: inner }))),
            ..Default::default()
        }),
        ..v
    }
}

fn has_and_get(opset: i64) -> Builder {
    Builder::new(opset)
        .input(optional(vi("x", F32, &[2, 3])))
        .node(node("OptionalHasElement", &["x"], &["has"], vec![]))
        .node(node("OptionalGetElement", &["x"], &["y"], vec![]))
        .output("has")
        .output("y")
}

#[test]
fn an_optional_tensor_input_is_a_tensor_parameter_that_holds_an_element() {
    for opset in [15, 18] {
        let m = has_and_get(opset).read_ok();
        let p = m.node(m.parameters()[0]).expect("parameter");
        assert_eq!(m.parameters().len(), 1);
        let port = m.port(ir_graph::OutputRef::from(m.parameters()[0])).expect("port");
        assert_eq!(port.element_type, ElementType::F32);
        assert_eq!(port.shape, PartialShape::fixed(&[2, 3]));
        assert_eq!(p.name, "x");
        let x = Tensor::from_vec(vec![2, 3], vec![1f32, -2., 3., -4., 5., 6.]).expect("x");
        let out = run_model(&m, std::slice::from_ref(&x)).unwrap_or_else(|e| panic!("evaluation failed: {e}"));
        assert_eq!(out[0].bools().expect("bool"), vec![true]);
        assert_eq!(out[1].values::<f32>().expect("f32").into_owned(), x.values::<f32>().expect("f32").into_owned());
    }
}

#[test]
fn the_conversion_report_says_the_optional_input_became_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = has_and_get(18).write(dir.path());
    let (_, report) = crate::convert_model_timed(&path, &crate::ConvertOptions::default()).expect("convert");
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(report.notes[0].contains("'x'") && report.notes[0].contains("required tensor input"), "{:?}", report.notes);
    let plain = Builder::new(18).input(vi("x", F32, &[2])).node(node("Relu", &["x"], &["y"], vec![])).output("y");
    let path = plain.write(dir.path());
    let (_, report) = crate::convert_model_timed(&path, &crate::ConvertOptions::default()).expect("convert");
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}

#[test]
fn optional_sequence_inputs_stay_refused() {
    let b = Builder::new(18)
        .input(optional(sequence_of(vi("s", F32, &[2]))))
        .node(node("OptionalHasElement", &["s"], &["has"], vec![]))
        .output("has");
    let e = match b.read() {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("graph input 's'") && e.contains("only tensor inputs are supported"), "{e}");
}
