//! The README's supported-operator table is generated from the translator registry; this test
//! keeps it current. `OVRS_BLESS=1 cargo test -p onnx-frontend --test readme_ops` rewrites it.

use std::path::PathBuf;

const START: &str = "<!-- supported-ops:start -->";
const END: &str = "<!-- supported-ops:end -->";

#[test]
fn readme_lists_the_registry() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md is readable");
    let (Some(a), Some(b)) = (readme.find(START), readme.find(END)) else {
        panic!("README.md lacks the {START} / {END} markers");
    };
    let current = &readme[a + START.len()..b];
    let wanted = format!("\n{}", onnx_frontend::supported_ops_markdown());
    if current.trim() == wanted.trim() {
        return;
    }
    if std::env::var_os("OVRS_BLESS").is_some() {
        let updated = format!("{}{START}{wanted}{}", &readme[..a], &readme[b..]);
        std::fs::write(&path, updated).expect("README.md is writable");
        return;
    }
    panic!(
        "README.md's supported-ops table is stale: run `OVRS_BLESS=1 cargo test -p onnx-frontend --test readme_ops`"
    );
}
