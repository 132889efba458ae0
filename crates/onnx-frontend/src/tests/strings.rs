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

/// A model of one `ai.onnx.ml` `LabelEncoder` node at `opset` on input `x` of type `elem`.
fn label_encoder(opset: i64, elem: i32, attrs: Vec<AttributeProto>) -> Builder {
    let mut n = node("LabelEncoder", &["x"], &["y"], vec![]);
    n.domain = Some("ai.onnx.ml".into());
    n.attribute = attrs;
    let mut b = Builder::new(13).input(vi("x", elem, &[3])).node(n).output("y");
    b.opsets.push(("ai.onnx.ml".into(), opset));
    b
}

#[test]
fn label_encoder_1_maps_strings_to_indices_and_back() {
    let b =
        label_encoder(1, STRING, vec![strings_attr("classes_strings", &["a", "b"]), attr("default_int64", A::I(7))]);
    let y = run_single_op(&b.read_ok(), "LabelEncoder", strs(&["b", "z", "a"]));
    assert_eq!(&*y[0].values::<i64>().expect("i64"), &[1, 7, 0]);

    let b = label_encoder(1, I64, vec![strings_attr("classes_strings", &["a", "b"])]);
    let x = Tensor::from_vec(vec![3], vec![1i64, 5, 0]).expect("x");
    let y = run_single_op(&b.read_ok(), "LabelEncoder", x);
    assert_eq!(y[0].strings().expect("strings"), vec!["b", "_Unused", "a"]);
}

#[test]
fn label_encoder_2_float_keys_and_defaults() {
    let attrs = vec![
        attr("keys_floats", A::Fs(vec![0.5, f32::NAN])),
        strings_attr("values_strings", &["half", "nan"]),
        attr("default_string", A::S("?")),
    ];
    let m = label_encoder(2, F32, attrs).read_ok();
    let x = Tensor::from_vec(vec![3], vec![f32::NAN, 0.5, 2.0]).expect("x");
    assert_eq!(run_single_op(&m, "LabelEncoder", x)[0].strings().expect("strings"), vec!["nan", "half", "?"]);

    // Without default_float the default is -0.0.
    let attrs = vec![attr("keys_int64s", A::Is(vec![3])), attr("values_floats", A::Fs(vec![1.5]))];
    let m = label_encoder(2, I64, attrs).read_ok();
    let y = run_single_op(&m, "LabelEncoder", Tensor::from_vec(vec![3], vec![3i64, 4, 3]).expect("x"));
    let y = y[0].values::<f32>().expect("f32");
    assert_eq!((y[0], y[2]), (1.5, 1.5));
    assert!(y[1] == 0.0 && y[1].is_sign_negative());
}

#[test]
fn label_encoder_errors_name_the_problem() {
    let keys_only = label_encoder(2, STRING, vec![strings_attr("keys_strings", &["a"])]);
    let e = keys_only.read().expect_err("no values").to_string();
    assert!(e.contains("'values_*'") && e.contains("LabelEncoder"), "{e}");
    let both = vec![
        strings_attr("keys_strings", &["a"]),
        attr("keys_int64s", A::Is(vec![1])),
        attr("values_int64s", A::Is(vec![1])),
    ];
    let e = label_encoder(2, STRING, both).read().expect_err("two key lists").to_string();
    assert!(e.contains("only one of the 'keys_*'"), "{e}");
    let mismatch = vec![attr("keys_int64s", A::Is(vec![1])), attr("values_int64s", A::Is(vec![1]))];
    let e = label_encoder(2, STRING, mismatch).read().expect_err("type mismatch").to_string();
    assert!(e.contains("the input is string but the keys are i64"), "{e}");
}
