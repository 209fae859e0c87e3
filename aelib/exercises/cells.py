"""The notebook cells of the predict and experiment exercises, and where they go (issue 15).

``notebook_cells("04")`` returns a list of ``{"anchor": ..., "cells": [...]}``: insert the
nbformat cells after the markdown cell whose source contains ``anchor`` (``"## Exercises"``:
right after the Exercises heading cell). ``python -m aelib.exercises.cells DIR`` writes them
as DIR/NN.json. ``SOLVED`` holds what a student who solved them writes (for the tests).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# notebook -> (try-it-now anchor, predict name, its question, experiment name,
#              the setting's name and default, what to change, the answer's key)
PLAN = {
    "01": ("## 1. Why reduce dimensions?", "predict_compression",
           "A 28 x 28 grayscale image stores one byte (uint8) per pixel. Predict the "
           "compression ratio (original bytes / code bytes) of a code of k = 2 float32 numbers.",
           "pca_k", "k", 2, "Change the number of principal components k (1 to 64) and run "
           "PCA on the 8x8 digits. What is the test MSE?", "test_mse"),
    "02": ("## 5. How good is it?", "predict_linear_ae",
           "A *linear* autoencoder with k = 10 is trained on the digits. Will its test MSE be "
           "`\"lower\"` or `\"not lower\"` than PCA's at k = 10?",
           "latent_size", "latent_size", 2, "Change the latent size of a small nonlinear "
           "autoencoder (1 to 32), train it for a few seconds on the 8x8 digits, and compare "
           "with PCA at the same k. What is the autoencoder's test MSE?", "ae_test_mse"),
    "03": ("## 2. The denoising autoencoder", "predict_copy_noise",
           "A lazy denoiser returns its input x_tilde = clip(x + e, 0, 1) unchanged, with "
           "$e \\sim \\mathcal N(0, 0.3^2)$. Is its MSE against the clean x `\"below\"`, "
           "`\"equal\"` or `\"above\"` $\\sigma^2 = 0.09$?",
           "noise_level", "sigma", 0.3, "Change the noise level sigma (0 to 1) of a small "
           "denoising autoencoder and train it for a few seconds. What is its test MSE "
           "against the clean images?", "test_mse"),
    "04": ("## 4. The KL term in closed form", "predict_kl",
           "Predict the KL divergence KL(N(mu, sigma^2) || N(0, 1)) of a one-dimensional code "
           "with mu = 0 and sigma = 0.5, in nats.",
           "beta", "beta", 1.0, "Change beta (0 to 20) and train a small VAE with a 2-D code "
           "on the digits for a few seconds. What is the test KL per image?", "test_kl"),
    "05": ("## 4. The other way: the score-function estimator", "predict_estimator",
           "Both estimators of d/dmu E[z^2], z ~ N(1, 1), use 64 samples. Which has the "
           "smaller standard deviation: `\"pathwise\"` or `\"score function\"`?",
           "n_samples", "n", 64, "Change the number of samples N (1 to 10,000) of the two "
           "estimators. What is the score-function estimator's standard deviation?",
           "score_std"),
    "06": ("## 4. Generating: decode samples from N(0, I)", "predict_prior_mass",
           "Predict the fraction of samples z ~ N(0, I) in k = 2 dimensions that land within "
           "distance 1 of the origin.",
           "gmm", "n_components", 1, "Fit a Gaussian mixture with n_components (1 to 30) to "
           "a small autoencoder's codes, decode 200 samples of it, and measure their mean "
           "distance to the nearest training image. What is it?", "gmm_nearest"),
    "07": ("## 1. Two networks, one game", "predict_saturating",
           "When the discriminator rejects a fake confidently, D(G(z)) = 0.01. Predict the "
           "ratio |gradient of the non-saturating loss -log D| / |gradient of the saturating "
           "loss log(1 - D)|, both with respect to D's logit.",
           "gan_loss", "loss", "non-saturating", "Switch a toy 1-D GAN (real data N(4, 1)) to "
           "the `\"saturating\"` generator loss and train it for a second. Where does the "
           "generator's mean end?", "generator_mean"),
}  # fmt: skip

SOLVED = {"predict_compression": "98", "predict_linear_ae": '"not lower"',
          "predict_copy_noise": '"below"', "predict_kl": "0.318",
          "predict_estimator": '"pathwise"', "predict_prior_mass": "0.39",
          "predict_saturating": "99",
          "pca_k": "10", "latent_size": "10", "noise_level": "0.5", "beta": "4.0",
          "n_samples": "256", "gmm": "10", "gan_loss": '"saturating"'}  # fmt: skip


def _md(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code(text: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": text}  # fmt: skip


# numbers after the exercises the notebooks have today (01-05: two, 06-07: three)
NUMBERS = {"01": (3, 4), "02": (3, 4), "03": (3, 4), "04": (3, 4), "05": (3, 4),
           "06": (4, 5), "07": (4, 5)}  # fmt: skip


def notebook_cells(nb: str, numbers: tuple[int, int] | None = None) -> list[dict]:
    """The insertions for notebook ``nb`` ("01" ... "07")."""
    anchor, pred, question, exp, setting, default, task, key = PLAN[nb]
    n_pred, n_exp = numbers or NUMBERS[nb]
    label_p = f"Exercise {n_pred} (predict)" if n_pred else "Exercise (predict)"
    label_e = f"Exercise {n_exp} (experiment)" if n_exp else "Exercise (experiment)"
    predict = [
        _md(f"### {label_p}: try it now\n\n{question} Write your prediction in place of `...` "
            "*before* running the check: the check runs the experiment and explains the gap. "
            f"`aelib.exercises.solution(\"{pred}\")` shows the worked answer."),
        _code(f"prediction = ...  # your prediction\n\naelib.exercises.check_{pred}(prediction)"),
    ]
    experiment = [
        _md(f"### {label_e}\n\n{task} Change `{setting}` below, run the cell (a few seconds "
            "on one CPU core), then write the number it prints as your answer. "
            f"`aelib.exercises.solution(\"{exp}\")` explains what to expect."),
        _code(f"{setting} = {default!r}  # change me\n\n"
              f"result = aelib.exercises.run_{exp}({setting})\nresult"),
        _code(f"answer = ...  # the {key} printed above\n\n"
              f"aelib.exercises.check_{exp}(answer, result)"),
    ]
    out = [{"anchor": anchor, "cells": predict}, {"anchor": "## Exercises", "cells": experiment}]
    if nb in IMPLEMENT:
        name, signature, text = IMPLEMENT[nb]
        out.append({"anchor": "## Exercises", "cells": [
            _md(f"### Exercise {n_exp + 1} (implement): `{name}`\n\n{text} "
                f"`aelib.exercises.solution(\"{name}\")` prints a worked solution."),
            _code(f"def {signature}:\n    # YOUR CODE HERE\n    raise NotImplementedError\n\n\n"
                  f"aelib.exercises.check_{name}({name})"),
        ]})  # fmt: skip
    return out


# notebook -> (name, function signature, task): implement variations of what the lesson shows
IMPLEMENT = {
    "02": ("per_image_sse", "per_image_sse(x_hat, x)", "Return the squared error of each "
           "image, summed over its pixels: shape `(B,)` (the lesson's MSE averages over "
           "everything; the VAE needs one value per image)."),
    "03": ("tied_contractive", "tied_contractive(w, b, x)", "For the one-layer encoder "
           "z = sigmoid(x W^T + b) (W of shape `(k, n)`), return the contractive penalty "
           "||J||_F^2 in closed form (no autograd needed), averaged over the batch."),
    "04": ("gaussian_nll", "gaussian_nll(x_hat, x, sigma)", "Return a Gaussian decoder's "
           "loss -log N(x; x_hat, sigma^2 I) for a given sigma, summed over the pixels and "
           "averaged over the batch, with its normalising constant."),
    "05": ("iwae_bound", "iwae_bound(log_w)", "From log importance weights `log_w` of shape "
           "`(B, K)`, return the importance-weighted bound log((1/K) sum_k w_k), averaged "
           "over the batch (numerically stable: the log weights are around -50)."),
}  # fmt: skip


def solved_source(cells: list[dict]) -> str:
    """The code of ``cells`` as a student who solved them writes it (for the tests)."""
    lines = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        src = cell["source"]
        for name, value in SOLVED.items():
            if f"check_{name}(prediction)" in src:
                src = src.replace("prediction = ...", f"prediction = {value}")
            if f"run_{name}(" in src:
                first, rest = src.split("\n", 1)
                src = f"{first.split('=')[0].strip()} = {value}\n{rest}"
            if f"check_{name}(answer, result)" in src:
                key = src.split("# the ", 1)[1].split(" printed")[0]
                src = src.replace("answer = ...", f"answer = result.measured[{key!r}]")
        lines.append(src)
    return "\n\n".join(lines)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/exercise_cells")
    out.mkdir(parents=True, exist_ok=True)
    for nb in PLAN:
        (out / f"{nb}.json").write_text(json.dumps(notebook_cells(nb), indent=1) + "\n")
