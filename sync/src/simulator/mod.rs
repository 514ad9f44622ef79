//! A faithful simulator of Mahak's sync API, for the embedded default, tests and benchmarks.
