//! Evaluators of the `onnx_ext1` ops: string ops and `LabelEncoder`.
//!
//! Case mappings are Unicode's default (locale-independent) ones from Rust's `str` methods;
//! whitespace is Unicode `White_Space` (`char::is_whitespace`). Regular expressions are RE2
//! syntax run by the `regex` crate, which follows RE2's semantics (leftmost-first, linear time,
//! no backreferences or look-around); [`compile_re2`] makes the Perl classes and word
//! boundaries ASCII-only as they are in RE2.

use std::collections::HashMap;

use regex::Regex;

use super::values::{aligned_bytes, broadcast_map, broadcast_pair, elem_size};
use crate::element::ElementType;
use crate::error::Result;
use crate::invalid;
use crate::ops::{CaseChange, StringNormalizer, StringSplit};
use crate::tensor::Tensor;

/// The one string of a scalar (or single-element) string tensor.
fn single_string(t: &Tensor, what: &str) -> Result<String> {
    let mut v = t.strings()?;
    if v.len() != 1 {
        return Err(invalid!("{what} must hold one string, got {}", v.len()));
    }
    Ok(v.remove(0))
}

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

/// Splits `s` the way ONNX `StringSplit` (and Python's `str.split`) does: on `delimiter`, or on
/// runs of whitespace when it is empty; at most `maxsplit` splits when given.
pub fn split_one<'a>(s: &'a str, delimiter: &str, maxsplit: Option<usize>) -> Vec<&'a str> {
    if !delimiter.is_empty() {
        return match maxsplit {
            Some(n) => s.splitn(n.saturating_add(1), delimiter).collect(),
            None => s.split(delimiter).collect(),
        };
    }
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        // After the last allowed split the rest is one part, trailing whitespace included.
        if maxsplit == Some(out.len()) {
            out.push(rest);
            break;
        }
        match rest.find(char::is_whitespace) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = rest[i..].trim_start();
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

/// `StringSplit`: the padded substrings and the count per element.
pub fn string_split(op: &StringSplit, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [x, delimiter] = inputs else { return Err(invalid!("StringSplit expects 2 inputs")) };
    check_string(x, "X")?;
    let delimiter = single_string(delimiter, "delimiter")?;
    let maxsplit = usize::try_from(op.maxsplit).ok();
    let xs = x.strings()?;
    let parts: Vec<Vec<&str>> = xs.iter().map(|s| split_one(s, &delimiter, maxsplit)).collect();
    let width = parts.iter().map(Vec::len).max().unwrap_or(0);
    let mut flat = Vec::with_capacity(parts.len() * width);
    let mut counts = Vec::with_capacity(parts.len());
    for p in &parts {
        counts.push(i64::try_from(p.len()).map_err(|_| invalid!("too many substrings"))?);
        flat.extend(p.iter().map(|s| s.to_string()));
        flat.extend(std::iter::repeat_n(String::new(), width - p.len()));
    }
    let mut shape = x.shape().to_vec();
    shape.push(width);
    Ok(vec![Tensor::from_strings(shape, &flat)?, Tensor::from_vec(x.shape().to_vec(), counts)?])
}

/// Rewrites an RE2 pattern for the `regex` crate: `\w \d \s \b` (and negations) are ASCII-only
/// in RE2 but Unicode in `regex`, and a `[` inside a class is a literal in RE2 but opens a nested
/// class in `regex` (as `&&`, `--`, `~~` are set operators there).
fn re2_to_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    // Inside a bracketed class: true; `class_start` marks where `]` is still a literal.
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_start = std::mem::take(&mut class_start);
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let ascii = match e {
                    'w' => Some("[:word:]"),
                    'W' => Some("[:^word:]"),
                    'd' => Some("[:digit:]"),
                    'D' => Some("[:^digit:]"),
                    // RE2's \s is [\t\n\f\r ], without \v.
                    's' => Some(r"\t\n\f\r "),
                    'S' => Some(r"[^\t\n\f\r ]"),
                    _ => None,
                };
                match (ascii, in_class) {
                    (Some(a), true) => out.push_str(a),
                    (Some(a), false) if e == 's' => {
                        out.push('[');
                        out.push_str(a);
                        out.push(']');
                    }
                    (Some(a), false) if a.starts_with("[:") => {
                        out.push('[');
                        out.push_str(a);
                        out.push(']');
                    }
                    (Some(a), false) => out.push_str(a),
                    (None, false) if e == 'b' || e == 'B' => {
                        out.push_str("(?-u:\\");
                        out.push(e);
                        out.push(')');
                    }
                    (None, _) => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                class_start = true;
            }
            '[' => {
                // `[:alpha:]` stays a POSIX class; any other `[` is a literal.
                let rest: String = chars.clone().take_while(|&ch| ch != ']').collect();
                if rest.starts_with(':') && rest.len() > 1 && rest.ends_with(':') {
                    out.push('[');
                } else {
                    out.push_str("\\[");
                }
            }
            ']' if in_class && !at_start => {
                in_class = false;
                out.push(']');
            }
            ']' if in_class => out.push_str("\\]"),
            '&' | '-' | '~' if in_class && chars.peek() == Some(&c) => {
                chars.next();
                out.push('\\');
                out.push(c);
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Compiles an RE2 pattern to match whole strings only.
pub fn compile_re2(pattern: &str) -> Result<Regex> {
    let anchored = format!("^(?:{})$", re2_to_regex(pattern));
    Regex::new(&anchored).map_err(|e| invalid!("invalid regular expression '{pattern}': {e}"))
}

/// `RegexFullMatch`: whether each element matches the pattern as a whole.
pub fn regex_full_match(inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [x, pattern] = inputs else { return Err(invalid!("RegexFullMatch expects 2 inputs")) };
    check_string(x, "X")?;
    let re = compile_re2(&single_string(pattern, "pattern")?)?;
    let matched: Vec<bool> = x.strings()?.iter().map(|s| re.is_match(s)).collect();
    Ok(vec![Tensor::from_bools(x.shape().to_vec(), &matched)?])
}

/// A `LabelEncoder` key: strings, integers, or floats by bit pattern with every NaN alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Str(String),
    Int(i64),
    Float(u64),
}

fn keys_of(t: &Tensor) -> Result<Vec<Key>> {
    let et = t.element_type();
    Ok(if et == ElementType::String {
        t.strings()?.into_iter().map(Key::Str).collect()
    } else if et.is_float() {
        t.to_f64_vec()?
            .into_iter()
            .map(|v| Key::Float(if v.is_nan() { f64::NAN.to_bits() } else { v.to_bits() }))
            .collect()
    } else {
        t.to_i64_vec()?.into_iter().map(Key::Int).collect()
    })
}

/// `LabelEncoder`: `keys[i] -> values[i]`, `default` for the rest.
pub fn label_encoder(inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [x, keys, values, default] = inputs else { return Err(invalid!("LabelEncoder expects 4 inputs")) };
    if x.element_type() != keys.element_type() {
        return Err(invalid!("LabelEncoder: X is {} but the keys are {}", x.element_type(), keys.element_type()));
    }
    let et = values.element_type();
    if default.element_type() != et || default.numel() != 1 {
        return Err(invalid!("LabelEncoder: the default must be one {et} value"));
    }
    let keys = keys_of(keys)?;
    if keys.len() != values.numel() {
        return Err(invalid!("LabelEncoder: {} keys but {} values", keys.len(), values.numel()));
    }
    // Later duplicates overwrite earlier ones: the last key wins.
    let table: HashMap<Key, usize> = keys.into_iter().enumerate().map(|(i, k)| (k, i)).collect();
    // Index `values.numel()` stands for the default.
    let picks: Vec<usize> = keys_of(x)?.iter().map(|k| table.get(k).copied().unwrap_or(values.numel())).collect();
    let shape = x.shape().to_vec();
    if et == ElementType::String {
        let mut vals = values.strings()?;
        vals.push(single_string(default, "default")?);
        let out: Vec<String> = picks.iter().map(|&i| vals[i].clone()).collect();
        return Ok(vec![Tensor::from_strings(shape, &out)?]);
    }
    let size = elem_size(et).ok_or_else(|| invalid!("LabelEncoder: cannot map to {et} values"))?;
    let (vals, dflt) = (values.raw(), default.raw());
    let data = aligned_bytes(picks.len() * size, |buf| {
        for (dst, &i) in buf.chunks_exact_mut(size).zip(&picks) {
            let src = if i < values.numel() { &vals[i * size..(i + 1) * size] } else { dflt };
            dst.copy_from_slice(src);
        }
        Ok(())
    })?;
    Ok(vec![Tensor::from_bytes(et, shape, data)?])
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

    #[test]
    fn split_follows_python() {
        assert_eq!(split_one("a,,b", ",", None), vec!["a", "", "b"]);
        assert_eq!(split_one("", ",", None), vec![""]);
        assert_eq!(split_one("a-b-c", "-", Some(1)), vec!["a", "b-c"]);
        assert_eq!(split_one("  a \t b  ", "", None), vec!["a", "b"]);
        assert_eq!(split_one("   ", "", None), Vec::<&str>::new());
        assert_eq!(split_one(" a b  c  ", "", Some(1)), vec!["a", "b  c  "]);
        assert_eq!(split_one(" a b ", "", Some(0)), vec!["a b "]);
        assert_eq!(split_one("a<>b<>", "<>", None), vec!["a", "b", ""]);
    }

    #[test]
    fn split_pads_and_counts() {
        let x = strs(&[3], &["a b c", "", "d"]);
        let op = StringSplit::default();
        let out = string_split(&op, &[x, strs(&[], &[""])]).expect("split");
        assert_eq!(out[0].shape(), &[3, 3]);
        assert_eq!(out[0].strings().expect("s"), vec!["a", "b", "c", "", "", "", "d", "", ""]);
        assert_eq!(&*out[1].values::<i64>().expect("i64"), &[3, 0, 1]);
        let empty = string_split(&op, &[strs(&[0], &[]), strs(&[], &[","])]).expect("split");
        assert_eq!((empty[0].shape(), empty[1].shape()), (&[0usize, 0][..], &[0usize][..]));
        let capped = StringSplit { maxsplit: 1 };
        let out = string_split(&capped, &[strs(&[1, 1], &["1.2.3"]), strs(&[], &["."])]).expect("split");
        assert_eq!(out[0].shape(), &[1, 1, 2]);
        assert_eq!(out[0].strings().expect("s"), vec!["1", "2.3"]);
    }

    fn full_match(pattern: &str, s: &str) -> bool {
        compile_re2(pattern).expect("pattern").is_match(s)
    }

    #[test]
    fn regex_matches_whole_strings_with_re2_classes() {
        assert!(full_match(r"www\.[\w.-]+\.\bcom\b", "www.google.com"));
        assert!(!full_match(r"www\.[\w.-]+\.\bcom\b", "www.google.com.hk"));
        assert!(!full_match("ab|c", "abc"));
        assert!(full_match("ab|c", "c"));
        // RE2's \w, \d and \s are ASCII; `.` is one Unicode character.
        assert!(!full_match(r"\w+", "héllo"));
        assert!(full_match(r"[\w\W]+", "héllo"));
        assert!(!full_match(r"\d", "٣"));
        assert!(full_match(r"\D\S", "٣é"));
        assert!(full_match(r"h.llo", "héllo"));
        assert!(full_match(r"\pL+", "héllo"));
        // A `[` inside a class is a literal in RE2; POSIX classes still work.
        assert!(full_match(r"[[a]+", "[a["));
        assert!(full_match(r"[[:digit:]x]+", "1x2"));
        assert!(full_match(r"[]a]+", "]a"));
        assert!(full_match(r"[a&&b]+", "a&b"));
        assert!(compile_re2("(unclosed").is_err());
    }

    #[test]
    fn regex_full_match_tensor() {
        let x = strs(&[2, 1], &["abc@gmail.com", "x"]);
        let y = regex_full_match(&[x, strs(&[], &[r"[\w.]+@gmail\.com"])]).expect("match").remove(0);
        assert_eq!((y.shape(), y.bools().expect("b")), (&[2usize, 1][..], vec![true, false]));
    }

    #[test]
    fn label_encoder_maps_strings_ints_and_floats() {
        let x = strs(&[2, 2], &["a", "b", "zz", "a"]);
        let keys = strs(&[3], &["a", "b", "a"]);
        let values = Tensor::from_vec(vec![3], vec![1i64, 2, 3]).expect("v");
        let y = label_encoder(&[x, keys, values, Tensor::scalar(-1i64)]).expect("encode").remove(0);
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(&*y.values::<i64>().expect("i64"), &[3, 2, -1, 3]);

        let x = Tensor::from_vec(vec![3], vec![1i64, 7, 2]).expect("x");
        let keys = Tensor::from_vec(vec![2], vec![1i64, 2]).expect("k");
        let y = label_encoder(&[x, keys, strs(&[2], &["one", "two"]), strs(&[], &["_Unused"])]).expect("encode");
        assert_eq!(y[0].strings().expect("s"), vec!["one", "_Unused", "two"]);

        let x = Tensor::from_vec(vec![3], vec![f32::NAN, 0.5, -0.0]).expect("x");
        let keys = Tensor::from_vec(vec![2], vec![-f32::NAN, 0.5]).expect("k");
        let values = Tensor::from_vec(vec![2], vec![10f32, 20.0]).expect("v");
        let y = label_encoder(&[x, keys, values, Tensor::scalar(-0.0f32)]).expect("encode").remove(0);
        let y = y.values::<f32>().expect("f32");
        assert_eq!((y[0], y[1]), (10.0, 20.0));
        assert!(y[2] == 0.0 && y[2].is_sign_negative());
    }

    #[test]
    fn label_encoder_rejects_mismatched_types() {
        let x = Tensor::from_vec(vec![1], vec![1i32]).expect("x");
        let keys = Tensor::from_vec(vec![1], vec![1i64]).expect("k");
        let values = Tensor::from_vec(vec![1], vec![1i64]).expect("v");
        assert!(label_encoder(&[x.clone(), keys.clone(), values.clone(), Tensor::scalar(0i64)]).is_err());
        let keys32 = Tensor::from_vec(vec![1], vec![1i32]).expect("k");
        assert!(label_encoder(&[x, keys32, values, Tensor::scalar(0f32)]).is_err());
    }
}
