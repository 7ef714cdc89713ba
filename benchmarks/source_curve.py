"""Source pretraining curves: pretrain architectures on glyphs under a changed budget, printing every check.

    SUITE_CACHE_DIR=/tmp/curves python benchmarks/source_curve.py '{"batch_size": 32}' mobilenet_v2@32 resnet50@32

The budget is the quick profile's source budget for each architecture with the JSON's fields replaced; the
record written beside the weights (held-out accuracy, images seen, seconds, the curve) is printed at the end.
It is how docs/cases.md's pretraining figures were measured; `suite prepare glyphs` runs the profile's own.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import keras

from suite import source
from suite.case import Case
from suite.profiles import get_profile


class Curve(keras.callbacks.Callback):
    """Prints the held-out (stopping set) and training accuracy after every check, with seconds so far."""

    def __init__(self) -> None:
        super().__init__()
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        seconds = time.perf_counter() - self.started
        held_out, train = logs["val_accuracy"], logs["accuracy"]
        print(f"    check {epoch + 1}: held-out {held_out:.3f} train {train:.3f} at {seconds:.0f} s", flush=True)


def main(changes: str, *targets: str) -> None:
    """Pretrains each ``arch@side`` under the quick budget with ``changes`` (JSON) applied."""
    for target in targets:
        arch, side = target.split("@")
        budget = dataclasses.replace(get_profile("quick").source_for(arch), **json.loads(changes))
        path = source.pretrain_on_source(arch, int(side), Case(arch, "frozen", "digits"), budget, callbacks=(Curve(),))
        record = json.loads(source.source_record(path).read_text())
        record.pop("recipe")
        print(arch, side, json.dumps(record), flush=True)
        keras.backend.clear_session()


if __name__ == "__main__":
    main(*sys.argv[1:])
