"""Exercises with instant self-checks (every notebook ends with two or three).

In a notebook::

    def kl_term(mu, sigma):
        # YOUR CODE HERE
        raise NotImplementedError

    aelib.exercises.check_kl(kl_term)        # -> correct, or what is wrong

``aelib.exercises.solution("kl")`` prints a worked solution. Each notebook's exercises
live in their own module here (``nb04.py`` for notebook 04, ...); this package gathers
their ``check_*`` functions.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._core import EXERCISES, Feedback, Mistake, check, solution

__all__ = ["EXERCISES", "Feedback", "Mistake", "check", "solution"]

for _info in pkgutil.iter_modules(__path__):
    if _info.name.startswith(("nb", "variations")):
        _mod = importlib.import_module(f".{_info.name}", __name__)
        for _name in dir(_mod):
            if _name.startswith(("check_", "run_")):
                globals()[_name] = getattr(_mod, _name)
                __all__.append(_name)
