//! `export_plugin!(kinds = f)`: a plugin whose kinds are found when it loads
//! (the Python plugin). Its kinds are described and run like static ones,
//! with a parameter schema given as JSON; when `f` fails, the plugin
//! describes itself as an error carrying `f`'s message.

use std::sync::OnceLock;

use emoflow_sdk::ffi::{Exported, describe_shim};
use emoflow_sdk::foreign::ForeignPlugin;
use emoflow_sdk::harness::Harness;
use emoflow_sdk::prelude::*;

struct Constant(f32);

impl Node for Constant {
    fn run(&mut self, _ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let mut rows = SeriesRow::read_all(&inputs.batches("in")?)?;
        rows.iter_mut()
            .for_each(|r| r.values.iter_mut().for_each(|v| *v = self.0));
        Ok(Outputs::new().with_batch("out", SeriesRow::write(&rows)?))
    }
}

fn kinds() -> std::result::Result<Vec<KindSpec>, String> {
    let schema = serde_json::json!({
        "type": "object", "additionalProperties": false,
        "properties": { "value": { "type": "number" } }, "required": ["value"]
    });
    let kind = KindSpec::new("dynamic.constant", "constant.py")
        .input("in", port::SERIES, "any series")
        .output("out", port::SERIES, "every value replaced")
        .create_with_schema(schema, |params| {
            let value = params["value"]
                .as_f64()
                .ok_or_else(|| Error::invalid("`value` is not a number"))?;
            Ok(Box::new(Constant(value as f32)) as Box<dyn Node>)
        });
    Ok(vec![kind])
}

emoflow_sdk::export_plugin!(kinds = kinds);

fn series() -> SeriesRow {
    SeriesRow {
        utt_id: "u".into(),
        split: Split::Dev,
        dim: "arousal".into(),
        frame_period: 0.04,
        values: vec![1.0, 2.0],
    }
}

#[test]
fn kinds_found_at_load_are_described_and_run_with_their_json_schema() {
    let plugin = ForeignPlugin::from_table(emoflow_plugin(), "(in-process)").unwrap();
    let kind = plugin.kind("dynamic.constant").expect("described");
    assert_eq!(kind.source_file, "constant.py");
    assert_eq!(kind.params["required"], serde_json::json!(["value"]));
    let out = Harness::new(emoflow_plugin(), "dynamic.constant")
        .param("value", 7.0)
        .rows("in", &[series()])
        .run()
        .unwrap();
    assert_eq!(
        out.rows::<SeriesRow>("out").unwrap()[0].values,
        vec![7.0, 7.0]
    );
    let err = Harness::new(emoflow_plugin(), "dynamic.constant")
        .param("value", "x")
        .rows("in", &[series()])
        .run()
        .unwrap_err();
    assert!(err.message.contains("`value` is not a number"), "{err}");
}

#[test]
fn a_plugin_whose_kinds_cannot_be_found_describes_itself_as_the_reason() {
    fn failed() -> &'static Exported {
        static EXPORTED: OnceLock<Exported> = OnceLock::new();
        EXPORTED.get_or_init(|| Exported::failed("p", "0.1.0", "no interpreter: install one"))
    }
    // SAFETY: the description of a static `Exported` lives as long as it.
    let json = unsafe { describe_shim(failed).to_str() }.unwrap();
    let description: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(
        description,
        serde_json::json!({"error": "no interpreter: install one"})
    );
}
