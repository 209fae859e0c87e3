"""Every exercise checker accepts its solution, rejects each known mistake with its own
hint, and says 'not attempted' for the untouched template."""

from __future__ import annotations

import pytest

from aelib import exercises
from aelib.exercises._core import CORRECT, NOT_ATTEMPTED, WRONG

NAMES = sorted(n for n, e in exercises.EXERCISES.items() if e.kind == "implement")


def untouched(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("name", NAMES)
def test_solution_passes(name):
    ex = exercises.EXERCISES[name]
    feedback = ex.checker(ex.reference)
    assert feedback.status == CORRECT, feedback


@pytest.mark.parametrize("name", NAMES)
def test_template_is_not_attempted(name):
    assert exercises.EXERCISES[name].checker(untouched).status == NOT_ATTEMPTED


@pytest.mark.parametrize(
    "name, index",
    [(n, i) for n in NAMES for i in range(len(exercises.EXERCISES[n].mistakes))],
)
def test_each_known_mistake_gets_its_hint(name, index):
    ex = exercises.EXERCISES[name]
    mistake = ex.mistakes[index]
    feedback = ex.checker(mistake.fn)
    assert feedback.status == WRONG
    assert feedback.message == mistake.hint


def test_every_exercise_is_exposed_as_a_check_function():
    for name, ex in exercises.EXERCISES.items():  # implement, predict and experiment
        assert getattr(exercises, ex.checker.__name__) is ex.checker, name


def test_solution_prints_code(capsys):
    exercises.solution("kl")
    assert "def kl_solution" in capsys.readouterr().out
    with pytest.raises(KeyError, match="there are:"):
        exercises.solution("nope")


def test_errors_in_student_code_are_reported():
    feedback = exercises.check_kl(lambda mu, sigma: mu @ sigma)
    assert feedback.status == WRONG and "raised RuntimeError" in feedback.message
