//! Macro UI tests: mistakes that must fail to compile with the checked-in message on the
//! offending token (`ui/*.stderr`). Definitions that must compile are ordinary tests of the
//! runtime crate (`hatchet-sdk/tests/macros`), which also run what they define.
//!
//! These cases only need type checking, so trybuild runs `cargo check` over all of them in
//! one go, against the runtime crate with its default features only.
//!
//! Regenerate the expected messages after an intended change with
//! `TRYBUILD=overwrite cargo test -p hatchet-rs-macros --test ui`.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
