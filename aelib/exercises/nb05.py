"""Exercises of 05_reparameterization: a sample that gradients flow through, and the
score-function (REINFORCE) estimator."""

from __future__ import annotations

import torch

from ._core import WRONG, Feedback, Mistake, check, register

# --------------------------------------------------------- the reparameterized sample


def reparameterize_solution(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * zeta with zeta ~ N(0, I): random, yet differentiable in mu and sigma."""
    zeta = torch.randn_like(sigma)  # the randomness enters as an input, off the gradient path
    return mu + sigma * zeta


def _noise_scale(z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor, g_sigma) -> str:
    """Which function of sigma scales the noise, read off z and dz/dsigma.

    For z = mu + s(sigma) * zeta, (z - mu) / (dz/dsigma) = s(sigma) / s'(sigma): no noise
    needed to tell sigma (ratio sigma) from sigma**2 (sigma / 2) or exp(sigma / 2) (ratio 2).
    """
    ok = g_sigma.abs() > 1e-3
    ratio = (z.detach() - mu.detach())[ok] / g_sigma[ok]
    s = sigma.detach()[ok]
    candidates = {"sigma": s, "sigma**2": s / 2, "exp(sigma/2)": torch.full_like(s, 2.0)}
    for name, expected in candidates.items():
        if float(((ratio - expected).abs() / expected).median()) < 1e-3:
            return name
    return "other"


def _observe_sample(fn, inputs: tuple[torch.Tensor, torch.Tensor]) -> tuple:
    """Diagnose a sampler, level by level, as a tuple that every correct version shares.

    Each level returns early when it finds a fault, so a wrong sampler is always described
    by the same tuple. The statistics use 2 * 4096 draws with tolerances of about six
    standard errors.
    """
    mu, sigma = inputs
    z = fn(mu, sigma)
    if not isinstance(z, torch.Tensor):
        return ("returns", type(z).__name__)
    if z.shape != mu.shape:
        return ("shape", tuple(z.shape))
    zeta = ((z.detach() - mu.detach()) / sigma.detach()).flatten()  # the noise it used
    has_noise = bool(zeta.abs().max() > 0)
    if not z.requires_grad:
        return ("no graph", has_noise)
    g_mu, g_sigma = torch.autograd.grad(z.sum(), (mu, sigma), allow_unused=True)
    mu_flows = g_mu is not None and bool(torch.allclose(g_mu, torch.ones_like(mu)))
    sigma_flows = g_sigma is not None and bool(g_sigma.abs().max() > 0)
    if not (mu_flows and sigma_flows):
        return ("gradient", mu_flows, sigma_flows, has_noise)
    scale = _noise_scale(z, mu, sigma, g_sigma)
    if scale != "sigma":
        return ("scale", scale)
    if float(zeta.std()) < 1e-6:
        return ("noise", "shared by all elements")
    return (
        "noise",
        abs(float(zeta.mean())) < 0.07,
        abs(float(zeta.std()) - 1) < 0.06,
        abs(float((zeta.abs() < 1).float().mean()) - 0.6827) < 0.035,  # Normal, not uniform
    )


SAMPLE_MISTAKES = (
    Mistake("z carries no gradient (z.requires_grad is False): "
            "torch.distributions.Normal(mu, sigma).sample() and .detach() cut the graph, so no "
            "gradient reaches mu or sigma. Draw zeta = torch.randn_like(sigma) and return "
            "mu + sigma * zeta (this is what .rsample() does).",
            lambda mu, s: torch.distributions.Normal(mu, s).sample()),
    Mistake("no gradient reaches mu: mu is detached (or replaced by a copy without history). "
            "Use mu itself in z = mu + sigma * zeta.",
            lambda mu, s: mu.detach() + s * torch.randn_like(s)),
    Mistake("no gradient reaches sigma: scale the noise by sigma itself, not detached and not "
            "left out: z = mu + sigma * zeta.",
            lambda mu, s: mu + s.detach() * torch.randn_like(s)),
    Mistake("z is just mu: the noise term sigma * zeta is missing (that is the VAE in eval "
            "mode, not a sample).",
            lambda mu, s: mu * 1.0),
    Mistake("sigma is the standard deviation: scale zeta by sigma, not by sigma**2 (the "
            "variance).",
            lambda mu, s: mu + s**2 * torch.randn_like(s)),
    Mistake("sigma is already the standard deviation, not a log-variance: use sigma * zeta, "
            "not torch.exp(0.5 * sigma) * zeta.",
            lambda mu, s: mu + torch.exp(0.5 * s) * torch.randn_like(s)),
    Mistake("zeta must be standard normal: torch.rand_like draws uniform numbers in [0, 1); "
            "use torch.randn_like.",
            lambda mu, s: mu + s * torch.rand_like(s)),
    Mistake("every element needs its own zeta: one number shared by the whole batch "
            "(torch.randn(1)) moves all codes together. Use torch.randn_like(sigma).",
            lambda mu, s: mu + s * torch.randn(1)),
)  # fmt: skip


def _sample_inputs(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    mu = torch.randn(4096, 2, generator=g).requires_grad_(True)
    sigma = (torch.rand(4096, 2, generator=g) * 1.5 + 0.2).requires_grad_(True)
    return mu, sigma


@register("reparameterize", reparameterize_solution, SAMPLE_MISTAKES, trainable=True)
def check_reparameterize(fn) -> Feedback:
    """Check a student's reparameterize(mu, sigma) -> z: right distribution, gradients flow."""
    mu, sigma = _sample_inputs(torch.Generator().manual_seed(0))
    try:
        z = fn(mu, sigma)
    except Exception:  # noqa: BLE001 - check() below reports it (or "not attempted")
        z = None
    if z is not None and not isinstance(z, torch.Tensor):
        return Feedback("reparameterize", WRONG, f"return a tensor z, not {type(z).__name__}.")
    if z is not None and z.shape != mu.shape:
        return Feedback("reparameterize", WRONG, f"z has shape {tuple(z.shape)}; it needs the "
                        f"shape of mu and sigma, {tuple(mu.shape)}: one sample per element.")
    feedback = check("reparameterize", fn, reparameterize_solution, _sample_inputs,
                     SAMPLE_MISTAKES, observe=_observe_sample)  # fmt: skip
    if feedback.status == WRONG and feedback.message.startswith("the values differ"):
        # random outputs never equal the reference's: say what was compared instead
        return Feedback("reparameterize", WRONG, "z does not behave like mu + sigma * zeta "
                        "with zeta ~ N(0, I): check how the noise is drawn (torch.randn_like) "
                        "and that it is scaled by sigma.")  # fmt: skip
    return feedback


# ------------------------------------------------ the score-function (REINFORCE) estimator


def score_function_solution(
    f_z: torch.Tensor, z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Estimate d/dmu and d/dsigma of E[f(z)], z ~ N(mu, sigma^2), from N samples z and f(z).

    grad = mean of f(z) * d/dtheta log q(z), with
    d/dmu log q = (z - mu) / sigma^2 and d/dsigma log q = ((z - mu)^2 - sigma^2) / sigma^3.
    """
    score_mu = (z - mu) / sigma**2
    score_sigma = ((z - mu) ** 2 - sigma**2) / sigma**3
    return (f_z * score_mu).mean(), (f_z * score_sigma).mean()


SCORE_MISTAKES = (
    Mistake("d/dmu log q is (z - mu) / sigma**2: the square on sigma is missing.",
            lambda fz, z, mu, s: ((fz * (z - mu) / s).mean(),
                                  (fz * ((z - mu) ** 2 - s**2) / s**3).mean())),
    Mistake("d/dsigma log q is ((z - mu)**2 - sigma**2) / sigma**3: the -1/sigma that comes "
            "from the -log(sigma) in log q is missing.",
            lambda fz, z, mu, s: ((fz * (z - mu) / s**2).mean(),
                                  (fz * (z - mu) ** 2 / s**3).mean())),
    Mistake("the sign is flipped: d/dmu log q = (z - mu) / sigma**2, not (mu - z) / sigma**2.",
            lambda fz, z, mu, s: ((fz * (mu - z) / s**2).mean(),
                                  (fz * ((z - mu) ** 2 - s**2) / s**3).mean())),
    Mistake("sum vs mean: average over the N samples (.mean()), do not sum; the estimate must "
            "not grow with the number of samples.",
            lambda fz, z, mu, s: ((fz * (z - mu) / s**2).sum(),
                                  (fz * ((z - mu) ** 2 - s**2) / s**3).sum())),
    Mistake("the estimator weights f(z) by the score d/dtheta log q(z); f(z) is missing, so "
            "this averages the score alone (whose expectation is 0).",
            lambda fz, z, mu, s: (((z - mu) / s**2).mean(),
                                  (((z - mu) ** 2 - s**2) / s**3).mean())),
)  # fmt: skip


def _score_inputs(g: torch.Generator) -> tuple[torch.Tensor, ...]:
    mu = torch.randn((), generator=g)
    sigma = torch.rand((), generator=g) + 0.3
    z = mu + sigma * torch.randn(64, generator=g)
    f_z = torch.sin(z) + z**2  # any f works: the estimator only needs its values
    return f_z, z, mu, sigma


@register("score_function", score_function_solution, SCORE_MISTAKES)
def check_score_function(fn) -> Feedback:
    """Check a student's score_function(f_z, z, mu, sigma) -> (grad_mu, grad_sigma)."""
    return check("score_function", fn, score_function_solution, _score_inputs, SCORE_MISTAKES)
