"""Golden data for nodes/loss: values and gradients of the four losses.

Regenerate (pinned torch from scripts/requirements-ref.txt):
    .venv-ref/bin/python scripts/golden/losses.py
(any venv with torch==2.11.0 and numpy works, e.g. .venv). Writes
nodes/loss/tests/golden/losses.safetensors: for each loss NAME the tensors
NAME/prediction, NAME/target, NAME/loss (shape [1]) and NAME/grad (d loss /
d prediction).

The reference definitions below are also what bench/blstm_peer.py trains with.
Reduction everywhere: mean over frames (see nodes/loss/src/lib.rs for why).
"""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "nodes", "loss", "tests", "golden", "losses.safetensors")


def ce(logits, target):
    return F.cross_entropy(logits, target)


def cost_sensitive_ce(logits, target):
    """Le et al. 2017, Eq. 6-7; the cost is a constant weight (no gradient)."""
    num_classes = logits.shape[1]
    with torch.no_grad():
        distance = (logits.argmax(dim=1) - target).abs().float()
        cost = 1.0 + distance / num_classes
    nll = -F.log_softmax(logits, dim=1).gather(1, target.unsqueeze(1)).squeeze(1)
    return (cost * nll).mean()


def mse(prediction, target):
    return F.mse_loss(prediction, target)


def ccc(prediction, target):
    """1 - CCC of one utterance, population (1/N) moments."""
    mp, mt = prediction.mean(), target.mean()
    dp, dt = prediction - mp, target - mt
    cov = (dp * dt).mean()
    denominator = dp.square().mean() + dt.square().mean() + (mp - mt).square()
    return 1.0 - 2.0 * cov / denominator


def classifier_case(generator, frames, classes):
    logits = torch.randn(frames, classes, generator=generator) * 2.0
    target = torch.randint(0, classes, (frames,), generator=generator)
    return logits, target


def regressor_case(generator, frames):
    target = torch.rand(frames, generator=generator) * 2.0 - 1.0
    noise = torch.randn(frames, generator=generator)
    # Correlated but biased and scaled, so every CCC term matters.
    prediction = 0.6 * target + 0.3 * noise + 0.2
    return prediction, target


def main():
    generator = torch.manual_seed(20170820)
    cases = {
        "ce": (ce, classifier_case(generator, 17, 6)),
        "cost_sensitive_ce": (cost_sensitive_ce, classifier_case(generator, 29, 8)),
        "mse": (mse, regressor_case(generator, 23)),
        "ccc": (ccc, regressor_case(generator, 31)),
    }
    tensors = {}
    for name, (loss_fn, (prediction, target)) in cases.items():
        prediction = prediction.clone().requires_grad_(True)
        loss = loss_fn(prediction, target)
        loss.backward()
        tensors[f"{name}/prediction"] = prediction.detach().numpy()
        tensors[f"{name}/target"] = target.numpy()
        tensors[f"{name}/loss"] = loss.detach().reshape(1).numpy()
        tensors[f"{name}/grad"] = prediction.grad.numpy()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_safetensors(OUT, tensors, {"torch": torch.__version__})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
