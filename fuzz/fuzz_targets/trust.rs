//! The trust file: `TrustConfig::parse`, as `salve catalog` and the
//! endpoint call it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salve::vetting::TrustConfig;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some(text) = salve_fuzz::text(data) else {
        return;
    };
    if let Ok(trust) = TrustConfig::parse(text, Path::new("trust.toml")) {
        let _ = trust.trusted(&salve_fuzz::public());
    }
});
