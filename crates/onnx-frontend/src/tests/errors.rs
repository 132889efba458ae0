//! Model-level errors: hostile bytes, missing pieces, unknown ops, broken graphs.

use prost::Message;

use crate::FrontendError;
use crate::test_support::*;

fn relu_model() -> Builder {
    Builder::new(13)
        .input(vi("x", F32, &[2]))
        .init(f32_raw("w", &[2], &[1.0, 2.0]))
        .node(node("Add", &["x", "w"], &["a"], vec![]))
        .node(node("Relu", &["a"], &["y"], vec![]))
        .output("y")
}

fn err_of(b: &Builder) -> String {
    match b.read() {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_and_garbage_bytes_error_without_panicking() {
    let bytes = relu_model().proto().encode_to_vec();
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("m.onnx");
    for cut in 0..bytes.len() {
        std::fs::write(&path, &bytes[..cut]).expect("write");
        // Any outcome but a panic is fine; most prefixes must be rejected.
        let _ = crate::read_onnx(&path);
    }
    std::fs::write(&path, [0xffu8; 64]).expect("write");
    assert!(matches!(crate::read_onnx(&path), Err(FrontendError::Decode { .. })));
    // Deeply nested subgraphs (graph -> node -> attribute -> graph ...) hit prost's recursion
    // limit instead of overflowing the stack.
    let field = |tag: u32, body: Vec<u8>| {
        let mut out = Vec::new();
        prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, &mut out);
        prost::encoding::encode_varint(body.len() as u64, &mut out);
        out.extend(body);
        out
    };
    let mut inner = Vec::new();
    for _ in 0..5_000 {
        inner = field(1, field(5, field(6, inner)));
    }
    std::fs::write(&path, field(7, inner)).expect("write");
    assert!(matches!(crate::read_onnx(&path), Err(FrontendError::Decode { .. })));
    let missing = dir.path().join("missing.onnx");
    assert!(matches!(crate::read_onnx(&missing), Err(FrontendError::Io { .. })));
}

#[test]
fn empty_file_has_no_graph() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("m.onnx");
    std::fs::write(&path, []).expect("write");
    let e = crate::read_onnx(&path).expect_err("error").to_string();
    assert!(e.contains("no graph"), "{e}");
}

#[test]
fn missing_opset_import() {
    let mut b = relu_model();
    b.opsets.clear();
    assert!(err_of(&b).contains("no opset import"));
    let mut b = relu_model().node(node("Foo", &["y"], &["z"], vec![]));
    b.graph.node[2].domain = Some("com.example".into());
    let e = err_of(&b);
    assert!(e.contains("com.example") && e.contains("missing opset import"), "{e}");
}

#[test]
fn unknown_op_names_op_domain_opset_and_node() {
    let mut n = node("FancyOp", &["y"], &["z"], vec![]);
    n.name = Some("fancy_1".into());
    let b = relu_model().node(n).output("z");
    let e = b.read().expect_err("error");
    assert!(matches!(e, FrontendError::UnsupportedOp { .. }));
    let msg = e.to_string();
    for part in ["FancyOp", "ai.onnx", "13", "fancy_1"] {
        assert!(msg.contains(part), "'{part}' missing in: {msg}");
    }
    // A version below every registered one.
    let b = Builder::new(8).input(vi("x", F32, &[2])).node(node("Erf", &["x"], &["y"], vec![])).output("y");
    let msg = err_of(&b);
    assert!(msg.contains("Erf") && msg.contains("opset 8") && msg.contains("oldest supported version is 9"), "{msg}");
}

#[test]
fn cycles_duplicates_and_undefined_inputs() {
    let cyc = Builder::new(13)
        .input(vi("x", F32, &[2]))
        .node(node("Add", &["x", "b"], &["a"], vec![]))
        .node(node("Relu", &["a"], &["b"], vec![]))
        .output("b");
    assert!(err_of(&cyc).contains("cycle"));
    let dup = relu_model().node(node("Sigmoid", &["x"], &["y"], vec![]));
    let e = err_of(&dup);
    assert!(e.contains("produced by two nodes"), "{e}");
    let undefined = relu_model().node(node("Add", &["y", "ghost"], &["z"], vec![])).output("z");
    let e = err_of(&undefined);
    assert!(e.contains("'ghost'") && e.contains("not a graph input"), "{e}");
    let shadow = relu_model().node(node("Relu", &["y"], &["w"], vec![]));
    assert!(err_of(&shadow).contains("already a graph input or initializer"));
    let no_out = relu_model().output("nothing");
    assert!(err_of(&no_out).contains("never produced"));
}

#[test]
fn nodes_out_of_order_are_sorted() {
    let mut b = relu_model();
    b.graph.node.reverse();
    assert!(b.read().is_ok());
}

#[test]
fn attribute_errors_are_clear() {
    let b = Builder::new(13)
        .input(vi("x", F32, &[1, 1, 4, 4]))
        .node(node("MaxPool", &["x"], &["y"], vec![("kernel_shape", A::I(2))]))
        .output("y");
    let e = err_of(&b);
    assert!(e.contains("kernel_shape") && e.contains("INTS") && e.contains("MaxPool"), "{e}");
    let b =
        Builder::new(13).input(vi("x", F32, &[1, 1, 4, 4])).node(node("MaxPool", &["x"], &["y"], vec![])).output("y");
    assert!(err_of(&b).contains("'kernel_shape' is required"));
    let b = Builder::new(13)
        .input(vi("x", F32, &[2]))
        .node(node("Cast", &["x"], &["y"], vec![("to", A::I(99))]))
        .output("y");
    assert!(err_of(&b).contains("unknown ONNX data type 99"));
}

#[test]
fn bad_tensor_sizes_are_errors() {
    let b = Builder::new(13)
        .input(vi("x", F32, &[2]))
        .init(f32_raw("w", &[3], &[1.0, 2.0]))
        .node(node("Add", &["x", "w"], &["y"], vec![]))
        .output("y");
    let e = err_of(&b);
    assert!(e.contains("tensor 'w'"), "{e}");
    let mut t = f32_raw("w", &[2], &[1.0, 2.0]);
    t.dims = vec![-2];
    let b =
        Builder::new(13).input(vi("x", F32, &[2])).init(t).node(node("Add", &["x", "w"], &["y"], vec![])).output("y");
    assert!(err_of(&b).contains("invalid dimension -2"));
    let mut t = f32_raw("w", &[2], &[1.0, 2.0]);
    t.dims = vec![i64::MAX, i64::MAX];
    let b =
        Builder::new(13).input(vi("x", F32, &[2])).init(t).node(node("Add", &["x", "w"], &["y"], vec![])).output("y");
    assert!(b.read().is_err());
}

#[test]
fn typed_tensor_fields() {
    let mut t = crate::proto::TensorProto {
        name: Some("b".into()),
        dims: vec![3],
        data_type: Some(BOOL),
        int32_data: vec![1, 0, 1],
        ..Default::default()
    };
    let loader = crate::load::TensorLoader::new(None);
    let v = loader.tensor(&t, "b").expect("bool");
    assert_eq!(v.bools().expect("bools"), vec![true, false, true]);
    t.data_type = Some(crate::proto::tensor_proto::DataType::Float16 as i32);
    t.int32_data = vec![0x3c00, 0x4000, 0xbc00];
    let v = loader.tensor(&t, "h").expect("f16");
    assert_eq!(v.to_f64_vec().expect("f64"), vec![1.0, 2.0, -1.0]);
    let strings = crate::proto::TensorProto {
        dims: vec![2],
        data_type: Some(crate::proto::tensor_proto::DataType::String as i32),
        string_data: vec!["ab".into(), "c".into()],
        ..Default::default()
    };
    assert_eq!(loader.tensor(&strings, "s").expect("s").strings().expect("strings"), vec!["ab", "c"]);
    // External data without a model folder cannot be resolved.
    let e = loader.tensor(&f32_external("e", &[1], "w.bin", None, None), "e").expect_err("error");
    assert!(e.to_string().contains("not read from a file"));
}
