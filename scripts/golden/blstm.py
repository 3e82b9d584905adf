"""Golden data for nodes/model: a deep BLSTM with task heads, in PyTorch.

Regenerate (pinned torch from scripts/requirements-ref.txt):
    .venv-ref/bin/python scripts/golden/blstm.py
(any venv with torch==2.11.0 and numpy works, e.g. .venv). Writes into
nodes/model/tests/golden/:
  blstm.json          the cases' configurations (dims, layers, heads, Adam)
  blstm.safetensors   per case CASE: CASE/param/NAME (PyTorch's parameter
                      names, e.g. lstm.weight_ih_l0_reverse, heads.1.bias),
                      CASE/input [T, D], CASE/output/I (head I: logits [T, K]
                      or values [T]); for cases with Adam: CASE/target/I and
                      CASE/adam/NAME, the parameters after `steps` Adam steps
                      on the summed per-head cross entropy.

`RefBlstm` is the reference the Rust model must equal; bench/blstm_peer.py
times it.
"""

import json
import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from losses import ce  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
OUT_DIR = os.path.join(REPO, "nodes", "model", "tests", "golden")


class RefBlstm(nn.Module):
    """Deep bidirectional LSTM over one utterance [T, D], one linear head per
    task (classifier: logits [T, K_t]) or a single linear output (regressor:
    values [T])."""

    def __init__(self, input_dim, hidden, layers, classes=None):
        super().__init__()
        self.classifier = classes is not None
        self.lstm = nn.LSTM(input_dim, hidden, num_layers=layers, bidirectional=True)
        widths = classes if self.classifier else [1]
        self.heads = nn.ModuleList(nn.Linear(2 * hidden, k) for k in widths)

    def forward(self, features):
        hidden, _ = self.lstm(features.unsqueeze(1))
        hidden = hidden.squeeze(1)
        outputs = [head(hidden) for head in self.heads]
        return outputs if self.classifier else [outputs[0].squeeze(1)]


CASES = {
    "classifier": {
        "input_dim": 6, "hidden": 5, "layers": 3, "classes": [3, 4], "frames": 11,
        "adam": {"lr": 0.01, "weight_decay": 0.001, "steps": 3},
    },
    "regressor": {"input_dim": 4, "hidden": 3, "layers": 4, "classes": None, "frames": 8},
}


def main():
    torch.manual_seed(1701)
    tensors = {}
    for name, case in CASES.items():
        model = RefBlstm(case["input_dim"], case["hidden"], case["layers"], case["classes"])
        features = torch.randn(case["frames"], case["input_dim"])
        for param_name, value in model.state_dict().items():
            tensors[f"{name}/param/{param_name}"] = value.numpy().copy()
        tensors[f"{name}/input"] = features.numpy()
        with torch.no_grad():
            for i, output in enumerate(model(features)):
                tensors[f"{name}/output/{i}"] = output.numpy()
        adam = case.get("adam")
        if adam:
            targets = [torch.randint(0, k, (case["frames"],)) for k in case["classes"]]
            optimizer = torch.optim.Adam(
                model.parameters(), lr=adam["lr"], weight_decay=adam["weight_decay"]
            )
            for _ in range(adam["steps"]):
                optimizer.zero_grad()
                loss = sum(ce(out, t) for out, t in zip(model(features), targets))
                loss.backward()
                optimizer.step()
            for i, target in enumerate(targets):
                tensors[f"{name}/target/{i}"] = target.numpy()
            for param_name, value in model.state_dict().items():
                tensors[f"{name}/adam/{param_name}"] = value.numpy().copy()
    os.makedirs(OUT_DIR, exist_ok=True)
    write_safetensors(os.path.join(OUT_DIR, "blstm.safetensors"), tensors,
                      {"torch": torch.__version__})
    with open(os.path.join(OUT_DIR, "blstm.json"), "w") as out:
        json.dump(CASES, out, indent=2)
        out.write("\n")
    print(f"wrote {OUT_DIR}")


if __name__ == "__main__":
    main()
