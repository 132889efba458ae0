//! Bad ONNX models through `ovc`.

use onnx_frontend::proto::{GraphProto, SparseTensorProto, TensorProto, TypeProto, ValueInfoProto, type_proto};
use prost::Message;

use crate::common::*;

fn ovc_on(m: &onnx_frontend::proto::ModelProto) -> Outcome {
    let w = Work::new();
    let p = w.write_model("m.onnx", m);
    w.ovc(&p, &[])
}

// ----- bytes that are not a model -----

#[test]
fn sanity_the_base_model_converts() {
    let w = Work::new();
    let p = w.write_model("m.onnx", &good_model());
    let o = w.ovc(&p, &[]);
    o.succeeded();
    assert_eq!(o.leftovers.len(), 2, "{:?}", o.leftovers);
}

#[test]
fn empty_file() {
    let w = Work::new();
    let p = w.write("m.onnx", []);
    w.ovc(&p, &[]).failed_with(&["m.onnx", "no graph"]);
}

#[test]
fn garbage_bytes() {
    let w = Work::new();
    let p = w.write("m.onnx", [0xffu8; 300]);
    w.ovc(&p, &[]).failed_with(&["m.onnx", "is not a valid ONNX model"]);
}

#[test]
fn truncated_model() {
    let w = Work::new();
    let bytes = good_model().encode_to_vec();
    let p = w.write("m.onnx", &bytes[..bytes.len() - 7]);
    w.ovc(&p, &[]).failed_with(&["m.onnx"]);
}

#[test]
fn a_folder_instead_of_a_file() {
    let w = Work::new();
    std::fs::create_dir(w.path("m.onnx")).expect("dir");
    w.ovc(&w.path("m.onnx"), &[]).failed_with(&["m.onnx"]);
}

#[test]
fn protobuf_nesting_bomb() {
    // graph -> node -> attribute -> graph ... 5000 levels deep: prost's recursion limit, not
    // our stack, ends it.
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
    let w = Work::new();
    let p = w.write("m.onnx", field(7, inner));
    w.ovc(&p, &[]).failed_with(&["is not a valid ONNX model", "recursion"]);
}

#[test]
fn subgraphs_nested_too_deep() {
    // Decodable (below prost's limit) but deeper than we accept.
    let mut g = good_graph();
    for _ in 0..20 {
        let n = with_attr(node("If", &["c"], &["y"]), attr_graph("then_branch", g));
        g = GraphProto { name: Some("g".into()), node: vec![n], output: vec![vi("y", &[2])], ..Default::default() };
    }
    ovc_on(&model(g)).failed_with(&["nested more than 16 levels", "then_branch"]);
}

// ----- model-level structure -----

#[test]
fn model_without_graph() {
    let mut m = good_model();
    m.graph = None;
    ovc_on(&m).failed_with(&["no graph"]);
}

#[test]
fn missing_opset_import() {
    let mut m = good_model();
    m.opset_import.clear();
    ovc_on(&m).failed_with(&["no opset import"]);
}

#[test]
fn opset_newer_than_any_known() {
    let mut m = good_model();
    m.opset_import = vec![opset("", 99)];
    ovc_on(&m).failed_with(&["opset 99", "ai.onnx", "newer than any"]);
}

#[test]
fn opset_version_zero() {
    let mut m = good_model();
    m.opset_import = vec![opset("ai.onnx", 0)];
    ovc_on(&m).failed_with(&["invalid version 0"]);
}

#[test]
fn conflicting_opset_imports() {
    let mut m = good_model();
    m.opset_import = vec![opset("", 13), opset("ai.onnx", 17)];
    ovc_on(&m).failed_with(&["imported twice", "13", "17"]);
}

#[test]
fn domain_without_opset_import() {
    let mut m = good_model();
    let g = m.graph.as_mut().expect("graph");
    g.node[1].domain = Some("com.example".into());
    ovc_on(&m).failed_with(&["com.example", "missing opset import", "Relu_y"]);
}

#[test]
fn unknown_op() {
    let mut m = good_model();
    m.graph.as_mut().expect("graph").node[1].op_type = Some("FancyOp".into());
    ovc_on(&m).failed_with(&["FancyOp", "ai.onnx", "opset 13", "Relu_y"]);
}

#[test]
fn op_older_than_any_translator() {
    let mut m = good_model();
    m.opset_import = vec![opset("", 8)];
    m.graph.as_mut().expect("graph").node[1].op_type = Some("Erf".into());
    ovc_on(&m).failed_with(&["Erf", "opset 8", "oldest supported version is 9"]);
}

#[test]
fn node_without_op_type() {
    let mut m = good_model();
    m.graph.as_mut().expect("graph").node[1].op_type = None;
    ovc_on(&m).failed_with(&["has no op_type", "Relu_y"]);
}

// ----- graph structure -----

#[test]
fn cycle() {
    let mut m = good_model();
    let g = m.graph.as_mut().expect("graph");
    g.node[0].input[1] = "y".into();
    g.initializer.clear();
    ovc_on(&m).failed_with(&["cycle", "Add_a", "Relu_y"]);
}

#[test]
fn dangling_input() {
    let mut m = good_model();
    m.graph.as_mut().expect("graph").node[1].input[0] = "ghost".into();
    ovc_on(&m).failed_with(&["'ghost'", "Relu_y", "not a graph input"]);
}

#[test]
fn two_producers_of_one_tensor() {
    let mut m = good_model();
    m.graph.as_mut().expect("graph").node.push(node("Sigmoid", &["x"], &["y"]));
    ovc_on(&m).failed_with(&["'y'", "produced by two nodes"]);
}

#[test]
fn node_overwrites_an_initializer() {
    let mut m = good_model();
    m.graph.as_mut().expect("graph").node.push(node("Sigmoid", &["x"], &["w"]));
    ovc_on(&m).failed_with(&["'w'", "already a graph input or initializer"]);
}

#[test]
fn output_nobody_produces() {
    let mut m = good_model();
    m.graph.as_mut().expect("graph").output.push(vi("nothing", &[2]));
    ovc_on(&m).failed_with(&["graph output 'nothing' is never produced"]);
}

#[test]
fn empty_graph() {
    ovc_on(&model(GraphProto::default())).failed_with(&["the graph is empty"]);
}

#[test]
fn graph_without_outputs() {
    let mut m = good_model();
    m.graph.as_mut().expect("graph").output.clear();
    ovc_on(&m).failed_with(&["the graph has no outputs"]);
}

#[test]
fn initializer_defined_twice() {
    let mut m = good_model();
    m.graph.as_mut().expect("graph").initializer.push(f32_tensor("w", &[2], &[0.0, 0.0]));
    ovc_on(&m).failed_with(&["initializer 'w' is defined twice"]);
}

#[test]
fn sparse_initializer() {
    let mut m = good_model();
    m.graph.as_mut().expect("graph").sparse_initializer.push(SparseTensorProto::default());
    ovc_on(&m).failed_with(&["sparse initializers are not supported"]);
}

#[test]
fn sequence_typed_input() {
    let mut m = good_model();
    m.graph.as_mut().expect("graph").input[0] = ValueInfoProto {
        name: Some("x".into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::SequenceType(Box::new(type_proto::Sequence { elem_type: None }))),
            ..Default::default()
        }),
        ..Default::default()
    };
    ovc_on(&m).failed_with(&["graph input 'x'", "IR has no sequence type"]);
}

// ----- types and shapes -----

#[test]
fn unknown_element_type_of_an_input() {
    let mut m = good_model();
    m.graph.as_mut().expect("graph").input[0] = value_info_raw("x", 99, &[2]);
    ovc_on(&m).failed_with(&["graph input 'x'", "unknown ONNX data type 99"]);
}

#[test]
fn unknown_element_type_of_an_initializer() {
    let mut t = f32_tensor("w", &[2], &[1.0, 2.0]);
    t.data_type = Some(77);
    ovc_on(&model_with_initializer(t)).failed_with(&["tensor 'w'", "unknown ONNX data type 77"]);
}

#[test]
fn negative_dim_of_an_input() {
    let mut m = good_model();
    m.graph.as_mut().expect("graph").input[0] = vi("x", &[-5]);
    ovc_on(&m).failed_with(&["graph input 'x'", "negative dimension -5"]);
}

#[test]
fn overflowing_dims_of_an_input() {
    let mut m = good_model();
    m.graph.as_mut().expect("graph").input[0] = vi("x", &[1 << 40, 1 << 40]);
    ovc_on(&m).failed_with(&["graph input 'x'", "overflows"]);
}

#[test]
fn negative_dim_of_an_initializer() {
    let mut t = f32_tensor("w", &[2], &[1.0, 2.0]);
    t.dims = vec![-2];
    ovc_on(&model_with_initializer(t)).failed_with(&["tensor 'w'", "invalid dimension -2"]);
}

#[test]
fn overflowing_dims_of_an_initializer() {
    let mut t = f32_tensor("w", &[2], &[1.0, 2.0]);
    t.dims = vec![i64::MAX, i64::MAX];
    ovc_on(&model_with_initializer(t)).failed_with(&["tensor 'w'", "overflows"]);
}

#[test]
fn raw_data_shorter_than_the_shape() {
    ovc_on(&model_with_initializer(f32_tensor("w", &[3], &[1.0, 2.0]))).failed_with(&["tensor 'w'", "needs 12 bytes"]);
}

#[test]
fn raw_data_longer_than_the_shape() {
    ovc_on(&model_with_initializer(f32_tensor("w", &[1], &[1.0, 2.0]))).failed_with(&["tensor 'w'", "needs 4 bytes"]);
}

#[test]
fn typed_data_count_mismatch() {
    let t = TensorProto {
        name: Some("w".into()),
        dims: vec![2],
        data_type: Some(F32),
        float_data: vec![1.0, 2.0, 3.0],
        ..Default::default()
    };
    ovc_on(&model_with_initializer(t)).failed_with(&["tensor 'w'", "needs 8 bytes"]);
}

#[test]
fn string_tensor_in_raw_data() {
    let mut t = f32_tensor("w", &[2], &[1.0, 2.0]);
    t.data_type = Some(onnx_frontend::proto::tensor_proto::DataType::String as i32);
    ovc_on(&model_with_initializer(t)).failed_with(&["tensor 'w'", "string tensors must use string_data"]);
}

#[test]
fn absurd_declared_initializer_without_data() {
    // 10^12 elements declared, no bytes present: refused before any allocation.
    let t = TensorProto {
        name: Some("w".into()),
        dims: vec![1_000_000, 1_000_000],
        data_type: Some(F32),
        ..Default::default()
    };
    ovc_on(&model_with_initializer(t)).failed_with(&["tensor 'w'", "needs 4000000000000 bytes"]);
}

#[test]
fn absurd_constant_of_shape_is_not_materialised() {
    // ConstantOfShape([10^6, 10^6]) is valid; folding it would need 4 TB, so the converter keeps
    // the op (Broadcast) and finishes within the memory limit.
    let g = GraphProto {
        name: Some("g".into()),
        initializer: vec![i64_tensor("s", &[2], &[1_000_000, 1_000_000])],
        node: vec![with_attr(
            node("ConstantOfShape", &["s"], &["y"]),
            attr_tensor("value", f32_tensor("", &[1], &[1.0])),
        )],
        output: vec![vi("y", &[1_000_000, 1_000_000])],
        ..Default::default()
    };
    let w = Work::new();
    let p = w.write_model("m.onnx", &model(g));
    let o = w.ovc(&p, &[]);
    o.succeeded();
    let xml = std::fs::read_to_string(w.out().join("m.xml")).expect("xml");
    assert!(xml.contains("type=\"Broadcast\""), "{xml}");
}

#[test]
fn constant_of_shape_beyond_any_address_space_is_refused() {
    // [2^40, 2^30] f32 is 2^72 bytes: the element count itself overflows, so the shape is an
    // error naming the node (OpenVINO's ovc dies in an allocation check instead).
    let g = GraphProto {
        name: Some("g".into()),
        initializer: vec![i64_tensor("s", &[2], &[1 << 40, 1 << 30])],
        node: vec![node("ConstantOfShape", &["s"], &["y"])],
        // Undeclared output type: the shape comes from inference, not from the file.
        output: vec![ValueInfoProto { name: Some("y".into()), ..Default::default() }],
        ..Default::default()
    };
    let w = Work::new();
    let p = w.write_model("m.onnx", &model(g));
    w.ovc(&p, &[]).failed_with(&["more bytes than any address space holds", "[1099511627776,1073741824]"]);
}

// ----- attributes -----

#[test]
fn attribute_of_the_wrong_type() {
    let mut m = good_model();
    let g = m.graph.as_mut().expect("graph");
    g.input[0] = vi("x", &[1, 1, 4, 4]);
    g.node = vec![with_attr(node("MaxPool", &["x"], &["y"]), attr_int("kernel_shape", 2))];
    g.output = vec![vi("y", &[1, 1, 3, 3])];
    ovc_on(&m).failed_with(&["MaxPool_y", "MaxPool", "kernel_shape", "INT", "expected INTS"]);
}

#[test]
fn required_attribute_missing() {
    let mut m = good_model();
    let g = m.graph.as_mut().expect("graph");
    g.input[0] = vi("x", &[1, 1, 4, 4]);
    g.node = vec![node("MaxPool", &["x"], &["y"])];
    g.output = vec![vi("y", &[1, 1, 3, 3])];
    ovc_on(&m).failed_with(&["MaxPool_y", "'kernel_shape' is required"]);
}

#[test]
fn cast_to_an_unknown_type() {
    let mut m = good_model();
    let g = m.graph.as_mut().expect("graph");
    g.node = vec![with_attr(node("Cast", &["x"], &["y"]), attr_int("to", 99))];
    ovc_on(&m).failed_with(&["Cast_y", "unknown ONNX data type 99"]);
}

#[test]
fn attribute_value_out_of_range() {
    let mut m = good_model();
    let g = m.graph.as_mut().expect("graph");
    g.node = vec![with_attr(node("Softmax", &["x"], &["y"]), attr_int("axis", 1_000_000_000_000))];
    ovc_on(&m).failed_with(&["Softmax_y"]);
}

#[test]
fn transpose_perm_hostile() {
    let mut m = good_model();
    let g = m.graph.as_mut().expect("graph");
    g.node = vec![with_attr(node("Transpose", &["x"], &["y"]), attr_ints("perm", &[i64::MIN]))];
    ovc_on(&m).failed_with(&["Transpose_y"]);
}

// ----- external data -----

fn external_model(entries: &[(&str, &str)]) -> onnx_frontend::proto::ModelProto {
    model_with_initializer(external_tensor("w", &[2], entries))
}

#[test]
fn external_data_absolute_path() {
    ovc_on(&external_model(&[("location", "/etc/passwd")]))
        .failed_with(&["tensor 'w'", "absolute paths are not allowed"]);
}

#[test]
fn external_data_parent_dir() {
    ovc_on(&external_model(&[("location", "../secret.bin")])).failed_with(&["tensor 'w'", "'..' components"]);
}

#[test]
fn external_data_symlink_leaving_the_folder() {
    let outside = tempfile::tempdir().expect("tmp");
    let target = outside.path().join("w.bin");
    std::fs::write(&target, [0u8; 8]).expect("w");
    let w = Work::new();
    std::os::unix::fs::symlink(&target, w.path("w.bin")).expect("symlink");
    let p = w.write_model("m.onnx", &external_model(&[("location", "w.bin")]));
    w.ovc(&p, &[]).failed_with(&["tensor 'w'", "outside the model folder"]);
}

#[test]
fn external_data_missing_file() {
    ovc_on(&external_model(&[("location", "nowhere.bin")])).failed_with(&["tensor 'w'", "nowhere.bin", "cannot open"]);
}

#[test]
fn external_data_range_past_the_end() {
    let w = Work::new();
    w.write("w.bin", [0u8; 8]);
    let p = w.write_model("m.onnx", &external_model(&[("location", "w.bin"), ("offset", "4"), ("length", "8")]));
    w.ovc(&p, &[]).failed_with(&["tensor 'w'", "past the end of the file (8 bytes)"]);
}

#[test]
fn external_data_offset_overflow() {
    let w = Work::new();
    w.write("w.bin", [0u8; 8]);
    let p = w.write_model(
        "m.onnx",
        &external_model(&[("location", "w.bin"), ("offset", "0"), ("length", "18446744073709551615")]),
    );
    w.ovc(&p, &[]).failed_with(&["tensor 'w'", "past the end"]);
}

#[test]
fn external_data_wrong_length() {
    let w = Work::new();
    w.write("w.bin", [0u8; 16]);
    let p = w.write_model("m.onnx", &external_model(&[("location", "w.bin"), ("length", "12")]));
    w.ovc(&p, &[]).failed_with(&["tensor 'w'", "holds 12 bytes", "needs 8"]);
}

#[test]
fn external_data_non_numeric_offset() {
    let w = Work::new();
    w.write("w.bin", [0u8; 8]);
    let p = w.write_model("m.onnx", &external_model(&[("location", "w.bin"), ("offset", "-3")]));
    w.ovc(&p, &[]).failed_with(&["tensor 'w'", "offset '-3' is not a non-negative integer"]);
}

#[test]
fn external_data_is_a_folder() {
    let w = Work::new();
    std::fs::create_dir(w.path("w.bin")).expect("dir");
    let p = w.write_model("m.onnx", &external_model(&[("location", "w.bin")]));
    w.ovc(&p, &[]).failed_with(&["tensor 'w'", "not a regular file"]);
}

#[test]
fn absurd_external_tensor_is_checked_against_the_file() {
    // 10^12 elements declared, an 8-byte file: the size check refuses it, nothing is read.
    let w = Work::new();
    w.write("w.bin", [0u8; 8]);
    let p = w.write_model(
        "m.onnx",
        &model_with_initializer(external_tensor("w", &[1_000_000, 1_000_000], &[("location", "w.bin")])),
    );
    w.ovc(&p, &[]).failed_with(&["tensor 'w'", "holds 8 bytes", "needs 4000000000000"]);
}

// ----- options that do not fit the model -----

#[test]
fn input_override_names_an_unknown_input() {
    let w = Work::new();
    let p = w.write_model("m.onnx", &good_model());
    w.ovc(&p, &["--input", "nope[2]"]).failed_with(&["no input 'nope'", "inputs: x"]);
}

#[test]
fn input_override_malformed() {
    let w = Work::new();
    let p = w.write_model("m.onnx", &good_model());
    w.ovc(&p, &["--input", "x[1,,2"]).failed_with(&["--input", "unbalanced"]);
}

#[test]
fn input_override_incompatible_shape() {
    let w = Work::new();
    let p = w.write_model("m.onnx", &good_model());
    // x[3] + w[2] cannot broadcast.
    w.ovc(&p, &["--input", "x[3]"]).failed_with(&["Add"]);
}

#[test]
fn output_selection_names_an_unknown_output() {
    let w = Work::new();
    let p = w.write_model("m.onnx", &good_model());
    w.ovc(&p, &["--output", "zzz"]).failed_with(&["no output 'zzz'", "outputs: y"]);
}

#[test]
fn output_folder_is_not_writable() {
    // A file where the output folder should be: nothing half-written anywhere.
    let w = Work::new();
    let p = w.write_model("m.onnx", &good_model());
    w.write("blocker", b"x");
    let o = w.run(env!("CARGO_BIN_EXE_ovc"), &[p.display().to_string(), "--output_model".into(), "blocker/m".into()]);
    o.failed_with(&["blocker"]);
    let names: Vec<_> = std::fs::read_dir(w.dir.path()).expect("ls").map(|e| e.expect("e").file_name()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn untyped_attribute_holding_the_wrong_kind() {
    // IR < 2 attributes have no `type`; the filled field still has to be the expected kind.
    let mut a = attr_ints("axis", &[1, 2]);
    a.r#type = None;
    let mut m = good_model();
    m.graph.as_mut().expect("graph").node = vec![with_attr(node("Softmax", &["x"], &["y"]), a)];
    ovc_on(&m).failed_with(&["Softmax_y", "attribute 'axis' holds a INTS value, expected INT"]);
}

#[test]
fn concat_and_topk_of_scalars() {
    // Same holes the ir_read fuzzer found, reached from ONNX: clean errors, not index panics.
    let mut m = good_model();
    let g = m.graph.as_mut().expect("graph");
    g.input = vec![vi("x", &[])];
    g.node = vec![with_attr(node("Concat", &["x", "x"], &["y"]), attr_int("axis", 0))];
    ovc_on(&m).failed_with(&["Concat_y", "axis 0 is out of range for rank 0"]);
    let mut m = good_model();
    let g = m.graph.as_mut().expect("graph");
    g.input = vec![vi("x", &[])];
    g.initializer = vec![i64_tensor("k", &[1], &[1])];
    g.node = vec![node("TopK", &["x", "k"], &["y", "i"])];
    ovc_on(&m).failed_with(&["TopK_y", "rank >= 1"]);
}
