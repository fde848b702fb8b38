"""Probes, surprise and open-loop error on cases whose answers are known."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from openami.data import open_dataset
from openami.evaluation.probe import ProbeConfig, fit_probes, probe, score
from openami.evaluation.rollout import held_out_episodes, rollout_errors
from openami.evaluation.surprise import (
    SCALES,
    SurpriseConfig,
    SurpriseScale,
    calibrate,
    calibrate_with_copy_last,
    calibration_pairs,
    code_residuals,
    evaluate_surprise,
    format_surprise_table,
    frame_errors,
    paired_accuracy_by_solid,
    prediction_residuals,
    residuals_with_copy_last,
    scored_pairs,
    separation,
)
from openami.models import ModelConfig
from openami.training import load_model
from openami.worlds.violations import VIOLATIONS


class MeanColourModel(nn.Module):
    """A double: z is each channel's mean brightness, and the predictor says nothing changes."""

    def __init__(self, history: int = 2) -> None:
        super().__init__()
        self.config = ModelConfig(history=history, latent_dim=3, image_size=16)
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the double a device

    def encode(self, obs):  # (B, T, C, H, W) -> (B, T, C)
        return obs.float().mean(dim=(3, 4)) / 255.0

    def predict(self, z_hist, action):
        return z_hist[:, -1]

    def rollout(self, z_hist, actions):
        return z_hist[:, -1:].expand(-1, actions.shape[1], -1)


def test_linear_and_mlp_probes_recover_a_linear_map_but_not_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 8))
    y = x @ rng.normal(size=(8, 2))
    config = ProbeConfig(mlp_hidden=(32,), mlp_max_epochs=100)
    pred = fit_probes(x[:1500], y[:1500], x[1500:], config)
    assert score(y[1500:], pred["linear"])["r2"] > 0.999
    assert score(y[1500:], pred["mlp"])["r2"] > 0.95
    noise = rng.normal(size=(2000, 2))  # unrelated to x: nothing to find
    pred = fit_probes(x[:1500], noise[:1500], x[1500:], config)
    assert score(noise[1500:], pred["linear"])["r2"] < 0.05


def test_probe_splits_episodes_and_reports_both_encoders(tiny_run, tiny_data):
    model, run_config = load_model(tiny_run)
    result = probe(model, open_dataset(tiny_data), run_config.world,
                   ProbeConfig(max_train_frames=60, max_test_frames=20, mlp_hidden=(16,), mlp_max_epochs=20))
    q = result["quantities"]["agent.position"]
    assert q["dynamic"] is False and set(q) == {"dynamic", "trained", "random"}
    assert all(q[enc][kind]["r2"] <= 1.0 for enc in ("trained", "random") for kind in ("linear", "mlp"))
    assert result["train_episodes"] + result["test_episodes"] == 6 and result["test_frames"] <= 20


def test_frame_errors_spike_exactly_where_the_picture_jumps():
    clips = np.full((2, 10, 8, 8, 3), 100, np.uint8)
    clips[1, 6:] = 200  # the second clip's brightness jumps at frame 6
    errors = frame_errors(MeanColourModel(history=2), clips, np.zeros((2, 10, 2), np.float32))
    assert np.isnan(errors[:, :2]).all()  # no prediction without a full history
    assert np.allclose(errors[0, 2:], 0.0)
    assert np.argmax(np.nan_to_num(errors[1], nan=-1)) == 6
    assert errors[1, 6] == pytest.approx((100 / 255) ** 2)
    assert np.allclose(errors[1, 7:], 0.0)


def test_frame_errors_with_frameskip_score_only_model_steps():
    clips = np.zeros((1, 9, 8, 8, 3), np.uint8)
    errors = frame_errors(MeanColourModel(history=1), clips, np.zeros((1, 9, 2), np.float32), frameskip=2)
    assert np.isfinite(errors[0, [2, 4, 6, 8]]).all() and np.isnan(errors[0, [0, 1, 3, 5, 7]]).all()


def test_separation_known_answers():
    assert separation([0, 1, 2], [3, 4, 5]) == {"auroc": 1.0, "paired_accuracy": 1.0}
    assert separation([3, 4, 5], [0, 1, 2])["auroc"] == 0.0
    assert separation([1, 1, 1], [1, 1, 1]) == {"auroc": 0.5, "paired_accuracy": 0.0}


def test_pass_throughs_are_scored_apart_by_what_is_passed_through():
    pairs = [SimpleNamespace(details={"other": other}) for other in ("ledge", 0, "ledge", 2, 1)]
    possible = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    impossible = np.array([0.5, 3.0, 2.0, 0.5, 2.0])  # ledge: missed, hit; bodies: hit, missed, hit
    split = paired_accuracy_by_solid(pairs, possible, impossible)
    assert split == {"ledge": {"pairs": 2, "paired_accuracy": 0.5}, "body": {"pairs": 3, "paired_accuracy": 2 / 3}}


def test_a_model_that_predicts_no_change_equals_the_copy_last_baseline(tiny_run, tiny_data):
    _, run_config = load_model(tiny_run)
    experience = open_dataset(tiny_data)
    episodes = held_out_episodes(run_config, experience.num_episodes)
    result = rollout_errors(MeanColourModel(history=1), experience, episodes, horizon=3, frameskip=2)
    assert result["horizon"] == [1, 2, 3]
    assert np.allclose(result["model_mse"], result["copy_last_mse"]) and np.allclose(result["ratio"], 1.0)


def test_rollout_errors_of_a_trained_model(tiny_run, tiny_data):
    model, run_config = load_model(tiny_run)
    experience = open_dataset(tiny_data)
    result = rollout_errors(model, experience, held_out_episodes(run_config, experience.num_episodes), 3, 2)
    assert len(result["model_mse"]) == 3 and all(m >= 0 for m in result["model_mse"])
    assert result["windows"] > 0


def test_k_step_residuals_compare_each_frame_with_its_prediction_k_steps_earlier():
    clips = np.zeros((1, 8, 16, 16, 3), np.uint8)
    clips[0, :, :, :, 0] = (np.arange(8) * 10)[:, None, None]  # red brightness rises 10 per frame
    res = prediction_residuals(MeanColourModel(history=1), clips, np.zeros((1, 8, 2), np.float32), horizons=3)
    assert res.shape == (1, 3, 8, 3)
    for k in (1, 2, 3):  # "no change" predicted k frames earlier falls 10 k short
        assert np.isnan(res[0, k - 1, :k]).all()
        assert np.allclose(res[0, k - 1, k:, 0], -10 * k / 255)


def test_residuals_of_any_code_with_a_predictor_that_extrapolates_it():
    # Codes that move by a constant step: extrapolating the last step is exact, copying falls a step short per horizon.
    z = torch.arange(10.0).reshape(1, 10, 1).repeat(2, 1, 3)  # (N=2, K=10, D=3)

    def extrapolate(window, actions):  # (B, history, D), (B, H, A) -> (B, H, D)
        step = window[:, -1] - window[:, -2]
        return window[:, -1:] + step[:, None] * torch.arange(1, actions.shape[1] + 1.0)[None, :, None]

    exact = code_residuals(z, np.zeros((2, 10, 2), np.float32), extrapolate, history=2, horizons=2, frameskip=1,
                           length=10)
    copying = code_residuals(z, np.zeros((2, 10, 2), np.float32), None, history=2, horizons=2, frameskip=1,
                             length=10)
    assert exact.shape == copying.shape == (2, 2, 10, 3)
    assert np.isnan(exact[:, 0, :2]).all() and np.isnan(exact[:, 1, :3]).all()  # nothing predicts those frames
    assert np.allclose(exact[:, 0, 2:], 0) and np.allclose(exact[:, 1, 3:], 0)
    assert np.allclose(copying[:, 0, 2:], -1) and np.allclose(copying[:, 1, 3:], -2)


def test_calibration_pairs_come_per_scored_type_with_seeds_apart_from_the_test_pairs():
    config = SurpriseConfig(clips_per_violation=2, calibration_clips=4, length=24, violations=("teleport", "vanish"))
    per_type = calibration_pairs(config, size=16)
    assert [{p.violation for p in pairs} for pairs in per_type] == [{"teleport"}, {"vanish"}]
    assert all(len(pairs) == 2 for pairs in per_type)
    tested = {p.seed for name in config.violations for p in scored_pairs(name, config, 16)}
    assert tested.isdisjoint(p.seed for pairs in per_type for p in pairs)


class ZeroPredictionModel(MeanColourModel):
    """A double whose predictor says every embedding is zero, far from copying the last one."""

    def rollout(self, z_hist, actions):
        return torch.zeros(z_hist.shape[0], actions.shape[1], z_hist.shape[-1])


def test_the_copy_last_baseline_ignores_the_predictor_and_copies_the_last_embedding():
    clips = np.zeros((1, 8, 16, 16, 3), np.uint8)
    clips[0, :, :, :, 0] = (np.arange(8) * 10)[:, None, None]
    actions = np.zeros((1, 8, 2), np.float32)
    copying = prediction_residuals(MeanColourModel(history=2), clips, actions, horizons=2)
    zero = prediction_residuals(ZeroPredictionModel(history=2), clips, actions, horizons=2)
    baseline = prediction_residuals(ZeroPredictionModel(history=2), clips, actions, horizons=2, copy_last=True)
    assert np.allclose(baseline, copying, equal_nan=True)
    assert not np.allclose(zero, copying, equal_nan=True)


class CountingZeroModel(ZeroPredictionModel):
    """Counts the frames it encodes."""

    encoded = 0

    def encode(self, obs):
        self.encoded += obs.shape[0] * obs.shape[1]
        return super().encode(obs)


def test_model_and_copy_last_residuals_come_from_one_encoding():
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, size=(3, 8, 16, 16, 3), dtype=np.uint8)
    actions = np.zeros((3, 8, 2), np.float32)
    model = CountingZeroModel(history=2)
    both = residuals_with_copy_last(model, clips, actions, horizons=2)
    assert model.encoded == 3 * 8  # each frame once, not once per residual
    for residuals, copy_last in zip(both, (False, True), strict=True):
        alone = prediction_residuals(model, clips, actions, horizons=2, copy_last=copy_last)
        assert np.allclose(residuals, alone, equal_nan=True)
    assert not np.allclose(*both, equal_nan=True)  # the predictor says zero, the baseline copies
    config = SurpriseConfig(calibration_clips=4, length=24, violations=("teleport", "vanish"))
    for scale, copy_last in zip(calibrate_with_copy_last(model, config, 1), (False, True), strict=True):
        alone = calibrate(model, config, 1, copy_last=copy_last)
        assert np.allclose(scale.mean, alone.mean) and np.allclose(scale.std, alone.std)


def test_surprise_reports_the_copy_last_baseline_beside_the_model():
    config = SurpriseConfig(clips_per_violation=4, calibration_clips=4, length=24, violations=("teleport", "vanish"))
    # a model that predicts no change scores exactly what its copy-last baseline scores
    copying = evaluate_surprise(MeanColourModel(history=1), "openami/Physics-v0", 1, config, progress=False)
    for r in copying["violations"].values():
        assert r["copy_last"] == {"auroc": r["auroc"], "paired_accuracy": r["paired_accuracy"]}
    zero = evaluate_surprise(ZeroPredictionModel(history=1), "openami/Physics-v0", 1, config, progress=False)
    assert all(zero["violations"][v]["copy_last"] == copying["violations"][v]["copy_last"] for v in config.violations)
    assert "copy-last AUROC" in format_surprise_table(zero)
    skipped = evaluate_surprise(MeanColourModel(history=1), "openami/Physics-v0", 1, config, progress=False,
                                baseline=False)
    assert all("copy_last" not in r for r in skipped["violations"].values())


@pytest.mark.parametrize("kind", SCALES)
def test_surprise_scale_weighs_a_quiet_dimension_like_a_busy_one(kind):
    rng = np.random.default_rng(0)
    possible = rng.normal(size=(50, 1, 20, 2)) * np.array([10.0, 0.1])  # busy and quiet dims
    scale = SurpriseScale(possible, kind)
    assert abs(np.nanmean(scale(possible))) < 1e-6  # z-scored on what it was calibrated on
    quiet_jump = np.zeros((1, 1, 20, 2))
    quiet_jump[0, 0, 10, 1] = 1.0  # 10x the quiet dimension's typical size, 10 % of the busy one's
    surprise = scale(quiet_jump)[0]
    assert np.argmax(surprise) == 10 and surprise[10] > 10


def test_covariance_scale_flags_an_error_unlike_the_usual_ones_where_the_diagonal_cannot():
    # On possible clips the model errs along (1, 1) only: both dimensions off together.
    rng = np.random.default_rng(0)
    common = rng.normal(size=(50, 1, 20, 1))
    possible = np.concatenate([common, common], axis=-1) + 0.05 * rng.normal(size=(50, 1, 20, 2))
    usual, unusual = np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2))
    usual[0, 0, 1], unusual[0, 0, 1] = (1.5, 1.5), (1.5, -1.5)  # the same size per dimension
    covariance, diagonal = SurpriseScale(possible, "covariance"), SurpriseScale(possible, "diagonal")
    assert covariance(unusual)[0, 1] > 10 * max(covariance(usual)[0, 1], 1.0)
    assert np.isclose(diagonal(unusual)[0, 1], diagonal(usual)[0, 1])
    with pytest.raises(ValueError, match="valid: covariance, diagonal"):
        SurpriseScale(possible, "full")


def test_shrinkage_blends_the_covariance_scale_from_the_measured_correlations_to_the_diagonal():
    rng = np.random.default_rng(0)
    common = rng.normal(size=(50, 1, 20, 1))
    possible = np.concatenate([common, common], axis=-1) + 0.05 * rng.normal(size=(50, 1, 20, 2))
    unusual = np.zeros((1, 1, 2, 2))
    unusual[0, 0, 1] = (1.5, -1.5)  # against the correlation the possible clips show
    surprise = {s: SurpriseScale(possible, "covariance", s)(unusual)[0, 1] for s in (0.0, 0.3, 1.0)}
    assert surprise[0.0] > surprise[0.3] > surprise[1.0]
    assert np.isclose(surprise[1.0], SurpriseScale(possible, "diagonal")(unusual)[0, 1])
    # None is Ledoit-Wolf's own choice, the same as giving its weight
    from sklearn.covariance import ledoit_wolf_shrinkage
    rows = possible[:, 0].reshape(-1, 2)
    chosen = ledoit_wolf_shrinkage(rows / np.sqrt(np.mean(rows ** 2, axis=0)), assume_centered=True)
    given = SurpriseScale(possible, "covariance", chosen)
    assert np.isclose(SurpriseScale(possible)(unusual)[0, 1], given(unusual)[0, 1])
    with pytest.raises(ValueError, match="between 0 and 1"):
        SurpriseScale(possible, "covariance", 1.5)
    with pytest.raises(ValueError, match="surprise.shrinkage must be between 0 and 1"):
        SurpriseConfig(shrinkage=-0.1)


def test_the_cli_takes_a_shrinkage_or_ledoit_wolfs_choice():
    from openami.cli.main import build_parser

    parse = build_parser().parse_args
    assert parse(["eval", "surprise", "--run", "RUN", "--shrinkage", "0.3"]).shrinkage == 0.3
    assert parse(["eval", "surprise", "--run", "RUN", "--shrinkage", "lw"]).shrinkage == "lw"
    assert parse(["eval", "surprise", "--run", "RUN"]).shrinkage is None
    with pytest.raises(SystemExit):
        parse(["eval", "surprise", "--run", "RUN", "--shrinkage", "2"])


def test_a_violation_type_is_scored_on_the_same_pairs_whichever_types_are_chosen():
    model = MeanColourModel(history=1)
    config = SurpriseConfig(clips_per_violation=3, calibration_clips=2, length=24)
    alone = evaluate_surprise(model, "openami/Physics-v0", 1, config.replace(violations=("colour_change",)),
                              progress=False, examples=3)
    together = evaluate_surprise(model, "openami/Physics-v0", 1,
                                 config.replace(violations=("teleport", "colour_change")), progress=False, examples=3)
    seeds = [[c["seed"] for c in r["curves"]["colour_change"]] for r in (alone, together)]
    assert seeds[0] == seeds[1] == [config.seed + 10_000 * VIOLATIONS.index("colour_change") + i for i in range(3)]


def test_surprise_clips_too_short_for_their_events_are_refused():
    with pytest.raises(ValueError, match="surprise.length must be at least 24"):
        SurpriseConfig(length=16)


def test_a_frames_surprise_averages_its_z_scores_over_the_horizons_that_predicted_it():
    rng = np.random.default_rng(0)
    possible = rng.normal(size=(40, 2, 12, 3)) * np.array([1.0, 2.0])[None, :, None, None]
    scale = SurpriseScale(possible, "covariance")
    residuals = rng.normal(size=(1, 2, 12, 3))
    residuals[0, 1, 0] = np.nan  # nothing predicted frame 0 two steps earlier
    per_horizon = [SurpriseScale(possible[:, [k]], "covariance")(residuals[:, [k]])[0] for k in (0, 1)]
    surprise = scale(residuals)[0]
    assert np.isclose(surprise[0], per_horizon[0][0])
    assert np.allclose(surprise[1:], (per_horizon[0][1:] + per_horizon[1][1:]) / 2)
    z = scale.z_scores(residuals)[0]  # each horizon's own, as the scale of that horizon alone gives
    assert np.allclose(z[0], per_horizon[0]) and np.isnan(z[1, 0]) and np.allclose(z[1, 1:], per_horizon[1][1:])
    calibrated = scale.z_scores(possible)
    assert np.allclose(np.nanmean(calibrated, axis=(0, 2)), 0.0)
    assert np.allclose(np.nanstd(calibrated, axis=(0, 2)), 1.0)


def test_the_cli_scores_surprise_over_the_configs_horizons_by_default():
    from openami.cli.main import build_parser

    args = build_parser().parse_args(["eval", "surprise", "--run", "RUN"])
    assert args.horizons == SurpriseConfig().horizons == 2


def test_residuals_of_other_horizons_than_the_calibration_are_refused():
    scale = SurpriseScale(np.random.default_rng(0).normal(size=(20, 2, 10, 3)), "covariance")
    with pytest.raises(ValueError, match="same surprise.horizons"):
        scale(np.zeros((1, 1, 10, 3)))


def test_a_scale_cut_to_its_leading_horizons_equals_one_calibrated_on_them():
    possible = np.random.default_rng(0).normal(size=(30, 3, 10, 4)) * np.array([1.0, 2.0, 3.0])[None, :, None, None]
    residuals = np.random.default_rng(1).normal(size=(2, 3, 10, 4))
    full = SurpriseScale(possible, "covariance")
    two = SurpriseScale(possible[:, :2], "covariance")
    assert np.allclose(full.leading(2)(residuals[:, :2]), two(residuals[:, :2]))
    assert np.allclose(full(residuals), full.leading(3)(residuals))
    with pytest.raises(ValueError, match="horizons 1..3, not 4"):
        full.leading(4)
