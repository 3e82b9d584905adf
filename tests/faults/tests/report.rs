//! The run's page (`OUT/index.html`), `emoflow report` and `emoflow compare`:
//! what a person looks at after a run, end to end through the binary.

use std::path::Path;

use emoflow_faults::{Scratch, bin_dir, emoflow, graph, repo_root, run, stderr};

fn page(dir: &Scratch) -> String {
    std::fs::read_to_string(dir.join("out/index.html")).expect("the run wrote index.html")
}

/// Nothing on the page is fetched: no remote source or link, no external
/// script or stylesheet.
fn assert_self_contained(html: &str) {
    for fetch in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "<script src",
        "<link",
        "@import",
        "url(http",
    ] {
        assert!(
            !html.contains(fetch),
            "the page fetches something ({fetch})"
        );
    }
}

fn nodes(report: &serde_json::Value) -> Vec<(&String, &serde_json::Value)> {
    report["nodes"].as_object().unwrap().iter().collect()
}

#[test]
fn a_training_sweep_writes_a_self_contained_page_with_every_node_trial_and_curve() {
    let dir = Scratch::new("report", "sweep");
    let (out, report) = run(&graph("train_sweep.toml"), &dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = page(&dir);
    assert_self_contained(&html);

    for (name, node) in nodes(&report) {
        assert!(
            html.contains(&format!("<tr id=\"node-{name}\">")),
            "a row for node {name}"
        );
        assert!(
            html.contains(&format!("<a href=\"#node-{name}\">")),
            "the drawing links {name} to its row"
        );
        if node["kind"] == "model.blstm" {
            assert_eq!(
                node["shows"]["log"], "curves",
                "model.blstm declares its log as curves"
            );
            let section = html
                .split(&format!("id=\"curves-{name}\""))
                .nth(1)
                .expect("a curve section per model");
            let section = section.split("<h3").next().unwrap();
            assert!(
                section.contains("<polyline"),
                "the curves of {name} are drawn"
            );
            assert!(
                section.contains("class=\"best\""),
                "the best dev-CCC epoch of {name} is marked"
            );
        }
    }

    let sweep = &report["sweep"];
    let trials = sweep["trials"].as_array().unwrap();
    assert_eq!(
        html.matches("<tr class=\"trial\">").count(),
        trials.len(),
        "one row per trial"
    );
    let selections: usize = sweep["selected"]
        .as_object()
        .unwrap()
        .values()
        .map(|g| g.as_object().unwrap().len())
        .sum();
    assert_eq!(
        html.matches("class=\"n sel\"").count(),
        selections,
        "each rule's selected trial marked per group"
    );
    assert!(
        html.contains("<table class=\"sortable\" id=\"trials\">"),
        "the trial table sorts by its headers"
    );
    assert!(
        html.contains("<table class=\"md\">"),
        "the Markdown table the graph wrote is shown as a table"
    );
    assert!(
        html.contains("href=\"table/table.csv\""),
        "written files are linked relative to the page"
    );
}

#[test]
fn a_failed_run_writes_a_page_naming_the_failed_node_and_its_error() {
    let dir = Scratch::new("report", "failed");
    let (out, report) = run(&graph("panic.toml"), &dir, &[]);
    assert!(!out.status.success());
    let html = page(&dir);
    let error = report["nodes"]["boom"]["error"].as_str().unwrap();
    let row = html
        .split("<tr id=\"node-boom\">")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(row.contains("failed"), "{row}");
    assert!(row.contains(error), "the row holds the full error: {row}");
    assert!(
        html.contains("<span class=\"st failed\">failed</span></h1>"),
        "the run's status heads the page"
    );
}

#[test]
fn report_redraws_the_page_the_run_wrote() {
    let dir = Scratch::new("report", "redraw");
    let (out, _) = run(&graph("panic.toml"), &dir, &[]);
    assert!(!out.status.success());
    let written = page(&dir);
    std::fs::remove_file(dir.join("out/index.html")).unwrap();
    let out = emoflow()
        .arg("report")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(page(&dir), written);
}

#[test]
fn report_on_a_directory_without_a_valid_run_json_names_the_file() {
    let dir = Scratch::new("report", "missing");
    let out = emoflow().arg("report").arg(&*dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&dir.join("run.json").display().to_string()),
        "{}",
        stderr(&out)
    );

    std::fs::write(dir.join("run.json"), "{\"nodes\": 3").unwrap();
    let out = emoflow().arg("report").arg(&*dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("run.json: not an emoflow run.json"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn demo(dir: &Scratch, name: &str, alphas: &str) {
    let out = emoflow()
        .arg("run")
        .arg(repo_root().join("graphs/demo.toml"))
        .args([
            "--preset-test",
            "--set",
            &format!("alphas={alphas}"),
            "--out",
        ])
        .arg(dir.join(name))
        .arg("--cache")
        .arg(dir.join("cache"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn compare_lists_the_changed_parameter_and_the_selected_metrics_that_moved() {
    let dir = Scratch::new("report", "compare");
    demo(&dir, "a", "[0.0,4.0]");
    demo(&dir, "b", "[0.0,8.0]");
    let (a, b) = (dir.join("a"), dir.join("b"));
    let html = dir.join("diff.html");
    let out = emoflow()
        .arg("compare")
        .args([&a, &b])
        .arg("--changed")
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |start: &str| {
        text.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no `{start}` in:\n{text}"))
    };

    let alphas: Vec<&str> = line("alphas ").split_whitespace().collect();
    assert_eq!(alphas, ["alphas", "[0.0,4.0]", "[0.0,8.0]"]);
    // The decoder's arousal selection moved from alpha 4 to alpha 8.
    let moved = line("decoded_ccc (selected) ccc arousal dev system=CLS-Decoded");
    let cells: Vec<f64> = moved
        .split_whitespace()
        .rev()
        .take(3)
        .map(|c| c.parse().unwrap())
        .collect();
    let (delta, after, before) = (cells[0], cells[1], cells[2]);
    assert!(
        (after - before - delta).abs() < 2e-4 && delta != 0.0,
        "{moved}"
    );
    let params = text
        .lines()
        .take_while(|l| !l.starts_with("metric"))
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(
        params, 2,
        "only the header and the changed parameter:\n{text}"
    );

    let page = std::fs::read_to_string(&html).unwrap();
    assert_self_contained(&page);
    assert!(
        page.contains("<td>alphas</td><td>[0.0,4.0]</td><td>[0.0,8.0]</td>"),
        "the page lists the change"
    );
    assert!(page.contains("decoded_ccc (selected) ccc arousal dev system=CLS-Decoded"));
}

#[test]
fn compare_without_a_run_json_names_the_file() {
    let dir = Scratch::new("report", "compare-missing");
    let out = emoflow()
        .arg("compare")
        .arg(&*dir)
        .arg(Path::new("elsewhere"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&dir.join("run.json").display().to_string()),
        "{}",
        stderr(&out)
    );
}

/// Chromium, when installed (Debian's `chromium`; CI installs it).
fn chromium() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.exists())
}

/// Records script errors from the start, then, after the page's own script
/// ran, sorts the trial table both ways by the metric column with the most
/// distinct values (the trial column where every metric ties, as in the
/// demo's tiny preset), and writes that column's cells and what the DOM
/// holds into `<pre id="probe">` for `--dump-dom`.
const PROBE_START: &str = "<script>window.errors=[];window.addEventListener('error',function(e){window.errors.push(String(e.message))});</script>";
const PROBE_END: &str = "<script>(function(){var t=document.getElementById('trials'),th=t.tHead.rows[0].cells,\
ids=function(){return Array.from(t.tBodies[0].rows).map(function(r){return r.cells[0].textContent})};\
var rows=Array.from(t.tBodies[0].rows),best=0,most=1;\
for(var c=1;c<th.length;c++){var n=new Set(rows.map(function(r){return r.cells[c].textContent})).size;if(n>most){most=n;best=c}}\
var column=rows.map(function(r){return [r.cells[0].textContent,r.cells[best].textContent]});\
var before=ids();th[best].click();var asc=ids();th[best].click();var desc=ids();\
var p=document.createElement('pre');p.id='probe';p.textContent=JSON.stringify({before:before,asc:asc,desc:desc,column:column,\
models:document.querySelectorAll('h3.model').length,curves:document.querySelectorAll('h3.model + .charts svg.curve polyline').length,\
graph:document.querySelectorAll('#graph-svg rect').length,errors:window.errors});document.body.appendChild(p)})();</script>";

/// The demo's [test] preset opened in headless Chromium. CI installs
/// Chromium and sets EMOFLOW_REQUIRE_CHROMIUM (scripts/test.sh), so that
/// there the test cannot pass by skipping.
#[test]
fn in_a_browser_the_demo_page_shows_trials_and_curves_and_sorts_without_errors() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("EMOFLOW_REQUIRE_CHROMIUM").is_none(),
            "no `chromium` on PATH, and the run requires it"
        );
        eprintln!("skipped: no `chromium` on PATH (apt-get install chromium)");
        return;
    };
    let dir = Scratch::new("report", "browser");
    let (out, report) = run(
        &repo_root().join("graphs/demo.toml"),
        &dir,
        &["--preset-test"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let probed = page(&dir)
        .replacen("<head>", &format!("<head>{PROBE_START}"), 1)
        .replacen("</body>", &format!("{PROBE_END}</body>"), 1);
    let file = dir.join("out/probed.html");
    std::fs::write(&file, probed).unwrap();
    let headless = |what: &str| {
        let out = std::process::Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--window-size=1400,3000",
                what,
            ])
            .arg(format!("file://{}", file.display()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Kept beside the binary for a person to look at (the scratch goes).
    let screenshot = bin_dir().join("report-page.png");
    headless(&format!("--screenshot={}", screenshot.display()));
    assert!(
        screenshot.exists(),
        "chromium took the screenshot {}",
        screenshot.display()
    );
    let dom = headless("--dump-dom");
    let probe = dom
        .split("<pre id=\"probe\">")
        .nth(1)
        .and_then(|p| p.split("</pre>").next())
        .expect("the probe ran");
    let probe: serde_json::Value = serde_json::from_str(&probe.replace("&amp;", "&")).unwrap();

    assert_eq!(probe["errors"], serde_json::json!([]), "no script error");
    assert_eq!(
        probe["graph"].as_u64().unwrap() as usize,
        report["nodes"].as_object().unwrap().len(),
        "a box per node"
    );
    let trials = report["sweep"]["trials"].as_array().unwrap();
    assert_eq!(
        probe["before"].as_array().unwrap().len(),
        trials.len(),
        "one row per trial"
    );
    let models = report["nodes"]
        .as_object()
        .unwrap()
        .values()
        .filter(|n| n["kind"] == "model.blstm")
        .count() as u64;
    assert!(models >= 3, "the demo trains three systems: {models}");
    assert_eq!(probe["models"], models, "a curve section per trained model");
    assert!(
        probe["curves"].as_u64().unwrap() >= models * 3,
        "loss, dev CCC and lr drawn for every model"
    );

    // The clicked column's cells: numbers (a selected trial's carries ★),
    // or the trial names; sorted as the page's stable sort does.
    let column: Vec<(String, Result<f64, String>)> = probe["column"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cell| {
            let text = cell[1].as_str().unwrap();
            let number = text.trim_matches(|c: char| !(c.is_ascii_digit() || c == '-' || c == '.'));
            (
                cell[0].as_str().unwrap().to_string(),
                number.parse::<f64>().map_err(|_| text.to_string()),
            )
        })
        .collect();
    let order = |a: &Result<f64, String>, b: &Result<f64, String>| match (a, b) {
        (Ok(x), Ok(y)) => x.total_cmp(y),
        (a, b) => format!("{a:?}").cmp(&format!("{b:?}")),
    };
    let mut ascending = column.clone();
    ascending.sort_by(|a, b| order(&a.1, &b.1));
    let mut descending = ascending.clone();
    descending.sort_by(|a, b| order(&b.1, &a.1));
    assert_ne!(
        ascending, descending,
        "a column whose values differ, so that sorting reorders: {column:?}"
    );
    let ids = |rows: &[(String, Result<f64, String>)]| {
        rows.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        probe["asc"],
        serde_json::json!(ids(&ascending)),
        "a first click sorts ascending"
    );
    assert_eq!(
        probe["desc"],
        serde_json::json!(ids(&descending)),
        "a second click sorts descending"
    );
}
