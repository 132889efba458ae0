//! String ops and `LabelEncoder`: attributes become Const inputs of the `onnx_ext1` ops.

use ir_graph::{Model, Tensor};

use crate::proto::{AttributeProto, attribute_proto::AttributeType, tensor_proto::DataType};
use crate::test_support::*;

const STRING: i32 = DataType::String as i32;

fn strings_attr(name: &str, v: &[&str]) -> AttributeProto {
    let mut a = AttributeProto { name: Some(name.into()), ..Default::default() };
    a.strings = v.iter().map(|s| bytes::Bytes::copy_from_slice(s.as_bytes())).collect();
    a.set_type(AttributeType::Strings);
    a
}

fn strs(v: &[&str]) -> Tensor {
    let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    Tensor::from_strings(vec![v.len()], &v).expect("strings")
}

/// Runs the model's single op on `x`, its other inputs being the Consts the frontend made.
fn run_single_op(m: &Model, type_name: &str, x: Tensor) -> Vec<Tensor> {
    let (_, n) = m.nodes().find(|(_, n)| n.op.type_name() == type_name).expect("op");
    let mut inputs = vec![x];
    inputs.extend(n.inputs[1..].iter().map(|&i| m.const_value(i).expect("const input").clone()));
    n.op.evaluate(&inputs).expect("evaluate")
}

#[test]
fn normalizer_stop_words_are_a_const_input() {
    let mut n = node("StringNormalizer", &["x"], &["y"], vec![("case_change_action", A::S("LOWER"))]);
    n.attribute.push(strings_attr("stopwords", &["A"]));
    let m = Builder::new(10).input(vi("x", STRING, &[3])).node(n).output("y").read_ok();
    let y = run_single_op(&m, "StringNormalizer", strs(&["a", "A", "Bé"]));
    // Case-insensitive by default: the stop word "A" drops "a" too.
    assert_eq!(y[0].strings().expect("strings"), vec!["bé"]);
    let n = node("StringNormalizer", &["x"], &["y"], vec![("case_change_action", A::S("TITLE"))]);
    let e = Builder::new(10).input(vi("x", STRING, &[1])).node(n).output("y").read().expect_err("bad case").to_string();
    assert!(e.contains("case_change_action 'TITLE'"), "{e}");
}

#[test]
fn concat_needs_strings() {
    let n = node("StringConcat", &["x", "x"], &["y"], vec![]);
    let m = Builder::new(20).input(vi("x", STRING, &[2])).node(n.clone()).output("y").read_ok();
    let (_, c) = m.nodes().find(|(_, n)| n.op.type_name() == "StringConcat").expect("op");
    let y = c.op.evaluate(&[strs(&["a", "b"]), strs(&["c", "d"])]).expect("evaluate");
    assert_eq!(y[0].strings().expect("strings"), vec!["ac", "bd"]);
    let e = Builder::new(20).input(vi("x", F32, &[1])).node(n).output("y").read().expect_err("floats").to_string();
    assert!(e.contains("must be a string tensor"), "{e}");
}

#[test]
fn split_delimiter_is_a_const_input() {
    let n = node("StringSplit", &["x"], &["p", "c"], vec![("delimiter", A::S(", ")), ("maxsplit", A::I(1))]);
    let m = Builder::new(20).input(vi("x", STRING, &[3])).node(n).output("p").output("c").read_ok();
    let y = run_single_op(&m, "StringSplit", strs(&["a, b, c", "", "d"]));
    assert_eq!(y[0].strings().expect("strings"), vec!["a", "b, c", "", "", "d", ""]);
    assert_eq!(&*y[1].values::<i64>().expect("i64"), &[2, 1, 1]);
    let n = node("StringSplit", &["x"], &["p", "c"], vec![("maxsplit", A::I(-1))]);
    let e = Builder::new(20).input(vi("x", STRING, &[1])).node(n).output("p").read().expect_err("negative").to_string();
    assert!(e.contains("maxsplit must not be negative"), "{e}");
}

#[test]
fn regex_pattern_is_a_const_input_checked_at_conversion() {
    let n = node("RegexFullMatch", &["x"], &["y"], vec![("pattern", A::S(r"\d+"))]);
    let m = Builder::new(20).input(vi("x", STRING, &[3])).node(n).output("y").read_ok();
    let y = run_single_op(&m, "RegexFullMatch", strs(&["12", "1a", ""]));
    assert_eq!(y[0].bools().expect("bools"), vec![true, false, false]);
    let n = node("RegexFullMatch", &["x"], &["y"], vec![("pattern", A::S("(a"))]);
    let e =
        Builder::new(20).input(vi("x", STRING, &[1])).node(n).output("y").read().expect_err("bad regex").to_string();
    assert!(e.contains("invalid regular expression '(a'") && e.contains("RegexFullMatch"), "{e}");
}
