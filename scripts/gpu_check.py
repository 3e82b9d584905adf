"""PyTorch side of scripts/gpu_check.sh: the same training epochs as
nodes/model/examples/epoch_timing.rs (9 train + 9 dev utterances of 7500
frames x 160, 3 layers x 80 units per direction, heads 4/6/8/10,
cost-sensitive CE, Adam lr 0.002, one utterance per step, a dev forward
pass per epoch), timed per epoch.

Run: python scripts/gpu_check.py [--device cuda:0] [--epochs 3]
"""

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden"))
from blstm import RefBlstm  # noqa: E402
from losses import cost_sensitive_ce  # noqa: E402

CLASSES = [4, 6, 8, 10]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--utterances", type=int, default=9)
    parser.add_argument("--frames", type=int, default=7500)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, device {device}")
    torch.manual_seed(1)
    model = RefBlstm(160, 80, 3, CLASSES).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
    train = [(torch.randn(args.frames, 160, device=device),
              [torch.randint(0, k, (args.frames,), device=device) for k in CLASSES])
             for _ in range(args.utterances)]
    dev = [torch.randn(args.frames, 160, device=device) for _ in range(args.utterances)]
    seconds = []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        total = 0.0
        for i in torch.randperm(len(train)).tolist():
            features, targets = train[i]
            optimizer.zero_grad()
            loss = sum(cost_sensitive_ce(o, t) for o, t in zip(model(features), targets))
            loss.backward()
            optimizer.step()
            total += loss.item()
        with torch.no_grad():
            for features in dev:
                [o.argmax(1).cpu() for o in model(features)]
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
        print(f"pytorch epoch {epoch}: {seconds[-1]:.3f} s (loss {total / len(train):.4f})")
    print(f"pytorch median epoch: {statistics.median(seconds):.3f} s")


if __name__ == "__main__":
    main()
