//! Smoke test: the shipped system-report action runs through the library.

use salve::{Grant, Package, Runtime, RuntimeConfig};

#[test]
fn system_report_runs() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let package = Package::open(salve_test_artifacts::SYSTEM_REPORT).unwrap();
    let action = runtime.load(&package).unwrap();
    let grant = Grant::declared(&package.manifest().capabilities);
    let invocation = runtime.invoke(&action, &grant, "{}").unwrap();
    println!("{}", serde_json::to_string_pretty(&invocation).unwrap());
    assert!(invocation.outcome.succeeded());
}
