//! `io.synthetic_corpus`: writes the corpus `source.synthetic` generates to
//! a directory in the AVEC 2016 layout (16-bit WAV recordings and
//! gold-standard ARFF labels). `emoflow synth` runs this one node
//! (`graphs/synth.toml`), so the engine needs no node crate for it.

use std::path::Path;

use emoflow_sdk::prelude::{Context, FileRow, Inputs, KindSpec, Node, Outputs, PortRows, port};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::synthetic::{SynthOptions, write_corpus};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The directory to write the corpus into (created).
    pub dir: String,
    /// The corpus: the parameters of `source.synthetic`.
    #[serde(default)]
    pub corpus: SynthOptions,
}

struct WriteCorpus(Params);

impl Node for WriteCorpus {
    fn run(&mut self, _ctx: &Context, _inputs: Inputs) -> emoflow_sdk::Result<Outputs> {
        let summary = write_corpus(Path::new(&self.0.dir), &self.0.corpus)?;
        let rows: Vec<FileRow> = summary
            .files
            .iter()
            .map(|path| FileRow {
                path: path.display().to_string(),
                format: path
                    .extension()
                    .map(|e| e.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            })
            .collect();
        Ok(Outputs::new().with_batch("files", FileRow::write(&rows)?))
    }
}

/// The `io.synthetic_corpus` node kind.
pub fn kind() -> KindSpec {
    KindSpec::new("io.synthetic_corpus", file!())
        .doc(
            "Writes the deterministic synthetic corpus of `source.synthetic` (parameters `corpus`) to `dir` \
             in the AVEC 2016 layout: 16-bit WAV recordings and gold-standard ARFF labels.",
        )
        .output("files", port::FILES, "the files written: one `wav` per recording, one `arff` per labelled dimension")
        .not_cacheable()
        .create(|p: Params| {
            p.corpus.validate()?;
            Ok(WriteCorpus(p))
        })
}
