"""Flow times drawn with a generator on the model's device (a CUDA validation generator once crashed)."""

import pytest
import torch

from policy_server import flow

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_sample_time_with_a_generator_on_the_models_device_is_reproducible(device):
    a = flow.sample_time(64, generator=torch.Generator(device=device).manual_seed(3), device=device)
    b = flow.sample_time(64, generator=torch.Generator(device=device).manual_seed(3), device=device)
    assert a.device.type == device and torch.equal(a, b)
    assert float(a.min()) >= 0.0 and float(a.max()) <= flow.PI0_TIME_CUTOFF
