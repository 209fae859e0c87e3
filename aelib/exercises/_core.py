"""The machinery behind every exercise check: run, compare, recognise known mistakes."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

NOT_ATTEMPTED = "not attempted"
CORRECT = "correct"
WRONG = "wrong"


@dataclass(frozen=True)
class Feedback:
    """The answer of a check: ``status`` is 'correct', 'wrong' or 'not attempted'."""

    exercise: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        """True when the student's code is correct."""
        return self.status == CORRECT

    def __repr__(self) -> str:
        mark = {CORRECT: "Correct", WRONG: "Not yet", NOT_ATTEMPTED: "Not attempted yet"}
        return f"[{self.exercise}] {mark[self.status]}: {self.message}"


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer, written as code, and the hint a student gets when theirs matches."""

    hint: str
    fn: Callable[..., Any]


@dataclass
class Exercise:
    """What ``solution(name)`` prints and the tests run: the reference and known mistakes."""

    name: str
    reference: Callable[..., Any]
    mistakes: Sequence[Mistake] = field(default_factory=tuple)
    checker: Callable[[Callable[..., Any]], Feedback] | None = None


EXERCISES: dict[str, Exercise] = {}


def register(name: str, reference: Callable[..., Any], mistakes: Sequence[Mistake] = ()):
    """Decorator for a check_* function: records its reference solution and known mistakes."""

    def wrap(checker: Callable[[Callable[..., Any]], Feedback]):
        EXERCISES[name] = Exercise(name, reference, tuple(mistakes), checker)
        checker.exercise = name  # type: ignore[attr-defined]
        return checker

    return wrap


def _same(a: Any, b: Any, atol: float, rtol: float) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        a, b = torch.as_tensor(a).detach().double(), torch.as_tensor(b).detach().double()
        return a.shape == b.shape and torch.allclose(a, b, atol=atol, rtol=rtol)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y, atol, rtol) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= atol + rtol * abs(b)
    return a == b


def _shape(x: Any) -> str:
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


def check(
    name: str,
    student: Callable[..., Any],
    reference: Callable[..., Any],
    make_inputs: Callable[[torch.Generator], tuple],
    mistakes: Sequence[Mistake] = (),
    observe: Callable[[Callable[..., Any], tuple], Any] | None = None,
    trials: int = 3,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int | None = None,
) -> Feedback:
    """Run ``student`` and ``reference`` on fresh random inputs and explain any difference.

    ``observe(fn, inputs)`` turns a function into what is compared (default: its output);
    a student whose answers match a known ``Mistake`` gets that mistake's hint.
    """
    observe = observe or (lambda fn, inputs: fn(*inputs))
    gen = torch.Generator().manual_seed(seed if seed is not None else torch.seed() % 2**31)
    for _ in range(trials):
        inputs = make_inputs(gen)
        expected = observe(reference, _clone(inputs))
        try:
            got = observe(student, _clone(inputs))
        except NotImplementedError:
            return Feedback(name, NOT_ATTEMPTED, "replace `raise NotImplementedError` with your "
                            "code, then run this cell again.")  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the student's error, explained
            return Feedback(name, WRONG, f"your function raised {type(exc).__name__}: {exc}")
        if _same(got, expected, atol, rtol):
            continue
        for mistake in mistakes:
            try:
                if _same(got, observe(mistake.fn, _clone(inputs)), atol, rtol):
                    return Feedback(name, WRONG, mistake.hint)
            except Exception:  # noqa: BLE001, S112 - a mistake that cannot run here
                continue
        if isinstance(got, torch.Tensor) and isinstance(expected, torch.Tensor):
            if got.shape != expected.shape:
                return Feedback(name, WRONG, f"the result has shape {_shape(got)}, expected "
                                f"{_shape(expected)}.")  # fmt: skip
        return Feedback(name, WRONG, "the values differ from the reference on random inputs; "
                        "compare your formula with the one in the text.")  # fmt: skip
    return Feedback(name, CORRECT, f"matches the reference on {trials} random inputs.")


def _clone(inputs: tuple) -> tuple:
    return tuple(x.detach().clone().requires_grad_(x.requires_grad)
                 if isinstance(x, torch.Tensor) else x for x in inputs)  # fmt: skip


def solution(name: str) -> None:
    """Print the worked solution of exercise ``name``."""
    if name not in EXERCISES:
        raise KeyError(f"No exercise {name!r}; there are: {', '.join(sorted(EXERCISES))}.")
    print(textwrap.dedent(inspect.getsource(EXERCISES[name].reference)))
