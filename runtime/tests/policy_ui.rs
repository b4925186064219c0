//! Every invalid policy in `tests/policies/invalid/` is refused as a whole
//! with the exact error an administrator sees (file, line, column, the line,
//! and what to do). The valid reference policy parses and decides.

// Test helpers: an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use salve::capability::{Capability, CapabilityClass, CapabilityNames};
use salve::identity::PrincipalId;
use salve::policy::{Access, Policy, PolicyRefusal, SessionFacts};
use std::path::Path;

#[test]
fn invalid_policies_are_refused_with_their_exact_message() {
    insta::glob!("policies/invalid/*.toml", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let error = Policy::parse(&text, Path::new("policy.toml"))
            .expect_err("an invalid policy must be refused");
        insta::assert_snapshot!(error.to_string());
    });
}

fn valid() -> Policy {
    Policy::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/policies/valid.toml")).unwrap()
}

fn id(text: &str) -> PrincipalId {
    text.parse().unwrap()
}

#[test]
fn the_reference_policy_decides() {
    let policy = valid();
    let (alice, tom, bob) = (id("alice"), id("tom"), id("bob"));
    let session = |category| SessionFacts {
        id: "s-0123456789abcdef01234567",
        ticket: "INC1",
        category,
        endpoint: "pc-0421",
        requester: &alice,
        technician: &tom,
        privileged: true,
    };
    let cleanup = "clear-temp-files".parse().unwrap();
    let version = semver::Version::new(1, 0, 0);
    let invoke = |category| Access::Invoke {
        session: session(category),
        action: &cleanup,
        version: &version,
        class: CapabilityClass::Privileged,
    };
    assert_eq!(policy.authorize(&tom, &invoke("incident")), Ok(()));
    // The rule forbids what tom's role permits, and says why.
    let refusal = policy
        .authorize(&tom, &invoke("service-request"))
        .unwrap_err();
    assert!(matches!(refusal, PolicyRefusal::Rule { .. }), "{refusal:?}");
    assert_eq!(
        refusal.to_string(),
        "tom may not invoke clear-temp-files (a privileged action): policy rule rule:1 forbids it — temporary files are only cleared to resolve incidents"
    );
    // extra-privileged: files-read counts as privileged under this policy.
    let reading = CapabilityNames::empty().with(Capability::FilesRead);
    assert_eq!(policy.class_of(reading), CapabilityClass::Privileged);
    assert_eq!(
        policy.class_of(CapabilityNames::empty().with(Capability::Sysinfo)),
        CapabilityClass::Standard
    );
    // Separation of duties is built in, whatever the file says.
    assert!(matches!(
        policy.authorize(
            &bob,
            &Access::ApproveSession(SessionFacts {
                requester: &bob,
                ..session("incident")
            })
        ),
        Err(PolicyRefusal::SeparationOfDuties { .. })
    ));
    assert_eq!(
        policy.authorize(&bob, &Access::ApproveSession(session("incident"))),
        Ok(())
    );
}
