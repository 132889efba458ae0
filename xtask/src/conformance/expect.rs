//! `xtask/conformance-expected.txt`: one line per case that is expected not to pass.
//!
//! ```text
//! # comment
//! node/test_foo unsupported-op: ai.onnx:Foo-17 has no translator
//! ```
//!
//! A case that fails but is not listed, passes but is listed, or fails with another class than
//! listed makes the run fail. `--bless` rewrites the lines of the cases that ran.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{CaseRecord, Class, GROUPS};

/// An expected non-pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub class: Class,
    pub reason: String,
}

/// Parsed expectations keyed by `<group>/<case>`.
pub type Expectations = BTreeMap<String, Expected>;

const HEADER: &str = "\
# Expected non-passing cases of `cargo xtask conformance`, one per line:
#   <group>/<case> <class>: <reason>
# A case failing without a line here, passing with a line here, or failing with another class
# fails the run. Regenerate with `cargo xtask conformance --bless` (with --filter/--group only
# the lines of the cases that ran change).
";

/// Reads the file; a missing file means no case is expected to fail.
pub fn load(path: &Path) -> Result<Expectations> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Expectations::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut out = Expectations::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parse = || -> Option<(String, Expected)> {
            let (key, rest) = line.split_once(' ')?;
            let (class, reason) = rest.split_once(':').unwrap_or((rest, ""));
            let class = Class::from_name(class.trim())?;
            Some((key.to_string(), Expected { class, reason: reason.trim().to_string() }))
        };
        match parse() {
            Some((key, e)) if e.class != Class::Pass => {
                out.insert(key, e);
            }
            _ => bail!("{}:{}: expected `<group>/<case> <class>: <reason>`, got {line:?}", path.display(), n + 1),
        }
    }
    Ok(out)
}

fn sort_key(key: &str) -> (usize, String) {
    let group = key.split('/').next().unwrap_or("");
    (GROUPS.iter().position(|g| *g == group).unwrap_or(GROUPS.len()), key.to_string())
}

/// Rewrites the file: lines of cases that ran follow this run, other lines stay.
/// With `full_run`, lines of cases that are not in the suite any more are dropped.
pub fn bless(path: &Path, old: &Expectations, records: &[CaseRecord], full_run: bool) -> Result<()> {
    let mut new = old.clone();
    if full_run {
        let ran: BTreeSet<String> = records.iter().map(|r| r.key()).collect();
        new.retain(|k, _| ran.contains(k));
    }
    for r in records {
        let key = r.key();
        if r.outcome.class == Class::Pass {
            new.remove(&key);
        } else {
            new.insert(key, Expected { class: r.outcome.class, reason: r.outcome.reason.clone() });
        }
    }
    let mut keys: Vec<&String> = new.keys().collect();
    keys.sort_by_key(|k| sort_key(k));
    let mut text = String::from(HEADER);
    for k in keys {
        let e = &new[k];
        let reason = super::one_line(&e.reason);
        if reason.is_empty() {
            text.push_str(&format!("{k} {}\n", e.class.name()));
        } else {
            text.push_str(&format!("{k} {}: {reason}\n", e.class.name()));
        }
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// How a run compares with the expectations.
#[derive(Debug, Default)]
pub struct Check {
    /// Failing cases without an expectation: (key, class, reason).
    pub unexpected_failures: Vec<(String, Class, String)>,
    /// Passing cases that were expected to fail: (key, expected class).
    pub unexpected_passes: Vec<(String, Class)>,
    /// Failing cases whose class changed: (key, expected, got, reason).
    pub changed: Vec<(String, Class, Class, String)>,
    /// Lines naming cases that are not in the suite (full runs only); `--bless` drops them.
    pub stale: Vec<String>,
    /// Expected failures that matched.
    pub expected_failures: usize,
    /// Number of lines the file would have after `--bless`.
    pub expected_after_bless: usize,
}

impl Check {
    /// True when the run matched the expectations.
    pub fn is_clean(&self) -> bool {
        self.unexpected_failures.is_empty()
            && self.unexpected_passes.is_empty()
            && self.changed.is_empty()
            && self.stale.is_empty()
    }

    /// A list for a person.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if !self.unexpected_failures.is_empty() {
            s.push_str(&format!("UNEXPECTED FAILURES ({}):\n", self.unexpected_failures.len()));
            for (k, c, r) in &self.unexpected_failures {
                s.push_str(&format!("  {k} {}: {r}\n", c.name()));
            }
        }
        if !self.changed.is_empty() {
            s.push_str(&format!("FAILING DIFFERENTLY THAN EXPECTED ({}):\n", self.changed.len()));
            for (k, e, g, r) in &self.changed {
                s.push_str(&format!("  {k} expected {}, got {}: {r}\n", e.name(), g.name()));
            }
        }
        if !self.unexpected_passes.is_empty() {
            s.push_str(&format!(
                "UNEXPECTED PASSES ({}) (remove their lines or --bless):\n",
                self.unexpected_passes.len()
            ));
            for (k, e) in &self.unexpected_passes {
                s.push_str(&format!("  {k} (expected {})\n", e.name()));
            }
        }
        if !self.stale.is_empty() {
            s.push_str(&format!("STALE LINES ({}) for cases not in the suite:\n", self.stale.len()));
            for k in &self.stale {
                s.push_str(&format!("  {k}\n"));
            }
        }
        s
    }

    /// The same as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "clean": self.is_clean(),
            "expected_failures": self.expected_failures,
            "unexpected_failures": self.unexpected_failures.iter().map(|(k, c, r)| serde_json::json!({"case": k, "class": c.name(), "reason": r})).collect::<Vec<_>>(),
            "unexpected_passes": self.unexpected_passes.iter().map(|(k, c)| serde_json::json!({"case": k, "expected": c.name()})).collect::<Vec<_>>(),
            "stale": self.stale,
            "changed_class": self.changed.iter().map(|(k, e, g, r)| serde_json::json!({"case": k, "expected": e.name(), "got": g.name(), "reason": r})).collect::<Vec<_>>(),
        })
    }
}

/// Compares the records of a run with the expectations.
/// With `full_run`, lines for cases that did not run are reported as stale.
pub fn check(expected: &Expectations, records: &[CaseRecord], full_run: bool) -> Check {
    let mut c = Check::default();
    let ran: BTreeSet<String> = records.iter().map(|r| r.key()).collect();
    for r in records {
        let key = r.key();
        let got = r.outcome.class;
        match (expected.get(&key), got) {
            (None, Class::Pass) => {}
            (None, g) => c.unexpected_failures.push((key, g, r.outcome.reason.clone())),
            (Some(e), Class::Pass) => c.unexpected_passes.push((key, e.class)),
            (Some(e), g) if e.class != g => c.changed.push((key, e.class, g, r.outcome.reason.clone())),
            (Some(_), _) => c.expected_failures += 1,
        }
    }
    if full_run {
        c.stale = expected.keys().filter(|k| !ran.contains(*k)).cloned().collect();
    }
    let kept = if full_run { 0 } else { expected.keys().filter(|k| !ran.contains(*k)).count() };
    c.expected_after_bless = kept + records.iter().filter(|r| r.outcome.class != Class::Pass).count();
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::CaseOutcome;

    fn rec(key: &str, class: Class) -> CaseRecord {
        let (group, case) = key.split_once('/').expect("group/case");
        let mut outcome = CaseOutcome::fail(class, if class == Class::Pass { "" } else { "why" });
        outcome.class = class;
        CaseRecord { group: group.into(), case: case.into(), dir: "x".into(), outcome, wall_ms: 0.0 }
    }

    #[test]
    fn check_finds_every_kind_of_surprise() {
        let dir = std::env::temp_dir().join(format!("xtask-expect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let path = dir.join("expected.txt");
        std::fs::write(
            &path,
            "# c\n\nnode/a wrong-result: old\nnode/b crash: x\nnode/c timeout\nnode/gone unsupported-op: y\n",
        )
        .expect("write");
        let e = load(&path).expect("parse");
        assert_eq!(e.len(), 4);
        assert_eq!(e["node/c"], Expected { class: Class::Timeout, reason: String::new() });
        let records = vec![
            rec("node/a", Class::WrongResult),
            rec("node/b", Class::Pass),
            rec("node/c", Class::Crash),
            rec("node/d", Class::RuntimeError),
            rec("node/e", Class::Pass),
        ];
        let c = check(&e, &records, true);
        assert_eq!(c.expected_failures, 1);
        assert_eq!(c.unexpected_passes, vec![("node/b".to_string(), Class::Crash)]);
        assert_eq!(c.changed.len(), 1);
        assert_eq!(c.unexpected_failures.len(), 1);
        assert_eq!(c.stale, vec!["node/gone".to_string()]);
        assert!(!c.is_clean());
        assert_eq!(c.expected_after_bless, 3);

        bless(&path, &e, &records, true).expect("bless");
        let after = load(&path).expect("reparse");
        let keys: Vec<&str> = after.keys().map(String::as_str).collect();
        assert_eq!(keys, vec!["node/a", "node/c", "node/d"]);
        assert!(check(&after, &records, true).is_clean());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_lines_are_errors() {
        let dir = std::env::temp_dir().join(format!("xtask-expect-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let path = dir.join("expected.txt");
        std::fs::write(&path, "node/a no-such-class: x\n").expect("write");
        assert!(load(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
