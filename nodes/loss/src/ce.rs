//! `loss.ce`: cross entropy of the frame classes, mean over frames.

use emoflow_sdk::KindSpec;
use tch::{Reduction, TchError, Tensor};

/// The `loss.ce` kind.
pub const KIND: super::LossKind = super::LossKind {
    name: "loss.ce",
    doc: "Cross entropy of the frame classes, mean over frames: prediction logits [T, \
          K], target classes [T] (int64).",
    target: super::Target::Classes,
    function: ce,
};

/// `loss.ce` as a plugin node kind.
pub fn spec() -> KindSpec {
    KIND.spec(file!())
}

/// Cross entropy of softmax(`logits` `[T, K]`) against the classes `target`
/// `[T]` (int64), averaged over the T frames.
pub fn ce(logits: &Tensor, target: &Tensor) -> Result<Tensor, TchError> {
    super::check_classes("ce", logits, target)?;
    // libtorch's fused log-softmax + NLL: exactly PyTorch's F.cross_entropy.
    // -100 is PyTorch's default ignore_index; no class index is negative.
    logits.f_cross_entropy_loss::<Tensor>(target, None, Reduction::Mean, -100, 0.0)
}
