"""Peer benchmark for nodes/model/benches/step.rs: one training step of the
paper's network in PyTorch (forward + cost-sensitive CE over four heads +
backward + Adam), 3 layers x 80 units per direction, T = 7500, 160-d input,
heads of 4/6/8/10 classes, one thread. Prints the median of several steps.

Run: .venv-ref/bin/python bench/blstm_peer.py [--repeats N] [--sweep] [--json PATH]
(any venv with torch==2.11.0 works, e.g. .venv)

--sweep also times one epoch (one step per utterance) over 4 utterances of
1500 frames for 1, 2, 3 and 4 layers (scaling_epoch in
nodes/model/benches/step.rs is our side); --json PATH writes the medians for
scripts/bench.sh.
"""

import argparse
import os
import statistics
import sys
import time

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts", "golden"))
from blstm import RefBlstm  # noqa: E402
from losses import cost_sensitive_ce  # noqa: E402

from benchjson import Results, median_seconds  # noqa: E402

FRAMES = 7500
CLASSES = [4, 6, 8, 10]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--sweep", action="store_true", help="also time an epoch for 1-4 layers")
    parser.add_argument("--json", help="write the medians to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = RefBlstm(160, 80, 3, CLASSES)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
    features = torch.randn(FRAMES, 160)
    targets = [torch.randint(0, k, (FRAMES,)) for k in CLASSES]

    def step():
        optimizer.zero_grad()
        outputs = model(features)
        loss = sum(cost_sensitive_ce(o, t) for o, t in zip(outputs, targets))
        loss.backward()
        optimizer.step()

    step()  # warm-up: allocator, first-call dispatch
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(f"pytorch {torch.__version__} train step 3x80 T={FRAMES} 1 thread: "
          f"median {statistics.median(times):.4f} s over {args.repeats} "
          f"(min {min(times):.4f}, max {max(times):.4f})")
    results = Results("blstm_peer.py", {"torch": torch.__version__})
    results.median("pytorch_train_step", statistics.median(times), args.repeats)
    if args.sweep:
        utterances = [(torch.randn(1500, 160), [torch.randint(0, k, (1500,)) for k in CLASSES]) for _ in range(4)]
        for layers in (1, 2, 3, 4):
            model = RefBlstm(160, 80, layers, CLASSES)
            optimizer = torch.optim.Adam(model.parameters(), lr=0.002)

            def epoch():
                for x, ts in utterances:
                    optimizer.zero_grad()
                    outputs = model(x)
                    loss = sum(cost_sensitive_ce(o, t) for o, t in zip(outputs, ts))
                    loss.backward()
                    optimizer.step()

            t = median_seconds(epoch, 5)
            results.point("pytorch_epoch", "layers", layers, t)
            print(f"sweep {layers} layer(s): pytorch epoch (4 x 1500 frames) {t:.3f} s")
    results.write(args.json)


if __name__ == "__main__":
    main()
