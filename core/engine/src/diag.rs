//! Diagnostics: errors that point at a file, line and column of a graph,
//! rendered with miette, all of them at once.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The source files a graph was read from; spans index into them.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    files: Vec<Arc<SourceFile>>,
}

#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    named: miette::NamedSource<String>,
}

/// Where a value came from: a file and a byte range in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Span {
    pub file: usize,
    pub range: Range<usize>,
}

impl Sources {
    pub fn add(&mut self, path: &Path, text: String) -> usize {
        let named = miette::NamedSource::new(path.display().to_string(), text.clone());
        self.files.push(Arc::new(SourceFile {
            path: path.to_path_buf(),
            text,
            named,
        }));
        self.files.len() - 1
    }

    pub fn file(&self, id: usize) -> &SourceFile {
        &self.files[id]
    }

    /// `file:line:column` (1-based) of a span's start.
    pub fn location(&self, span: &Span) -> String {
        let Some(file) = self.files.get(span.file) else {
            return "<command line>".into();
        };
        let before = &file.text[..span.range.start.min(file.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        format!("{}:{line}:{column}", file.path.display())
    }
}

/// One problem in a graph.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub message: String,
    /// `None` for problems without a place (command-line `--set`).
    pub span: Option<Span>,
    pub label: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn at(span: &Span, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            span: Some(span.clone()),
            label: String::new(),
            help: None,
        }
    }

    pub fn nowhere(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            span: None,
            label: String::new(),
            help: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Adds a hint; several hints are joined.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        let help = help.into();
        self.help = Some(match self.help.take() {
            Some(first) => format!("{first} ({help})"),
            None => help,
        });
        self
    }

    /// Adds "did you mean `x`?" when a candidate is close to `wrong`.
    pub fn suggest<'a>(self, wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match did_you_mean(wrong, candidates) {
            Some(best) => self.help(format!("did you mean `{best}`?")),
            None => self,
        }
    }
}

/// The closest candidate by edit distance, if close enough to be a typo.
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(wrong, c), c))
        .filter(|(d, c)| *d <= (wrong.len().max(c.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Renders diagnostics: a `file:line:column: error: message` line each (for
/// scripts and editors), then miette's source snippet with the label and help.
pub fn render(sources: &Sources, diagnostics: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
    let mut out = String::new();
    for d in diagnostics {
        let place = d
            .span
            .as_ref()
            .map_or("<command line>".to_string(), |s| sources.location(s));
        let _ = writeln!(out, "{place}: error: {}", d.message);
        let report = Report {
            diagnostic: d,
            sources,
        };
        let _ = handler.render_report(&mut out, &report);
        out.push('\n');
    }
    out
}

struct Report<'a> {
    diagnostic: &'a Diagnostic,
    sources: &'a Sources,
}

impl std::fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        let span = self.diagnostic.span.as_ref()?;
        Some(&self.sources.files.get(span.file)?.named as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let span = self.diagnostic.span.as_ref()?;
        let label = (!self.diagnostic.label.is_empty()).then(|| self.diagnostic.label.clone());
        Some(Box::new(std::iter::once(miette::LabeledSpan::new(
            label,
            span.range.start,
            span.range.len(),
        ))))
    }
}
