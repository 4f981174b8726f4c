import torch

from diffsci import Cond
from diffsci.diffusion import GaussianDenoiser
from diffsci.guidance import ClassifierFreeGuidance


class ClassMeans(torch.nn.Module):
    """Exact denoiser of N(mu_label, v I) for labelled samples and of N(0, v I) for dropped ones."""

    def __init__(self, means, var=0.3):
        super().__init__()
        self.comp = [GaussianDenoiser(m, var=var) for m in means]
        self.null = GaussianDenoiser(torch.zeros_like(means[0]), var=var)
        self.calls = 0

    def forward(self, x, sigma, cond):
        self.calls += 1
        sigma = torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[0])
        out = torch.stack([self.comp[int(k)](x[i:i + 1], sigma[i:i + 1])[0] for i, k in enumerate(cond.label)])
        if cond.dropped is not None:
            out[cond.dropped] = self.null(x[cond.dropped], sigma[cond.dropped])
        return out


def test_guidance_formula_in_one_batched_call(gen):
    means = torch.stack([torch.full((1, 4), -1.0), torch.full((1, 4), 2.0)]).double()
    d = ClassMeans(means)
    x = torch.randn(3, 1, 4, generator=gen, dtype=torch.float64)
    cond = Cond(label=torch.tensor([0, 1, 1]))
    cfg = ClassifierFreeGuidance(d, scale=3.0)
    out = cfg(x, 0.7, cond)
    assert d.calls == 1
    cond_out, null_out = d(x, 0.7, cond), d(x, 0.7, cond.drop())
    torch.testing.assert_close(out, null_out + 3.0 * (cond_out - null_out))
    torch.testing.assert_close(ClassifierFreeGuidance(d, 0.0)(x, 0.7, cond), null_out)
    torch.testing.assert_close(ClassifierFreeGuidance(d, 1.0)(x, 0.7, cond), cond_out)
