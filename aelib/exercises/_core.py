"""The machinery behind every exercise check: run, compare, recognise known mistakes.

Three kinds of exercise share it:

- *implement*: ``check(...)`` runs the student's function and the reference on random inputs
  and compares values and, where the answer is trained with, gradients;
- *predict*: the student writes a prediction (a number or a named option) and runs a prepared
  experiment; ``Prediction`` compares the two and explains the gap;
- *experiment*: the student changes one setting, runs a seconds-long experiment, and answers
  with a number read off the run; ``Experiment`` verifies it against that run.

A check never raises on a student's answer, never changes torch's, NumPy's or Python's global
random state, and shows at most ``MAX_PRINTED`` characters of what the student's code prints.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import os
import random
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

NOT_ATTEMPTED = "not attempted"
CORRECT = "correct"
WRONG = "wrong"
MAX_PRINTED = 500  # characters of a student's printed output shown with the feedback
KINDS = ("implement", "predict", "experiment")


@dataclass(frozen=True)
class Feedback:
    """The answer of a check: ``status`` is 'correct', 'wrong' or 'not attempted'."""

    exercise: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        """True when the student's answer is correct."""
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
    """What ``solution(name)`` prints and the tests run: the reference and known mistakes.

    ``kind`` is 'implement', 'predict' or 'experiment'. ``trainable``: the answer is a loss or
    a sample a model is trained with, so its gradients are checked too. ``explanation`` is the
    worked solution's prose (the expected outcome and why) for predict and experiment ones.
    """

    name: str
    reference: Callable[..., Any]
    mistakes: Sequence[Mistake] = field(default_factory=tuple)
    checker: Callable[..., Feedback] | None = None
    kind: str = "implement"
    trainable: bool = False
    explanation: str = ""
    template: str = ""  # how the student's answer looks in the cell (for the tests)


EXERCISES: dict[str, Exercise] = {}


def register(name: str, reference: Callable[..., Any], mistakes: Sequence[Mistake] = (),
             trainable: bool = False, explanation: str = ""):  # fmt: skip
    """Decorator for an implement check_* function: records its reference and known mistakes."""

    def wrap(checker: Callable[..., Feedback]):
        checker = keeps_random_state(checker)
        checker.exercise = name  # type: ignore[attr-defined]
        EXERCISES[name] = Exercise(name, reference, tuple(mistakes), checker,
                                   trainable=trainable, explanation=explanation)  # fmt: skip
        return checker

    return wrap


# ------------------------------------------------------------------ global state, output


@contextlib.contextmanager
def preserved_random_state():
    """Run a block without changing torch's (CPU and CUDA), NumPy's or Python's RNG state."""
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def keeps_random_state(fn: Callable[..., Feedback]) -> Callable[..., Feedback]:
    """Decorator: the check runs inside ``preserved_random_state``, and never raises."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with preserved_random_state():
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a checker never raises on an answer
                name = getattr(wrapper, "exercise", fn.__name__)
                return Feedback(name, WRONG, f"the check could not run your answer "
                                f"({type(exc).__name__}: {_short(str(exc))}).")  # fmt: skip

    return wrapper


def _short(text: str, limit: int = MAX_PRINTED) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[:limit] + f" ... ({len(text) - limit:,} more characters not shown)"


def _fresh_seed() -> int:
    return int.from_bytes(os.urandom(4), "little") % 2**31  # touches no generator's state


# ---------------------------------------------------------------------- what came back


def describe_type(got: Any, expected: Any) -> str | None:
    """A sentence naming what is wrong with the TYPE of an answer, or None when it fits."""
    if got is None and expected is not None:
        return "your function returned None: did you forget `return`?"
    if isinstance(expected, torch.Tensor):
        if isinstance(got, torch.Tensor):
            return None
        if isinstance(got, str):
            return f"your function returned a string ({_short(repr(got), 60)}); return a tensor."
        if isinstance(got, np.ndarray) or isinstance(got, np.generic):
            return ("your function returned a NumPy value: stay in torch (torch.* functions "
                    "on tensors), so that the result is a tensor gradients can flow through.")
        if isinstance(got, (bool, int, float)):
            return (f"your function returned a Python {type(got).__name__}, not a tensor: "
                    "drop .item() / float() and return the tensor itself (a number carries "
                    "no gradient).")  # fmt: skip
        return f"your function returned a {type(got).__name__}; return a tensor."
    if isinstance(expected, tuple) and isinstance(got, (tuple, list)):
        if len(got) != len(expected):
            return f"return {len(expected)} values (a tuple), not {len(got)}."
        for g, e in zip(got, expected):
            problem = describe_type(g, e)
            if problem:
                return problem.replace("your function returned", "one of the values returned is")
        return None
    if isinstance(expected, tuple):
        return f"return a tuple of {len(expected)} values, not a {type(got).__name__}."
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if isinstance(got, str):
            return f"your function returned a string ({_short(repr(got), 60)}); return a number."
        if not isinstance(got, (int, float, np.generic, torch.Tensor)):
            return f"your function returned a {type(got).__name__}; return a number."
    return None


def _same(a: Any, b: Any, atol: float, rtol: float) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        try:
            a, b = torch.as_tensor(a).detach().double(), torch.as_tensor(b).detach().double()
        except Exception:  # noqa: BLE001 - not comparable with a tensor
            return False
        return a.shape == b.shape and bool(torch.allclose(a, b, atol=atol, rtol=rtol))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y, atol, rtol) for x, y in zip(a, b))
    if isinstance(a, (int, float, np.generic)) and isinstance(b, (int, float, np.generic)):
        return abs(float(a) - float(b)) <= atol + rtol * abs(float(b))
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return False


def _shape(x: Any) -> str:
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


# ------------------------------------------------------------------------- gradients


def _grad_targets(inputs: tuple, names: Sequence[str]) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) for every input that requires grad and every module parameter."""
    targets = []
    for i, x in enumerate(inputs):
        name = names[i] if i < len(names) else f"argument {i + 1}"
        if isinstance(x, torch.Tensor) and x.requires_grad:
            targets.append((f"`{name}`", x))
        elif isinstance(x, nn.Module):
            for pname, p in x.named_parameters():
                if p.requires_grad:
                    targets.append((f"the weights of `{name}` ({pname})", p))
    return targets


def _grads(out: Any, targets, probe: torch.Tensor | None) -> list[torch.Tensor | None]:
    """d(sum(out * probe))/d target, or None where no gradient reaches a target."""
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return [None] * len(targets)
    scalar = (out * probe).sum() if probe is not None else out.sum()
    grads = torch.autograd.grad(scalar, [t for _, t in targets], allow_unused=True,
                                retain_graph=True)  # fmt: skip
    return list(grads)


def compare_gradients(name: str, got: Any, expected: Any, inputs: tuple, arg_names, gen,
                      atol: float, rtol: float) -> Feedback | None:  # fmt: skip
    """None when the gradients agree; else the Feedback saying which one is missing or wrong."""
    if not isinstance(expected, torch.Tensor):
        return None
    targets = _grad_targets(inputs, arg_names)
    if not targets:
        return None
    probe = torch.rand(expected.shape, generator=gen, dtype=expected.dtype) + 0.5
    want = _grads(expected, targets, probe)
    if not isinstance(got, torch.Tensor) or not got.requires_grad:
        return Feedback(name, WRONG, "the value is right, but it carries no gradient: a model "
                        "trained with it would not learn. Keep the computation in torch on the "
                        "inputs themselves (no .detach(), .item(), .numpy() or torch.no_grad()).")
    have = _grads(got, targets, probe)
    for (label, _), g, w in zip(targets, have, want):
        if w is None:
            continue
        if g is None:
            return Feedback(name, WRONG, f"the value is right, but no gradient reaches {label}: "
                            "somewhere it was detached (.detach(), .data, NumPy, or a copy "
                            "made with torch.tensor(...)).")  # fmt: skip
        if not _same(g, w, atol * 10, rtol * 10):
            return Feedback(name, WRONG, f"the value is right, but its gradient with respect "
                            f"to {label} is wrong: part of the computation is detached or "
                            "replaced by a constant that happens to have the same value.")
    return None


# ------------------------------------------------------------------------- implement


def _call(fn, inputs, observe, sink: io.StringIO):
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        return observe(fn, inputs)


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
    gradients: bool = False,
) -> Feedback:
    """Run ``student`` and ``reference`` on fresh random inputs and explain any difference.

    ``observe(fn, inputs)`` turns a function into what is compared (default: its output);
    a student whose answers match a known ``Mistake`` gets that mistake's hint. With
    ``gradients=True`` the gradients with respect to every input that requires grad (and
    every parameter of an nn.Module input) must match the reference's too. The global random
    state is left as it was; what the student's code prints is shown, truncated.
    """
    sink = io.StringIO()
    with preserved_random_state():
        feedback = _check(name, student, reference, make_inputs, mistakes, observe, trials,
                          atol, rtol, seed, gradients, sink)  # fmt: skip
    printed = sink.getvalue()
    if printed.strip():
        print(f"(your code printed:)\n{_short(printed)}")
    return feedback


def _check(name, student, reference, make_inputs, mistakes, observe, trials, atol, rtol,
           seed, gradients, sink) -> Feedback:  # fmt: skip
    if not callable(student):
        return Feedback(name, WRONG, f"pass your function itself (got a "
                        f"{type(student).__name__}, which cannot be called).")  # fmt: skip
    raw = observe is None  # the student's output itself is compared: its type can be named
    observe = observe or (lambda fn, inputs: fn(*inputs))
    gen = torch.Generator().manual_seed(seed if seed is not None else _fresh_seed())
    try:
        arg_names = list(inspect.signature(reference).parameters)
    except (TypeError, ValueError):
        arg_names = []
    for _ in range(trials):
        inputs = make_inputs(gen)
        ref_inputs = _clone(inputs)
        expected = observe(reference, ref_inputs)
        student_inputs = _clone(inputs)
        try:
            got = _call(student, student_inputs, observe, sink)
        except NotImplementedError:
            return Feedback(name, NOT_ATTEMPTED, "replace `raise NotImplementedError` with your "
                            "code, then run this cell again.")  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the student's error, explained
            return Feedback(name, WRONG, f"your function raised {type(exc).__name__}: "
                            f"{_short(str(exc), 300)}")  # fmt: skip
        problem = describe_type(got, expected) if raw else None
        if problem:
            return Feedback(name, WRONG, problem)
        if _same(got, expected, atol, rtol):
            if gradients:
                try:
                    bad = compare_gradients(name, got, expected, student_inputs, arg_names,
                                            gen, atol, rtol)  # fmt: skip
                except Exception as exc:  # noqa: BLE001 - backward through the student's graph
                    bad = Feedback(name, WRONG, "the value is right, but backpropagating "
                                   f"through it fails ({type(exc).__name__}: "
                                   f"{_short(str(exc), 200)}).")  # fmt: skip
                if bad is not None:
                    return bad
            continue
        for mistake in mistakes:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
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
    extra = " (values and gradients)" if gradients else ""
    return Feedback(name, CORRECT, f"matches the reference on {trials} random inputs{extra}.")


def _clone(inputs: tuple) -> tuple:
    return tuple(x.detach().clone().requires_grad_(x.requires_grad)
                 if isinstance(x, torch.Tensor) else x for x in inputs)  # fmt: skip


# ------------------------------------------------------------------------- predict


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, np.generic)):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    return None


def register_predict(name: str, outcome: Callable[[], tuple[Any, str]], *,
                     options: Sequence[str] = (), rel_tol: float = 0.1, abs_tol: float = 0.0,
                     explanation: str = "",
                     template: str = "...") -> Callable[[Any], Feedback]:  # fmt: skip
    """Make and register ``check_<name>(prediction)`` for a predict exercise.

    ``outcome()`` runs the prepared experiment and returns ``(value, why)``: the measured
    answer (a number, or one of ``options``) and a sentence with the numbers it measured.
    A number counts as right within ``rel_tol`` (relative) or ``abs_tol`` (absolute).
    """

    def checker(prediction: Any = ...) -> Feedback:
        if prediction is ... or prediction is None:
            what = f"one of {', '.join(map(repr, options))}" if options else "a number"
            return Feedback(name, NOT_ATTEMPTED, f"write your prediction ({what}) in place of "
                            "`...` BEFORE running the experiment, then run this cell again.")
        value, why = _cached_outcome(name, outcome)
        if options:
            if not isinstance(prediction, str) or prediction.strip().lower() not in options:
                return Feedback(name, WRONG, f"answer with one of {', '.join(map(repr, options))}"
                                f" (a string), not {_short(repr(prediction), 60)}.")
            if prediction.strip().lower() == value:
                return Feedback(name, CORRECT, f"you predicted {value!r}, and so it is: {why}")
            return Feedback(name, WRONG, f"you predicted {prediction.strip().lower()!r}, the "
                            f"outcome is {value!r}: {why}")  # fmt: skip
        number = _number(prediction)
        if number is None or not np.isfinite(number):
            return Feedback(name, WRONG, f"write the prediction as a number (e.g. 0.3), not "
                            f"{_short(repr(prediction), 60)}.")  # fmt: skip
        gap = number - value
        if abs(gap) <= max(abs_tol, rel_tol * abs(value)):
            return Feedback(name, CORRECT, f"you predicted {number:.4g}, the outcome is "
                            f"{value:.4g}: {why}")  # fmt: skip
        direction = "too high" if gap > 0 else "too low"
        return Feedback(name, WRONG, f"you predicted {number:.4g}, the outcome is {value:.4g} "
                        f"({direction} by {abs(gap):.3g}): {why}")  # fmt: skip

    checker = keeps_random_state(checker)
    checker.__name__ = f"check_{name}"
    checker.exercise = name  # type: ignore[attr-defined]
    EXERCISES[name] = Exercise(name, outcome, (), checker, kind="predict",
                               explanation=explanation, template=template)  # fmt: skip
    return checker


_OUTCOMES: dict[str, tuple[Any, str]] = {}


def _cached_outcome(name, outcome):
    if name not in _OUTCOMES:
        with preserved_random_state():
            _OUTCOMES[name] = outcome()
    return _OUTCOMES[name]


# ------------------------------------------------------------------------- experiment


@dataclass(frozen=True)
class Run:
    """What an experiment measured: the setting it ran with and the numbers it read off."""

    experiment: str
    setting: Any
    measured: dict[str, float]

    def __repr__(self) -> str:
        values = ", ".join(f"{k} = {v:.4g}" for k, v in self.measured.items())
        return f"{self.experiment}(setting = {self.setting!r}): {values}"


def register_experiment(name: str, run: Callable[[Any], dict[str, float]], *, default: Any,
                        answer_key: str, rel_tol: float = 0.02, abs_tol: float = 1e-4,
                        explanation: str = "", template: str = "...",
                        valid: Callable[[Any], str | None] | None = None):  # fmt: skip
    """Make and register ``run_<name>(setting)`` and ``check_<name>(answer, run)``.

    ``run(setting)`` trains for seconds and returns the measured numbers; the student changes
    the setting from ``default``, runs, and answers with ``measured[answer_key]``.
    ``valid(setting)`` returns a sentence when a setting cannot be run.
    """

    def runner(setting: Any = default) -> Run:
        problem = valid(setting) if valid else None
        if problem is None and _same(setting, default, 0.0, 0.0):
            problem = (f"change the setting from its default ({default!r}) first, then run "
                       "this cell again.")
        if problem:
            print(f"[{name}] {problem}")
            return Run(name, setting, {})
        with preserved_random_state():
            measured = run(setting)
        return Run(name, setting, {k: float(v) for k, v in measured.items()})

    def checker(answer: Any = ..., result: Any = None) -> Feedback:
        if answer is ... or answer is None:
            return Feedback(name, NOT_ATTEMPTED, f"change the setting, run the experiment, then "
                            f"write the number it gives ({answer_key}) in place of `...`.")
        if not isinstance(result, Run) or result.experiment != name:
            return Feedback(name, WRONG, f"pass the result of run_{name}(...) as the second "
                            "argument, so the check can compare your answer with your run.")
        if not result.measured:
            if _same(result.setting, default, 0.0, 0.0):
                return Feedback(name, NOT_ATTEMPTED, f"change the setting from {default!r}, "
                                "run the experiment, then answer.")  # fmt: skip
            return Feedback(name, WRONG, "that run did not happen (its setting was refused): "
                            "pick a valid setting and run it again.")  # fmt: skip
        if _same(result.setting, default, 0.0, 0.0):
            return Feedback(name, WRONG, f"the run used the default setting ({default!r}): "
                            "the exercise asks you to change it first.")  # fmt: skip
        number = _number(answer)
        if number is None or not np.isfinite(number):
            return Feedback(name, WRONG, f"answer with a number, not {_short(repr(answer), 60)}.")
        value = result.measured[answer_key]
        if abs(number - value) <= max(abs_tol, rel_tol * abs(value)):
            return Feedback(name, CORRECT, f"{answer_key} = {value:.4g} with setting "
                            f"{result.setting!r}; {explanation.split(chr(10))[0]}")  # fmt: skip
        return Feedback(name, WRONG, f"your run measured {answer_key} = {value:.4g}, you "
                        f"answered {number:.4g}: read the number off the printed result.")

    checker = keeps_random_state(checker)
    checker.__name__ = f"check_{name}"
    runner.__name__ = f"run_{name}"
    checker.exercise = name  # type: ignore[attr-defined]
    EXERCISES[name] = Exercise(name, run, (), checker, kind="experiment",
                               explanation=explanation, template=template)  # fmt: skip
    return runner, checker


# ------------------------------------------------------------------------- solutions


def solution(name: str) -> None:
    """Print the worked solution of exercise ``name`` (its expected outcome and why)."""
    if name not in EXERCISES:
        raise KeyError(f"No exercise {name!r}; there are: {', '.join(sorted(EXERCISES))}.")
    ex = EXERCISES[name]
    if ex.kind == "implement":
        print(textwrap.dedent(inspect.getsource(ex.reference)))
        if ex.explanation:
            print(textwrap.dedent(ex.explanation).strip())
        return
    print(f"Exercise {name!r} ({ex.kind}).")
    if ex.kind == "predict":
        value, why = _cached_outcome(name, ex.reference)
        shown = f"{value!r}" if isinstance(value, str) else f"{value:.4g}"
        print(f"Expected outcome: {shown}. {why}")
    print(textwrap.dedent(ex.explanation).strip())
    print("\nThe prepared experiment:\n")
    print(textwrap.dedent(inspect.getsource(ex.reference)))


# ------------------------------------------------------------------------- small data


@functools.lru_cache(maxsize=1)
def digits64() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits as (N, 64) floats in [0, 1]: train (1437) and test (360).

    Offline and tiny, so that every experiment trains in seconds on one CPU core.
    """
    from sklearn.datasets import load_digits

    x = torch.as_tensor(load_digits().data, dtype=torch.float32) / 16.0
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[order[360:]], x[order[:360]]
