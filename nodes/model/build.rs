//! Same libtorch linking as the loss plugins (rpath, libtorch_cuda kept):
//! one script, so the two crates cannot drift apart.
include!("../loss/build.rs");
