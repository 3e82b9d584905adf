//! `report.plot`: the paper's Figure 3 as PNG and SVG files.

use emoflow_sdk::harness::{Harness, HarnessOutput};
use emoflow_sdk::prelude::*;
use emoflow_sdk::tracing::Level;

const FRAMES: usize = 120;

fn series(utt: &str, split: Split, dim: &str, phase: f32) -> SeriesRow {
    SeriesRow {
        utt_id: utt.into(),
        split,
        dim: dim.into(),
        frame_period: 0.04,
        values: (0..FRAMES)
            .map(|t| (t as f32 * 0.1 + phase).sin() * 0.4)
            .collect(),
    }
}

/// Gold standard or predictions of `recordings`, both dimensions.
fn rows(recordings: &[(&str, Split)], phase: f32) -> Vec<SeriesRow> {
    let mut out = Vec::new();
    for &(utt, split) in recordings {
        out.push(series(utt, split, "arousal", phase));
        out.push(series(utt, split, "valence", phase + 1.0));
    }
    out
}

/// A corpus whose test split is labelled; ids out of order on purpose.
fn labelled() -> [(&'static str, Split); 4] {
    [
        ("test_2", Split::Test),
        ("test_1", Split::Test),
        ("dev_1", Split::Dev),
        ("train_1", Split::Train),
    ]
}

fn plot() -> Harness {
    Harness::new(emoflow_report::emoflow_plugin(), "report.plot")
}

fn files(out: &HarnessOutput) -> (FileRow, FileRow) {
    let files: Vec<FileRow> = out.rows("files").unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(
        (files[0].format.as_str(), files[1].format.as_str()),
        ("png", "svg")
    );
    (files[0].clone(), files[1].clone())
}

/// Width, height and RGB pixels of a PNG file.
fn read_png(path: &str) -> (u32, u32, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    pixels.truncate(info.buffer_size());
    (info.width, info.height, pixels)
}

/// The SVG's lines with at least `min_points` points, as (stroke, points).
fn long_lines(svg: &str, min_points: usize) -> Vec<(String, usize)> {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("polyline") || n.has_tag_name("path"))
        .map(|n| {
            let points = n.attribute("points").or(n.attribute("d")).unwrap_or("");
            (
                n.attribute("stroke").unwrap_or("").to_string(),
                points.split_whitespace().count(),
            )
        })
        .filter(|(_, n)| *n >= min_points)
        .collect()
}

#[test]
fn draws_the_gold_standard_against_the_predictions_as_png_and_svg() {
    let out = plot()
        .rows("labels", &rows(&labelled(), 0.0))
        .rows("predictions", &rows(&labelled(), 0.3))
        .run()
        .unwrap();
    let (png, svg) = files(&out);
    assert_eq!(
        png.path,
        out.artifact_dir.join("figure3.png").display().to_string()
    );
    assert_eq!(
        svg.path,
        out.artifact_dir.join("figure3.svg").display().to_string()
    );

    let (width, height, _) = read_png(&png.path);
    assert_eq!(
        (width, height),
        (1000, 2 * 300),
        "1000 x 300 pixels per dimension panel"
    );

    let svg = std::fs::read_to_string(&svg.path).unwrap();
    let lines = long_lines(&svg, FRAMES / 2);
    assert_eq!(
        lines.len(),
        2 * 2,
        "gold standard and prediction, in two panels: {lines:?}"
    );
    assert!(
        svg.contains("test_1"),
        "the first test recording in id order is drawn"
    );
    assert!(!svg.contains("test_2"));
    assert!(svg.contains("arousal") && svg.contains("valence") && svg.contains("time (s)"));
}

#[test]
fn the_decoded_predictions_are_a_third_line_when_wired() {
    let out = plot()
        .param("dims", ["valence"])
        .param("utterance", "dev_1")
        .param("name", "cls")
        .param("title", "CLS-Raw and CLS-Decoded")
        .rows("labels", &rows(&labelled(), 0.0))
        .rows("predictions", &rows(&labelled(), 0.3))
        .rows("decoded", &rows(&labelled(), 0.6))
        .run()
        .unwrap();
    let (png, svg) = files(&out);
    assert!(png.path.ends_with("cls.png") && svg.path.ends_with("cls.svg"));
    let svg = std::fs::read_to_string(&svg.path).unwrap();
    let lines = long_lines(&svg, FRAMES / 2);
    assert_eq!(
        lines.len(),
        3,
        "gold standard, prediction and decoded: {lines:?}"
    );
    let mut strokes: Vec<&str> = lines.iter().map(|(s, _)| s.as_str()).collect();
    strokes.sort();
    strokes.dedup();
    assert_eq!(strokes.len(), 3, "three colours: {lines:?}");
    assert!(
        svg.contains("dev_1") && svg.contains("CLS-Raw and CLS-Decoded") && svg.contains("decoded")
    );
    assert!(!svg.contains("arousal"), "only the dimensions asked for");
}

#[test]
fn text_is_drawn_into_the_png_without_system_fonts() {
    let out = plot()
        .param("dims", ["arousal"])
        .param("title", "Figure 3")
        .rows("labels", &rows(&labelled(), 0.0))
        .rows("predictions", &rows(&labelled(), 0.3))
        .run()
        .unwrap();
    let (png, _) = files(&out);
    let (width, height, pixels) = read_png(&png.path);
    assert_eq!(
        (width, height),
        (1000, 300 + 40),
        "one panel under a title band"
    );
    // The title band holds nothing but the title's glyphs.
    let band = &pixels[..(width * 30 * 3) as usize];
    let inked = band
        .chunks(3)
        .filter(|p| p.iter().all(|&c| c < 128))
        .count();
    assert!(inked > 50, "the title is drawn ({inked} dark pixels)");
}

#[test]
fn falls_back_to_dev_when_the_test_split_has_no_labels() {
    let recordings = [
        ("train_1", Split::Train),
        ("dev_2", Split::Dev),
        ("dev_1", Split::Dev),
    ];
    let mut predictions = rows(&recordings, 0.3);
    predictions.extend(rows(&[("test_1", Split::Test)], 0.3));
    let out = plot()
        .rows("labels", &rows(&recordings, 0.0))
        .rows("predictions", &predictions)
        .run()
        .unwrap();
    assert!(
        out.logs.iter().any(|(level, line)| *level == Level::WARN
            && line.contains("`test` has no labels")
            && line.contains("`dev`")),
        "{:?}",
        out.logs
    );
    let (_, svg) = files(&out);
    let svg = std::fs::read_to_string(&svg.path).unwrap();
    assert!(
        svg.contains("dev_1 (dev)"),
        "the first dev recording is drawn"
    );
}

#[test]
fn an_unknown_utterance_is_an_error_naming_the_available_ones() {
    let err = plot()
        .param("utterance", "test_9")
        .rows("labels", &rows(&labelled(), 0.0))
        .rows("predictions", &rows(&labelled(), 0.3))
        .run()
        .unwrap_err();
    assert!(err.message.contains("`utterance` = `test_9`"), "{err}");
    for utt in ["dev_1", "test_1", "test_2", "train_1"] {
        assert!(err.message.contains(&format!("`{utt}`")), "{err}");
    }
}

#[test]
fn an_utterance_without_predictions_is_an_error_naming_the_predicted_ones() {
    let err = plot()
        .param("utterance", "train_1")
        .rows("labels", &rows(&labelled(), 0.0))
        .rows("predictions", &rows(&[("test_1", Split::Test)], 0.3))
        .run()
        .unwrap_err();
    assert!(err.message.contains("`utterance` = `train_1`"), "{err}");
    assert!(
        err.message.contains("input `predictions`") && err.message.contains("`test_1`"),
        "{err}"
    );
}

#[test]
fn an_unknown_dimension_is_an_error_naming_the_available_ones() {
    let err = plot()
        .param("dims", ["arousal", "dominance"])
        .rows("labels", &rows(&labelled(), 0.0))
        .rows("predictions", &rows(&labelled(), 0.3))
        .run()
        .unwrap_err();
    assert!(
        err.message.contains("`dims`") && err.message.contains("`dominance`"),
        "{err}"
    );
    assert!(err.message.contains("`arousal`, `valence`"), "{err}");
}

#[test]
fn a_decoded_input_without_the_recording_is_an_error() {
    let err = plot()
        .rows("labels", &rows(&labelled(), 0.0))
        .rows("predictions", &rows(&labelled(), 0.3))
        .rows("decoded", &rows(&[("dev_1", Split::Dev)], 0.6))
        .run()
        .unwrap_err();
    assert!(
        err.message
            .contains("input `decoded` has no series of recording `test_1`"),
        "{err}"
    );
    assert!(err.message.contains("`dev_1`"), "{err}");
}

#[test]
fn without_labels_the_predictions_are_drawn_alone() {
    let out = plot()
        .rows("predictions", &rows(&labelled(), 0.3))
        .rows("decoded", &rows(&labelled(), 0.6))
        .run()
        .unwrap();
    let (png, svg) = files(&out);
    let (width, height, _) = read_png(&png.path);
    assert_eq!((width, height), (1000, 2 * 300));
    let svg = std::fs::read_to_string(&svg.path).unwrap();
    let lines = long_lines(&svg, FRAMES / 2);
    assert_eq!(
        lines.len(),
        2 * 2,
        "prediction and decoded, in two panels: {lines:?}"
    );
    assert!(
        svg.contains("test_1 (test)"),
        "the first predicted recording of the test split"
    );
    assert!(svg.contains("prediction") && svg.contains("decoded"));
    assert!(!svg.contains("gold standard"), "no gold line in the legend");
}

#[test]
fn a_recording_without_labels_is_drawn_when_others_have_them() {
    // Labels wired but empty, as from a source without labels: the default
    // recording comes from the predictions.
    let out = plot()
        .param("split", "dev")
        .rows("labels", &Vec::<SeriesRow>::new())
        .rows("predictions", &rows(&labelled(), 0.3))
        .run()
        .unwrap();
    let (_, svg) = files(&out);
    let svg = std::fs::read_to_string(&svg.path).unwrap();
    assert!(
        svg.contains("dev_1 (dev)"),
        "the first predicted dev recording"
    );
    assert_eq!(long_lines(&svg, FRAMES / 2).len(), 2);

    let out = plot()
        .param("utterance", "test_2")
        .rows("labels", &rows(&[("dev_1", Split::Dev)], 0.0))
        .rows("predictions", &rows(&labelled(), 0.3))
        .run()
        .unwrap();
    let (_, svg) = files(&out);
    let svg = std::fs::read_to_string(&svg.path).unwrap();
    assert!(svg.contains("test_2 (test)"), "the recording asked for");
    assert_eq!(long_lines(&svg, FRAMES / 2).len(), 2, "predictions only");
    assert!(!svg.contains("gold standard"));
}

#[test]
fn each_draws_one_figure_per_predicted_recording() {
    let out = plot()
        .param("each", true)
        .param("name", "pred")
        .param("title", "CLS-Raw")
        .param("dims", ["arousal"])
        .rows("labels", &rows(&[("dev_1", Split::Dev)], 0.0))
        .rows(
            "predictions",
            &rows(&[("test_2", Split::Test), ("dev_1", Split::Dev)], 0.3),
        )
        .run()
        .unwrap();
    let files: Vec<FileRow> = out.rows("files").unwrap();
    let got: Vec<(String, &str)> = files
        .iter()
        .map(|f| {
            let name = std::path::Path::new(&f.path).file_name().unwrap();
            (name.to_string_lossy().into_owned(), f.format.as_str())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("pred-dev_1.png".to_string(), "png"),
            ("pred-dev_1.svg".to_string(), "svg"),
            ("pred-test_2.png".to_string(), "png"),
            ("pred-test_2.svg".to_string(), "svg"),
        ],
        "a PNG and an SVG per recording, in id order"
    );
    for (file, (utt, gold)) in files.chunks(2).zip([("dev_1", true), ("test_2", false)]) {
        let (width, height, _) = read_png(&file[0].path);
        assert_eq!(
            (width, height),
            (1000, 300 + 40),
            "one panel under the title band"
        );
        let svg = std::fs::read_to_string(&file[1].path).unwrap();
        assert!(svg.contains(&format!("CLS-Raw: {utt}")), "{utt}: title");
        assert_eq!(svg.contains("gold standard"), gold, "{utt}");
        assert_eq!(
            long_lines(&svg, FRAMES / 2).len(),
            1 + usize::from(gold),
            "{utt}"
        );
    }
}

#[test]
fn the_node_is_a_sink_that_reruns_every_time() {
    assert!(!emoflow_report::plot::spec().cacheable);
    let err = plot()
        .param("colour", "red")
        .rows("labels", &rows(&labelled(), 0.0))
        .rows("predictions", &rows(&labelled(), 0.3))
        .run()
        .unwrap_err();
    assert!(
        err.message.contains("colour"),
        "unknown parameters are refused: {err}"
    );
}
