"""Issue 15: predict and experiment exercises, checks that look at gradients and at types,
and checks that never raise nor touch the global random state."""

from __future__ import annotations

import contextlib
import io
import random

import numpy as np
import pytest
import torch

from aelib import exercises
from aelib.exercises import cells
from aelib.exercises._core import CORRECT, NOT_ATTEMPTED, WRONG

IMPLEMENT = sorted(n for n, e in exercises.EXERCISES.items() if e.kind == "implement")
TRAINABLE = sorted(n for n, e in exercises.EXERCISES.items() if e.trainable
                   and n not in ("reparameterize", "contractive_penalty"))  # fmt: skip


def _detached(fn):
    def student(*args):
        out = fn(*args)
        return out.detach() if isinstance(out, torch.Tensor) else out

    return student


@pytest.mark.parametrize("name", TRAINABLE)
def test_a_gradient_less_answer_is_refused(name):
    ex = exercises.EXERCISES[name]
    feedback = ex.checker(_detached(ex.reference))
    assert feedback.status == WRONG and "gradient" in feedback.message, feedback


def test_numpy_answer_is_refused_with_a_sentence():
    def kl_numpy(mu, sigma):
        m, s = mu.detach().numpy(), sigma.detach().numpy()
        return torch.as_tensor(0.5 * (m**2 + s**2 - 2 * np.log(s) - 1).sum(1))

    feedback = exercises.check_kl(kl_numpy)
    assert feedback.status == WRONG and "no gradient" in feedback.message


@pytest.mark.parametrize("name", IMPLEMENT)
@pytest.mark.parametrize("answer", [lambda *a: None, lambda *a: "loss", lambda *a: 3.0,
                                    lambda *a: 1 / 0, None, "text"])  # fmt: skip
def test_wrong_types_get_a_feedback_not_an_exception(name, answer):
    feedback = exercises.EXERCISES[name].checker(answer)
    assert feedback.status == WRONG and feedback.message


def test_none_names_the_missing_return():
    feedback = exercises.check_kl(lambda mu, sigma: None)
    assert "did you forget `return`" in feedback.message


def _states():
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


@pytest.mark.parametrize("name", sorted(exercises.EXERCISES))
def test_a_check_leaves_the_global_random_state_unchanged(name):
    ex = exercises.EXERCISES[name]
    answer = ex.reference if ex.kind == "implement" else 0.5
    torch.manual_seed(123)
    before = _states()
    ex.checker(answer)
    after = _states()
    assert torch.equal(before[0], after[0])
    assert np.array_equal(before[1], after[1]) and before[2] == after[2]


def test_printed_output_is_truncated(capsys):
    def noisy(mu, sigma):
        print("x" * 10_000)
        return 0.5 * (mu**2 + sigma**2 - 2 * torch.log(sigma) - 1).sum(dim=1)

    assert exercises.check_kl(noisy).passed
    assert len(capsys.readouterr().out) < 1_000


@pytest.mark.parametrize("name", sorted(exercises.EXERCISES))
def test_every_exercise_has_a_solution(name, capsys):
    exercises.solution(name)
    assert len(capsys.readouterr().out) > 50


@pytest.mark.parametrize("nb", sorted(cells.PLAN))
def test_not_attempted_cells_run_and_say_so(nb):
    ns = {"aelib": __import__("aelib")}
    for insertion in cells.notebook_cells(nb):
        for cell in insertion["cells"]:
            if cell["cell_type"] == "code":
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(cell["source"], f"<{nb}>", "exec"), ns)  # noqa: S102
        last = [c for c in insertion["cells"] if c["cell_type"] == "code"][-1]["source"]
        call = last.strip().splitlines()[-1]
        assert eval(call, ns).status == NOT_ATTEMPTED  # noqa: S307


@pytest.mark.parametrize("nb", sorted(cells.PLAN))
def test_solved_cells_pass(nb):
    ns = {"aelib": __import__("aelib")}
    kinds = {"predict": 0, "experiment": 0}
    for insertion in cells.notebook_cells(nb):
        source = cells.solved_source(insertion["cells"])
        if "NotImplementedError" in source:  # an implement one: its reference is tested above
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, f"<{nb}>", "exec"), ns)  # noqa: S102
        call = source.strip().splitlines()[-1]
        feedback = eval(call, ns)  # noqa: S307
        assert feedback.status == CORRECT, feedback
        kinds["predict" if "prediction" in source else "experiment"] += 1
    assert kinds == {"predict": 1, "experiment": 1}


def test_a_wrong_prediction_explains_the_gap():
    feedback = exercises.check_predict_kl(1.0)
    assert feedback.status == WRONG and "too high" in feedback.message
    feedback = exercises.check_predict_estimator("score function")
    assert feedback.status == WRONG and "pathwise" in feedback.message


def test_an_experiment_answer_must_match_the_run():
    result = exercises.run_n_samples(16)
    assert exercises.check_n_samples(result.measured["score_std"] * 2, result).status == WRONG
    assert exercises.check_n_samples(0.5, None).status == WRONG
    assert exercises.check_n_samples(..., exercises.run_n_samples()).status == NOT_ATTEMPTED
