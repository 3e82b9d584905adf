//! Back-off n-gram models over region labels in the ARPA text format, as
//! SRILM and KenLM read and write it: log10 probabilities and log10 back-off
//! weights, `p(w | h) = p*(h w)` when the n-gram `h w` is listed, else
//! `bow(h) * p(w | h without its first word)` (`bow` is 1 for an unlisted
//! `h`).
//!
//! Words are class indices written in decimal (`0` .. `K-1`) plus the
//! sentence boundaries `<s>` and `</s>`. A model made with other tools must
//! list every class and `</s>` as a unigram (SRILM: pass `-vocab` with the
//! class names); `<unk>` is accepted and ignored, since decoding never asks
//! for an unknown word.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::error::{Error, Result};

pub const BOS: &str = "<s>";
pub const EOS: &str = "</s>";
const UNK: &str = "<unk>";
/// SRILM's log10 probability for `<s>`, which is never predicted.
pub const BOS_LOG10_PROB: f64 = -99.0;
/// Orders this crate trains and decodes with.
pub const MAX_ORDER: usize = 4;

/// A word of the model: a class `0..K`, then `</s>` = K, `<s>` = K + 1.
pub type Token = u32;

/// The tokens of a `K`-class model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vocab {
    num_classes: u32,
}

impl Vocab {
    pub fn new(num_classes: usize) -> Result<Self> {
        // Beam states pack tokens in 16 bits, with one value kept for padding.
        if num_classes == 0 || num_classes > (u16::MAX - 2) as usize {
            return Err(Error::data(format!(
                "{num_classes} classes: a model needs 1 to {} classes",
                u16::MAX - 2
            )));
        }
        Ok(Self {
            num_classes: num_classes as u32,
        })
    }

    pub fn num_classes(self) -> usize {
        self.num_classes as usize
    }

    pub fn eos(self) -> Token {
        self.num_classes
    }

    pub fn bos(self) -> Token {
        self.num_classes + 1
    }

    fn word(self, token: Token) -> String {
        match token {
            t if t == self.eos() => EOS.to_owned(),
            t if t == self.bos() => BOS.to_owned(),
            t => t.to_string(),
        }
    }

    /// `None` for `<unk>`.
    fn parse(self, word: &str) -> std::result::Result<Option<Token>, String> {
        match word {
            EOS => Ok(Some(self.eos())),
            BOS => Ok(Some(self.bos())),
            UNK => Ok(None),
            _ => match word.parse::<u32>() {
                Ok(class) if class < self.num_classes => Ok(Some(class)),
                _ => Err(format!(
                    "word {word:?} is not a class of this {}-class task (0..{}, <s>, </s>)",
                    self.num_classes,
                    self.num_classes - 1
                )),
            },
        }
    }
}

/// One listed n-gram: log10 probability and log10 back-off weight (0 when
/// the file gives none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    pub log10_prob: f64,
    pub log10_bow: f64,
}

/// A back-off n-gram model.
#[derive(Debug, Clone, PartialEq)]
pub struct NgramLm {
    vocab: Vocab,
    order: usize,
    entries: HashMap<Vec<Token>, Entry>,
}

impl NgramLm {
    /// A model from its n-grams; every class and `</s>` must be a unigram, and
    /// each n-gram's context must be listed (as both SRILM and KenLM expect).
    pub fn new(vocab: Vocab, order: usize, entries: HashMap<Vec<Token>, Entry>) -> Result<Self> {
        if !(1..=MAX_ORDER).contains(&order) {
            return Err(Error::data(format!(
                "n-gram order {order} is outside 1..={MAX_ORDER}"
            )));
        }
        for token in (0..vocab.num_classes as Token).chain([vocab.eos()]) {
            if !entries.contains_key([token].as_slice()) {
                return Err(Error::data(format!(
                    "the model has no unigram {:?}: list every class as a word (SRILM: -vocab)",
                    vocab.word(token)
                )));
            }
        }
        for ngram in entries.keys() {
            if ngram.len() > order || ngram.is_empty() {
                return Err(Error::data(format!(
                    "n-gram {} does not fit order {order}",
                    words(vocab, ngram)
                )));
            }
            if ngram.len() > 1 && !entries.contains_key(&ngram[..ngram.len() - 1]) {
                return Err(Error::data(format!(
                    "n-gram {} is listed without its context",
                    words(vocab, ngram)
                )));
            }
        }
        Ok(Self {
            vocab,
            order,
            entries,
        })
    }

    pub fn vocab(&self) -> Vocab {
        self.vocab
    }

    pub fn order(&self) -> usize {
        self.order
    }

    /// `log10 p(word | context)`; only the last `order - 1` context tokens
    /// count.
    pub fn log10_prob(&self, context: &[Token], word: Token) -> f64 {
        backoff_log10_prob(&self.entries, self.order, context, word)
    }

    /// `log10 p(<s> words </s>)`, as KenLM's `score(sentence, bos=True,
    /// eos=True)`.
    pub fn sentence_log10(&self, words: &[Token]) -> f64 {
        let mut sentence = Vec::with_capacity(words.len() + 2);
        sentence.push(self.vocab.bos());
        sentence.extend_from_slice(words);
        sentence.push(self.vocab.eos());
        (1..sentence.len())
            .map(|i| self.log10_prob(&sentence[..i], sentence[i]))
            .sum()
    }

    /// The model as ARPA text, n-grams sorted by order then by token.
    pub fn to_arpa(&self) -> String {
        let mut by_order: Vec<Vec<(&Vec<Token>, &Entry)>> = vec![Vec::new(); self.order];
        for (ngram, entry) in &self.entries {
            by_order[ngram.len() - 1].push((ngram, entry));
        }
        let mut out = String::from("\n\\data\\\n");
        for (n, ngrams) in by_order.iter().enumerate() {
            writeln!(out, "ngram {}={}", n + 1, ngrams.len()).unwrap();
        }
        for (n, ngrams) in by_order.iter_mut().enumerate() {
            ngrams.sort_by(|a, b| a.0.cmp(b.0));
            write!(out, "\n\\{}-grams:\n", n + 1).unwrap();
            for (ngram, entry) in ngrams.iter() {
                // `{}` prints the shortest text that parses back to the same f64.
                write!(out, "{}\t{}", entry.log10_prob, words(self.vocab, ngram)).unwrap();
                if entry.log10_bow != 0.0 {
                    write!(out, "\t{}", entry.log10_bow).unwrap();
                }
                out.push('\n');
            }
        }
        out.push_str("\n\\end\\\n");
        out
    }

    /// Parses ARPA text for a `num_classes`-class task; `source` names the
    /// file in errors, which also give the line.
    pub fn parse_arpa(text: &str, num_classes: usize, source: &str) -> Result<Self> {
        let vocab = Vocab::new(num_classes)?;
        let mut declared: Vec<usize> = Vec::new();
        let mut entries = HashMap::new();
        let mut seen = vec![];
        #[derive(PartialEq)]
        enum Part {
            Preamble,
            Data,
            Ngrams(usize),
            End,
        }
        let mut part = Part::Preamble;
        for (number, raw) in text.lines().enumerate() {
            let at = || format!("{source}:{}", number + 1);
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if line == "\\data\\" {
                if part != Part::Preamble {
                    return Err(Error::data(format!("{}: a second \\data\\ section", at())));
                }
                part = Part::Data;
                continue;
            }
            if line == "\\end\\" {
                if part == Part::Preamble {
                    return Err(Error::data(format!("{}: \\end\\ before \\data\\", at())));
                }
                part = Part::End;
                continue;
            }
            if let Some(n) = line
                .strip_prefix('\\')
                .and_then(|s| s.strip_suffix("-grams:"))
            {
                let Ok(n) = n.parse::<usize>() else {
                    return Err(Error::data(format!(
                        "{}: bad section header {line:?}",
                        at()
                    )));
                };
                if part == Part::Preamble || part == Part::End || n == 0 || n > declared.len() {
                    return Err(Error::data(format!(
                        "{}: section \\{n}-grams: is not declared in \\data\\",
                        at()
                    )));
                }
                part = Part::Ngrams(n);
                continue;
            }
            match part {
                // Tools may write comments before \data\.
                Part::Preamble | Part::End => continue,
                Part::Data => {
                    let parsed = line
                        .strip_prefix("ngram ")
                        .and_then(|rest| rest.split_once('='))
                        .and_then(|(n, count)| {
                            Some((
                                n.trim().parse::<usize>().ok()?,
                                count.trim().parse::<usize>().ok()?,
                            ))
                        });
                    match parsed {
                        Some((n, count)) if n == declared.len() + 1 => {
                            declared.push(count);
                            seen.push(0);
                        }
                        _ => {
                            return Err(Error::data(format!(
                                "{}: expected \"ngram {}=COUNT\", found {line:?}",
                                at(),
                                declared.len() + 1
                            )));
                        }
                    }
                }
                Part::Ngrams(n) => {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    if fields.len() != n + 1 && fields.len() != n + 2 {
                        return Err(Error::data(format!(
                            "{}: a {n}-gram line needs a log10 probability, {n} words and maybe a back-off weight",
                            at()
                        )));
                    }
                    let number = |field: &str| -> Result<f64> {
                        match field.parse::<f64>() {
                            Ok(value) if !value.is_nan() => Ok(value),
                            _ => Err(Error::data(format!("{}: {field:?} is not a number", at()))),
                        }
                    };
                    let log10_prob = number(fields[0])?;
                    let log10_bow = fields
                        .get(n + 1)
                        .map(|f| number(f))
                        .transpose()?
                        .unwrap_or(0.0);
                    let mut ngram = Vec::with_capacity(n);
                    let mut known = true;
                    for word in &fields[1..=n] {
                        match vocab.parse(word) {
                            Ok(Some(token)) => ngram.push(token),
                            Ok(None) => known = false,
                            Err(message) => {
                                return Err(Error::data(format!("{}: {message}", at())));
                            }
                        }
                    }
                    seen[n - 1] += 1;
                    if known
                        && entries
                            .insert(
                                ngram,
                                Entry {
                                    log10_prob,
                                    log10_bow,
                                },
                            )
                            .is_some()
                    {
                        return Err(Error::data(format!("{}: n-gram listed twice", at())));
                    }
                }
            }
        }
        if part != Part::End {
            return Err(Error::data(format!(
                "{source}: no \\end\\ line (truncated file?)"
            )));
        }
        if declared.is_empty() {
            return Err(Error::data(format!(
                "{source}: no \\data\\ section with n-gram counts"
            )));
        }
        for (n, (&want, &got)) in declared.iter().zip(&seen).enumerate() {
            if want != got {
                return Err(Error::data(format!(
                    "{source}: \\data\\ declares {want} {}-grams but the file lists {got}",
                    n + 1
                )));
            }
        }
        Self::new(vocab, declared.len(), entries).map_err(|e| e.context(source))
    }
}

/// The back-off rule over a (possibly partly built) table of n-grams; a word
/// with no unigram gets `-inf`.
pub(crate) fn backoff_log10_prob(
    entries: &HashMap<Vec<Token>, Entry>,
    order: usize,
    context: &[Token],
    word: Token,
) -> f64 {
    let context = &context[context.len().saturating_sub(order - 1)..];
    let mut key: Vec<Token> = Vec::with_capacity(context.len() + 1);
    let mut bow = 0.0;
    for start in 0..=context.len() {
        key.clear();
        key.extend_from_slice(&context[start..]);
        key.push(word);
        if let Some(entry) = entries.get(&key) {
            return bow + entry.log10_prob;
        }
        if let Some(entry) = entries.get(&context[start..]) {
            bow += entry.log10_bow;
        }
    }
    f64::NEG_INFINITY
}

fn words(vocab: Vocab, ngram: &[Token]) -> String {
    ngram
        .iter()
        .map(|&t| vocab.word(t))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIGRAM: &str = "
\\data\\
ngram 1=4
ngram 2=3

\\1-grams:
-0.5\t</s>
-99\t<s>\t-0.2
-0.4\t0\t-0.1
-0.6\t1

\\2-grams:
-0.3\t<s> 0
-0.2\t0 1
-0.1\t1 </s>

\\end\\
";

    #[test]
    fn listed_ngrams_are_read_directly_and_others_back_off() {
        let lm = NgramLm::parse_arpa(BIGRAM, 2, "t.arpa").unwrap();
        assert_eq!(lm.order(), 2);
        assert_eq!(lm.log10_prob(&[0], 1), -0.2);
        // "0 0" is not listed: bow(0) + p(0).
        assert!((lm.log10_prob(&[0], 0) - (-0.1 - 0.4)).abs() < 1e-12);
        // "1 0": 1 has no back-off weight, so p(0) alone.
        assert_eq!(lm.log10_prob(&[1], 0), -0.4);
        // Longer contexts are cut to order - 1.
        assert_eq!(lm.log10_prob(&[1, 1, 0], 1), -0.2);
        let bos = lm.vocab().bos();
        let eos = lm.vocab().eos();
        assert_eq!(lm.log10_prob(&[bos], 0), -0.3);
        assert!((lm.sentence_log10(&[0, 1]) - (-0.3 - 0.2 - 0.1)).abs() < 1e-12);
        assert!((lm.log10_prob(&[bos], eos) - (-0.2 - 0.5)).abs() < 1e-12);
    }

    #[test]
    fn written_text_parses_back_to_the_same_model() {
        let lm = NgramLm::parse_arpa(BIGRAM, 2, "t.arpa").unwrap();
        let again = NgramLm::parse_arpa(&lm.to_arpa(), 2, "again").unwrap();
        assert_eq!(lm, again);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let bad_word = BIGRAM.replace("-0.6\t1", "-0.6\t7");
        let err = NgramLm::parse_arpa(&bad_word, 2, "m.arpa").unwrap_err();
        assert!(
            err.message.starts_with("m.arpa:10:") && err.message.contains("\"7\""),
            "{err}"
        );
        let bad_count = BIGRAM.replace("ngram 2=3", "ngram 2=4");
        let err = NgramLm::parse_arpa(&bad_count, 2, "m.arpa").unwrap_err();
        assert!(
            err.message
                .contains("declares 4 2-grams but the file lists 3"),
            "{err}"
        );
        let truncated = &BIGRAM[..BIGRAM.len() - 8];
        assert!(
            NgramLm::parse_arpa(truncated, 2, "m.arpa")
                .unwrap_err()
                .message
                .contains("\\end\\")
        );
        let missing_class = BIGRAM
            .replace("ngram 1=4", "ngram 1=3")
            .replace("-0.6\t1\n", "");
        let missing_class = missing_class
            .replace("-0.2\t0 1\n", "")
            .replace("-0.1\t1 </s>\n", "")
            .replace("ngram 2=3", "ngram 2=1");
        let err = NgramLm::parse_arpa(&missing_class, 2, "m.arpa").unwrap_err();
        assert!(err.message.contains("no unigram \"1\""), "{err}");
        let orphan = BIGRAM
            .replace("-0.3\t<s> 0", "-0.3\t<unk> 0")
            .replace("-99\t<s>\t-0.2\n", "");
        let orphan = orphan.replace("ngram 1=4", "ngram 1=3");
        assert!(
            NgramLm::parse_arpa(&orphan, 2, "m.arpa").is_ok(),
            "n-grams with <unk> are skipped"
        );
    }
}
