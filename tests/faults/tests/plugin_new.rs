//! `emoflow plugin new`: the generated project, unmodified, builds out of
//! tree, passes its own tests and `emoflow plugin check`, and runs in the
//! demo; bad names and existing directories are refused.

use std::path::Path;
use std::process::Command;

use emoflow_faults::{Scratch, bin_dir, emoflow, repo_root, stderr};

/// `cargo SUBCOMMAND --release` of the project in `dir`, into the target
/// directory the example plugin uses too (scripts/test.sh), so that the SDK
/// and its dependencies build once for both. It runs in the project, as its
/// author would, so that cargo reads the project's `.cargo/config.toml`
/// (the loss's LIBTORCH), and without the LIBTORCH this suite may have from
/// the checkout's configuration.
fn cargo(subcommand: &str, project: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(project)
        .env_remove("LIBTORCH")
        .args([subcommand, "--release", "--quiet", "--manifest-path"])
        .arg(project.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(repo_root().join("target/out-of-tree"))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cargo {subcommand} of {} failed",
        project.display()
    );
}

#[test]
fn each_template_builds_out_of_tree_passes_its_tests_and_the_check_and_runs_in_the_demo() {
    let dir = Scratch::new("plugin-new", "templates");
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let templates = [
        ("decode", "sticky-argmax", "decode.sticky_argmax"),
        ("cluster", "equal-share", "cluster.equal_share"),
        ("feature", "mean-norm", "feature.mean_norm"),
        ("metric", "abs-error", "metric.abs_error"),
        ("loss", "huber", "loss.huber"),
    ];
    for (family, name, kind) in templates {
        let out = emoflow()
            .args(["plugin", "new", name, "--family", family, "--dir"])
            .arg(&*dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let project = dir.join(name);
        assert!(
            project.join("Cargo.lock").is_file(),
            "the checkout's lock file pins the versions"
        );

        cargo("test", &project);
        cargo("build", &project);
        let lib = format!("lib{}.so", name.replace('-', "_"));
        std::fs::copy(
            repo_root().join("target/out-of-tree/release").join(&lib),
            plugins.join(&lib),
        )
        .unwrap();

        // The check loads the library alone, from a directory it was copied
        // to: the loss finds libtorch by its own runpath, as the host's
        // fallback (EMOFLOW_LIBTORCH, core/engine/src/libtorch.rs) leads
        // nowhere.
        let check = Command::new(bin_dir().join("emoflow"))
            .env("EMOFLOW_LIBTORCH", dir.join("no-libtorch"))
            .env_remove("LD_LIBRARY_PATH")
            .args(["plugin", "check"])
            .arg(plugins.join(&lib))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&check.stdout);
        assert_eq!(check.status.code(), Some(0), "{text}{}", stderr(&check));
        assert!(text.contains(&format!("ok   {kind}")), "{text}");
    }
    // Every graph (the demo with each kind in it), their [test] presets and
    // expectations; one cache, so each reuses what does not depend on its
    // kind. No LD_LIBRARY_PATH and no fallback here either.
    let out = emoflow()
        .env("EMOFLOW_LIBTORCH", dir.join("no-libtorch"))
        .env_remove("LD_LIBRARY_PATH")
        .arg("--plugin-path")
        .arg(&plugins)
        .arg("test")
        .args(templates.map(|(_, name, _)| dir.join(name).join("graph.toml")))
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--cache")
        .arg(dir.join("cache"))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("5 passed, 0 failed"), "{text}");
    for (_, name, kind) in templates {
        let report = std::fs::read_to_string(dir.join("out").join(name).join("run.json")).unwrap();
        assert!(
            report.contains(&format!("\"{kind}\"")),
            "{kind} ran in the demo"
        );
    }
}

#[test]
fn a_bad_name_or_an_existing_directory_is_refused_naming_it() {
    let dir = Scratch::new("plugin-new", "refused");
    let new = |name: &str| {
        emoflow()
            .args(["plugin", "new", name, "--family", "decode", "--dir"])
            .arg(&*dir)
            .output()
            .unwrap()
    };
    let out = new("My Plugin");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`My Plugin` is not a plugin name"),
        "{}",
        stderr(&out)
    );
    std::fs::create_dir(dir.join("taken")).unwrap();
    let out = new("taken");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("taken already exists"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_dir(dir.join("taken")).unwrap().count(),
        0,
        "nothing written into it"
    );
}
