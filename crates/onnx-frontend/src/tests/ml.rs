//! TfIdfVectorizer and TreeEnsemble decompositions evaluated on the reference evaluator
//! (expected values from the ONNX reference implementation).

use ir_graph::eval::graph::run_model;
use ir_graph::{Model, Tensor};

use crate::proto::TensorProto;
use crate::proto::tensor_proto::DataType;
use crate::test_support::*;

fn run(m: &Model, ins: &[Tensor]) -> Vec<f32> {
    let out = run_model(m, ins).unwrap_or_else(|e| panic!("evaluation failed: {e}"));
    out[0].values::<f32>().expect("f32").into_owned()
}

fn tfidf(mode: &'static str) -> Builder {
    Builder::new(9)
        .input(vi("x", I64, &[1, 5]))
        .node(node(
            "TfIdfVectorizer",
            &["x"],
            &["y"],
            vec![
                ("mode", A::S(mode)),
                ("min_gram_length", A::I(1)),
                ("max_gram_length", A::I(2)),
                ("max_skip_count", A::I(1)),
                ("ngram_counts", A::Is(vec![0, 2])),
                ("ngram_indexes", A::Is(vec![2, 0, 1])),
                ("pool_int64s", A::Is(vec![1, 3, 1, 2])),
                ("weights", A::Fs(vec![0.5, 2.0, 4.0])),
            ],
        ))
        .output("y")
}

/// Unigram 1 twice (column 2), unigram 3 never (column 0), bigram (1, 2) once adjacent and
/// once with one skipped token (column 1).
#[test]
fn tfidf_modes_weigh_the_counts() {
    let x = || Tensor::from_vec(vec![1, 5], vec![1i64, 9, 2, 1, 2]).expect("tensor");
    assert_eq!(run(&tfidf("TF").read_ok(), &[x()]), vec![0.0, 2.0, 2.0]);
    assert_eq!(run(&tfidf("IDF").read_ok(), &[x()]), vec![0.0, 2.0, 4.0]);
    assert_eq!(run(&tfidf("TFIDF").read_ok(), &[x()]), vec![0.0, 4.0, 8.0]);
}

/// An output column index at the top of the i64 range gives an error naming the overflowing
/// shape, not an arithmetic overflow.
#[test]
fn tfidf_with_an_absurd_output_column_is_refused() {
    let n = node(
        "TfIdfVectorizer",
        &["x"],
        &["y"],
        vec![
            ("mode", A::S("TF")),
            ("min_gram_length", A::I(1)),
            ("max_gram_length", A::I(1)),
            ("max_skip_count", A::I(0)),
            ("ngram_counts", A::Is(vec![0])),
            ("ngram_indexes", A::Is(vec![i64::MAX])),
            ("pool_int64s", A::Is(vec![1])),
        ],
    );
    let b = Builder::new(9).input(vi("x", I64, &[1, 3])).node(n).output("y");
    let bytes = prost::Message::encode_to_vec(&b.proto());
    let e = crate::convert_model_from_bytes(&bytes, "m.onnx", &Default::default()).expect_err("absurd column");
    assert!(e.to_string().contains("more bytes than any address space holds"), "{e}");
}

#[test]
fn tfidf_with_a_string_pool_is_refused() {
    let mut n = node(
        "TfIdfVectorizer",
        &["x"],
        &["y"],
        vec![
            ("mode", A::S("TF")),
            ("min_gram_length", A::I(1)),
            ("max_gram_length", A::I(1)),
            ("max_skip_count", A::I(0)),
            ("ngram_counts", A::Is(vec![0])),
            ("ngram_indexes", A::Is(vec![0])),
        ],
    );
    let mut strings = attr("pool_strings", A::S("a"));
    strings.s = None;
    strings.strings = vec![b"a".to_vec().into()];
    strings.set_type(crate::proto::attribute_proto::AttributeType::Strings);
    n.attribute.push(strings);
    let b = Builder::new(9).input(vi("x", I64, &[1, 3])).node(n).output("y");
    let e = b.read().expect_err("string pool").to_string();
    assert!(e.contains("TfIdfVectorizer") && e.contains("pool_strings is not supported"), "{e}");
}

fn raw(name: &str, data_type: DataType, dims: &[i64], bytes: Vec<u8>) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(data_type as i32),
        raw_data: Some(bytes.into()),
        ..Default::default()
    }
}

fn f32s(name: &str, v: &[f32]) -> TensorProto {
    raw(name, DataType::Float, &[v.len() as i64], v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// Two stumps: `x0 <= 1` (NaN goes true) -> leaf 0 (target 0, 1) else leaf 1 (target 1, 2);
/// `x1 > 0` -> leaf 2 (target 0, 4) else leaf 3 (target 0, 8).
fn ensemble(aggregate: i64) -> Model {
    ensemble_on(aggregate, 2).read_ok()
}

fn ensemble_on(aggregate: i64, features: i64) -> Builder {
    let mut n = node(
        "TreeEnsemble",
        &["x"],
        &["y"],
        vec![
            ("n_targets", A::I(2)),
            ("aggregate_function", A::I(aggregate)),
            ("nodes_featureids", A::Is(vec![0, 1])),
            ("nodes_modes", A::T(raw("m", DataType::Uint8, &[2], vec![0, 3]))),
            ("nodes_splits", A::T(f32s("s", &[1.0, 0.0]))),
            ("nodes_truenodeids", A::Is(vec![0, 2])),
            ("nodes_falsenodeids", A::Is(vec![1, 3])),
            ("nodes_trueleafs", A::Is(vec![1, 1])),
            ("nodes_falseleafs", A::Is(vec![1, 1])),
            ("nodes_missing_value_tracks_true", A::Is(vec![1, 0])),
            ("leaf_targetids", A::Is(vec![0, 1, 0, 0])),
            ("leaf_weights", A::T(f32s("w", &[1.0, 2.0, 4.0, 8.0]))),
            ("tree_roots", A::Is(vec![0, 1])),
        ],
    );
    n.domain = Some("ai.onnx.ml".into());
    let mut b = Builder::new(21).input(vi("x", F32, &[3, features])).node(n).output("y");
    b.opsets.push(("ai.onnx.ml".into(), 5));
    b
}

#[test]
fn tree_ensemble_feature_ids_beyond_the_input_are_refused() {
    let e = ensemble_on(1, 1).read().expect_err("feature 1 of 1").to_string();
    assert!(e.contains("TreeEnsemble") && e.contains("feature id 1 is out of range"), "{e}");
}

/// 10000 set-membership stumps, one with a set of 10000 values: the nodes x values table would
/// hold 10^8 entries, so the conversion is refused instead of allocating it.
#[test]
fn tree_ensemble_membership_table_beyond_the_limit_is_refused() {
    let nodes = 10_000usize;
    let ids = |v: i64| A::Is(vec![v; nodes]);
    let mut members: Vec<f32> = (0..nodes).map(|v| v as f32).collect();
    for _ in 1..nodes {
        members.extend([f32::NAN, 1.0]);
    }
    let mut n = node(
        "TreeEnsemble",
        &["x"],
        &["y"],
        vec![
            ("n_targets", A::I(1)),
            ("aggregate_function", A::I(1)),
            ("nodes_featureids", ids(0)),
            ("nodes_modes", A::T(raw("m", DataType::Uint8, &[nodes as i64], vec![6; nodes]))),
            ("nodes_splits", A::T(f32s("s", &vec![0.0; nodes]))),
            ("nodes_truenodeids", A::Is((0..nodes as i64).map(|i| 2 * i).collect())),
            ("nodes_falsenodeids", A::Is((0..nodes as i64).map(|i| 2 * i + 1).collect())),
            ("nodes_trueleafs", ids(1)),
            ("nodes_falseleafs", ids(1)),
            ("membership_values", A::T(f32s("mv", &members))),
            ("leaf_targetids", A::Is(vec![0; 2 * nodes])),
            ("leaf_weights", A::T(f32s("w", &vec![1.0; 2 * nodes]))),
            ("tree_roots", A::Is((0..nodes as i64).collect())),
        ],
    );
    n.domain = Some("ai.onnx.ml".into());
    let mut b = Builder::new(21).input(vi("x", F32, &[3, 1])).node(n).output("y");
    b.opsets.push(("ai.onnx.ml".into(), 5));
    let e = b.read().expect_err("huge membership table").to_string();
    assert!(e.contains("TreeEnsemble") && e.contains("set-membership table of 10000 nodes x 10000 values"), "{e}");
}

#[test]
fn tree_ensemble_aggregates_and_routes_nan() {
    let x = || Tensor::from_vec(vec![3, 2], vec![0.5f32, 1.0, f32::NAN, f32::NAN, 3.0, -1.0]).expect("tensor");
    let (big, low) = (f32::MAX, f32::MIN);
    assert_eq!(run(&ensemble(0), &[x()]), vec![2.5, 0.0, 4.5, 0.0, 4.0, 1.0]);
    assert_eq!(run(&ensemble(1), &[x()]), vec![5.0, 0.0, 9.0, 0.0, 8.0, 2.0]);
    assert_eq!(run(&ensemble(2), &[x()]), vec![1.0, big, 1.0, big, 8.0, 2.0]);
    assert_eq!(run(&ensemble(3), &[x()]), vec![4.0, low, 8.0, low, 8.0, 2.0]);
}
