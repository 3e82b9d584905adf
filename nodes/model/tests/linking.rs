//! Linking of the plugin library: the same checks as nodes/loss, whose
//! build.rs this crate shares.
include!("../../loss/tests/linking.rs");
