//! emoflow standard nodes: decode family (paper step 3 and the usual
//! post-processing).
//!
//! Node kinds, one file each: `decode.argmax` ([`argmax`]), `decode.viterbi`
//! ([`viterbi`]), `decode.emotion_lm` ([`emotion_lm`]), `lm.ngram`
//! ([`ngram`], ARPA in [`arpa`]), `smooth.median` ([`median`]),
//! `smooth.gaussian` ([`gaussian`]) and `post.avec` ([`post_avec`]). What the
//! decoders share is in [`common`] (prior scaling, reconstruction, the
//! average over tasks), [`transitions`] and [`search`].

#![forbid(unsafe_code)]

pub mod argmax;
pub mod arpa;
pub mod common;
pub mod emotion_lm;
pub mod error;
pub mod gaussian;
pub mod median;
pub mod ngram;
pub mod post_avec;
pub mod search;
pub mod transitions;
pub mod viterbi;

emoflow_sdk::export_plugin!(
    argmax::spec,
    viterbi::spec,
    emotion_lm::spec,
    ngram::spec,
    median::spec,
    gaussian::spec,
    post_avec::spec,
);
