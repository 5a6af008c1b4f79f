import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from synthcircuits.models import build_model
from PIL import Image

from synthcircuits.commands.common import open_model
from synthcircuits.cli import main
from synthcircuits.compile import expanded_layer_weights
from synthcircuits.edit import apply_edits, edited_model, parse_edit
from synthcircuits.dataset.items import list_images
from synthcircuits.edit.effect import measure_effect
from synthcircuits.models import capture, load_model, save_safetensors
from synthcircuits.layout import INCEPTIONV1
from synthcircuits.models.staged import NO_TAP
from synthcircuits.language import SpecError
from synthcircuits.stimuli import arcs, lines

ROOT = Path(__file__).parent.parent


def edit(text, file=None):
    return parse_edit("synthcircuits_edit: 1\nname: t\nedits:\n" + text, str(file or ROOT / "specs" / "edits" / "t.yaml"))


def logged_mask(result, key, shape):
    mask = torch.zeros(shape, dtype=torch.bool)
    for change in result.changes:
        if change.tensor == key:
            mask |= change.mask(shape)
    return mask


OPS = {
    "ablate activation": "  - ablate: {units: [3b:379, 3a:100]}\n",
    "ablate outgoing": "  - ablate: {units: [3a:100, 5b:7], mode: outgoing}\n",
    "clamp": "  - clamp: {units: [4a:3], value: 2.5}\n",
    "scale": "  - scale: {units: [conv2d2:9], factor: 0.25}\n",
    "connection direct": "  - ablate_connection: {from: 3a:100, to: 3b:10}\n",
    "connection via bottleneck": "  - ablate_connection: {from: 4b:237, to: 4c:447}\n",
    "scale connection": "  - scale_connection: {from: 3a:5, to: 3b:450, factor: 3}\n",
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_each_op_changes_exactly_what_its_log_says(random_inceptionv1, name):
    state = random_inceptionv1.state_dict()
    pristine = {k: v.clone() for k, v in state.items()}
    result = apply_edits(state, edit(OPS[name]))
    assert all(torch.equal(state[k], pristine[k]) for k in state)  # the input is untouched
    changed = [k for k in state if not torch.equal(result.state[k], state[k])]
    assert changed
    for key in state:
        differs = result.state[key] != state[key]
        mask = logged_mask(result, key, state[key].shape)
        assert not (differs & ~mask).any(), f"{key} changed outside the logged elements"
    assert sum(c.changed for c in result.changes) == sum(int((result.state[k] != state[k]).sum()) for k in changed)


def test_ablated_units_output_zero_and_clamped_units_their_value(random_inceptionv1, images):
    result = apply_edits(random_inceptionv1.state_dict(), edit("  - ablate: {units: [3b:379]}\n  - clamp: {units: [4a:3], value: 2.5}\n"))
    acts = capture(edited_model(result), images, ["mixed3b", "mixed4a"])
    assert acts["mixed3b"][:, 379].abs().max() == 0
    assert torch.all(acts["mixed4a"][:, 3] == 2.5)
    base = capture(random_inceptionv1, images, ["mixed3b"])["mixed3b"]
    assert base[:, 379].abs().max() > 0 and torch.equal(acts["mixed3b"][:, :379], base[:, :379])


def test_outgoing_ablation_removes_the_units_contribution_downstream(random_inceptionv1, images):
    state = random_inceptionv1.state_dict()
    cut = apply_edits(state, edit("  - ablate: {units: [3a:100], mode: outgoing}\n"))
    cut_and_changed = apply_edits(cut.state, edit("  - clamp: {units: [3a:100], value: 7.0}\n"))
    a = capture(edited_model(cut), images, ["mixed3a", "mixed3b"])
    b = capture(edited_model(cut_and_changed), images, ["mixed3a", "mixed3b"])
    assert not torch.equal(a["mixed3a"][:, 100], b["mixed3a"][:, 100])  # the unit itself differs...
    assert torch.equal(a["mixed3b"], b["mixed3b"])  # ...and nothing downstream notices


def test_scaling_a_unit_scales_its_activation(random_inceptionv1, images):
    result = apply_edits(random_inceptionv1.state_dict(), edit("  - scale: {units: [3b:10], factor: 0.25}\n"))
    before = capture(random_inceptionv1, images, ["mixed3b"])["mixed3b"][:, 10]
    after = capture(edited_model(result), images, ["mixed3b"])["mixed3b"][:, 10]
    torch.testing.assert_close(after, before * 0.25)


def test_connection_ablation_zeroes_the_expanded_weight(random_inceptionv1):
    state = random_inceptionv1.state_dict()
    for source, target in (("3a:100", "3b:10"), ("4b:237", "4c:447"), ("3a:5", "3b:379")):
        result = apply_edits(state, edit(f"  - ablate_connection: {{from: {source}, to: {target}}}\n"))
        s, t = int(source.split(":")[1]), int(target.split(":")[1])
        layer = "mixed" + target.split(":")[0]
        before = expanded_layer_weights(state, INCEPTIONV1, layer)[t, s]
        after = expanded_layer_weights(result.state, INCEPTIONV1, layer)[t, s]
        assert before.abs().max() > 0
        assert after.abs().max() <= 1e-5 * before.abs().max()


def test_mean_ablation_equals_replacing_the_activation_by_its_mean(random_inceptionv1, images, tmp_path):
    folder = tmp_path / "mean_images"
    folder.mkdir()
    for k, image in enumerate(images):
        Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(folder / f"{k}.png")
    result = apply_edits(random_inceptionv1.state_dict(), edit(f"  - mean_ablate: {{units: [3a:100, 3b:400], images: {folder}}}\n"))
    from synthcircuits.images import load_image

    batch = torch.stack([load_image(p, 224) for p in sorted(folder.iterdir())])
    model = random_inceptionv1
    means = {}
    h = model.preprocess(batch)
    with torch.no_grad():
        for name, stage in model.stages():
            h = stage(h, NO_TAP)
            if name == "mixed3a":
                means["3a"] = h[:, 100].mean()
                h = h.clone()
                h[:, 100] = means["3a"]
            if name == "mixed3b":
                h = h.clone()
                h[:, 400] = h[:, 400].mean()
            if name == "softmax2_pre_activation_matmul":
                break
    torch.testing.assert_close(edited_model(result)(batch), h, rtol=1e-4, atol=1e-4 * float(h.abs().max()))


@pytest.mark.parametrize("text, where, message", [
    ("  - ablate: {units: [3b:480]}\n", "4:22", "mixed3b has 480 channels"),
    ("  - obliterate: {units: [3b:1]}\n", "4:5", "unknown key 'obliterate'"),
    ("  - ablate_connection: {from: 3a:5, to: 4a:3}\n", "4:37", "no connection mixed3a:5 -> mixed4a:3"),
    ("  - ablate: {units: [3b:379]}\n  - ablate: {units: [3b:379]}\n", "5:5", "changes nothing"),
    ("  - clamp: {units: [3b:1], value: -1}\n", "4:28", "less than the minimum of 0"),
    ("  - mean_ablate: {units: [conv2d2:3]}\n", "4:27", "exact only for units of inception blocks"),
])
def test_bad_edits_stop_with_file_line_and_what_is_wrong(random_inceptionv1, text, where, message):
    with pytest.raises(SpecError) as info:
        apply_edits(random_inceptionv1.state_dict(), edit(text, "bad_edit.yaml"))
    assert str(info.value.location) == f"bad_edit.yaml:{where}", str(info.value)
    assert message in str(info.value)


def test_splice_replaces_the_named_channels_with_the_compiled_circuits_units(random_inceptionv1, images, tmp_path):
    from synthcircuits.compile import compile_spec
    from synthcircuits.language import load_spec

    result = apply_edits(random_inceptionv1.state_dict(), parse_edit((ROOT / "specs/edits/curves_substituted.yaml").read_text(), str(ROOT / "specs/edits/curves_substituted.yaml")))
    spliced = edited_model(result)
    circuit = compile_spec(load_spec(ROOT / "specs/curve_circuit.yaml"))
    ours = capture(spliced, images, ["mixed3b", "mixed4a"])
    base = capture(random_inceptionv1, images, ["mixed3b"])["mixed3b"]
    compiled = capture(circuit.model(), images, ["mixed3b"])["mixed3b"]
    curves = [u.channel for u in circuit.units if u.family == "curve"]
    others = [c for c in range(480) if c not in curves]
    torch.testing.assert_close(ours["mixed3b"][:, curves], compiled[:, curves], rtol=1e-4, atol=1e-3)
    assert torch.equal(ours["mixed3b"][:, others], base[:, others])
    path = save_safetensors(spliced.file_tensors(), tmp_path / "spliced.safetensors",
                            {"synthcircuits.architecture": "spliced", "synthcircuits.side_paths": spliced.side_path_metadata()})
    torch.testing.assert_close(open_model(path).model(images), spliced(images))


def test_transplant_of_a_unit_whose_patch_claims_bottleneck_channels_runs_beside_the_network(random_inceptionv1, images, tmp_path):
    from synthcircuits.compile import compile_spec
    from synthcircuits.language import load_spec

    base = save_safetensors(random_inceptionv1.state_dict(), tmp_path / "base.safetensors")
    patch = tmp_path / "patch.yaml"
    patch.write_text(f"""
synthcircuits: 1
name: patch
base: {base}
bottleneck_channels: {{mixed3b_5x5: [31]}}
families:
  - {{name: trained, layer: mixed3a, keep: true, units: [3a:147], orientations: [222.5], period: 360}}
  - name: curve
    layer: mixed3b
    units: [3b:379]
    orientations: [243]
    period: 360
    inputs: [{{from: trained, center: {{}}, tuning: {{excite: 1, width_deg: 60}}}}]
""")
    result = apply_edits(random_inceptionv1.state_dict(), edit(f"  - transplant: {{spec: {patch}, units: [3b:379]}}\n", tmp_path / "e.yaml"))
    assert all(torch.equal(result.state[k], v) for k, v in random_inceptionv1.state_dict().items())  # no shared channel overwritten
    (side,) = result.sides
    assert "mixed3b 5x5 bottleneck channel(s) 31" in side.describe()
    edited = edited_model(result)
    ours = capture(edited, images, ["mixed3b", "mixed3b_5x5_bottleneck"])
    trained = capture(random_inceptionv1, images, ["mixed3b", "mixed3b_5x5_bottleneck"])
    circuit = capture(compile_spec(load_spec(patch)).model(), images, ["mixed3b"])["mixed3b"]
    others = [c for c in range(480) if c != 379]
    assert torch.equal(ours["mixed3b"][:, others], trained["mixed3b"][:, others])
    assert torch.equal(ours["mixed3b_5x5_bottleneck"], trained["mixed3b_5x5_bottleneck"])
    torch.testing.assert_close(ours["mixed3b"][:, 379], circuit[:, 379], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(ours["mixed3b"][:, 379], trained["mixed3b"][:, 379])


def make_labelled_folder(root: Path) -> Path:
    """A tiny labelled image folder, made here (classes named by their InceptionV1 labels)."""
    for label, render in (("tench", lambda: arcs(torch.tensor([0.0, 90.0]), 40.0)), ("sports car", lambda: lines(torch.tensor([0.0, 45.0])))):
        folder = root / label.replace(" ", "_")
        folder.mkdir(parents=True)
        for k, image in enumerate(render()):
            Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(folder / f"{k}.png")
    return root


def test_effect_report_on_a_labelled_folder(random_inceptionv1, tmp_path):
    folder = make_labelled_folder(tmp_path / "images")
    result = apply_edits(random_inceptionv1.state_dict(), edit("  - ablate: {units: [5b:0, 5b:1, 5b:2, 5b:3], mode: outgoing}\n"))
    report = measure_effect(random_inceptionv1, edited_model(result), list_images(folder))
    assert len(report.images) == 4 and {e.truth for e in report.images} == {"tench", "sports car"}
    a = report.accuracy
    for k in ("top1", "top5"):
        for when in ("before", "after"):
            assert 0 <= a[f"{k}_{when}_low"] <= a[f"{k}_{when}"] <= a[f"{k}_{when}_high"] <= 1
        assert a[f"{k}_change"] == pytest.approx(a[f"{k}_after"] - a[f"{k}_before"])
        assert a[f"{k}_change_low"] <= a[f"{k}_change"] <= a[f"{k}_change_high"]
    assert {c["class"] for c in report.per_class} == {"tench", "sports car"} and all(c["images"] == 2 for c in report.per_class)
    assert len(report.flipped) == sum(e.before != e.after for e in report.images)
    assert "top-1 predictions changed" in report.tables()


def test_class_subfolders_can_be_named_by_wordnet_id_through_a_class_map(tmp_path):
    folder = make_labelled_folder(tmp_path / "images")
    (folder / "tench").rename(folder / "n01440764")
    (folder / "sports_car").rename(folder / "n04285008")
    class_map = tmp_path / "wnids.txt"
    class_map.write_text("n01440764 tench\nn04285008 sports car\n")
    from synthcircuits.dataset.items import read_class_map

    images = list_images(folder, read_class_map(class_map))
    assert sorted({i.label for i in images}) == sorted({449, 274})  # tench is 449, sports car 274 in this label order
    with pytest.raises(Exception, match="--class-map"):
        list_images(folder)


def test_edit_command_writes_weights_and_effect_json(lucent_weights_file, tmp_path):
    folder = make_labelled_folder(tmp_path / "images")
    out = tmp_path / "edited.safetensors"
    spec = ROOT / "specs" / "edits" / "curves_removed.yaml"
    assert main(["edit", str(spec), "--weights", str(lucent_weights_file), "--images", str(folder), "-o", str(out)]) == 0
    report = json.loads(out.with_suffix(".effect.json").read_text())
    assert len(report["images"]) == 4 and "accuracy" in report and report["log"]
    edited = load_model(out)
    assert edited.state_dict()["mixed3b_5x5_pre_relu_conv.weight"][59].abs().sum() == 0


def test_edit_command_bad_input_exits_2_and_writes_nothing(lucent_weights_file, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("synthcircuits_edit: 1\nname: bad\nedits:\n  - ablate: {units: [3b:999]}\n")
    out = tmp_path / "edited.safetensors"
    result = subprocess.run([sys.executable, "-m", "synthcircuits.cli", "edit", str(bad), "--weights", str(lucent_weights_file), "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and f"{bad}:4:22" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
    folder = tmp_path / "unlabelled_classes" / "not a class"
    folder.mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "synthcircuits.cli", "edit", str(ROOT / "specs/edits/curves_removed.yaml"),
                             "--weights", str(lucent_weights_file), "--images", str(folder.parent)], capture_output=True, text=True)
    assert result.returncode == 2 and "name no inceptionv1 class" in result.stderr


@pytest.mark.parametrize("path", sorted((ROOT / "specs" / "edits").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_edits_apply_to_a_network_of_their_architecture(random_inceptionv1, path):
    spec = parse_edit(path.read_text(), str(path))
    base = random_inceptionv1 if spec.architecture == "inceptionv1" else build_model(spec.architecture, seed=0)
    result = apply_edits(base.state_dict(), spec)
    model = edited_model(result)
    assert model(torch.rand(1, 3, 224, 224)).shape == (1, 1008 if spec.architecture == "inceptionv1" else 1000)


def test_effect_skips_and_lists_unreadable_images(random_inceptionv1, tmp_path):
    folder = make_labelled_folder(tmp_path / "images")
    (folder / "tench" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    result = apply_edits(random_inceptionv1.state_dict(), edit("  - ablate: {units: [5b:0]}\n"))
    report = measure_effect(random_inceptionv1, edited_model(result), list_images(folder))
    assert len(report.images) == 4 and [Path(name).name for name, _ in report.skipped] == ["broken.png"]
    assert "1 images could not be read" in report.tables() and report.as_json()["skipped"][0]["reason"]


def test_bootstrap_intervals_are_exact_at_the_extremes_and_paired():
    from synthcircuits.edit.effect import bootstrap_accuracy

    right = np.ones(50, bool)
    same = bootstrap_accuracy({("top1", "before"): right, ("top1", "after"): right, ("top5", "before"): right, ("top5", "after"): right})
    assert (same["top1_before_low"], same["top1_before_high"]) == (1.0, 1.0)
    assert (same["top1_change_low"], same["top1_change_high"]) == (0.0, 0.0)  # paired draws: no spurious spread
    half = np.arange(400) % 2 == 0
    mixed = bootstrap_accuracy({("top1", "before"): half, ("top1", "after"): half, ("top5", "before"): half, ("top5", "after"): right[:1].repeat(400)})
    assert 0.44 < mixed["top1_before_low"] < 0.5 < mixed["top1_before_high"] < 0.56


def test_transplant_from_weights_carries_the_donors_bottleneck_and_names_its_channels(random_inceptionv1, images, tmp_path):
    base = random_inceptionv1.state_dict()
    donor = {k: v.clone() for k, v in base.items()}
    donor["mixed3b_5x5_bottleneck_pre_relu_conv.weight"][[3, 4]] *= -1  # channels every 5x5 unit reads
    donor["mixed3b_5x5_pre_relu_conv.weight"][59] *= 2  # 3b:379's own row
    donor_file = save_safetensors(donor, tmp_path / "donor.safetensors")
    result = apply_edits(base, edit(f"  - transplant: {{weights: {donor_file}, units: [3b:379]}}\n", tmp_path / "e.yaml"))
    assert not result.changes and "mixed3b 5x5 bottleneck channel(s) 3-4" in result.log_table()
    ours = capture(edited_model(result), images, ["mixed3b"])["mixed3b"]
    theirs = capture(random_inceptionv1, images, ["mixed3b"])["mixed3b"]
    donors = capture(load_model(donor_file), images, ["mixed3b"])["mixed3b"]
    others = [c for c in range(480) if c != 379]
    assert torch.equal(ours[:, others], theirs[:, others])
    torch.testing.assert_close(ours[:, 379], donors[:, 379], rtol=1e-5, atol=1e-5)


def test_transplant_copies_the_row_where_that_is_exact(random_inceptionv1, tmp_path):
    base = random_inceptionv1.state_dict()
    donor = {k: v.clone() for k, v in base.items()}
    donor["mixed3b_1x1_pre_relu_conv.weight"][7] += 1.0  # a 1x1 unit reads mixed3a directly: its row is all it has
    donor_file = save_safetensors(donor, tmp_path / "donor.safetensors")
    result = apply_edits(base, edit(f"  - transplant: {{weights: {donor_file}, units: [3b:7]}}\n", tmp_path / "e.yaml"))
    assert not result.sides
    changed = {k for k in base if not torch.equal(result.state[k], base[k])}
    assert changed == {"mixed3b_1x1_pre_relu_conv.weight"}
    assert torch.equal(result.state["mixed3b_1x1_pre_relu_conv.weight"][7], donor["mixed3b_1x1_pre_relu_conv.weight"][7])
