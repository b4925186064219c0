//! A package's signature file (`action.toml.sig`): `Signatures::read`,
//! which vetting calls on a package from outside, then every signature
//! checked against a manifest digest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salve::Sha256Digest;
use salve::vetting::Signatures;

fuzz_target!(|data: &[u8]| {
    salve_fuzz::scratch_file("action.toml.sig", data);
    let Ok(signatures) = Signatures::read(salve_fuzz::scratch()) else {
        return;
    };
    let digest = Sha256Digest::of(data);
    for signature in &signatures.signature {
        // Read as well formed: each decodes, and checking it only answers.
        assert!(signature.decoded().is_some());
        let _ = signature.verifies(&digest);
    }
});
