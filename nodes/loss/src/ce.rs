//! `loss.ce`: cross entropy of the frame classes, mean over frames.

use tch::{Reduction, TchError, Tensor};

/// Cross entropy of softmax(`logits` `[T, K]`) against the classes `target`
/// `[T]` (int64), averaged over the T frames.
pub fn ce(logits: &Tensor, target: &Tensor) -> Result<Tensor, TchError> {
    super::check_classes("ce", logits, target)?;
    // libtorch's fused log-softmax + NLL: exactly PyTorch's F.cross_entropy.
    // -100 is PyTorch's default ignore_index; no class index is negative.
    logits.f_cross_entropy_loss::<Tensor>(target, None, Reduction::Mean, -100, 0.0)
}
