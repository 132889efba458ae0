//! Slice, Split, Pad, Tile, DepthToSpace/SpaceToDepth, ReverseSequence.

use ir_graph::ops::{BlockMode, PadMode};
use ir_graph::{Op, PartialShape};

use crate::test_support::*;

fn shape_of(m: &ir_graph::Model, name: &str) -> PartialShape {
    m.nodes()
        .flat_map(|(_, n)| n.outputs.iter())
        .find(|p| p.names.contains(name))
        .unwrap_or_else(|| panic!("no tensor '{name}'"))
        .shape
        .clone()
}

#[test]
fn slice_attr_and_input_forms() {
    let old = Builder::new(9)
        .input(vi("x", F32, &[4, 6]))
        .node(node(
            "Slice",
            &["x"],
            &["y"],
            vec![("starts", A::Is(vec![1])), ("ends", A::Is(vec![3])), ("axes", A::Is(vec![1]))],
        ))
        .output("y");
    assert_eq!(shape_of(&old.read_ok(), "y"), PartialShape::fixed(&[4, 2]));
    let new = Builder::new(13)
        .input(vi("x", F32, &[4, 6]))
        .init(i64_typed("s", &[2], &[0, 1]))
        .init(i64_typed("e", &[2], &[i64::MAX, -1]))
        .node(node("Slice", &["x", "s", "e"], &["y"], vec![]))
        .output("y");
    let m = new.read_ok();
    assert!(matches!(result_producer(&m), Op::Slice(_)));
    assert_eq!(shape_of(&m, "y"), PartialShape::fixed(&[4, 4]));
}

#[test]
fn split_forms() {
    let even = Builder::new(13)
        .input(vi("x", F32, &[6, 2]))
        .node(node("Split", &["x"], &["a", "b", "c"], vec![]))
        .output("a")
        .output("c");
    let m = even.read_ok();
    assert_eq!(shape_of(&m, "c"), PartialShape::fixed(&[2, 2]));
    let (_, n) = m.nodes().find(|(_, n)| matches!(n.op, Op::Split(_))).expect("split");
    assert_eq!(n.name, "c", "unnamed multi-output nodes take the last output's name");
    let lens = Builder::new(11)
        .input(vi("x", F32, &[2, 5]))
        .node(node("Split", &["x"], &["a", "b"], vec![("axis", A::I(1)), ("split", A::Is(vec![2, 3]))]))
        .output("b");
    assert_eq!(shape_of(&lens.read_ok(), "b"), PartialShape::fixed(&[2, 3]));
    let uneven = Builder::new(18)
        .input(vi("x", F32, &[7]))
        .node(node("Split", &["x"], &["a", "b", "c"], vec![("num_outputs", A::I(3))]))
        .output("a")
        .output("c");
    let m = uneven.read_ok();
    assert_eq!(shape_of(&m, "a"), PartialShape::fixed(&[3]));
    assert_eq!(shape_of(&m, "c"), PartialShape::fixed(&[1]));
}

#[test]
fn pad_forms() {
    let old = Builder::new(2)
        .input(vi("x", F32, &[2, 3]))
        .node(node("Pad", &["x"], &["y"], vec![("pads", A::Is(vec![0, 1, 0, 2])), ("value", A::F(1.5))]))
        .output("y");
    let m = old.read_ok();
    assert_eq!(shape_of(&m, "y"), PartialShape::fixed(&[2, 6]));
    assert_eq!(m.node(m.nodes().find(|(_, n)| n.name == "y").expect("pad").0).expect("n").inputs.len(), 4);
    let new = Builder::new(18)
        .input(vi("x", F32, &[2, 3]))
        .init(i64_typed("p", &[2], &[1, 1]))
        .init(i64_typed("ax", &[1], &[0]))
        .node(node("Pad", &["x", "p", "", "ax"], &["y"], vec![("mode", A::S("reflect"))]))
        .output("y");
    let m = new.read_ok();
    assert!(matches!(result_producer(&m), Op::Pad(p) if p.pad_mode == PadMode::Reflect));
    assert_eq!(shape_of(&m, "y"), PartialShape::fixed(&[4, 3]));
    let dynamic = Builder::new(13)
        .input(vi("x", F32, &[2, 3]))
        .input(vi("p", I64, &[4]))
        .node(node("Pad", &["x", "p"], &["y"], vec![]))
        .output("y");
    let m = dynamic.read_ok();
    assert!(op_counts(&m).contains_key("Split"));
    assert_eq!(shape_of(&m, "y").rank(), Some(2));
}

#[test]
fn tile_depth_space_reverse() {
    let b = Builder::new(13)
        .input(vi("x", F32, &[1, 8, 2, 2]))
        .input(vi("lens", I64, &[8]))
        .init(i64_typed("r", &[4], &[1, 1, 2, 1]))
        .node(node("Tile", &["x", "r"], &["t"], vec![]))
        .node(node("DepthToSpace", &["x"], &["d"], vec![("blocksize", A::I(2)), ("mode", A::S("CRD"))]))
        .node(node("SpaceToDepth", &["d"], &["s"], vec![("blocksize", A::I(2))]))
        .node(node("ReverseSequence", &["x", "lens"], &["rv"], vec![("batch_axis", A::I(1)), ("time_axis", A::I(0))]))
        .output("t")
        .output("s")
        .output("rv");
    let m = b.read_ok();
    assert_eq!(shape_of(&m, "t"), PartialShape::fixed(&[1, 8, 4, 2]));
    assert_eq!(shape_of(&m, "d"), PartialShape::fixed(&[1, 2, 4, 4]));
    assert_eq!(shape_of(&m, "s"), PartialShape::fixed(&[1, 8, 2, 2]));
    let (_, d) = m.nodes().find(|(_, n)| n.name == "d").expect("d2s");
    assert!(matches!(d.op, Op::DepthToSpace(ref o) if o.mode == BlockMode::DepthFirst));
}

#[test]
fn math_family() {
    let b = Builder::new(20)
        .input(vi("x", F32, &[2, 3]))
        .input(vi("i", I32, &[2, 3]))
        .init(i64_typed("ax", &[], &[1]))
        .node(node("Round", &["x"], &["r"], vec![]))
        .node(node("IsNaN", &["x"], &["n"], vec![]))
        .node(node("IsInf", &["x"], &["f"], vec![("detect_negative", A::I(0))]))
        .node(node("BitwiseAnd", &["i", "i"], &["ba"], vec![]))
        .node(node("BitwiseNot", &["ba"], &["bn"], vec![]))
        .node(node("CumSum", &["x", "ax"], &["cs"], vec![("reverse", A::I(1))]))
        .node(node("Einsum", &["x", "x"], &["e"], vec![("equation", A::S("ij, kj -> ik"))]))
        .node(node("Constant", &[], &["start"], vec![("value_int", A::I(0))]))
        .node(node("Constant", &[], &["limit"], vec![("value_int", A::I(5))]))
        .node(node("Constant", &[], &["delta"], vec![("value_int", A::I(2))]))
        .node(node("Range", &["start", "limit", "delta"], &["rg"], vec![]))
        .output("r")
        .output("n")
        .output("f")
        .output("bn")
        .output("cs")
        .output("e")
        .output("rg");
    let m = b.read_ok();
    assert_eq!(shape_of(&m, "e"), PartialShape::fixed(&[2, 2]));
    assert_eq!(shape_of(&m, "cs"), PartialShape::fixed(&[2, 3]));
    let (_, e) = m.nodes().find(|(_, n)| n.name == "e").expect("einsum");
    assert!(matches!(e.op, Op::Einsum(ref o) if o.equation == "ij,kj->ik"));
    let (_, f) = m.nodes().find(|(_, n)| n.name == "f").expect("isinf");
    assert!(matches!(f.op, Op::IsInf(ref o) if !o.detect_negative && o.detect_positive));
    let c = op_counts(&m);
    for t in ["Round", "IsNaN", "BitwiseAnd", "BitwiseNot", "CumSum", "Range"] {
        assert_eq!(c.get(t), Some(&1), "{t}: {c:?}");
    }
}

#[test]
fn indexing_family() {
    let b = Builder::new(13)
        .input(vi("x", F32, &[3, 4]))
        .input(vi("gi", I64, &[3, 2]))
        .init(i64_typed("k", &[1], &[2]))
        .init(f32_raw("vals", &[2], &[0.0, 1.0]))
        .init(i64_typed("idx", &[3], &[0, -1, 2]))
        .node(node("TopK", &["x", "k"], &["v", "i"], vec![("axis", A::I(1))]))
        .node(node("ArgMax", &["x"], &["am"], vec![("axis", A::I(1)), ("keepdims", A::I(0))]))
        .node(node("GatherElements", &["x", "gi"], &["ge"], vec![("axis", A::I(1))]))
        .node(node("ScatterElements", &["x", "gi", "ge"], &["se"], vec![("axis", A::I(1)), ("reduction", A::S("add"))]))
        .node(node("NonZero", &["x"], &["nz"], vec![]))
        .node(node("OneHot", &["idx", "k", "vals"], &["oh"], vec![]))
        .output("v")
        .output("i")
        .output("am")
        .output("se")
        .output("nz")
        .output("oh");
    let m = b.read_ok();
    assert_eq!(shape_of(&m, "v"), PartialShape::fixed(&[3, 2]));
    assert_eq!(shape_of(&m, "am"), PartialShape::fixed(&[3]));
    assert_eq!(shape_of(&m, "ge"), PartialShape::fixed(&[3, 2]));
    assert_eq!(shape_of(&m, "se"), PartialShape::fixed(&[3, 4]));
    assert_eq!(shape_of(&m, "oh"), PartialShape::fixed(&[3, 2]));
    let c = op_counts(&m);
    assert_eq!(c.get("TopK"), Some(&2), "{c:?}");
    for t in ["GatherElements", "ScatterElementsUpdate", "NonZero", "OneHot", "Squeeze"] {
        assert_eq!(c.get(t), Some(&1), "{t}: {c:?}");
    }
}
