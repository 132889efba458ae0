//! Bit-level ops: BitShift (to BitwiseLeftShift-15 / BitwiseRightShift-15) and BitCast.

use ir_graph::ops;
use ir_graph::{ElementType, OutputRef};

use super::bitcast_float::{self, FloatFormat};
use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "BitShift", &[11, 28], bit_shift);
    r.register(d, "BitCast", &[26], bit_cast);
}

/// BitShift: ONNX gives a shift by a negative amount or by at least the width the full-width
/// result (0, or -1 for a right shift of a negative value), where C and OpenVINO's kernels leave
/// it to the hardware. Unless the shift is a constant known to be in range, the result is
/// guarded with a Select so the IR means the same in every runtime.
fn bit_shift(c: &mut NodeContext<'_>) -> R {
    let (x, y) = (c.input(0)?, c.input(1)?);
    let left = match c.attr_string("direction", "")?.as_str() {
        "LEFT" => true,
        "RIGHT" => false,
        other => return Err(c.error(format!("direction must be LEFT or RIGHT, got {other:?}"))),
    };
    let et = c.element_type(x);
    if !et.is_integer() {
        return Err(c.error(format!("BitShift needs integer inputs, got {et}")));
    }
    let shifted = if left {
        c.add(ops::BitwiseLeftShift::default(), &[x, y])?
    } else {
        c.add(ops::BitwiseRightShift::default(), &[x, y])?
    };
    let width = et.bit_width() as i64;
    let in_range =
        c.const_input(1).and_then(|t| t.to_i64_vec().ok()).is_some_and(|v| v.iter().all(|s| (0..width).contains(s)));
    if in_range {
        return Ok(vec![shifted]);
    }
    let zero = c.const_scalar(et, 0.0)?;
    let w = c.const_scalar(et, width as f64)?;
    let mut out = c.add(ops::GreaterEqual::default(), &[y, w])?;
    if et.is_signed_integer() {
        let negative = c.add(ops::Less::default(), &[y, zero])?;
        out = c.add(ops::LogicalOr::default(), &[out, negative])?;
    }
    let fill = if left || !et.is_signed_integer() {
        zero
    } else {
        let minus_one = c.const_scalar(et, -1.0)?;
        let negative = c.add(ops::Less::default(), &[x, zero])?;
        c.add(ops::Select::default(), &[negative, minus_one, zero])?
    };
    Ok(vec![c.add(ops::Select::default(), &[out, fill, shifted])?])
}

/// BitCast between types of one width. Integer <-> integer is a Convert (it wraps modulo 2^N,
/// which is the two's-complement reinterpretation) and boolean -> 8-bit integer too (true is
/// stored as 1). OpenVINO has no op that reinterprets bits, so casts involving IEEE floats
/// (f16, bf16, f32, f64) are decomposed arithmetically (`bitcast_float`); a float -> float cast
/// goes through the signed integer of that width.
fn bit_cast(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let to = c.attr_int_req("to")?;
    let to = i32::try_from(to).map_err(|_| c.error(format!("bad 'to' type {to}")))?;
    let to = crate::load::element_type(to).map_err(|m| c.error(m))?;
    let from = c.element_type(x);
    if from == to {
        return Ok(vec![x]);
    }
    if from.bit_width() != to.bit_width() {
        return Err(c.error(format!("BitCast needs types of one width, got {from} and {to}")));
    }
    let int_like = |t: ElementType| t.is_integer();
    if (int_like(from) && int_like(to)) || (from == ElementType::Boolean && int_like(to)) {
        return Ok(vec![c.add(ops::Convert { destination_type: to }, &[x])?]);
    }
    let unsupported = || {
        format!(
            "BitCast from {from} to {to} is not supported: only IEEE floats (f16, bf16, f32, f64) and \
             integers of the same width are reinterpreted"
        )
    };
    let out = match (FloatFormat::of(from), FloatFormat::of(to)) {
        (Some(f), None) if int_like(to) => bitcast_float::float_to_bits(c, x, f, to)?,
        (None, Some(f)) if int_like(from) => bitcast_float::bits_to_float(c, x, f, to)?,
        (Some(f), Some(g)) => {
            let signed = bitcast_float::signed_of_width(f.width()).ok_or_else(|| c.error(unsupported()))?;
            let bits = bitcast_float::float_to_bits(c, x, f, signed)?;
            bitcast_float::bits_to_float(c, bits, g, to)?
        }
        _ => return Err(c.error(unsupported())),
    };
    Ok(vec![out])
}

#[cfg(test)]
mod tests {
    use ir_graph::Op;

    use crate::test_support::*;

    #[test]
    fn shifts_out_of_range_give_the_full_width_result() {
        let b = Builder::new(11)
            .init(i64_typed("x", &[4], &[-8, -8, 8, 5]))
            .init(i64_typed("s", &[4], &[1, 64, -1, 0]))
            .node(node("BitShift", &["x", "s"], &["y"], vec![("direction", A::S("RIGHT"))]))
            .output("y");
        let dir = tempfile::tempdir().expect("tempdir");
        let m = crate::convert_model(&b.write(dir.path()), &crate::ConvertOptions::default()).expect("convert");
        let Op::Constant(c) = result_producer(&m) else { panic!("not folded") };
        assert_eq!(&*c.value.values::<i64>().expect("i64"), &[-4, -1, 0, 5]);
        // The guard is only left off for constant shifts known to be in range.
        let guarded = b.read_ok();
        assert_eq!(op_counts(&guarded).get("Select"), Some(&2));
        let plain = Builder::new(11)
            .input(vi("x", I64, &[4]))
            .init(i64_typed("s", &[4], &[1, 2, 3, 63]))
            .node(node("BitShift", &["x", "s"], &["y"], vec![("direction", A::S("LEFT"))]))
            .output("y");
        let m = plain.read_ok();
        assert!(matches!(result_producer(&m), Op::BitwiseLeftShift(_)));
        assert_eq!(op_counts(&m).get("Select"), None);
    }

    #[test]
    fn bit_cast_kinds() {
        let ok = Builder::new(26)
            .input(vi("x", I32, &[3]))
            .node(node("BitCast", &["x"], &["y"], vec![("to", A::I(12))])) // uint32
            .output("y");
        assert!(matches!(result_producer(&ok.read_ok()), Op::Convert(_)));
        let float = Builder::new(26)
            .input(vi("x", F32, &[3]))
            .node(node("BitCast", &["x"], &["y"], vec![("to", A::I(I32 as i64))]))
            .output("y");
        assert!(op_counts(&float.read_ok()).contains_key("IsNaN"));
        let f8 = Builder::new(26)
            .input(vi("x", 17, &[3])) // float8e4m3fn
            .node(node("BitCast", &["x"], &["y"], vec![("to", A::I(2))])) // uint8
            .output("y");
        let e = f8.read().expect_err("f8 -> u8").to_string();
        assert!(e.contains("BitCast from f8e4m3 to u8 is not supported"), "{e}");
        let width = Builder::new(26)
            .input(vi("x", I32, &[3]))
            .node(node("BitCast", &["x"], &["y"], vec![("to", A::I(I64 as i64))]))
            .output("y");
        assert!(width.read().expect_err("i32 -> i64").to_string().contains("one width"));
    }
}
