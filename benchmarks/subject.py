"""The model a benchmark measures: `--weights FILE` (any architecture the toolkit opens) or, by
default, a random InceptionV1; with `--device` and `--repeats`. Gradients are off."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from synthcircuits.commands.common import open_model
from synthcircuits.models import build_model
from synthcircuits.opened import OpenedModel


def benchmark_subject() -> tuple[argparse.Namespace, OpenedModel]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    if args.weights:
        return args, open_model(args.weights, args.device)
    return args, OpenedModel("random inceptionv1", build_model("inceptionv1", seed=0).to(args.device))
