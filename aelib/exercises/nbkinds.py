"""Predict and experiment exercises of notebooks 01-07 (issue 15): one of each per notebook.

Every experiment runs on scikit-learn's 8x8 digits (offline, (N, 64)) in a few seconds on
one CPU core; every predict exercise's outcome is computed, not typed in.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._core import digits64, register_experiment, register_predict

# ------------------------------------------------------------------------ helpers


def _pca_mse(k: int) -> float:
    train, test = digits64()
    mean = train.mean(0)
    _, _, vh = torch.linalg.svd(train - mean, full_matrices=False)
    v = vh[:k].T
    return float(((test - mean) @ v @ v.T + mean - test).square().mean())


def _fit_ae(k: int, steps: int = 300, noise: float = 0.0, linear: bool = False,
            seed: int = 0) -> tuple[nn.Module, nn.Module, float]:  # fmt: skip
    torch.manual_seed(seed)
    train, test = digits64()
    act = nn.Identity() if linear else nn.ReLU()
    enc = nn.Sequential(nn.Linear(64, 64), act, nn.Linear(64, k))
    dec = nn.Sequential(nn.Linear(k, 64), act, nn.Linear(64, 64))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(train), (128,), generator=gen)
        x = train[idx]
        x_in = (x + noise * torch.randn(x.shape, generator=gen)).clamp(0, 1) if noise else x
        loss = F.mse_loss(dec(enc(x_in)), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x_in = (test + noise * torch.randn(test.shape, generator=gen)).clamp(0, 1) if noise \
            else test
        err = float(F.mse_loss(dec(enc(x_in)), test))
    return enc, dec, err


# ------------------------------------------------------------------------ 01


def _outcome_ratio():
    value = 28 * 28 * 1 / (2 * 4)
    return value, ("784 one-byte pixels over 2 four-byte float32 numbers: 784 / 8 = 98.")


check_predict_compression = register_predict(
    "predict_compression", _outcome_ratio, rel_tol=0.01,
    explanation="A 28 x 28 uint8 image takes 784 bytes; a code of k = 2 float32 numbers takes "
                "8 bytes, so the ratio is 98 (not 392: a float takes 4 bytes, a pixel 1).")


def _pca_k_valid(k):
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 64:
        return "k must be a whole number from 1 to 64 (the digits have 64 pixels)."
    return None


run_pca_k, check_pca_k = register_experiment(
    "pca_k", lambda k: {"test_mse": _pca_mse(k), "k": k}, default=2, answer_key="test_mse",
    valid=_pca_k_valid,
    explanation="PCA's test error falls as k grows and reaches 0 at k = 64, the full size.")

# ------------------------------------------------------------------------ 02


def _outcome_ae_vs_pca():
    _, _, ae = _fit_ae(10, steps=400, linear=True)
    pca = _pca_mse(10)
    answer = "lower" if ae < pca * 0.98 else "not lower"
    return answer, (f"a linear autoencoder with k = 10 reaches a test MSE of {ae:.4f}, PCA "
                    f"{pca:.4f}: PCA's subspace is the best linear one, so a linear AE can at "
                    "most match it.")


check_predict_linear_ae = register_predict(
    "predict_linear_ae", _outcome_ae_vs_pca, options=("lower", "not lower"),
    template='"not lower"',
    explanation="Not lower: the best rank-k linear reconstruction is PCA's (Eckart-Young), "
                "and a linear autoencoder is a rank-k linear map.")


def _latent_valid(k):
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 32:
        return "latent size must be a whole number from 1 to 32."
    return None


run_latent_size, check_latent_size = register_experiment(
    "latent_size", lambda k: {"ae_test_mse": _fit_ae(k)[2], "pca_test_mse": _pca_mse(k)},
    default=2, answer_key="ae_test_mse", rel_tol=0.01, valid=_latent_valid,
    explanation="A larger code reconstructs better; with few training steps the nonlinear AE "
                "may stay above PCA's error at the same k.")

# ------------------------------------------------------------------------ 03


def _outcome_copy_noise():
    train, _ = digits64()
    g = torch.Generator().manual_seed(0)
    noisy = (train + 0.3 * torch.randn(train.shape, generator=g)).clamp(0, 1)
    mse = float((noisy - train).square().mean())
    answer = "below" if mse < 0.09 * 0.95 else ("above" if mse > 0.09 * 1.05 else "equal")
    return answer, (f"copying the clipped noisy input gives an MSE of {mse:.4f} against the "
                    "clean image, below sigma^2 = 0.09: clipping to [0, 1] removes part of "
                    "the noise on black and white pixels.")


check_predict_copy_noise = register_predict(
    "predict_copy_noise", _outcome_copy_noise, options=("below", "equal", "above"),
    template='"below"',
    explanation="Below 0.09: without clipping the MSE would be sigma^2 = 0.09; clipping pulls "
                "the noisy values of pixels near 0 or 1 back towards them.")


def _noise_valid(s):
    if not isinstance(s, (int, float)) or isinstance(s, bool) or not 0 <= s <= 1:
        return "the noise level sigma must be a number from 0 to 1."
    return None


run_noise_level, check_noise_level = register_experiment(
    "noise_level", lambda s: {"test_mse": _fit_ae(8, noise=float(s))[2]}, default=0.3,
    answer_key="test_mse", rel_tol=0.01, valid=_noise_valid,
    explanation="More noise makes denoising harder: the clean-target error grows with sigma.")

# ------------------------------------------------------------------------ 04


def _kl_1d(mu: float, sigma: float) -> float:
    return 0.5 * (mu**2 + sigma**2 - 2 * math.log(sigma) - 1)


check_predict_kl = register_predict(
    "predict_kl", lambda: (_kl_1d(0.0, 0.5), "0.5 * (0 + 0.25 - 2 log 0.5 - 1) = 0.318 nats."),
    rel_tol=0.05,
    explanation="KL(N(0, 0.5^2) || N(0, 1)) = 0.5 * (mu^2 + sigma^2 - 2 log sigma - 1) with "
                "mu = 0, sigma = 0.5: 0.5 * (0.25 + 1.386 - 1) = 0.318.")


def _fit_vae(beta: float, steps: int = 300) -> dict[str, float]:
    torch.manual_seed(0)
    train, test = digits64()
    enc = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))  # mu, log sigma
    dec = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=3e-3)
    gen = torch.Generator().manual_seed(0)

    def parts(x):
        mu, log_s = enc(x).chunk(2, dim=1)
        z = mu + log_s.exp() * torch.randn(mu.shape, generator=gen)
        recon = F.binary_cross_entropy_with_logits(dec(z), x, reduction="none").sum(1)
        kl = 0.5 * (mu**2 + (2 * log_s).exp() - 2 * log_s - 1).sum(1)
        return recon.mean(), kl.mean()

    for _ in range(steps):
        recon, kl = parts(train[torch.randint(0, len(train), (128,), generator=gen)])
        opt.zero_grad()
        (recon + beta * kl).backward()
        opt.step()
    with torch.no_grad():
        recon, kl = parts(test)
    return {"test_kl": float(kl), "test_recon": float(recon)}


def _beta_valid(b):
    if not isinstance(b, (int, float)) or isinstance(b, bool) or not 0 <= b <= 20:
        return "beta must be a number from 0 to 20."
    return None


run_beta, check_beta = register_experiment(
    "beta", _fit_vae, default=1.0, answer_key="test_kl", rel_tol=0.01, valid=_beta_valid,
    explanation="A larger beta buys a smaller KL (codes closer to the prior) with a worse "
                "reconstruction; a smaller beta the opposite.")

# ------------------------------------------------------------------------ 05


def _estimator_std(n: int, repeats: int = 200) -> dict[str, float]:
    g = torch.Generator().manual_seed(0)
    mu, sigma = 1.0, 1.0
    zeta = torch.randn(repeats, n, generator=g)
    z = mu + sigma * zeta
    pathwise = (2 * z).mean(1)  # d/dmu E[z^2] = E[2 z]
    score = (z**2 * (z - mu) / sigma**2).mean(1)
    return {"score_std": float(score.std()), "pathwise_std": float(pathwise.std())}


def _outcome_which_std():
    m = _estimator_std(64)
    return "pathwise", (f"with 64 samples the pathwise estimate of d/dmu E[z^2] has a standard "
                        f"deviation of {m['pathwise_std']:.3f}, the score-function one "
                        f"{m['score_std']:.3f}.")


check_predict_estimator = register_predict(
    "predict_estimator", _outcome_which_std, options=("pathwise", "score function"),
    template='"pathwise"',
    explanation="The pathwise estimator uses f's derivative; the score function only f's "
                "values times a noisy score, so its variance is larger.")


def _n_valid(n):
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10_000:
        return "the number of samples must be a whole number from 1 to 10,000."
    return None


run_n_samples, check_n_samples = register_experiment(
    "n_samples", _estimator_std, default=64, answer_key="score_std", rel_tol=0.01,
    valid=_n_valid,
    explanation="Both standard deviations shrink like 1 / sqrt(N): 4 times the samples halve "
                "them.")

# ------------------------------------------------------------------------ 06


check_predict_prior_mass = register_predict(
    "predict_prior_mass",
    lambda: (1 - math.exp(-0.5), "in 2-D, P(|z| < 1) = 1 - exp(-1/2) = 0.393 for z ~ N(0, I)."),
    rel_tol=0.1,
    explanation="|z|^2 of a 2-D standard normal is chi-square with 2 degrees of freedom, "
                "P(|z|^2 < r^2) = 1 - exp(-r^2 / 2): 0.393 for r = 1, so most prior samples "
                "land farther than 1 from the origin.")


def _gmm_samples(n_components: int) -> dict[str, float]:
    from sklearn.mixture import GaussianMixture

    enc, dec, _ = _fit_ae(2)
    train, _ = digits64()
    with torch.no_grad():
        codes = enc(train)
        gmm = GaussianMixture(n_components, random_state=0).fit(codes.numpy())
        z = torch.as_tensor(gmm.sample(200)[0], dtype=torch.float32)
        z_prior = torch.randn(200, 2, generator=torch.Generator().manual_seed(0)) * codes.std(0)
        dist = torch.cdist(dec(z), train).min(1).values.mean()
        dist_prior = torch.cdist(dec(z_prior + codes.mean(0)), train).min(1).values.mean()
    return {"gmm_nearest": float(dist), "gaussian_nearest": float(dist_prior)}


def _k_valid(k):
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 30:
        return "the number of mixture components must be a whole number from 1 to 30."
    return None


run_gmm, check_gmm = register_experiment(
    "gmm", _gmm_samples, default=1, answer_key="gmm_nearest", rel_tol=0.01, valid=_k_valid,
    explanation="A mixture with several components puts its samples where the codes are, so "
                "the decoded samples sit closer to real images than with one Gaussian.")

# ------------------------------------------------------------------------ 07


def _outcome_saturating():
    d = torch.tensor(0.01)
    logit = torch.logit(d).requires_grad_(True)
    (g_sat,) = torch.autograd.grad(torch.log1p(-torch.sigmoid(logit)), logit)
    (g_ns,) = torch.autograd.grad(-torch.log(torch.sigmoid(logit)), logit)
    ratio = float(g_ns.abs() / g_sat.abs())
    return ratio, (f"at D(G(z)) = 0.01 the saturating loss's gradient with respect to the "
                   f"logit is {float(g_sat.abs()):.3f}, the non-saturating one's "
                   f"{float(g_ns.abs()):.3f}: (1 - D) / D = 99.")


check_predict_saturating = register_predict(
    "predict_saturating", _outcome_saturating, rel_tol=0.05,
    explanation="d/dl log(1 - sigmoid(l)) = -D and d/dl -log sigmoid(l) = -(1 - D): at D = 0.01 "
                "the non-saturating gradient is (1 - D) / D = 99 times larger.")


def _toy_gan(loss: str, steps: int = 200) -> dict[str, float]:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    gen_shift = torch.zeros(1, requires_grad=True)  # G(z) = z + shift, real data N(4, 1)
    disc = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 1))
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-2)
    opt_g = torch.optim.Adam([gen_shift], lr=5e-2)
    bce = F.binary_cross_entropy_with_logits
    for step in range(steps):
        real = torch.randn(128, 1, generator=g) + 4
        fake = torch.randn(128, 1, generator=g) + gen_shift
        d_loss = bce(disc(real), torch.ones(128, 1)) + bce(disc(fake.detach()), torch.zeros(128, 1))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        if step < 50:
            continue  # D first learns to reject the fakes confidently
        logits = disc(torch.randn(128, 1, generator=g) + gen_shift)
        g_loss = (-bce(logits, torch.zeros(128, 1)) if loss == "saturating"
                  else bce(logits, torch.ones(128, 1)))  # fmt: skip
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    return {"generator_mean": float(gen_shift.detach())}


def _loss_valid(loss):
    if loss not in ("saturating", "non-saturating"):
        return "the loss must be 'saturating' or 'non-saturating'."
    return None


run_gan_loss, check_gan_loss = register_experiment(
    "gan_loss", _toy_gan, default="non-saturating", answer_key="generator_mean",
    abs_tol=0.01, valid=_loss_valid,
    explanation="The real data sit at 4; the generator's mean shows how far it got.")
