import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stream_derain.checkpoint import load_checkpoint, load_model, save_checkpoint
from stream_derain.errors import DerainError
from stream_derain.models import build_generator


def test_round_trip_keeps_weights_config_and_metadata(tmp_path):
    generator = build_generator("lite")
    path = tmp_path / "lite.pt"
    digest = save_checkpoint(path, generator, {"recipe": "r.toml", "step": 7})
    loaded = load_checkpoint(path)
    assert loaded.trained and loaded.generator.config == generator.config
    assert loaded.metadata["step"] == 7 and loaded.metadata["sha256"] == digest
    for name, tensor in generator.state_dict().items():
        torch.testing.assert_close(loaded.generator.state_dict()[name], tensor)


def test_float16_weights_halve_the_file_and_load_back_into_float32(tmp_path):
    torch.manual_seed(0)
    generator = build_generator("lite")
    with torch.no_grad():  # the zero-initialised residual head would make the output the input
        for parameter in generator.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    full, half = tmp_path / "full.pt", tmp_path / "half.pt"
    save_checkpoint(full, generator)
    save_checkpoint(half, generator, dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_checkpoint(half).generator
    assert all(tensor.dtype == torch.float32 for tensor in loaded.state_dict().values())
    frame = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        reference, result = generator.eval()(frame).output, loaded(frame).output
    assert not torch.equal(reference, frame)
    torch.testing.assert_close(result, reference, atol=2e-3, rtol=0)


def test_half_weights_script_keeps_the_metadata_and_refuses_to_overwrite_its_source(tmp_path):
    source, target = tmp_path / "lite.pt", tmp_path / "lite16.pt"
    save_checkpoint(source, build_generator("lite"), {"steps": 7})
    script = Path(__file__).resolve().parents[1] / "scripts" / "half_weights.py"
    done = subprocess.run([sys.executable, str(script), str(source), str(target)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    metadata = load_checkpoint(target).metadata
    assert metadata["steps"] == 7 and metadata["weights_dtype"] == "float16"
    refused = subprocess.run([sys.executable, str(script), str(source), str(source)], capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr.startswith("error: ")


class RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": "stream-derain-generator", "payload": RunsCode()}, path)
    with pytest.raises(DerainError, match="refused"):
        load_checkpoint(path)
    assert "this must never run" not in capsys.readouterr().out


def test_a_raw_pickle_file_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(RunsCode()))
    with pytest.raises(DerainError):
        load_checkpoint(path)


def test_corrupted_file_and_tampered_weights_are_reported(tmp_path):
    path = tmp_path / "lite.pt"
    save_checkpoint(path, build_generator("lite"))
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(DerainError, match="corrupted"):
        load_checkpoint(tmp_path / "cut.pt")
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["arn.det_conv_mask.bias"] += 1.0
    torch.save(payload, tmp_path / "tampered.pt")
    with pytest.raises(DerainError, match="sha256"):
        load_checkpoint(tmp_path / "tampered.pt")


def test_wrong_preset_and_key_mismatches_are_named(tmp_path):
    path = tmp_path / "lite.pt"
    save_checkpoint(path, build_generator("lite"))
    with pytest.raises(DerainError, match="holds preset 'lite', not 'full'"):
        load_checkpoint(path, expect_preset="full")
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["arn.det_conv_mask.bias"]
    payload["state_dict"]["arn.extra.weight"] = torch.zeros(1)
    del payload["metadata"]["sha256"]
    torch.save(payload, tmp_path / "keys.pt")
    with pytest.raises(DerainError, match=r"missing 1 keys \(first: arn.det_conv_mask.bias\).*arn.extra.weight"):
        load_checkpoint(tmp_path / "keys.pt")


def test_model_names_resolve_or_fail_clearly(tmp_path):
    assert load_model("full").generator.config.preset == "full"
    with pytest.raises(DerainError, match="unknown model 'nope'"):
        load_model("nope")
    with pytest.raises(DerainError, match="not found"):
        load_model(tmp_path / "missing.pt")


def test_visible_mask_maps_logits_through_a_sigmoid_only_when_the_model_says_so(untrained_presets):
    logits = torch.tensor([[-10.0, 0.0, 10.0]])
    bce = load_model("lite")
    bce.metadata = {"mask_activation": "sigmoid"}
    torch.testing.assert_close(bce.visible_mask(logits), torch.sigmoid(logits))
    raw = load_model("full")  # the untrained preset: ungated, and no metadata says sigmoid
    torch.testing.assert_close(raw.visible_mask(logits), torch.tensor([[0.0, 0.0, 1.0]]))
    gated = load_model("lite")  # its gate reads the map as logits, whatever the metadata says
    gated.metadata = {}
    torch.testing.assert_close(gated.visible_mask(logits), torch.sigmoid(logits))
