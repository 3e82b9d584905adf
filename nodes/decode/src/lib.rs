//! emoflow standard nodes: decode family (paper step 3 and the usual
//! post-processing).
//!
//! Node kinds, one file each: `decode.argmax` ([`argmax`]), `decode.viterbi`
//! ([`viterbi`]), `decode.emotion_lm` ([`emotion_lm`]), `lm.ngram`
//! ([`ngram`], ARPA in [`arpa`]), `smooth.median` ([`median`]),
//! `smooth.gaussian` ([`gaussian`]) and `post.avec` ([`post_avec`]). What the
//! decoders share is in [`common`] (prior scaling, reconstruction, the
//! average over tasks), [`transitions`] and [`search`].

pub mod arpa;
pub mod common;
pub mod error;
pub mod ngram;
pub mod search;
pub mod transitions;
pub mod argmax;
pub mod emotion_lm;
pub mod viterbi;
pub mod gaussian;
pub mod median;
pub mod post_avec;
