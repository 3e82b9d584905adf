//! `report.plot`: the paper's Figure 3. For one recording, the gold-standard
//! trace of each dimension against the predictions over time (and, when the
//! `decoded` input is wired, the decoded predictions as a third line); one
//! panel per dimension, stacked vertically, written as PNG and SVG.
//!
//! The gold standard is optional: with `labels` unwired, or for a recording
//! without labels (new audio through `source.wav`), the panels show the
//! predictions alone, and with no labels at all the default recording is
//! chosen from the predictions. With `each`, one figure is drawn per
//! predicted recording (`NAME-<recording>.png` and `.svg`) instead of one.
//!
//! Time is in seconds, frame `t` of a series at `t` times its own frame
//! period (labels and predictions may differ in period or length).
//! Non-finite values are left out of a line.
//!
//! Text needs no system font: it is laid out and drawn with `ab_glyph` from
//! DejaVu Sans, embedded in the plugin (`assets/`, with its license), through
//! `Fonted`, a wrapper around the plotters backends. plotters' own font
//! features are not used: `ttf` goes through font-kit to fontconfig and
//! FreeType, and `ab_glyph` would, by Cargo's feature unification, also
//! switch the plotters that criterion draws its benchmark reports with to a
//! font table that is empty in those processes, so their plots would fail.
//! The SVG keeps its text as `<text>` elements (font family `DejaVu Sans,
//! sans-serif`) placed with the same metrics.

use std::collections::{BTreeMap, BTreeSet};

use ab_glyph::{Font as _, FontRef, PxScale, ScaleFont as _, point};
use emoflow_sdk::files::write_atomic;
use emoflow_sdk::prelude::*;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

/// Parameters of `report.plot`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The recording to draw (default: the first, in sorted id order, of
    /// `split` that has labels and predictions; when there are no labels at
    /// all, the first of `split` with predictions). When given, `split` is
    /// not used. Not used with `each`.
    #[serde(default)]
    pub utterance: Option<String>,
    /// The split the default recording comes from. When it has no labels
    /// but other splits do (the AVEC 2016 test labels are withheld), `dev`
    /// is used instead, with a warning. Not used with `each`.
    #[serde(default = "test_split")]
    pub split: Split,
    /// Dimensions to draw, one panel each, top to bottom (default: every
    /// dimension with labels and predictions for the recording, in the
    /// labels' order; for a recording without labels, every predicted one).
    #[serde(default)]
    pub dims: Vec<String>,
    /// File name stem: writes `NAME.png` and `NAME.svg` (with `each`,
    /// `NAME-<recording>.png` and `.svg`).
    #[serde(default = "figure3")]
    pub name: String,
    /// Heading above the panels (default: none; with `each`, the recording
    /// id, after this title when given).
    #[serde(default)]
    pub title: Option<String>,
    /// One figure per recording with predictions, in id order, instead of
    /// one figure; `utterance` and `split` are then not used.
    #[serde(default)]
    pub each: bool,
    /// Width of the figure, in pixels.
    #[serde(default = "default_width")]
    #[schemars(range(min = 200, max = 10000))]
    pub width: u32,
    /// Height of each panel, in pixels.
    #[serde(default = "default_height")]
    #[schemars(range(min = 100, max = 4000))]
    pub height: u32,
}

fn test_split() -> Split {
    Split::Test
}
fn figure3() -> String {
    "figure3".into()
}
fn default_width() -> u32 {
    1000
}
fn default_height() -> u32 {
    300
}

/// Height of the band holding `title`, in pixels.
const TITLE_BAND: u32 = 40;
/// The font family named in the SVG; the PNG always uses the embedded font.
const FAMILY: &str = "DejaVu Sans, sans-serif";
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn font() -> Result<FontRef<'static>> {
    FontRef::try_from_slice(FONT)
        .map_err(|e| Error::failed(format!("the embedded font does not load: {e}")))
}

impl Params {
    fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::invalid(format!("report.plot: {what}")));
        if self.name.is_empty() || self.name.contains(['/', '\\']) || self.name.starts_with('.') {
            return bad(format!("`name` = `{}` is not a file name stem", self.name));
        }
        if !(200..=10000).contains(&self.width) {
            return bad(format!(
                "`width` = {} is outside 200..=10000 pixels",
                self.width
            ));
        }
        if !(100..=4000).contains(&self.height) {
            return bad(format!(
                "`height` = {} is outside 100..=4000 pixels",
                self.height
            ));
        }
        Ok(())
    }
}

/// One line of a panel.
struct Trace<'a> {
    legend: &'static str,
    color: RGBColor,
    stroke: u32,
    row: &'a SeriesRow,
}

struct Panel<'a> {
    dim: String,
    traces: Vec<Trace<'a>>,
}

impl Panel<'_> {
    /// The time axis (seconds) and the value axis, padded by 5%.
    fn ranges(&self) -> (f64, (f64, f64)) {
        let mut end = 0f64;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for t in &self.traces {
            end = end.max(t.row.values.len().saturating_sub(1) as f64 * t.row.frame_period);
            for &v in t.row.values.iter().filter(|v| v.is_finite()) {
                lo = lo.min(v as f64);
                hi = hi.max(v as f64);
            }
        }
        if !lo.is_finite() {
            (lo, hi) = (-1.0, 1.0);
        } else if hi - lo < 1e-9 {
            (lo, hi) = (lo - 0.5, hi + 0.5);
        }
        let pad = 0.05 * (hi - lo);
        (if end > 0.0 { end } else { 1.0 }, (lo - pad, hi + pad))
    }
}

struct Figure<'a> {
    utterance: String,
    split: Split,
    title: Option<String>,
    panels: Vec<Panel<'a>>,
}

/// Sorted, de-duplicated, as an error message lists them.
fn listing<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let set: BTreeSet<&str> = items.into_iter().collect();
    if set.is_empty() {
        return "none".into();
    }
    let shown: Vec<&str> = set.iter().take(40).copied().collect();
    let more = set.len() - shown.len();
    let mut out = shown
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        out += &format!(" and {more} more");
    }
    out
}

fn find<'a>(rows: &'a [SeriesRow], utt: &str, dim: &str) -> Option<&'a SeriesRow> {
    rows.iter().find(|r| r.utt_id == utt && r.dim == dim)
}

/// Every predicted recording with its split, in id order.
fn predicted(predictions: &[SeriesRow]) -> BTreeMap<&str, Split> {
    predictions
        .iter()
        .map(|r| (r.utt_id.as_str(), r.split))
        .collect()
}

/// The recording to draw and its split.
fn choose_recording(
    p: &Params,
    labels: &[SeriesRow],
    predictions: &[SeriesRow],
) -> Result<(String, Split)> {
    let labelled = labels.iter().filter(|r| !r.values.is_empty());
    let predicted = predicted(predictions);
    if let Some(utt) = &p.utterance {
        return match predicted.get(utt.as_str()) {
            Some(&split) => Ok((utt.clone(), split)),
            None => Err(Error::invalid(format!(
                "report.plot: `utterance` = `{utt}`: input `predictions` has no series of it; predicted recordings: {}",
                listing(predicted.keys().copied())
            ))),
        };
    }
    if labelled.clone().next().is_none() {
        // No gold standard at all (unwired, or a source without labels):
        // the predictions say what there is to draw.
        return match predicted.iter().find(|(_, s)| **s == p.split) {
            Some((id, &split)) => Ok((id.to_string(), split)),
            None => Err(Error::data(format!(
                "report.plot: no predictions in split `{}` to draw; splits with predictions: {}",
                p.split,
                listing(predicted.values().map(|s| s.as_str()))
            ))),
        };
    }
    let in_split = |s: Split| -> BTreeSet<&str> {
        labelled
            .clone()
            .filter(|r| r.split == s)
            .map(|r| r.utt_id.as_str())
            .collect()
    };
    let mut split = p.split;
    let mut ids = in_split(split);
    if ids.is_empty() && split != Split::Dev {
        tracing::warn!(
            "split `{split}` has no labels (the AVEC 2016 test labels are withheld); \
             falling back to split `dev` for the figure"
        );
        split = Split::Dev;
        ids = in_split(split);
    }
    if ids.is_empty() {
        return Err(Error::data(format!(
            "report.plot: no labels in split `{split}` to draw; splits with labels: {}",
            listing(labelled.map(|r| r.split.as_str()))
        )));
    }
    match ids.iter().find(|id| predicted.contains_key(*id)) {
        Some(id) => Ok((id.to_string(), split)),
        None => Err(Error::data(format!(
            "report.plot: none of the labelled recordings of split `{split}` ({}) has predictions; \
             predicted recordings: {}",
            listing(ids.iter().copied()),
            listing(predicted.keys().copied())
        ))),
    }
}

/// The distinct dimensions of `utt` among `rows`, in first-seen order.
fn dims_of<'a>(rows: impl Iterator<Item = &'a SeriesRow>, utt: &str) -> Vec<&'a str> {
    let mut dims: Vec<&str> = Vec::new();
    for r in rows.filter(|r| r.utt_id == utt) {
        if !dims.contains(&r.dim.as_str()) {
            dims.push(&r.dim);
        }
    }
    dims
}

/// The dimensions to draw for `utt`. A recording with labels is drawn
/// where it has both labels and predictions; one without, where it has
/// predictions.
fn choose_dims(
    p: &Params,
    utt: &str,
    labels: &[SeriesRow],
    predictions: &[SeriesRow],
) -> Result<Vec<String>> {
    let labelled = dims_of(labels.iter().filter(|r| !r.values.is_empty()), utt);
    let predicted = dims_of(predictions.iter(), utt);
    if p.dims.is_empty() {
        if labelled.is_empty() {
            return Ok(predicted.iter().map(|d| d.to_string()).collect());
        }
        let dims: Vec<String> = labelled
            .iter()
            .filter(|d| predicted.contains(d))
            .map(|d| d.to_string())
            .collect();
        if dims.is_empty() {
            return Err(Error::data(format!(
                "report.plot: recording `{utt}` has no dimension with both labels ({}) and predictions ({})",
                listing(labelled.iter().copied()),
                listing(predicted.iter().copied())
            )));
        }
        return Ok(dims);
    }
    for dim in &p.dims {
        if !labelled.is_empty() && !labelled.contains(&dim.as_str()) {
            return Err(Error::invalid(format!(
                "report.plot: `dims`: recording `{utt}` has no labels of dimension `{dim}`; its labelled dimensions: {}",
                listing(labelled.iter().copied())
            )));
        }
        if !predicted.contains(&dim.as_str()) {
            return Err(Error::invalid(format!(
                "report.plot: `dims`: input `predictions` has no series of dimension `{dim}` for recording `{utt}`; it has: {}",
                listing(predicted.iter().copied())
            )));
        }
    }
    Ok(p.dims.clone())
}

/// The figure of recording `utt`, headed by `title`.
fn figure<'a>(
    p: &Params,
    (utt, split): (String, Split),
    title: Option<String>,
    labels: &'a [SeriesRow],
    predictions: &'a [SeriesRow],
    decoded: Option<&'a [SeriesRow]>,
) -> Result<Figure<'a>> {
    let dims = choose_dims(p, &utt, labels, predictions)?;
    let mut panels = Vec::new();
    for dim in dims {
        let label = labels
            .iter()
            .find(|r| r.utt_id == utt && r.dim == dim && !r.values.is_empty());
        // Drawn in this order: the gold standard last, on top.
        let mut traces = vec![Trace {
            legend: "prediction",
            color: RGBColor(31, 119, 180),
            stroke: 1,
            row: find(predictions, &utt, &dim).expect("checked"),
        }];
        if let Some(decoded) = decoded {
            let row = find(decoded, &utt, &dim).ok_or_else(|| {
                Error::data(format!(
                    "report.plot: input `decoded` has no series of recording `{utt}`, dimension `{dim}`; \
                     its dimensions for `{utt}`: {}; its recordings: {}",
                    listing(decoded.iter().filter(|r| r.utt_id == utt).map(|r| r.dim.as_str())),
                    listing(decoded.iter().map(|r| r.utt_id.as_str()))
                ))
            })?;
            traces.push(Trace {
                legend: "decoded",
                color: RGBColor(214, 39, 40),
                stroke: 2,
                row,
            });
        }
        if let Some(gold) = label {
            traces.push(Trace {
                legend: "gold standard",
                color: RGBColor(0, 0, 0),
                stroke: 2,
                row: gold,
            });
        }
        panels.push(Panel { dim, traces });
    }
    Ok(Figure {
        utterance: utt,
        split,
        title,
        panels,
    })
}

/// The figures to draw and the file name stem of each: one, or with
/// `each` one per predicted recording.
fn figures<'a>(
    p: &Params,
    labels: &'a [SeriesRow],
    predictions: &'a [SeriesRow],
    decoded: Option<&'a [SeriesRow]>,
) -> Result<Vec<(String, Figure<'a>)>> {
    if !p.each {
        let recording = choose_recording(p, labels, predictions)?;
        let fig = figure(p, recording, p.title.clone(), labels, predictions, decoded)?;
        return Ok(vec![(p.name.clone(), fig)]);
    }
    let predicted = predicted(predictions);
    if predicted.is_empty() {
        return Err(Error::data(
            "report.plot: `each`: input `predictions` has no recordings to draw",
        ));
    }
    predicted
        .into_iter()
        .map(|(utt, split)| {
            // The id becomes part of a file name in the artifact directory.
            if utt.contains(['/', '\\']) {
                return Err(Error::data(format!(
                    "report.plot: `each`: recording id `{utt}` cannot be part of a file name"
                )));
            }
            let title = match &p.title {
                Some(title) => format!("{title}: {utt}"),
                None => utt.to_string(),
            };
            let fig = figure(
                p,
                (utt.to_string(), split),
                Some(title),
                labels,
                predictions,
                decoded,
            )?;
            Ok((format!("{}-{utt}", p.name), fig))
        })
        .collect()
}

/// Draws the figure on any plotters backend.
fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    fig: &Figure,
) -> std::result::Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let body = match &fig.title {
        Some(title) => root.titled(title, (FAMILY, 26)).map_err(e)?,
        None => root.clone(),
    };
    let areas = body.split_evenly((fig.panels.len(), 1));
    for (panel, area) in fig.panels.iter().zip(&areas) {
        let (end, (lo, hi)) = panel.ranges();
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{} ({}) — {}", fig.utterance, fig.split, panel.dim),
                (FAMILY, 19),
            )
            .margin(8)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..end, lo..hi)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc(panel.dim.as_str())
            .x_label_formatter(&|v| tick(*v, end))
            .y_label_formatter(&|v| tick(*v, hi - lo))
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 15))
            .max_light_lines(1)
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(e)?;
        for trace in &panel.traces {
            let style = Color::stroke_width(&trace.color, trace.stroke);
            let period = trace.row.frame_period;
            let points = trace
                .row
                .values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(move |(t, &v)| (t as f64 * period, v as f64));
            chart
                .draw_series(LineSeries::new(points, style))
                .map_err(e)?
                .label(trace.legend)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .draw()
            .map_err(e)?;
    }
    root.present().map_err(e)
}

/// A tick label with as many decimals as ticks about a tenth of `span`
/// apart need, and no `-0`.
fn tick(v: f64, span: f64) -> String {
    let step = span / 10.0;
    let decimals = if step >= 1.0 || step <= 0.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    let text = format!("{v:.decimals$}");
    match text.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_string(),
        _ => text,
    }
}

fn size(p: &Params, fig: &Figure) -> (u32, u32) {
    let title = if fig.title.is_some() { TITLE_BAND } else { 0 };
    (p.width, p.height * fig.panels.len() as u32 + title)
}

fn render_png(fig: &Figure, (w, h): (u32, u32), font: &FontRef<'static>) -> Result<Vec<u8>> {
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let backend = Fonted {
            inner: BitMapBackend::with_buffer(&mut rgb, (w, h)),
            font,
            raster: true,
        };
        draw(backend.into_drawing_area(), fig)
            .map_err(|e| Error::failed(format!("report.plot: drawing the PNG: {e}")))?;
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let encoded = encoder.write_header().and_then(|mut writer| {
        writer.write_image_data(&rgb)?;
        writer.finish()
    });
    encoded.map_err(|e| Error::failed(format!("report.plot: encoding the PNG: {e}")))?;
    Ok(bytes)
}

fn render_svg(fig: &Figure, size: (u32, u32), font: &FontRef<'static>) -> Result<String> {
    let mut svg = String::new();
    {
        let backend = Fonted {
            inner: SVGBackend::with_string(&mut svg, size),
            font,
            raster: false,
        };
        draw(backend.into_drawing_area(), fig)
            .map_err(|e| Error::failed(format!("report.plot: drawing the SVG: {e}")))?;
    }
    Ok(svg)
}

struct Plot(Params);

impl Node for Plot {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let labels = inputs
            .optional_batches("labels")?
            .map(|b| SeriesRow::read_all(&b))
            .transpose()?
            .unwrap_or_default();
        let predictions = SeriesRow::read_all(&inputs.batches("predictions")?)?;
        let decoded = inputs
            .optional_batches("decoded")?
            .map(|b| SeriesRow::read_all(&b))
            .transpose()?;
        let p = &self.0;
        let figures = figures(p, &labels, &predictions, decoded.as_deref())?;
        let font = font()?;
        let dir = ctx.artifact_dir();
        let mut files = Vec::new();
        for (stem, fig) in &figures {
            ctx.check_cancelled()?;
            let size = size(p, fig);
            let png_path = dir.join(format!("{stem}.png"));
            write_atomic(&png_path, &render_png(fig, size, &font)?)?;
            ctx.check_cancelled()?;
            let svg_path = dir.join(format!("{stem}.svg"));
            write_atomic(&svg_path, render_svg(fig, size, &font)?.as_bytes())?;
            tracing::info!(
                "recording `{}` ({}), {}: {} and {}",
                fig.utterance,
                fig.split,
                fig.panels
                    .iter()
                    .map(|p| p.dim.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                png_path.display(),
                svg_path.display()
            );
            for (path, format) in [(png_path, "png"), (svg_path, "svg")] {
                files.push(FileRow {
                    path: path.display().to_string(),
                    format: format.into(),
                });
            }
        }
        Ok(Outputs::new().with_batch("files", FileRow::write(&files)?))
    }
}

pub fn spec() -> KindSpec {
    KindSpec::new("report.plot", file!())
        .doc(
            "The paper's Figure 3: one recording's gold-standard trace against the predictions \
             (and the decoded predictions, when wired) over time, one panel per dimension, as PNG \
             and SVG. Without labels (unwired, or none for the recording) only the predictions are \
             drawn; with `each`, one figure per predicted recording (NAME-<recording>.png and .svg).",
        )
        .optional_input(
            "labels",
            port::SERIES,
            "the gold standard (optional: without it, the predictions alone)",
        )
        .input(
            "predictions",
            port::SERIES,
            "the predictions to draw against it (e.g. CLS-Raw)",
        )
        .optional_input(
            "decoded",
            port::SERIES,
            "a third line, e.g. the decoded predictions (CLS-Decoded)",
        )
        .output("files", port::FILES, "the PNG and SVG file of each figure")
        .not_cacheable()
        // `emoflow export`: a figure per recording a bundle predicts.
        .bundle_output(
            "plot",
            "predictions",
            serde_json::json!({"each": true, "name": "predictions", "title": "${title}"}),
        )
        .create(|p: Params| {
            p.check()?;
            Ok(Plot(p))
        })
}

// ---- text without system fonts ---------------------------------------------

/// A plotters backend whose text is measured with the embedded font and,
/// when `raster`, drawn with it pixel by pixel (the bitmap backend); else
/// drawing text is left to the inner backend (SVG `<text>`).
struct Fonted<'f, B> {
    inner: B,
    font: &'f FontRef<'static>,
    raster: bool,
}

/// Glyphs placed on a baseline at the font's ascent, and the text's width
/// and height. A plotters font size is 1.24 em, as its SVG backend writes
/// it (`font-size`), so both files show text at the same size.
fn layout(font: &FontRef<'static>, size: f64, text: &str) -> (Vec<ab_glyph::Glyph>, f32, f32) {
    let em = (size / 1.24).max(1.0) as f32;
    let scale = PxScale::from(em * font.height_unscaled() / font.units_per_em().unwrap_or(2048.0));
    let scaled = font.as_scaled(scale);
    let ascent = scaled.ascent();
    let (mut x, mut prev, mut glyphs) = (0f32, None, Vec::new());
    for c in text.chars().filter(|c| !c.is_control()) {
        let id = scaled.glyph_id(c);
        if let Some(prev) = prev {
            x += scaled.kern(prev, id);
        }
        glyphs.push(id.with_scale_and_position(scale, point(x, ascent)));
        x += scaled.h_advance(id);
        prev = Some(id);
    }
    (glyphs, x, ascent - scaled.descent())
}

type DrawResult<E> = std::result::Result<(), DrawingErrorKind<E>>;

impl<B: DrawingBackend> DrawingBackend for Fonted<'_, B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }
    fn ensure_prepared(&mut self) -> DrawResult<B::ErrorType> {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> DrawResult<B::ErrorType> {
        self.inner.present()
    }
    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> DrawResult<B::ErrorType> {
        self.inner.draw_pixel(point, color)
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> DrawResult<B::ErrorType> {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> DrawResult<B::ErrorType> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> DrawResult<B::ErrorType> {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> DrawResult<B::ErrorType> {
        self.inner.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> DrawResult<B::ErrorType> {
        self.inner.fill_polygon(vert, style)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> DrawResult<B::ErrorType> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> std::result::Result<(u32, u32), DrawingErrorKind<B::ErrorType>> {
        let (_, width, height) = layout(self.font, style.size(), text);
        Ok((width.ceil() as u32, height.ceil() as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> DrawResult<B::ErrorType> {
        if !self.raster {
            return self.inner.draw_text(text, style, pos);
        }
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (glyphs, width, height) = layout(self.font, style.size(), text);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Center => -(width / 2.0).round() as i32,
            HPos::Right => -width.round() as i32,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -(height / 2.0).round() as i32,
            VPos::Bottom => -height.round() as i32,
        };
        let transform = style.transform();
        for glyph in glyphs {
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            let (x0, y0) = (bounds.min.x as i32 + dx, bounds.min.y as i32 + dy);
            let mut result = Ok(());
            outline.draw(|x, y, coverage| {
                if result.is_err() || coverage <= 0.0 {
                    return;
                }
                let (tx, ty) = transform.transform(x0 + x as i32, y0 + y as i32);
                let color = BackendColor {
                    alpha: color.alpha * coverage.min(1.0) as f64,
                    rgb: color.rgb,
                };
                result = self.inner.draw_pixel((pos.0 + tx, pos.1 + ty), color);
            });
            result?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::tick;

    #[test]
    fn tick_labels_have_the_decimals_their_spacing_needs_and_no_negative_zero() {
        assert_eq!(tick(50.0, 300.0), "50");
        assert_eq!(tick(2.5, 4.76), "2.5");
        assert_eq!(tick(-0.2, 1.3), "-0.2");
        assert_eq!(tick(-1e-17, 1.3), "0.0");
        assert_eq!(tick(0.35, 0.88), "0.35");
    }
}
