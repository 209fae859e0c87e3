"""aelib.settings: every AELIB_* variable parsed once, in one place, with clear errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

import aelib
from aelib import settings as S


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for name in S.KNOWN:
        monkeypatch.delenv(name, raising=False)
    yield
    torch.set_flush_denormal(False)  # aelib.setup turns it on; the other tests assume the default
    aelib.runtime.set_verbose(False)


@pytest.mark.parametrize("value, expected", [
    ("1", True), ("true", True), ("TRUE", True), ("Yes", True), ("on", True), (" yes ", True),
    ("0", False), ("false", False), ("No", False), ("OFF", False), ("", False),
])  # fmt: skip
def test_booleans_accept_the_usual_spellings(monkeypatch, value, expected):
    for name, field in (("AELIB_STRICT_DATA", "strict_data"), ("AELIB_OFFLINE", "offline"),
                        ("AELIB_RETRAIN", "retrain"), ("AELIB_VERBOSE", "verbose")):
        monkeypatch.setenv(name, value)
        assert getattr(S.current(), field) is expected, name


@pytest.mark.parametrize("value", ["2", "maybe", "y e s", "ture"])
def test_anything_else_is_refused_with_the_variable_named(monkeypatch, value):
    monkeypatch.setenv("AELIB_STRICT_DATA", value)
    with pytest.raises(aelib.SettingsError, match=f"AELIB_STRICT_DATA='{value}' is not a "
                                                  "yes/no value: use 1/0, true/false or yes/no"):
        S.current()


def test_a_bad_setting_fails_where_it_is_used_with_the_variable_named(monkeypatch):
    monkeypatch.setenv("AELIB_OFFLINE", "sometimes")
    with pytest.raises(aelib.SettingsError, match="AELIB_OFFLINE='sometimes'"):
        aelib.load_dataset("fashion-mnist")


def test_paths_expand_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AELIB_DATA_DIR", "~/course/data")
    monkeypatch.setenv("AELIB_CACHE_DIR", "~/course/checkpoints")
    monkeypatch.setenv("AELIB_SHARED_CACHE", "~/a:/srv/b")
    cfg = S.current()
    assert cfg.data_dir == tmp_path / "course" / "data"
    assert cfg.cache_dir == tmp_path / "course" / "checkpoints"
    assert cfg.shared_cache == (tmp_path / "a", Path("/srv/b"))
    assert aelib.data.data_dir() == tmp_path / "course" / "data"
    assert aelib.cache.cache_dir() == tmp_path / "course" / "checkpoints"


def test_settings_are_parsed_once_until_a_variable_changes(monkeypatch):
    first = S.current()
    assert S.current() is first
    monkeypatch.setenv("AELIB_VERBOSE", "1")
    assert S.current() is not first and S.current().verbose


@pytest.mark.parametrize("name, value, match", [
    ("AELIB_DATASET", "cifar10", "AELIB_DATASET='cifar10' is not a dataset aelib knows"),
    ("AELIB_DOWNLOAD_TIMEOUT", "soon", "AELIB_DOWNLOAD_TIMEOUT='soon' is not a positive number"),
    ("AELIB_DOWNLOAD_TIMEOUT", "-3", "positive number of seconds"),
])  # fmt: skip
def test_other_bad_values_are_explained(monkeypatch, name, value, match):
    monkeypatch.setenv(name, value)
    with pytest.raises(aelib.SettingsError, match=match):
        S.current()


def test_the_dataset_name_is_case_insensitive(monkeypatch):
    monkeypatch.setenv("AELIB_DATASET", "Digits")
    assert aelib.load_dataset().name == "digits"


def test_a_misspelt_variable_is_reported(monkeypatch, caplog):
    monkeypatch.setenv("AELIB_OFLINE", "1")
    S.current()
    assert "AELIB_OFLINE is not a setting aelib knows; it is ignored. Did you mean AELIB_OFFLINE?" \
        in caplog.text


def test_outside_a_checkout_the_defaults_are_per_user(monkeypatch, tmp_path):
    monkeypatch.setattr(S, "in_checkout", lambda: False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert S.default_data_dir() == tmp_path / ".local" / "share" / "aelib"
    assert S.default_cache_dir() == tmp_path / ".cache" / "aelib" / "checkpoints"
    assert S.in_checkout.__module__  # and in this checkout:
    monkeypatch.undo()
    assert S.in_checkout() and S.default_data_dir() == S.REPO_ROOT / "data"


# ------------------------------------------------------------------------ AELIB_DEVICE


@pytest.mark.parametrize("value, match", [
    ("nonsense", "AELIB_DEVICE='nonsense' is not a device name"),
    ("gpu0", "AELIB_DEVICE='gpu0' is not a device name"),
])  # fmt: skip
def test_a_device_that_is_not_a_name_is_explained(monkeypatch, value, match):
    monkeypatch.setenv("AELIB_DEVICE", value)
    with pytest.raises(ValueError, match=f"{match}.*This machine has: cpu"):
        aelib.get_device()
    with pytest.raises(ValueError, match=match):
        aelib.setup(plots=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("value", ["cuda", "cuda:0", "CUDA"])
def test_a_device_this_machine_lacks_is_explained(monkeypatch, value):
    monkeypatch.setenv("AELIB_DEVICE", value)
    with pytest.raises(ValueError, match=f"AELIB_DEVICE='{value.lower()}', but this machine has "
                                         "no cuda.* device. Use one of: cpu, or unset"):
        aelib.get_device()


@pytest.mark.parametrize("value", ["cpu", "CPU", " Cpu "])
def test_cpu_in_any_case_is_accepted(monkeypatch, value):
    monkeypatch.setenv("AELIB_DEVICE", value)
    assert aelib.get_device() == torch.device("cpu")


def test_prefer_is_checked_too():
    with pytest.raises(ValueError, match="prefer='tpu' is not a device name"):
        aelib.get_device("tpu")


# ------------------------------------------------------------------------ AELIB_VERBOSE


def test_verbose_switches_the_info_lines_on_and_off(monkeypatch, capsys):
    log = logging.getLogger("aelib.data")
    aelib.setup(plots=False, verbose=True)
    log.info("a routine step")
    aelib.setup(plots=False)  # back to the default (AELIB_VERBOSE unset): notices only
    log.info("hidden")
    log.warning("a notice")
    monkeypatch.setenv("AELIB_VERBOSE", "yes")
    aelib.setup(plots=False)
    log.info("shown again")
    aelib.setup(plots=False, verbose=False)
    err = capsys.readouterr().err
    assert err.splitlines() == ["aelib.data: a routine step", "aelib.data: a notice",
                                "aelib.data: shown again"]  # fmt: skip
