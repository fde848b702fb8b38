import json

import pytest
import torch
from conftest import TINY_MODEL, TINY_TRAIN, assert_resume_matches_straight

from openami.training import CheckpointError, fit, load_model, resume
from openami.training.checkpoint import last_checkpoint
from openami.training.config import TrainConfig
from openami.training.metrics import embedding_stats, read_metrics
from openami.training.trainer import learning_rate


def test_run_directory_layout_and_model_rebuilds_from_config(tiny_run):
    assert (tiny_run / "config.yaml").is_file()
    assert (tiny_run / "last").read_text().strip() == "step-0000006"
    assert (last_checkpoint(tiny_run) / "model.safetensors").is_file()
    assert list((tiny_run / "tb").iterdir()), "TensorBoard events are written"
    records = read_metrics(tiny_run)
    assert [r["step"] for r in records if "loss" in r] == [2, 4, 6]
    assert [r["step"] for r in records if "val_pred_loss" in r] == [3, 6]
    assert all(r["val_copy_last_loss"] > 0 for r in records if "val_pred_loss" in r)
    assert {"pred_loss", "reg_loss", "embed_std", "effective_rank"} <= set(records[0])
    model, config = load_model(tiny_run)
    assert config.model.action_dim == 2 * TINY_TRAIN.frameskip
    z = model.encode(torch.zeros(1, 1, 3, 32, 32, dtype=torch.uint8))
    assert z.shape == (1, 1, TINY_MODEL.latent_dim)


def test_resume_matches_an_uninterrupted_run(tiny_data, tmp_path):
    train = TINY_TRAIN.replace(steps=4, checkpoint_every=2)
    assert_resume_matches_straight(tiny_data, tmp_path, TINY_MODEL, train)
    assert [r["step"] for r in read_metrics(tmp_path / "stopped") if "loss" in r] == [2, 4]


def test_finished_run_refuses_resume_without_more_steps(tiny_run):
    before = (tiny_run / "config.yaml").read_text()
    with pytest.raises(CheckpointError, match="--steps"):
        resume(tiny_run, progress=False)
    with pytest.raises(CheckpointError, match="already finished 6 of 4"):
        resume(tiny_run, steps=4, progress=False)
    assert (tiny_run / "config.yaml").read_text() == before, "a refused resume must not change the run"


def test_a_damaged_dataset_is_refused_before_the_run_directory_is_made(tiny_data, tmp_path):
    import shutil

    from openami.data import DatasetError

    broken = tmp_path / "broken"
    shutil.copytree(tiny_data, broken)
    shard = sorted(broken.glob("shard-*.h5"))[0]
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=shard.name):
        fit(broken, tmp_path / "run", TINY_MODEL, TINY_TRAIN, progress=False)
    assert not (tmp_path / "run").exists()


def test_existing_run_is_never_overwritten(tiny_data, tiny_run):
    before = (tiny_run / "config.yaml").read_text()
    with pytest.raises(FileExistsError, match="--resume"):
        fit(tiny_data, tiny_run, TINY_MODEL, TINY_TRAIN, progress=False)
    assert (tiny_run / "config.yaml").read_text() == before


def test_corrupt_or_missing_checkpoints_are_explained(tiny_data, tmp_path):
    fit(tiny_data, tmp_path / "run", TINY_MODEL, TINY_TRAIN.replace(steps=2, checkpoint_every=2), progress=False)
    weights = last_checkpoint(tmp_path / "run") / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(tmp_path / "run")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "run" / "last").unlink()
    with pytest.raises(CheckpointError, match="no checkpoint yet"):
        load_model(tmp_path / "run")


def test_embedding_stats_flag_collapse():
    healthy = embedding_stats(torch.randn(512, 16))
    collapsed = embedding_stats(torch.randn(512, 1) * torch.ones(1, 16))
    assert healthy["effective_rank"] > 12 and collapsed["effective_rank"] < 1.5
    assert embedding_stats(torch.zeros(64, 16))["embed_std"] == 0.0


def test_config_yaml_records_the_data_and_world(tiny_run, tiny_data):
    import yaml

    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    assert config["world"] == "openami/TwoRoom-v0" and config["world_kwargs"] == {"size": 32}
    assert json.loads((tiny_data / "manifest.json").read_text())["episodes"] == 6


def test_bf16_autocast_trains_close_to_fp32(tiny_data, tmp_path):
    """train.precision: bf16 runs the forward pass in bfloat16 and keeps fp32 weights; losses stay near fp32's."""
    steps = TINY_TRAIN.replace(steps=2, checkpoint_every=2, log_every=1)
    fit(tiny_data, tmp_path / "fp32", TINY_MODEL, steps, progress=False)
    fit(tiny_data, tmp_path / "bf16", TINY_MODEL, steps.replace(precision="bf16"), progress=False)
    losses = {run: [r["loss"] for r in read_metrics(tmp_path / run) if "loss" in r] for run in ("fp32", "bf16")}
    assert losses["bf16"] != losses["fp32"]  # autocast did change the arithmetic
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.05)
    model, _ = load_model(tmp_path / "bf16")
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_unknown_precision_is_refused():
    from openami.config import ConfigError

    with pytest.raises(ConfigError, match="train.precision must be 'fp32', 'bf16' or 'auto'"):
        TINY_TRAIN.replace(precision="fp16")


@pytest.mark.parametrize("has_bf16_units", [True, False])
def test_auto_precision_follows_the_hardware_and_is_recorded(tiny_data, tmp_path, monkeypatch, has_bf16_units):
    """precision 'auto' takes bf16 only on a CPU with bf16 units, and the run's config names what it took."""
    import yaml

    capabilities = {**torch.cpu.get_capabilities(), "avx512_bf16": has_bf16_units, "amx_bf16": False}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    steps = TINY_TRAIN.replace(steps=1, checkpoint_every=1, precision="auto")
    fit(tiny_data, tmp_path / "run", TINY_MODEL, steps, progress=False)
    recorded = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]["precision"]
    assert recorded == ("bf16" if has_bf16_units else "fp32")
    _, config = load_model(tmp_path / "run")
    assert config.train.precision == recorded


def test_stopgrad_targets_send_no_gradient_through_the_future_frames():
    """train.target: stopgrad detaches the targets: the same loss, and gradients only through the history."""
    from openami.models import ModelConfig, WorldModel
    from openami.training.trainer import jepa_losses

    torch.manual_seed(0)
    model = WorldModel(ModelConfig(image_size=16, cnn_channels=(4, 8), cnn_stem=2, latent_dim=8, action_dim=2,
                                   history=2, predictor_width=16, predictor_depth=1))
    g = torch.Generator().manual_seed(3)
    batch = {"pixels": torch.randint(0, 256, (6, 4, 3, 16, 16), generator=g, dtype=torch.uint8),
             "actions": torch.randn(6, 3, 2, generator=g)}

    def encoder_grads(stop: bool) -> tuple[float, list[torch.Tensor]]:
        model.zero_grad()
        loss, _ = jepa_losses(model, batch, 2, "sigreg", 0.0, None, stop_target_gradient=stop)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.encoder.parameters()]

    online_loss, online = encoder_grads(False)
    stop_loss, stopped = encoder_grads(True)
    assert stop_loss == pytest.approx(online_loss)
    assert any(not torch.allclose(a, b) for a, b in zip(online, stopped, strict=True))
    # By hand: targets encoded without gradient, the same batch statistics (one BatchNorm pass over all frames).
    model.zero_grad()
    z = model.encode(batch["pixels"])
    prediction = model.rollout(z[:, :2], batch["actions"][:, 1:])
    ((prediction - z[:, 2:].detach()) ** 2).mean().backward()
    for a, b in zip(stopped, (p.grad for p in model.encoder.parameters()), strict=True):
        torch.testing.assert_close(a, b)


def test_reconstruction_resumes_exactly_and_leaves_a_plain_world_model(tiny_data, tmp_path):
    """train.reconstruction_weight: the auxiliary decoder is logged, resumed with the run, and not in the model file."""
    train = TINY_TRAIN.replace(steps=4, checkpoint_every=2, reconstruction_weight=1.0)
    assert_resume_matches_straight(tiny_data, tmp_path, TINY_MODEL, train)
    a, _ = load_model(tmp_path / "straight")  # a plain WorldModel: no decoder weights in model.safetensors
    records = [r for r in read_metrics(tmp_path / "straight") if "loss" in r]
    assert all(r["recon_loss"] > 0 for r in records)
    plain = fit(tiny_data, tmp_path / "plain", TINY_MODEL, train.replace(reconstruction_weight=0.0), progress=False)
    c, _ = load_model(plain.run_dir)
    assert "recon_loss" not in read_metrics(plain.run_dir)[0]
    pairs = zip(a.encoder.parameters(), c.encoder.parameters(), strict=True)
    assert any(not torch.allclose(pa, pc) for pa, pc in pairs)


def test_reconstruction_loss_adds_its_weighted_error_and_trains_the_encoder():
    from openami.models import ModelConfig, WorldModel
    from openami.models.decoder import foreground_weighted_error
    from openami.training.trainer import PixelReconstruction, jepa_losses

    torch.manual_seed(0)
    config = ModelConfig(image_size=16, cnn_channels=(4, 8), cnn_stem=2, latent_dim=8, action_dim=2, history=2,
                         predictor_width=16, predictor_depth=1)
    model = WorldModel(config)
    g = torch.Generator().manual_seed(3)
    batch = {"pixels": torch.randint(0, 256, (6, 4, 3, 16, 16), generator=g, dtype=torch.uint8),
             "actions": torch.randn(6, 3, 2, generator=g)}
    recon = PixelReconstruction(config, torch.full((3,), 0.5), weight=2.0)
    plain, _ = jepa_losses(model, batch, 2, "sigreg", 0.0, None)
    total, parts = jepa_losses(model, batch, 2, "sigreg", 0.0, None, reconstruction=recon)
    z_first = model.encode(batch["pixels"])[:, 0]
    by_hand = foreground_weighted_error(recon.decoder(z_first), batch["pixels"][:, 0].float() / 255, recon.background,
                                        20.0)
    assert parts["recon_loss"].item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert total.item() == pytest.approx(plain.item() + 2.0 * by_hand.item(), rel=1e-5)
    model.zero_grad()
    parts["recon_loss"].backward()
    assert model.encoder.features[0].weight.grad.abs().sum() > 0  # the pixel error reaches the encoder


def test_inverse_dynamics_resumes_exactly_and_leaves_a_plain_world_model(tiny_data, tmp_path):
    """train.inverse_dynamics_weight: the head is logged, resumed with the run, and not in the model file."""
    train = TINY_TRAIN.replace(steps=4, checkpoint_every=2, inverse_dynamics_weight=1.0)
    assert_resume_matches_straight(tiny_data, tmp_path, TINY_MODEL, train)
    a, _ = load_model(tmp_path / "straight")  # a plain WorldModel: no head weights in model.safetensors
    assert all(r["inverse_loss"] > 0 for r in read_metrics(tmp_path / "straight") if "loss" in r)
    plain = fit(tiny_data, tmp_path / "plain", TINY_MODEL, train.replace(inverse_dynamics_weight=0.0), progress=False)
    c, _ = load_model(plain.run_dir)
    assert "inverse_loss" not in read_metrics(plain.run_dir)[0]
    pairs = zip(a.encoder.parameters(), c.encoder.parameters(), strict=True)
    assert any(not torch.allclose(pa, pc) for pa, pc in pairs)


def test_inverse_dynamics_needs_three_frames_per_window(tiny_data, tmp_path):
    from openami.config import ConfigError

    model, train = TINY_MODEL.replace(history=1), TINY_TRAIN.replace(future=1, inverse_dynamics_weight=1.0)
    with pytest.raises(ConfigError, match="at least 3 frames"):
        fit(tiny_data, tmp_path / "run", model, train, progress=False)
    assert not (tmp_path / "run").exists()


def test_inverse_dynamics_names_each_action_from_the_frames_around_it():
    from openami.models import ModelConfig
    from openami.training.trainer import InverseDynamics

    config = ModelConfig(image_size=16, latent_dim=4, action_dim=2, history=2)
    head = InverseDynamics(config, weight=1.0)
    z = torch.randn(3, 5, 4)  # 5 frames, 4 actions between them
    actions = torch.randn(3, 4, 2)
    seen = []

    class Zero(torch.nn.Module):  # names every action 0, and keeps what it was shown
        def forward(self, triplets):
            seen.append(triplets)
            return torch.zeros(*triplets.shape[:2], 2)

    head.net = Zero()
    loss = head(z, actions)
    # Actions 1..3 are named, each by frames k-1, k and k+1; action 0 has no frame before it.
    torch.testing.assert_close(seen[0][:, 0], torch.cat([z[:, 0], z[:, 1], z[:, 2]], dim=-1))
    torch.testing.assert_close(seen[0][:, 2], torch.cat([z[:, 2], z[:, 3], z[:, 4]], dim=-1))
    assert loss.item() == pytest.approx(actions[:, 1:].pow(2).mean().item(), rel=1e-6)


def test_foreground_weighted_error_weighs_pixels_that_differ_from_the_background():
    from openami.models.decoder import foreground_weighted_error

    background = torch.zeros(3, 1, 1)
    target = torch.zeros(1, 3, 2, 2)
    target[0, :, 0, 0] = 1.0  # one foreground pixel of four
    image = torch.zeros(1, 3, 2, 2)
    # The only error is on the foreground pixel: 3 channels x 1.0, weighted 1 + 20, over 12 entries.
    assert foreground_weighted_error(image, target, background, 20.0).item() == pytest.approx(21 * 3 / 12)
    image = target.clone()
    image[0, :, 1, 1] = 0.5  # an error on a background pixel counts once
    assert foreground_weighted_error(image, target, background, 20.0).item() == pytest.approx(3 * 0.25 / 12)


def test_episode_contrast_is_logged_resumes_exactly_and_trains_the_pooled_head(tiny_data, tmp_path):
    """train.episode_contrast_weight: partners drawn by step, so a resumed run is the straight one."""
    model = TINY_MODEL.replace(cnn_pooled_dims=4)
    train = TINY_TRAIN.replace(steps=4, checkpoint_every=2, episode_contrast_weight=1.0)
    assert_resume_matches_straight(tiny_data, tmp_path, model, train)
    a, _ = load_model(tmp_path / "straight")
    records = [r for r in read_metrics(tmp_path / "straight") if "loss" in r]
    assert all(r["contrast_loss"] > 0 for r in records)
    plain = fit(tiny_data, tmp_path / "plain", model, train.replace(episode_contrast_weight=0.0), progress=False)
    c, _ = load_model(plain.run_dir)
    assert "contrast_loss" not in read_metrics(plain.run_dir)[0]
    pairs = zip(a.encoder.pooled.parameters(), c.encoder.pooled.parameters(), strict=True)
    assert any(not torch.allclose(pa, pc) for pa, pc in pairs)


def test_episode_contrast_needs_pooled_dims(tiny_data, tmp_path):
    from openami.config import ConfigError

    with pytest.raises(ConfigError, match="needs model.encoder: cnn with model.cnn_pooled_dims > 0"):
        fit(tiny_data, tmp_path / "run", TINY_MODEL, TINY_TRAIN.replace(episode_contrast_weight=1.0), progress=False)
    assert not (tmp_path / "run").exists()


class _BrightnessModel(torch.nn.Module):
    """A double: z is each channel's mean brightness; `predict_zero` makes the predictor say zero, else no change."""

    def __init__(self, predict_zero: bool) -> None:
        super().__init__()
        self.predict_zero = predict_zero

    def encode(self, pixels):  # (B, T, C, H, W) -> (B, T, C)
        return pixels.float().mean(dim=(3, 4)) / 255.0

    def rollout(self, window, actions):
        last = window[:, -1:].expand(-1, actions.shape[1], -1)
        return torch.zeros_like(last) if self.predict_zero else last


def test_validation_reports_the_loss_of_copying_the_last_embedding_beside_the_predictors():
    from openami.training.trainer import _validate

    pixels = torch.zeros(2, 4, 3, 8, 8, dtype=torch.uint8)
    pixels[:, 2:] = 51  # brightness 0.2 in the two frames after a history of two
    batch = {"pixels": pixels, "actions": torch.zeros(2, 3, 2)}  # one action between consecutive frames
    model_loss, copy_last = _validate(_BrightnessModel(predict_zero=False), batch, history=2)
    assert model_loss == copy_last == pytest.approx(0.04)
    pixels[:, 1] = 51  # now the last frame of the history already shows it: copying is exact, zero is not
    model_loss, copy_last = _validate(_BrightnessModel(predict_zero=True), batch, history=2)
    assert copy_last == 0.0 and model_loss == pytest.approx(0.04)


@pytest.mark.parametrize(("val_loss", "warned"), [(0.05, True), (0.01, False)])
def test_the_cli_warns_when_the_predictor_barely_beats_copying(monkeypatch, capsys, tmp_path, val_loss, warned):
    import openami.training
    from openami.cli.main import main
    from openami.training.trainer import TrainResult

    def fake_fit(*args, **kwargs):
        return TrainResult(tmp_path / "run", 10, 1.0, 0.5, val_loss, 0.06)

    monkeypatch.setattr(openami.training, "fit", fake_fit)
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "(copying the last embedding: 0.0600)" in out
    assert ("learnt little of how the world moves" in err) is warned


def test_the_learning_rate_warms_up_then_falls_by_a_cosine_to_a_tenth():
    train = TrainConfig(lr=1e-3, warmup_steps=10, steps=110)
    assert learning_rate(train, 0) == pytest.approx(1e-4)
    assert learning_rate(train, 9) == pytest.approx(1e-3)  # the warm-up's last step reaches the peak
    assert learning_rate(train, 60) == pytest.approx(0.55e-3)  # half way down the cosine
    assert learning_rate(train, 110) == pytest.approx(1e-4)
    rates = [learning_rate(train, step) for step in range(10, 111)]
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))
