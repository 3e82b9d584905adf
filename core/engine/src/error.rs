//! The engine's error: what a command of `emoflow` stops with. The variant
//! says what went wrong and fixes the exit status (`Error::exit_code`).

use std::path::PathBuf;

use crate::diag::{Diagnostic, Sources};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory that could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A command line asking for what cannot be done: a flag's value, a
    /// place that cannot hold the output.
    #[error("{0}")]
    Usage(String),
    /// A graph's problems, each at its place in its sources.
    #[error("{} error{} found", .diags.len(), if .diags.len() == 1 { "" } else { "s" })]
    Graph {
        sources: Box<Sources>,
        diags: Vec<Diagnostic>,
    },
    /// Plugins that differ from the graph's lock file (`run --locked`).
    #[error("{}", .0.join("; "))]
    Locked(Vec<String>),
    /// A bundle that `predict` cannot use.
    #[error("{0}")]
    Bundle(String),
    /// A system that `export` cannot write as a bundle.
    #[error("{0}")]
    Export(String),
    /// An error crossing from the SDK: the cache, a plugin, a node.
    #[error(transparent)]
    Sdk(#[from] emoflow_sdk::Error),
    /// Slurm could not take or run the jobs.
    #[error("{0}")]
    Slurm(String),
    /// Work that failed: a lock file, a manual page.
    #[error("{0}")]
    Failed(String),
    /// Any of the above, with where it happened.
    #[error("{context}: {source}")]
    Context { context: String, source: Box<Error> },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Prefixes the message with where it happened.
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// 2 for what the user gave (command line, graph, lock, bundle), 1 for
    /// work that failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Graph { .. } | Error::Locked(_) | Error::Bundle(_) => 2,
            Error::Io { .. }
            | Error::Export(_)
            | Error::Sdk(_)
            | Error::Slurm(_)
            | Error::Failed(_) => 1,
            Error::Context { source, .. } => source.exit_code(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
