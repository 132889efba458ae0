//! Evaluators of the `onnx_ext1` ops: string ops and `LabelEncoder`.
//!
//! Case mappings are Unicode's default (locale-independent) ones from Rust's `str` methods;
//! whitespace is Unicode `White_Space` (`char::is_whitespace`). Regular expressions are RE2
//! syntax run by the `regex` crate, which follows RE2's semantics (leftmost-first, linear time,
//! no backreferences or look-around); [`compile_re2`] makes the Perl classes and word
//! boundaries ASCII-only as they are in RE2.

use super::values::{broadcast_map, broadcast_pair};
use crate::element::ElementType;
use crate::error::Result;
use crate::invalid;
use crate::ops::{CaseChange, StringNormalizer};
use crate::tensor::Tensor;

fn check_string(t: &Tensor, what: &str) -> Result<()> {
    if t.element_type() != ElementType::String {
        return Err(invalid!("{what} must be a string tensor, got {}", t.element_type()));
    }
    Ok(())
}

/// `StringNormalizer`: drops stop words (whole elements), then changes case.
pub fn string_normalizer(op: &StringNormalizer, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [x, stops] = inputs else { return Err(invalid!("StringNormalizer expects 2 inputs")) };
    check_string(x, "X")?;
    check_string(stops, "stopwords")?;
    let two_dim = match x.shape() {
        [_] => false,
        [1, _] => true,
        s => return Err(invalid!("StringNormalizer: X must be [C] or [1, C], got {s:?}")),
    };
    let stops = stops.strings()?;
    let fold = |s: &str| if op.is_case_sensitive { s.to_string() } else { s.to_lowercase() };
    let stops: std::collections::HashSet<String> = stops.iter().map(|s| fold(s)).collect();
    let mut out: Vec<String> = x
        .strings()?
        .into_iter()
        .filter(|s| !stops.contains(&fold(s)))
        .map(|s| match op.case_change_action {
            CaseChange::None => s,
            CaseChange::Lower => s.to_lowercase(),
            CaseChange::Upper => s.to_uppercase(),
        })
        .collect();
    if out.is_empty() {
        out.push(String::new());
    }
    let shape = if two_dim { vec![1, out.len()] } else { vec![out.len()] };
    Ok(vec![Tensor::from_strings(shape, &out)?])
}

/// `StringConcat`: `X + Y` element-wise with numpy broadcasting.
pub fn string_concat(inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [x, y] = inputs else { return Err(invalid!("StringConcat expects 2 inputs")) };
    check_string(x, "X")?;
    check_string(y, "Y")?;
    let shape = broadcast_pair(x.shape(), y.shape())
        .ok_or_else(|| invalid!("StringConcat: shapes {:?} and {:?} do not broadcast", x.shape(), y.shape()))?;
    let (xm, ym) = (broadcast_map(x.shape(), &shape)?, broadcast_map(y.shape(), &shape)?);
    let (xs, ys) = (x.strings()?, y.strings()?);
    let out: Vec<String> = xm.iter().zip(&ym).map(|(&i, &j)| format!("{}{}", xs[i], ys[j])).collect();
    Ok(vec![Tensor::from_strings(shape, &out)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(shape: &[usize], v: &[&str]) -> Tensor {
        let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        Tensor::from_strings(shape.to_vec(), &v).expect("strings")
    }

    fn normalize(x: Tensor, stops: &[&str], case: CaseChange, sensitive: bool) -> Tensor {
        let op = StringNormalizer { case_change_action: case, is_case_sensitive: sensitive };
        let stops = strs(&[stops.len()], stops);
        string_normalizer(&op, &[x, stops]).expect("normalize").remove(0)
    }

    #[test]
    fn normalizer_drops_stop_words_then_changes_case() {
        let x = strs(&[4], &["monday", "Monday", "tuesday", "Straße"]);
        let y = normalize(x.clone(), &["monday"], CaseChange::Upper, true);
        assert_eq!(y.shape(), &[3]);
        assert_eq!(y.strings().expect("s"), vec!["MONDAY", "TUESDAY", "STRASSE"]);
        let y = normalize(x, &["MONDAY"], CaseChange::Lower, false);
        assert_eq!(y.strings().expect("s"), vec!["tuesday", "straße"]);
    }

    #[test]
    fn normalizer_empty_output_is_one_empty_string() {
        let y = normalize(strs(&[2], &["monday", "monday"]), &["monday"], CaseChange::None, true);
        assert_eq!((y.shape(), y.strings().expect("s")), (&[1usize][..], vec![String::new()]));
        let y = normalize(strs(&[1, 1], &["Monday"]), &["monday"], CaseChange::None, false);
        assert_eq!((y.shape(), y.strings().expect("s")), (&[1usize, 1][..], vec![String::new()]));
        let err = string_normalizer(&StringNormalizer::default(), &[strs(&[2, 1], &["a", "b"]), strs(&[0], &[])]);
        assert!(err.is_err());
    }

    #[test]
    fn concat_broadcasts() {
        let x = strs(&[2, 1], &["a", "ü"]);
        let y = strs(&[3], &["1", "", "3"]);
        let z = string_concat(&[x, y]).expect("concat").remove(0);
        assert_eq!(z.shape(), &[2, 3]);
        assert_eq!(z.strings().expect("s"), vec!["a1", "a", "a3", "ü1", "ü", "ü3"]);
        let scalar = string_concat(&[strs(&[], &["x"]), strs(&[], &["y"])]).expect("concat").remove(0);
        assert_eq!((scalar.shape(), scalar.strings().expect("s")), (&[][..], vec!["xy".to_string()]));
        assert!(string_concat(&[strs(&[2], &["a", "b"]), strs(&[3], &["a", "b", "c"])]).is_err());
    }
}
