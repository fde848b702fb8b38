import pytest
import torch

from openami.models import ENCODERS, PREDICTORS, ModelConfig, WorldModel
from openami.planning.base import WorldModelLike


@pytest.mark.parametrize("encoder", ENCODERS.names())
@pytest.mark.parametrize("predictor", PREDICTORS.names())
@pytest.mark.parametrize("history", [1, 3])
def test_every_model_runs_forward_and_backward(encoder, predictor, history):
    config = ModelConfig(image_size=32, cnn_channels=(8, 16), cnn_stem=2, vit_patch=8, vit_width=32, vit_depth=1,
                         vit_heads=2, latent_dim=16, history=history, predictor=predictor, encoder=encoder,
                         predictor_width=32, predictor_depth=1, predictor_heads=2, action_dim=4)
    model = WorldModel(config)
    assert isinstance(model, WorldModelLike)
    obs = torch.randint(0, 256, (2, history, 3, 32, 32), dtype=torch.uint8)
    z = model.encode(obs)
    assert z.shape == (2, history, 16)
    z_pred = model.rollout(z, torch.randn(2, 5, 4))
    assert z_pred.shape == (2, 5, 16)
    (z_pred.square().mean() + z.square().mean()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("history", [1, 2])  # 1: the predictor's no-gradient single-token path
def test_rollout_steps_equal_repeated_predict(history):
    torch.manual_seed(0)
    model = WorldModel(ModelConfig(image_size=32, cnn_channels=(8, 16), cnn_stem=2, latent_dim=8, history=history,
                                   predictor_width=16, predictor_depth=2, action_dim=3)).eval()
    # Every weight random, the zero-initialised AdaLN modulation and the biases included, so that
    # actions matter and a wrongly folded or transposed weight shows.
    for param in model.predictor.parameters():
        torch.nn.init.normal_(param, std=0.3)
    z_hist, actions = torch.randn(4, history, 8), torch.randn(4, 3, 3)
    with torch.no_grad():
        rolled = model.rollout(z_hist, actions)
        window, manual = z_hist, []
        for h in range(3):
            nxt = model.predict(window, actions[:, h])
            manual.append(nxt)
            window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
    torch.testing.assert_close(rolled, torch.stack(manual, 1))
    with torch.inference_mode():
        torch.testing.assert_close(model.rollout(z_hist, actions), rolled)
    torch.testing.assert_close(model.rollout(z_hist, actions).detach(), rolled)  # with gradients: the step loop
    other = model.rollout(z_hist, actions + 1.0)
    assert not torch.allclose(rolled, other), "the action must change the prediction"


def test_uint8_and_float_pixels_encode_the_same():
    model = WorldModel(ModelConfig(image_size=32, cnn_channels=(8, 16), cnn_stem=2, latent_dim=8)).eval()
    obs = torch.randint(0, 256, (1, 1, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(model.encode(obs), model.encode(obs.float() / 255))


def test_single_token_attention_shortcut_matches_full_attention():
    from openami.models.predictors import AdaLNBlock

    block = AdaLNBlock(16, 4)
    h = torch.randn(5, 1, 16)
    full = block.attn(h, h, h, need_weights=False)[0]
    torch.testing.assert_close(block._attend(h), full)


def test_a_block_computing_the_last_token_alone_matches_the_full_block():
    from openami.models.predictors import AdaLNBlock

    torch.manual_seed(0)
    block = AdaLNBlock(16, 4)
    torch.nn.init.normal_(block.modulation.weight, std=0.1)  # adaLN-Zero starts as the identity; make it act
    x, cond = torch.randn(5, 4, 16), torch.randn(5, 16)
    full = block(x, cond)
    torch.testing.assert_close(block(x, cond, last_only=True), full[:, -1:])
    assert not torch.allclose(full[:, -1], x[:, -1]), "the block must change the last token"
    # the last token still attends to the others: changing an earlier token changes its output
    moved = x.clone()
    moved[:, 0] = torch.randn(5, 16)  # (a constant shift would vanish in the layer norm)
    assert not torch.allclose(block(moved, cond, last_only=True), full[:, -1:])


@pytest.mark.parametrize("norm", ["layer", "instance"])
def test_cnn_norm_standardises_each_channel_only_when_instance(norm):
    from openami.models.encoders import build_encoder

    torch.manual_seed(0)
    encoder = build_encoder(ModelConfig(image_size=32, cnn_channels=(8, 16), cnn_stem=2, latent_dim=8, cnn_norm=norm))
    with torch.no_grad():
        first = encoder.features[:2](torch.rand(2, 3, 32, 32))  # the stem and its normalisation
    per_channel_std = first.std(dim=(2, 3))
    if norm == "instance":
        torch.testing.assert_close(per_channel_std, torch.ones_like(per_channel_std), atol=0.02, rtol=0)
    else:  # one group: only the whole map has unit variance; channels keep their own means and scales
        assert (per_channel_std - 1).abs().max() > 0.2
        torch.testing.assert_close(first.std(dim=(1, 2, 3)), torch.ones(2), atol=0.02, rtol=0)


def test_unknown_cnn_norm_is_refused_by_name():
    from openami.config import ConfigError

    with pytest.raises(ConfigError, match="model.cnn_norm must be 'layer' or 'instance', got 'batch'"):
        ModelConfig(cnn_norm="batch")


def test_pooled_dims_say_what_is_shown_not_where():
    """model.cnn_pooled_dims: the code's last dimensions do not move when an object moves by a stem cell;
    the others do."""
    from openami.models.encoders import build_encoder

    torch.manual_seed(0)
    config = ModelConfig(image_size=32, cnn_channels=(8, 16), cnn_stem=4, latent_dim=16, cnn_pooled_dims=4)
    encoder = build_encoder(config).eval()
    frames = torch.zeros(2, 3, 32, 32)
    frames[0, :, 12:18, 12:18] = torch.tensor([0.5, -0.3, 0.1])[:, None, None]
    frames[1, :, 16:22, 12:18] = frames[0, :, 12:18, 12:18]  # the same object one stem cell lower
    with torch.no_grad():
        z = encoder(frames)
    assert z.shape == (2, 16)
    torch.testing.assert_close(z[0, -4:], z[1, -4:])
    assert (z[0, :-4] - z[1, :-4]).abs().max() > 1e-3


def test_encode_pooled_is_the_codes_last_dims_alone():
    torch.manual_seed(0)
    model = WorldModel(ModelConfig(image_size=32, cnn_channels=(8, 16), cnn_stem=4, latent_dim=16,
                                   cnn_pooled_dims=4)).eval()
    frames = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(model.encode_pooled(frames), model.encode(frames[:, None])[:, 0, -4:])
    with pytest.raises(ValueError, match="cnn_pooled_dims > 0"):
        WorldModel(ModelConfig(image_size=32, cnn_channels=(8, 16), latent_dim=16)).encode_pooled(frames)


def test_pooled_dims_must_leave_room_for_the_rest():
    from openami.config import ConfigError

    with pytest.raises(ConfigError, match="model.cnn_pooled_dims must be in"):
        ModelConfig(latent_dim=16, cnn_pooled_dims=16)
