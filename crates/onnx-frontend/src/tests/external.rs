//! External data: shared file, one file per tensor, zero-copy views, and every hostile case.

use std::path::Path;

use ir_graph::{Model, Op};

use crate::FrontendError;
use crate::test_support::*;

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// y = x + w1 + w2, with w1 [2] and w2 [3, 2].
fn two_weights(w1: crate::proto::TensorProto, w2: crate::proto::TensorProto) -> Builder {
    Builder::new(13)
        .input(vi("x", F32, &[3, 2]))
        .init(w1)
        .init(w2)
        .node(node("Add", &["x", "w1"], &["s"], vec![]))
        .node(node("Add", &["s", "w2"], &["y"], vec![]))
        .output("y")
}

fn weight(m: &Model, name: &str) -> Vec<f32> {
    let (_, n) = m.nodes().find(|(_, n)| n.name == name).expect("const");
    let Op::Constant(c) = &n.op else { panic!("not a const") };
    c.value.values::<f32>().expect("f32").into_owned()
}

fn read_in(dir: &Path, b: &Builder) -> Result<Model, FrontendError> {
    crate::read_onnx(&b.write(dir))
}

#[test]
fn one_shared_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut data = f32_bytes(&[1.0, 2.0]);
    data.extend(f32_bytes(&[3.0, 4.0, 5.0, 6.0, 7.0, 8.0]));
    std::fs::write(dir.path().join("weights.bin"), &data).expect("write");
    let b = two_weights(
        f32_external("w1", &[2], "weights.bin", Some(0), Some(8)),
        f32_external("w2", &[3, 2], "weights.bin", Some(8), None),
    );
    let m = read_in(dir.path(), &b).expect("read");
    assert_eq!(weight(&m, "w1"), vec![1.0, 2.0]);
    assert_eq!(weight(&m, "w2"), vec![3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
}

#[test]
fn one_file_per_tensor_in_subfolder_and_mapped_once() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("data")).expect("mkdir");
    std::fs::write(dir.path().join("data/w1"), f32_bytes(&[1.0, 2.0])).expect("write");
    std::fs::write(dir.path().join("data/w2"), f32_bytes(&[0.5; 6])).expect("write");
    let b = two_weights(
        f32_external("w1", &[2], "data/w1", None, None),
        f32_external("w2", &[3, 2], "./data/w2", None, Some(24)),
    );
    let m = read_in(dir.path(), &b).expect("read");
    assert_eq!(weight(&m, "w1"), vec![1.0, 2.0]);
    assert_eq!(weight(&m, "w2"), vec![0.5; 6]);

    // The loader maps each file once, however many tensors point into it.
    let loader = crate::load::TensorLoader::new(Some(dir.path().to_path_buf()));
    let t1 = f32_external("a", &[1], "data/w1", Some(0), Some(4));
    let t2 = f32_external("b", &[1], "data/w1", Some(4), Some(4));
    let a = loader.tensor(&t1, "a").expect("a");
    let b = loader.tensor(&t2, "b").expect("b");
    assert_eq!(loader.mapped_files(), 1);
    assert_eq!(a.raw().as_ptr().wrapping_add(4), b.raw().as_ptr(), "views into one map");
}

#[test]
fn raw_data_is_a_view_into_the_model_map() {
    let dir = tempfile::tempdir().expect("tmp");
    let b = two_weights(f32_raw("w1", &[2], &[1.0, 2.0]), f32_raw("w2", &[3, 2], &[3.0; 6]));
    let path = b.write(dir.path());
    let file = crate::load::load(&path).expect("load");
    let graph = file.proto.graph.as_ref().expect("graph");
    let loader = crate::load::TensorLoader::new(Some(file.dir.clone()));
    let t = loader.tensor(&graph.initializer[1], "w2").expect("tensor");
    let map = file.map.as_ref() as &dyn ir_graph::ByteOwner;
    let range = map.bytes().as_ptr_range();
    assert!(range.contains(&t.raw().as_ptr()), "raw_data was copied instead of viewed");
    assert_eq!(&*t.values::<f32>().expect("f32"), &[3.0; 6]);
}

fn expect_external_error(dir: &Path, b: &Builder, needle: &str) {
    match read_in(dir, b) {
        Err(e @ FrontendError::ExternalData { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("'w1'"), "names the tensor: {msg}");
            assert!(msg.contains(needle), "expected '{needle}' in: {msg}");
        }
        Err(e) => panic!("wrong error kind: {e}"),
        Ok(_) => panic!("hostile external data was accepted"),
    }
}

fn hostile(location: &str, offset: Option<u64>, length: Option<u64>) -> Builder {
    two_weights(f32_external("w1", &[2], location, offset, length), f32_raw("w2", &[3, 2], &[0.0; 6]))
}

#[test]
fn absolute_path_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let outside = tempfile::NamedTempFile::new().expect("tmp file");
    std::fs::write(outside.path(), f32_bytes(&[1.0, 2.0])).expect("write");
    let loc = outside.path().to_str().expect("utf8").to_string();
    expect_external_error(dir.path(), &hostile(&loc, None, None), "absolute");
}

#[test]
fn parent_components_are_refused() {
    let root = tempfile::tempdir().expect("tmp");
    let model_dir = root.path().join("m");
    std::fs::create_dir(&model_dir).expect("mkdir");
    std::fs::write(root.path().join("secret.bin"), f32_bytes(&[1.0, 2.0])).expect("write");
    expect_external_error(&model_dir, &hostile("../secret.bin", None, None), "'..'");
    expect_external_error(&model_dir, &hostile("a/../../secret.bin", None, None), "'..'");
}

#[cfg(unix)]
#[test]
fn symlink_leaving_the_folder_is_refused() {
    let root = tempfile::tempdir().expect("tmp");
    let model_dir = root.path().join("m");
    std::fs::create_dir(&model_dir).expect("mkdir");
    std::fs::write(root.path().join("secret.bin"), f32_bytes(&[1.0, 2.0])).expect("write");
    std::os::unix::fs::symlink(root.path().join("secret.bin"), model_dir.join("link.bin")).expect("symlink");
    expect_external_error(&model_dir, &hostile("link.bin", None, None), "outside the model folder");
    // A symlink that stays inside is fine.
    std::fs::write(model_dir.join("real.bin"), f32_bytes(&[1.0, 2.0])).expect("write");
    std::os::unix::fs::symlink(model_dir.join("real.bin"), model_dir.join("inside.bin")).expect("symlink");
    assert!(read_in(&model_dir, &hostile("inside.bin", None, None)).is_ok());
}

#[test]
fn ranges_past_the_end_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("w.bin"), f32_bytes(&[1.0, 2.0])).expect("write");
    expect_external_error(dir.path(), &hostile("w.bin", Some(10_000), Some(8)), "past the end");
    expect_external_error(dir.path(), &hostile("w.bin", Some(4), Some(8)), "past the end");
    expect_external_error(dir.path(), &hostile("w.bin", Some(0), Some(u64::MAX)), "past the end");
}

#[test]
fn length_mismatches_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("w.bin"), f32_bytes(&[1.0, 2.0, 3.0])).expect("write");
    // Explicit length smaller than the tensor.
    expect_external_error(dir.path(), &hostile("w.bin", Some(0), Some(4)), "needs 8");
    // No length: the rest of the file (12 bytes) is taken and does not match.
    expect_external_error(dir.path(), &hostile("w.bin", None, None), "needs 8");
}

#[test]
fn missing_file_bad_numbers_and_empty_location() {
    let dir = tempfile::tempdir().expect("tmp");
    expect_external_error(dir.path(), &hostile("nope.bin", None, None), "cannot open");
    expect_external_error(dir.path(), &hostile("", None, None), "location");
    std::fs::write(dir.path().join("w.bin"), f32_bytes(&[1.0, 2.0])).expect("write");
    let mut b = hostile("w.bin", None, None);
    b.graph.initializer[0]
        .external_data
        .push(crate::proto::StringStringEntryProto { key: Some("offset".into()), value: Some("-5".into()) });
    expect_external_error(dir.path(), &b, "offset '-5'");
    // A folder is not a data file.
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    expect_external_error(dir.path(), &hostile("sub", None, None), "regular file");
}
