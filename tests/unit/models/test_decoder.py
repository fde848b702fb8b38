"""The pixel decoder: trained on frozen embeddings, saved and loaded whole."""

import numpy as np
import pytest
import torch

from openami.models import ModelConfig, WorldModel
from openami.models.decoder import Decoder, DecoderConfig, load_decoder, save_decoder, train_decoder


@pytest.fixture
def model():
    torch.manual_seed(0)
    return WorldModel(ModelConfig(image_size=16, cnn_channels=(8, 16), cnn_stem=2, latent_dim=8,
                                  predictor_width=16, predictor_depth=1))


def test_decoder_learns_without_touching_the_world_model(model):
    pixels = np.random.default_rng(0).integers(0, 256, (32, 16, 16, 3), dtype=np.uint8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = DecoderConfig(latent_dim=8, image_size=16, width=16, steps=40, batch_size=16, lr=1e-2)
    untrained = Decoder(config)
    decoder = train_decoder(model, pixels, config, progress=False)
    target = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        z = model.encode(torch.from_numpy(pixels).permute(0, 3, 1, 2).unsqueeze(1))[:, 0]
        assert ((decoder(z) - target) ** 2).mean() < ((untrained(z) - target) ** 2).mean()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_save_load_round_trip_and_corrupt_file(tmp_path):
    decoder = Decoder(DecoderConfig(latent_dim=8, image_size=16, width=16))
    path = save_decoder(decoder, tmp_path / "decoder.safetensors", trained_on="step-0000010")
    loaded, trained_on = load_decoder(path)
    assert trained_on == "step-0000010" and loaded.config == decoder.config
    z = torch.randn(2, 8)
    assert torch.allclose(loaded(z), decoder.eval()(z))
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable decoder"):
        load_decoder(path)
    with pytest.raises(FileNotFoundError, match="ami eval rollout --decoder"):
        load_decoder(tmp_path / "missing.safetensors")
