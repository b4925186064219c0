//! The policy file with its Cedar rules: `Policy::parse`, as the endpoint
//! and `salve policy check` call it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salve::policy::Policy;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some(text) = salve_fuzz::text(data) else {
        return;
    };
    let Ok(policy) = Policy::parse(text, Path::new("policy.toml")) else {
        return;
    };
    // Reading what was parsed must not fail either.
    for principal in policy.principals() {
        let _ = policy.key_of(&principal.id);
    }
    let _ = policy.categories().count();
    let _ = policy.clock_skew();
});
