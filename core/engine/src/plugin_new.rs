//! `emoflow plugin new NAME --family F`: a ready plugin project outside the
//! tree. It holds one kind of the family (with harness tests), depends on
//! the SDK of the emoflow checkout by path and carries that checkout's
//! Cargo.lock (so arrow and the other shared crates are the versions emoflow
//! was built with), and its `graph.toml` swaps the kind into the checkout's
//! demo. The files are the templates under `core/engine/templates/plugin/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::{eprintln, println};

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
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Decode => "decode",
            Family::Cluster => "cluster",
            Family::Feature => "feature",
            Family::Metric => "metric",
        }
    }

    /// (path in the project, template) of the family's own files.
    fn files(self) -> [(&'static str, &'static str); 2] {
        match self {
            Family::Decode => [
                (
                    "src/lib.rs",
                    include_str!("../templates/plugin/decode/lib.rs"),
                ),
                (
                    "graph.toml",
                    include_str!("../templates/plugin/decode/graph.toml.in"),
                ),
            ],
            Family::Cluster => [
                (
                    "src/lib.rs",
                    include_str!("../templates/plugin/cluster/lib.rs"),
                ),
                (
                    "graph.toml",
                    include_str!("../templates/plugin/cluster/graph.toml.in"),
                ),
            ],
            Family::Feature => [
                (
                    "src/lib.rs",
                    include_str!("../templates/plugin/feature/lib.rs"),
                ),
                (
                    "graph.toml",
                    include_str!("../templates/plugin/feature/graph.toml.in"),
                ),
            ],
            Family::Metric => [
                (
                    "src/lib.rs",
                    include_str!("../templates/plugin/metric/lib.rs"),
                ),
                (
                    "graph.toml",
                    include_str!("../templates/plugin/metric/graph.toml.in"),
                ),
            ],
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

/// Runs `emoflow plugin new`: 0 with the project written, 2 on bad usage.
pub fn main(args: &NewArgs) -> ExitCode {
    match create(args) {
        Ok(project) => {
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
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::from(2)
        }
    }
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
    let substitutions = [
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
