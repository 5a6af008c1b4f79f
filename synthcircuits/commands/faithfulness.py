"""`synthcircuits faithfulness`: splice a circuit into the trained network and measure how much
of the network's behaviour it keeps, against silencing and mean-ablating the units it replaces."""

from __future__ import annotations

from pathlib import Path

from ..dataset.items import list_items, read_class_map
from ..dataset.shards import RunOptions
from ..errors import UserError
from ..faithfulness import measure_faithfulness, open_circuit
from ..faithfulness.report import FaithfulnessReport
from ..models.inceptionv1 import InceptionV1
from ..outputs import atomic_target
from ..pages import write_page
from .common import open_model
from ..jsontext import strict_json

SHARD_SIZE = 64


def run_faithfulness(circuit: Path, weights: Path, images: Path, class_map: Path | None, units: str | None, output: Path,
                     batch_size: int, workers: int, device: str, ray: str | None, per_unit: bool, limit: int | None) -> int:
    opened = open_model(weights, device)
    trained = opened.model
    if not isinstance(trained, InceptionV1) or opened.compact:
        raise UserError(f"{weights}: faithfulness splices into a trained GoogLeNet layout (inceptionv1, bvlc_googlenet); "
                        f"this is {'a compact build' if opened.compact else trained.architecture.name}",
                        hint="give the trained network's weights file")
    arch = trained.architecture
    mapping = read_class_map(class_map, arch.name) if class_map else None
    items = list_items(images, mapping, arch.name, limit)
    named = opened.parse_units(units) if units else []
    side = open_circuit(circuit, trained.state_dict(), arch, named)
    # Shards of 64: the progress bar moves (a variant pass costs several forwards an image) and a stop loses little.
    options = RunOptions(batch_size=batch_size, workers=workers, device=device, shard_size=SHARD_SIZE)
    report = measure_faithfulness(trained, side, items, output, options, ray, per_unit, weights_label=str(weights))
    print(report.tables())
    write_outputs(report, output)
    print(f"\nsaved {output / 'faithfulness.json'}, {output / 'faithfulness.md'} and {output / 'faithfulness.html'}")
    return 0


def write_outputs(report: FaithfulnessReport, output: Path) -> None:
    with atomic_target(output / "faithfulness.json") as tmp:
        tmp.write_text(strict_json(report.as_json(), indent=1), encoding="utf-8")
    with atomic_target(output / "faithfulness.md") as tmp:
        tmp.write_text("```\n" + report.tables() + "\n```\n", encoding="utf-8")
    write_page(output / "faithfulness.html", "faithfulness.html", title=f"faithfulness: {report.circuit}", circuit=report.circuit,
               back=False, link=None, tables=report.tables())
