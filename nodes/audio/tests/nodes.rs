//! Every node kind of the audio plugin run in-process through the real ABI
//! (the SDK harness): ports, parameters, outputs, errors and progress.

use emoflow_audio::corpus::Split;
use emoflow_audio::fbank::{Fbank, FbankOptions, utterance_seed};
use emoflow_audio::synthetic::{SynthOptions, synth_recording, write_corpus};
use emoflow_audio::wav::{i16_to_f32, write_wav_i16};
use emoflow_sdk::foreign::ForeignPlugin;
use emoflow_sdk::harness::{Harness, HarnessOutput};
use emoflow_sdk::prelude::*;

fn node(kind: &str) -> Harness {
    Harness::new(emoflow_audio::emoflow_plugin(), kind)
}

fn synth(seconds: f64) -> SynthOptions {
    SynthOptions {
        seconds,
        per_split: 1,
        seed: 3,
        ..SynthOptions::default()
    }
}

fn tone(rate: u32, seconds: f64, freq: f32) -> Vec<f32> {
    (0..(seconds * f64::from(rate)) as usize)
        .map(|i| 0.3 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
        .collect()
}

fn audio_row(utt: &str, split: Split, rate: u32, samples: Vec<f32>) -> AudioRow {
    AudioRow {
        utt_id: utt.into(),
        split,
        sample_rate: rate,
        samples,
    }
}

fn feature_row(utt: &str, split: Split, dims: usize, period: f64, frames: Vec<f32>) -> FeatureRow {
    FeatureRow {
        utt_id: utt.into(),
        split,
        dims,
        frame_period: period,
        frames,
    }
}

fn series_row(utt: &str, dim: &str, period: f64, values: Vec<f32>) -> SeriesRow {
    SeriesRow {
        utt_id: utt.into(),
        split: Split::Train,
        dim: dim.into(),
        frame_period: period,
        values,
    }
}

fn period_of(out: &HarnessOutput, port: &str, column: &str) -> f64 {
    let schema = out.batches(port)[0].schema();
    emoflow_sdk::conventions::frame_period_of(schema.field_with_name(column).unwrap()).unwrap()
}

#[test]
fn the_plugin_describes_every_kind_from_the_file_named_after_it() {
    let plugin = ForeignPlugin::from_table(emoflow_audio::emoflow_plugin(), "test").unwrap();
    let expected = [
        ("source.avec2016", "avec2016.rs"),
        ("source.csv", "source_csv.rs"),
        ("source.synthetic", "synthetic.rs"),
        ("io.synthetic_corpus", "synthetic_corpus.rs"),
        ("source.wav", "source_wav.rs"),
        ("feature.fbank", "fbank.rs"),
        ("feature.stack", "stack.rs"),
        ("feature.znorm", "znorm.rs"),
        ("feature.resample", "resample.rs"),
    ];
    assert_eq!(plugin.description().kinds.len(), expected.len());
    for (kind, file) in expected {
        let k = plugin
            .kind(kind)
            .unwrap_or_else(|| panic!("{kind} missing"));
        assert!(k.source_file.ends_with(file), "{kind}: {}", k.source_file);
        assert!(!k.doc.is_empty(), "{kind} has no doc");
    }
    let fbank = plugin.kind("feature.fbank").unwrap();
    assert_eq!(fbank.params["properties"]["num_mel_bins"]["default"], 40);
    assert_eq!(fbank.params["properties"]["num_mel_bins"]["minimum"], 4);
    assert!(
        fbank.params["properties"]["snip_edges"]["description"]
            .as_str()
            .unwrap()
            .contains("fit entirely")
    );
    assert!(plugin.kind("feature.stack").unwrap().inputs[1].optional);
}

#[test]
fn synthetic_source_emits_the_corpus_with_progress() {
    let out = node("source.synthetic")
        .param("seconds", 5.0)
        .param("per_split", 1)
        .param("seed", 3)
        .run()
        .unwrap();
    let audio: Vec<AudioRow> = out.rows("audio").unwrap();
    let labels: Vec<SeriesRow> = out.rows("labels").unwrap();
    let names: Vec<&str> = audio.iter().map(|a| a.utt_id.as_str()).collect();
    assert_eq!(names, ["train_1", "dev_1", "test_1"]);
    assert_eq!(labels.len(), 6);
    assert_eq!(period_of(&out, "labels", "values"), 0.04);
    for (split, name) in [
        (Split::Train, "train_1"),
        (Split::Dev, "dev_1"),
        (Split::Test, "test_1"),
    ] {
        let expected = synth_recording(&synth(5.0), split, 1).to_recording();
        let a = audio.iter().find(|a| a.utt_id == name).unwrap();
        assert_eq!(
            (a.split, a.sample_rate, &a.samples),
            (split, 16000, &expected.audio.samples)
        );
        for track in &expected.labels {
            let row = labels
                .iter()
                .find(|l| l.utt_id == name && l.dim == track.dim)
                .unwrap();
            assert_eq!(row.values, track.values);
        }
    }
    assert_eq!(out.progress, vec![(1, 3), (2, 3), (3, 3)]);
}

#[test]
fn synthetic_source_refuses_options_out_of_range() {
    let err = node("source.synthetic")
        .param("seconds", 0.1)
        .run()
        .unwrap_err();
    assert!(err.message.contains("out of range"), "{err}");
    let err = node("source.synthetic")
        .param("minutes", 1)
        .run()
        .unwrap_err();
    assert!(err.message.contains("unknown field `minutes`"), "{err}");
}

#[test]
fn avec2016_source_reads_the_written_synthetic_corpus() {
    let dir = tempfile::tempdir().unwrap();
    write_corpus(dir.path(), &synth(4.0)).unwrap();
    let out = node("source.avec2016")
        .param("root", dir.path())
        .param("dims", ["valence"])
        .param("splits", ["dev", "test"])
        .run()
        .unwrap();
    let audio: Vec<AudioRow> = out.rows("audio").unwrap();
    let labels: Vec<SeriesRow> = out.rows("labels").unwrap();
    assert_eq!(
        audio.iter().map(|a| a.utt_id.as_str()).collect::<Vec<_>>(),
        ["dev_1", "test_1"]
    );
    assert_eq!(
        labels
            .iter()
            .map(|l| (l.utt_id.as_str(), l.dim.as_str()))
            .collect::<Vec<_>>(),
        [("dev_1", "valence"), ("test_1", "valence")]
    );
    let dev = synth_recording(&synth(4.0), Split::Dev, 1).to_recording();
    assert_eq!(audio[0].samples, dev.audio.samples);
    assert_eq!(labels[0].values, dev.labels[1].values);
    assert_eq!(period_of(&out, "labels", "values"), 0.04);
}

#[test]
fn avec2016_source_errors_name_the_file_or_recording() {
    let dir = tempfile::tempdir().unwrap();
    write_corpus(dir.path(), &synth(4.0)).unwrap();
    let gold = dir
        .path()
        .join("ratings_gold_standard/arousal/train_1.arff");
    std::fs::remove_file(&gold).unwrap();
    let err = node("source.avec2016")
        .param("root", dir.path())
        .run()
        .unwrap_err();
    assert!(err.message.contains(&gold.display().to_string()), "{err}");

    // Labels one second longer than the audio: refused, naming the recording.
    write_corpus(dir.path(), &synth(4.0)).unwrap();
    let wav = dir.path().join("recordings_audio/dev_1.wav");
    write_wav_i16(&wav, 16000, &vec![0i16; 3 * 16000]).unwrap();
    let err = node("source.avec2016")
        .param("root", dir.path())
        .run()
        .unwrap_err();
    assert!(err.message.starts_with("recording dev_1: "), "{err}");

    // A WAV cut short: its header declares more than the file holds, so it
    // is refused before any label is checked against its length.
    write_corpus(dir.path(), &synth(4.0)).unwrap();
    let bytes = std::fs::read(&wav).unwrap();
    std::fs::write(&wav, &bytes[..bytes.len() / 2]).unwrap();
    let err = node("source.avec2016")
        .param("root", dir.path())
        .run()
        .unwrap_err();
    assert!(
        err.message.contains("dev_1.wav: bad WAV") && err.message.contains("the file is truncated"),
        "{err}"
    );
}

#[test]
fn a_corpus_of_mixed_rates_is_refused_unless_the_source_resamples_it_on_read() {
    let dir = tempfile::tempdir().unwrap();
    write_corpus(dir.path(), &synth(1.0)).unwrap();
    let odd = dir.path().join("recordings_audio/dev_1.wav");
    write_wav_i16(&odd, 48000, &vec![0i16; 48000]).unwrap();
    let err = node("source.avec2016")
        .param("root", dir.path())
        .run()
        .unwrap_err();
    assert!(
        err.message.contains(&format!(
            "2 of 3 are at 16000 Hz, but not {} (48000 Hz)",
            odd.display()
        )),
        "{err}"
    );

    let out = node("source.avec2016")
        .param("root", dir.path())
        .param("sample_rate", 16000)
        .run()
        .unwrap();
    let audio: Vec<AudioRow> = out.rows("audio").unwrap();
    let rates_and_lengths: Vec<_> = audio
        .iter()
        .map(|a| (a.utt_id.as_str(), a.sample_rate, a.samples.len()))
        .collect();
    assert_eq!(
        rates_and_lengths,
        [
            ("train_1", 16000, 16000),
            ("dev_1", 16000, 16000),
            ("test_1", 16000, 16000)
        ]
    );
}

#[test]
fn csv_source_reads_wavs_with_label_files_beside_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("train")).unwrap();
    write_wav_i16(&dir.path().join("train/s1.wav"), 8000, &vec![50i16; 8000]).unwrap();
    let mut csv = String::from("time,arousal,valence\n");
    for i in 0..11 {
        csv.push_str(&format!("{:.1},{},{}\n", i as f64 * 0.1, i, -i));
    }
    std::fs::write(dir.path().join("train/s1.csv"), csv).unwrap();
    let out = node("source.csv")
        .param("root", dir.path())
        .param("frame_period", 0.1)
        .run()
        .unwrap();
    let audio: Vec<AudioRow> = out.rows("audio").unwrap();
    let labels: Vec<SeriesRow> = out.rows("labels").unwrap();
    assert_eq!(
        (
            audio[0].utt_id.as_str(),
            audio[0].sample_rate,
            audio[0].samples.len()
        ),
        ("s1", 8000, 8000)
    );
    assert_eq!(labels[1].dim, "valence");
    assert_eq!(labels[1].values[10], -10.0);
    assert_eq!(period_of(&out, "labels", "values"), 0.1);
}

/// The files a node of `kind` declares to the host before it runs.
fn declared(kind: &str, params: serde_json::Value) -> Vec<std::path::PathBuf> {
    let plugin = ForeignPlugin::from_table(emoflow_audio::emoflow_plugin(), "audio").unwrap();
    std::sync::Arc::new(plugin)
        .create(kind, &params)
        .unwrap()
        .input_files()
        .unwrap()
}

#[test]
fn avec2016_source_declares_every_file_its_scan_finds_now() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_corpus(root, &synth(1.0)).unwrap();
    let params =
        serde_json::json!({ "root": root, "dims": ["valence"], "splits": ["dev", "test"] });
    let under = |names: &[&str]| names.iter().map(|n| root.join(n)).collect::<Vec<_>>();
    let (dev_1, test_1) = (
        [
            "recordings_audio/dev_1.wav",
            "ratings_gold_standard/valence/dev_1.arff",
        ],
        [
            "recordings_audio/test_1.wav",
            "ratings_gold_standard/valence/test_1.arff",
        ],
    );
    assert_eq!(
        declared("source.avec2016", params.clone()),
        under(&[dev_1, test_1].concat())
    );

    let dev_2 = [
        "recordings_audio/dev_2.wav",
        "ratings_gold_standard/valence/dev_2.arff",
    ];
    for (from, to) in dev_1.iter().zip(dev_2) {
        std::fs::copy(root.join(from), root.join(to)).unwrap();
    }
    std::fs::remove_file(root.join(test_1[0])).unwrap();
    assert_eq!(
        declared("source.avec2016", params),
        under(&[dev_1, dev_2].concat()),
        "one added, one removed"
    );
}

#[test]
fn csv_source_declares_each_recordings_audio_and_label_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let files = [
        "train/s1.wav",
        "train/s1.csv",
        "dev/d1.wav",
        "dev/arousal/d1.csv",
        "dev/valence/d1.csv",
        "test/t1.wav",
    ];
    for file in files {
        std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
        std::fs::write(root.join(file), "").unwrap();
    }
    let expected: Vec<_> = files.iter().map(|f| root.join(f)).collect();
    assert_eq!(
        declared("source.csv", serde_json::json!({ "root": root })),
        expected
    );
}

#[test]
fn wav_source_declares_the_files_and_the_wavs_of_the_directories_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("new")).unwrap();
    for file in ["one.WAV", "new/b.wav", "new/a.wav", "new/notes.txt"] {
        std::fs::write(root.join(file), "").unwrap();
    }
    let params = serde_json::json!({ "paths": [root.join("one.WAV"), root.join("new")] });
    let expected: Vec<_> = ["one.WAV", "new/a.wav", "new/b.wav"]
        .iter()
        .map(|f| root.join(f))
        .collect();
    assert_eq!(declared("source.wav", params), expected);
}

/// Writes 16-bit samples `first, first + 1, ...` to `path` and returns them
/// as the source reads them back.
fn ramp_wav(path: &std::path::Path, rate: u32, first: i16, len: usize) -> Vec<f32> {
    let samples: Vec<i16> = (0..len).map(|i| first + i as i16).collect();
    write_wav_i16(path, rate, &samples).unwrap();
    samples.into_iter().map(i16_to_f32).collect()
}

fn wav_source(paths: &[&std::path::Path]) -> Harness {
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    node("source.wav").param("paths", paths)
}

#[test]
fn wav_source_reads_files_then_directories_in_order_without_labels() {
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    std::fs::create_dir_all(calls.join("nested")).unwrap();
    let b = ramp_wav(&calls.join("b.wav"), 16000, 10, 300);
    let a = ramp_wav(&calls.join("a.WAV"), 8000, -5, 200);
    ramp_wav(&calls.join("nested/c.wav"), 16000, 0, 100);
    std::fs::write(calls.join("notes.txt"), "not audio").unwrap();
    // A file named directly is taken whatever its extension.
    let z = ramp_wav(&dir.path().join("z.pcm"), 44100, 100, 50);
    let out = wav_source(&[&dir.path().join("z.pcm"), &calls])
        .param("split", "dev")
        .run()
        .unwrap();
    let audio: Vec<AudioRow> = out.rows("audio").unwrap();
    let got: Vec<(&str, Split, u32)> = audio
        .iter()
        .map(|r| (r.utt_id.as_str(), r.split, r.sample_rate))
        .collect();
    assert_eq!(
        got,
        [
            ("z", Split::Dev, 44100),
            ("a", Split::Dev, 8000),
            ("b", Split::Dev, 16000)
        ],
        "the files in the order given, a directory's sorted, not recursive"
    );
    assert_eq!(
        [&audio[0].samples, &audio[1].samples, &audio[2].samples],
        [&z, &a, &b]
    );
    assert!(out.rows::<SeriesRow>("labels").unwrap().is_empty());
    assert_eq!(period_of(&out, "labels", "values"), 0.04);
    assert_eq!(out.progress, vec![(1, 3), (2, 3), (3, 3)]);

    let out = wav_source(&[&calls.join("b.wav")]).run().unwrap();
    let audio: Vec<AudioRow> = out.rows("audio").unwrap();
    assert_eq!(
        (audio.len(), audio[0].split),
        (1, Split::Test),
        "test by default"
    );
}

#[test]
fn wav_source_errors_name_the_paths() {
    let dir = tempfile::tempdir().unwrap();
    let err = node("source.wav")
        .param("paths", Vec::<String>::new())
        .run()
        .unwrap_err();
    assert!(err.message.contains("`paths` is empty"), "{err}");

    let missing = dir.path().join("missing.wav");
    let err = wav_source(&[&missing]).run().unwrap_err();
    assert_eq!(
        err.message,
        format!("{}: no such file or directory", missing.display())
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("a.csv"), "time\n").unwrap();
    let err = wav_source(&[&empty]).run().unwrap_err();
    assert_eq!(
        err.message,
        format!("{}: no .wav files in this directory", empty.display())
    );

    let one = dir.path().join("one");
    let two = dir.path().join("two");
    for d in [&one, &two] {
        std::fs::create_dir_all(d).unwrap();
        ramp_wav(&d.join("s1.wav"), 16000, 0, 10);
    }
    let err = wav_source(&[&one, &two]).run().unwrap_err();
    let (first, second) = (one.join("s1.wav"), two.join("s1.wav"));
    assert!(
        err.message.starts_with(&second.display().to_string())
            && err.message.contains(&first.display().to_string())
            && err.message.contains("`s1`"),
        "{err}"
    );

    // The WAV reader's own errors, naming the file.
    let text = dir.path().join("notes.wav");
    std::fs::write(&text, "not audio at all").unwrap();
    let err = wav_source(&[&text]).run().unwrap_err();
    assert!(
        err.message.starts_with(&text.display().to_string())
            && err.message.contains("not a RIFF/WAVE file"),
        "{err}"
    );
    let cut = dir.path().join("cut.wav");
    ramp_wav(&cut, 16000, 0, 1000);
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = wav_source(&[&cut]).run().unwrap_err();
    assert!(
        err.message.contains("cut.wav: bad WAV") && err.message.contains("the file is truncated"),
        "{err}"
    );
}

#[test]
fn fbank_node_computes_kaldi_features_per_utterance() {
    let rows = vec![
        audio_row("a", Split::Train, 16000, tone(16000, 1.0, 440.0)),
        audio_row("b", Split::Dev, 44100, tone(44100, 0.5, 1000.0)),
    ];
    let out = node("feature.fbank")
        .param("dither", 1.0)
        .threads(2)
        .rows("audio", &rows)
        .run()
        .unwrap();
    let features: Vec<FeatureRow> = out.rows("features").unwrap();
    assert_eq!(period_of(&out, "features", "features"), 0.01);
    assert_eq!((features[0].dims, features[0].num_frames()), (40, 98));
    assert_eq!(features[1].num_frames(), 48);
    let opts = FbankOptions {
        dither: 1.0,
        ..FbankOptions::default()
    };
    let expected = Fbank::new(&opts, 16000).unwrap().compute_seeded(
        &rows[0].samples,
        1,
        utterance_seed(0, "a"),
    );
    assert_eq!(features[0].frames, expected);
    assert_eq!(out.progress.len(), 2);
}

#[test]
fn fbank_node_refuses_a_rate_without_a_whole_frame_shift() {
    let rows = vec![
        audio_row("a", Split::Train, 16000, tone(16000, 0.5, 440.0)),
        audio_row("odd", Split::Train, 22050, tone(22050, 0.5, 440.0)),
    ];
    let err = node("feature.fbank")
        .rows("audio", &rows)
        .run()
        .unwrap_err();
    assert!(
        err.message.starts_with("utterance odd: at 22050 Hz"),
        "{err}"
    );
    assert!(err.message.contains("feature.resample"), "{err}");
    let err = node("feature.fbank")
        .param("num_mel_bins", 2)
        .rows("audio", &rows)
        .run()
        .unwrap_err();
    assert!(err.message.contains("num_mel_bins"), "{err}");
}

#[test]
fn fbank_node_refuses_audio_too_short_for_one_frame() {
    let rows = vec![
        audio_row("ok", Split::Test, 16000, tone(16000, 0.5, 440.0)),
        audio_row("blip", Split::Test, 16000, vec![0.1; 399]),
    ];
    let err = node("feature.fbank")
        .rows("audio", &rows)
        .run()
        .unwrap_err();
    assert_eq!(
        err.message,
        "utterance blip: 0.0249 s of audio (399 samples at 16000 Hz) gives no frame; \
         feature.fbank needs at least 0.0250 s (400 samples: one 25 ms window)"
    );
    // Without snip_edges half a shift is enough, as in Kaldi.
    let out = node("feature.fbank")
        .param("snip_edges", false)
        .rows("audio", &rows)
        .run()
        .unwrap();
    let features: Vec<FeatureRow> = out.rows("features").unwrap();
    assert_eq!(features[1].num_frames(), 2);
    let empty = vec![audio_row("silent", Split::Test, 16000, Vec::new())];
    let err = node("feature.fbank")
        .param("snip_edges", false)
        .rows("audio", &empty)
        .run()
        .unwrap_err();
    assert!(
        err.message
            .starts_with("utterance silent: 0.0000 s of audio (0 samples")
            && err
                .message
                .contains("at least 0.0050 s (80 samples: half a 10 ms frame shift"),
        "{err}"
    );
}

#[test]
fn stack_node_stacks_by_k_and_trims_labels_to_the_stacked_frames() {
    // 10 frames of 2 dims at 10 ms -> 3 stacked frames of 8 dims at 40 ms
    // against 4 labels: one label trimmed.
    let frames: Vec<f32> = (0..20).map(|v| v as f32).collect();
    let features = vec![
        feature_row("train_1", Split::Train, 2, 0.01, frames.clone()),
        feature_row("test_1", Split::Test, 2, 0.01, frames),
    ];
    let labels = vec![series_row(
        "train_1",
        "arousal",
        0.04,
        vec![0.1, 0.2, 0.3, 0.4],
    )];
    let out = node("feature.stack")
        .rows("features", &features)
        .rows("labels", &labels)
        .run()
        .unwrap();
    let stacked: Vec<FeatureRow> = out.rows("features").unwrap();
    let aligned: Vec<SeriesRow> = out.rows("labels").unwrap();
    assert_eq!(period_of(&out, "features", "features"), 0.04);
    assert_eq!((stacked[0].dims, stacked[0].num_frames()), (8, 3));
    assert_eq!(
        stacked[0].frame(2),
        &[16.0, 17.0, 18.0, 19.0, 18.0, 19.0, 18.0, 19.0]
    );
    assert_eq!(
        stacked[1].num_frames(),
        3,
        "unlabelled recordings keep every frame"
    );
    assert_eq!(aligned[0].values, vec![0.1, 0.2, 0.3]);
    assert!(out.logged("trimmed_label_frames=1"), "{:?}", out.logs);
}

#[test]
fn stack_node_refuses_misaligned_recordings_and_periods() {
    let features = vec![feature_row("dev_4", Split::Dev, 1, 0.01, vec![0.0; 40])];
    let too_long = vec![series_row("dev_4", "valence", 0.04, vec![0.0; 13])];
    let err = node("feature.stack")
        .rows("features", &features)
        .rows("labels", &too_long)
        .run()
        .unwrap_err();
    assert!(
        err.message
            .starts_with("recording dev_4: 10 feature frames against 13 label frames"),
        "{err}"
    );
    let other_period = vec![series_row("dev_4", "valence", 0.1, vec![0.0; 4])];
    let err = node("feature.stack")
        .rows("features", &features)
        .rows("labels", &other_period)
        .run()
        .unwrap_err();
    assert!(err.message.contains("frame period"), "{err}");
    let out = node("feature.stack")
        .param("k", 2)
        .rows("features", &features)
        .run()
        .unwrap();
    assert_eq!(out.rows::<SeriesRow>("labels").unwrap().len(), 0);
    assert_eq!(period_of(&out, "labels", "values"), 0.02);
}

#[test]
fn stack_node_refuses_an_utterance_without_frames() {
    let features = vec![
        feature_row("a", Split::Test, 2, 0.01, vec![0.0; 6]),
        feature_row("empty", Split::Test, 2, 0.01, Vec::new()),
    ];
    let err = node("feature.stack")
        .rows("features", &features)
        .run()
        .unwrap_err();
    assert!(
        err.message
            .starts_with("utterance empty: no feature frames, so no stacked frame (k = 4)"),
        "{err}"
    );
}

#[test]
fn znorm_node_normalises_per_utterance_or_with_train_statistics() {
    let rows = vec![
        feature_row("train_1", Split::Train, 1, 0.04, vec![1.0, 3.0]),
        feature_row("dev_1", Split::Dev, 1, 0.04, vec![10.0, 14.0]),
    ];
    let out = node("feature.znorm").rows("features", &rows).run().unwrap();
    let normed: Vec<FeatureRow> = out.rows("features").unwrap();
    assert_eq!(normed[0].frames, vec![-1.0, 1.0]);
    assert_eq!(normed[1].frames, vec![-1.0, 1.0]);
    let out = node("feature.znorm")
        .param("mode", "train")
        .rows("features", &rows)
        .run()
        .unwrap();
    let normed: Vec<FeatureRow> = out.rows("features").unwrap();
    assert_eq!(
        normed[1].frames,
        vec![8.0, 12.0],
        "train mean 2 and std 1 apply to dev"
    );
    let only_dev = &rows[1..];
    let err = node("feature.znorm")
        .param("mode", "train")
        .rows("features", only_dev)
        .run()
        .unwrap_err();
    assert!(err.message.contains("no train frames"), "{err}");
}

#[test]
fn resample_node_converts_every_recording_to_the_target_rate() {
    let rows = vec![
        audio_row("a", Split::Train, 44100, tone(44100, 1.0, 1000.0)),
        audio_row("b", Split::Test, 16000, tone(16000, 0.5, 1000.0)),
    ];
    let out = node("feature.resample")
        .param("rate", 16000)
        .threads(2)
        .rows("audio", &rows)
        .run()
        .unwrap();
    let resampled: Vec<AudioRow> = out.rows("audio").unwrap();
    assert_eq!(
        (resampled[0].sample_rate, resampled[0].samples.len()),
        (16000, 16000)
    );
    let reference = tone(16000, 1.0, 1000.0);
    let worst = resampled[0].samples[4000..12000]
        .iter()
        .zip(&reference[4000..12000])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "{worst}");
    assert_eq!(resampled[1].samples, rows[1].samples);
}

#[test]
fn the_front_end_chains_from_source_to_normalised_stacked_features() {
    let source = node("source.synthetic")
        .param("seconds", 6.0)
        .param("per_split", 1)
        .run()
        .unwrap();
    let fbank = node("feature.fbank")
        .input("audio", source.batches("audio").to_vec())
        .run()
        .unwrap();
    let stacked = node("feature.stack")
        .input("features", fbank.batches("features").to_vec())
        .input("labels", source.batches("labels").to_vec())
        .run()
        .unwrap();
    let normed = node("feature.znorm")
        .input("features", stacked.batches("features").to_vec())
        .run()
        .unwrap();
    let features: Vec<FeatureRow> = normed.rows("features").unwrap();
    let labels: Vec<SeriesRow> = stacked.rows("labels").unwrap();
    // 6 s: 598 fbank frames -> 150 stacked frames against 151 labels.
    assert_eq!(features.len(), 3);
    for f in &features {
        assert_eq!((f.dims, f.num_frames()), (160, 150), "{}", f.utt_id);
    }
    assert!(labels.iter().all(|l| l.values.len() == 150));
    assert_eq!(labels.len(), 6);
}
