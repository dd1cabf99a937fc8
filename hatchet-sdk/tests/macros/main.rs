//! Macro UI tests: definitions that must compile, and mistakes that must fail with the
//! checked-in message on the offending token (`ui/fail/*.stderr`).
//!
//! Regenerate the expected messages after an intended change with
//! `TRYBUILD=overwrite cargo test -p hatchet-rs --test macros`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/macros/ui/pass/*.rs");
    cases.compile_fail("tests/macros/ui/fail/*.rs");
}
