//! `emoflow plugin new NAME --family F`: a ready plugin project outside the
//! tree. It holds one kind of the family (with harness tests), depends on
//! the SDK of the emoflow checkout by path and carries that checkout's
//! Cargo.lock (so arrow and the other shared crates are the versions emoflow
//! was built with), and its `graph.toml` swaps the kind into the checkout's
//! demo. The files are the templates under `core/engine/templates/plugin/`.
//!
//! A loss (`--family loss`) links libtorch through `tch`: its project also
//! depends on `emoflow-sdk-tch` of the checkout, gets a `.cargo/config.toml`
//! setting `LIBTORCH` to the checkout's libtorch (its absolute path, from
//! the checkout's own `.cargo/config.toml`) so that `cargo build` in the
//! project links the libtorch the trainer links, and a `build.rs` that gives
//! the plugin an absolute runpath to it, so that it loads without
//! `LD_LIBRARY_PATH` wherever it is copied on this machine.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::println;

/// The families `plugin new` has a template for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    /// A decoder: posteriors and codebook in, predictions out (swapped for
    /// the demo's decode.argmax).
    Decode,
    /// A discretizer: labels in, codebook and classes out (swapped for the
    /// demo's cluster.optimal1d).
    Cluster,
    /// A feature transform: features in, features out (swapped for the
    /// demo's feature.znorm).
    Feature,
    /// A metric of predictions against labels (beside the demo's
    /// metric.ccc of CLS-Raw).
    Metric,
    /// A loss, a tensor function over libtorch tensors that a trainer calls
    /// (swapped for REG-MSE's loss.mse). It links the checkout's libtorch.
    Loss,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Decode => "decode",
            Family::Cluster => "cluster",
            Family::Feature => "feature",
            Family::Metric => "metric",
            Family::Loss => "loss",
        }
    }

    /// (path in the project, template) of the family's own files.
    fn files(self) -> Vec<(&'static str, &'static str)> {
        macro_rules! template {
            ($family:literal, $file:literal) => {
                include_str!(concat!("../templates/plugin/", $family, "/", $file))
            };
        }
        match self {
            Family::Decode => vec![
                ("src/lib.rs", template!("decode", "lib.rs")),
                ("graph.toml", template!("decode", "graph.toml.in")),
            ],
            Family::Cluster => vec![
                ("src/lib.rs", template!("cluster", "lib.rs")),
                ("graph.toml", template!("cluster", "graph.toml.in")),
            ],
            Family::Feature => vec![
                ("src/lib.rs", template!("feature", "lib.rs")),
                ("graph.toml", template!("feature", "graph.toml.in")),
            ],
            Family::Metric => vec![
                ("src/lib.rs", template!("metric", "lib.rs")),
                ("graph.toml", template!("metric", "graph.toml.in")),
            ],
            Family::Loss => vec![
                ("src/lib.rs", template!("loss", "lib.rs")),
                ("tests/trainer.rs", template!("loss", "trainer.rs")),
                ("build.rs", template!("loss", "build.rs")),
                (
                    ".cargo/config.toml",
                    template!("loss", "cargo-config.toml.in"),
                ),
                ("graph.toml", template!("loss", "graph.toml.in")),
            ],
        }
    }

    /// The lines the family adds to `[dependencies]` of Cargo.toml and to
    /// the end of README.md.
    fn additions(self) -> (&'static str, &'static str) {
        match self {
            Family::Loss => (
                include_str!("../templates/plugin/loss/dependencies.toml.in"),
                include_str!("../templates/plugin/loss/README-notes.md"),
            ),
            _ => ("", ""),
        }
    }
}

/// The files every project has.
const COMMON: [(&str, &str); 3] = [
    (
        "Cargo.toml",
        include_str!("../templates/plugin/Cargo.toml.in"),
    ),
    ("README.md", include_str!("../templates/plugin/README.md")),
    (".gitignore", include_str!("../templates/plugin/gitignore")),
];

/// The arguments of `emoflow plugin new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin's name, a Cargo package name: lowercase letters, digits,
    /// `-` and `_`, starting with a letter (e.g. `sticky-argmax`). The kind
    /// is FAMILY.NAME with `_` for `-`.
    pub name: String,
    /// The node family of its one kind.
    #[arg(long, value_enum)]
    pub family: Family,
    /// The directory to create the project in (as D/NAME).
    #[arg(long, value_name = "D", default_value = ".")]
    pub dir: PathBuf,
    /// The emoflow checkout whose SDK the plugin depends on and whose demo
    /// its graph extends [default: the one this emoflow was built from].
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

/// Runs `emoflow plugin new`: the project written, or a usage error (exit 2)
/// naming what is wrong.
pub fn main(args: &NewArgs) -> crate::error::Result<ExitCode> {
    let project = create(args).map_err(crate::error::Error::Usage)?;
    println!(
        "created {} ({}.{})",
        project.display(),
        args.family.name(),
        crate_name(&args.name)
    );
    println!(
        "  cd {} && cargo test --release && cargo build --release",
        project.display()
    );
    println!("  emoflow test --plugin-path target/release graph.toml");
    Ok(ExitCode::SUCCESS)
}

/// `name` as a Rust crate name.
fn crate_name(name: &str) -> String {
    name.replace('-', "_")
}

/// Writes the project and returns its directory.
pub fn create(args: &NewArgs) -> Result<PathBuf, String> {
    let name = &args.name;
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return Err(format!(
            "`{name}` is not a plugin name: use lowercase letters, digits, `-` and `_`, starting with a letter"
        ));
    }
    let repo = match &args.repo {
        Some(repo) => repo.clone(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    };
    let repo = repo.canonicalize().map_err(|e| {
        format!(
            "the emoflow checkout {} ({e}); name one with --repo",
            repo.display()
        )
    })?;
    let (sdk, demo, lock) = (
        repo.join("core/sdk"),
        repo.join("graphs/demo.toml"),
        repo.join("Cargo.lock"),
    );
    for needed in [&sdk.join("Cargo.toml"), &demo, &lock] {
        if !needed.is_file() {
            return Err(format!(
                "{} is not an emoflow checkout: it has no {}; name one with --repo",
                repo.display(),
                needed.display()
            ));
        }
    }
    let project = args.dir.join(name);
    if project.exists() {
        return Err(format!("{} already exists", project.display()));
    }
    let kind = format!("{}.{}", args.family.name(), crate_name(name));
    let text = |path: &Path| {
        let text = path.display().to_string();
        // The paths go into TOML strings as they are.
        if text.contains(['"', '\\']) {
            Err(format!(
                "{text}: a path with `\"` or `\\` cannot go into the project's TOML files"
            ))
        } else {
            Ok(text)
        }
    };
    // A loss links libtorch: the project builds against the checkout's
    // (written into its .cargo/config.toml) and its build.rs gives the
    // library a runpath to it.
    let (sdk_tch, libtorch) = match args.family {
        Family::Loss => (
            text(&repo.join("core/sdk-tch"))?,
            text(&libtorch_of(&repo)?)?,
        ),
        _ => (String::new(), String::new()),
    };
    let substitutions = [
        // First: the lines it adds hold placeholders of their own.
        ("{{family_dependencies}}", args.family.additions().0.into()),
        ("{{family_notes}}", args.family.additions().1.into()),
        ("{{sdk_tch}}", sdk_tch),
        ("{{libtorch}}", libtorch),
        ("{{name}}", name.clone()),
        ("{{crate}}", crate_name(name)),
        ("{{kind}}", kind),
        ("{{family}}", args.family.name().to_string()),
        ("{{sdk}}", text(&sdk)?),
        ("{{demo}}", text(&demo)?),
        ("{{repo}}", text(&repo)?),
    ];
    let write = |path: &str, contents: &str| {
        let file = project.join(path);
        let rendered = substitutions
            .iter()
            .fold(contents.to_string(), |text, (key, value)| {
                text.replace(key, value)
            });
        std::fs::create_dir_all(file.parent().expect("a file in the project"))
            .and_then(|()| std::fs::write(&file, rendered))
            .map_err(|e| format!("{}: {e}", file.display()))
    };
    for (path, template) in COMMON.into_iter().chain(args.family.files()) {
        write(path, template)?;
    }
    // The checkout's lock file: cargo keeps the entries the plugin uses, at
    // the checkout's versions.
    std::fs::copy(&lock, project.join("Cargo.lock"))
        .map_err(|e| format!("{}: {e}", lock.display()))?;
    Ok(project)
}

/// The libtorch the checkout at `repo` builds its loss and model plugins
/// with: `LIBTORCH` of its `.cargo/config.toml` (a path relative to the
/// checkout there, its `.venv`'s torch), which must hold libtorch.
fn libtorch_of(repo: &Path) -> Result<PathBuf, String> {
    let config = repo.join(".cargo/config.toml");
    let value: toml::Table = std::fs::read_to_string(&config)
        .map_err(|e| e.to_string())
        .and_then(|text| text.parse().map_err(|e: toml::de::Error| e.to_string()))
        .map_err(|e| {
            format!(
                "{}: {e}; the loss family needs the checkout's LIBTORCH",
                config.display()
            )
        })?;
    let entry = value.get("env").and_then(|env| env.get("LIBTORCH"));
    let (path, relative) = match entry {
        Some(toml::Value::String(path)) => (path.as_str(), false),
        Some(toml::Value::Table(table)) => (
            table
                .get("value")
                .and_then(toml::Value::as_str)
                .unwrap_or_default(),
            table
                .get("relative")
                .and_then(toml::Value::as_bool)
                .unwrap_or(false),
        ),
        _ => ("", false),
    };
    if path.is_empty() {
        return Err(format!(
            "{} sets no [env] LIBTORCH; the loss family builds against the checkout's libtorch",
            config.display()
        ));
    }
    let libtorch = if relative {
        repo.join(path)
    } else {
        PathBuf::from(path)
    };
    if !libtorch.join("lib/libtorch_cpu.so").is_file() {
        return Err(format!(
            "{} holds no libtorch (lib/libtorch_cpu.so), which the loss family builds against: \
             run scripts/setup-venv.sh in {}",
            libtorch.display(),
            repo.display()
        ));
    }
    Ok(libtorch)
}
