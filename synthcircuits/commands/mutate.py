"""`synthcircuits mutate`: mutation testing of a spec's checks. Every one-change mutant of the
circuit is built and held to the spec's own checks; the score says how many wrong circuits the
checks catch, and the survivors say which wrong circuits they let through."""

from __future__ import annotations

from pathlib import Path

from ..cleanroom import mutation_test
from ..folder_lock import locked_folder
from ..jsontext import strict_json
from ..language import load_spec
from ..outputs import atomic_target, make_folders


def run_mutate(spec_path: Path, most: int | None, seed: int, output: Path | None, target: str, device: str, ray: str | None,
               fail_under: float | None, all_checks: bool = False, base: Path | None = None) -> int:
    spec = load_spec(spec_path)
    if output is None:
        report = mutation_test(spec, target, most, seed, device, None, ray, all_checks=all_checks, base=base)
    else:
        make_folders(output)
        with locked_folder(output):
            report = mutation_test(spec, target, most, seed, device, output, ray, all_checks=all_checks, base=base)
            with atomic_target(output / "mutation.json") as tmp:
                tmp.write_text(strict_json(report.as_json(), indent=1), encoding="utf-8")
            with atomic_target(output / "mutation.md") as tmp:
                tmp.write_text("```\n" + report.tables() + "\n```\n", encoding="utf-8")
    print(report.tables())
    if output is not None:
        print(f"\nsaved {output / 'mutation.json'} and {output / 'mutation.md'}")
    if fail_under is not None and (report.score is None or report.score < fail_under):
        print(f"\nFAILED: the mutation score is under {fail_under:.0%}")
        return 1
    return 0
