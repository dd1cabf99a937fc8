//! Test suites live in this package's `[[test]]` targets.
