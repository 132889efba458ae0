//! The `--input` shape parser of `ovc`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = ovc_cli::parse_input_spec(s);
    }
});
