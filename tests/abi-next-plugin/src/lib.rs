//! A well-formed plugin whose table claims the next ABI major.

use emoflow_sdk::prelude::*;

struct Never;

impl Node for Never {
    fn run(&mut self, _ctx: &Context, _inputs: Inputs) -> Result<Outputs> {
        Err(Error::invalid(
            "a host must refuse this plugin before running anything",
        ))
    }
}

fn never() -> KindSpec {
    KindSpec::new("test.abi_next", file!())
        .doc("Never runs: its plugin speaks another ABI major.")
        .output("out", port::SERIES, "nothing")
        .create(|_: emoflow_sdk::serde_json::Value| Ok(Never))
}

emoflow_sdk::export_plugin!(never);
