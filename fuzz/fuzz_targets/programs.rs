//! The `programs` rule syntax (a manifest's and a policy's
//! `programs = ["/usr/bin/journalctl --no-pager -u *"]`): `ProgramPath`'s
//! `FromStr`, which every manifest and grant goes through.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salve::capability::ProgramPath;

fuzz_target!(|data: &[u8]| {
    let Some(text) = salve_fuzz::text(data) else {
        return;
    };
    let Ok(rule) = text.parse::<ProgramPath>() else {
        return;
    };
    // The canonical form reads back as the same rule.
    let again: ProgramPath = rule
        .as_str()
        .parse()
        .expect("a rule's canonical form parses");
    assert_eq!(rule, again);
    assert_eq!(rule.as_str(), again.as_str());
});
