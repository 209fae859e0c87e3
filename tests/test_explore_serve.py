"""explore/serve.py (make explore): its refusals, its settings, and its copy of aelib's names.

The browser tests (tests/browser/test_explorer_app.py) check the same server from outside:
token, host check, culling, the cap on kernels, the page's requests.
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from aelib import train, zoo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def serve():
    spec = importlib.util.spec_from_file_location("explore_serve", ROOT / "explore" / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_its_copy_of_the_recipes_and_the_cache_folder_match_aelib(serve, monkeypatch, tmp_path):
    assert set(serve.RECIPES) == set(zoo.RECIPES)
    monkeypatch.delenv("AELIB_CACHE_DIR", raising=False)
    assert serve.cache_dir() == train.cache_dir()
    monkeypatch.setenv("AELIB_CACHE_DIR", str(tmp_path))
    assert serve.cache_dir() == train.cache_dir() == tmp_path


def test_cold_recipes_are_those_without_any_checkpoint(serve, tmp_path):
    assert serve.cold_recipes(tmp_path) == ["ae", "vae", "gan"]
    (tmp_path / "ae-0123456789ab.pt").write_bytes(b"")
    (tmp_path / "gan-0123456789ab.pt.rejected-1").write_bytes(b"")  # moved aside: not a model
    assert serve.cold_recipes(tmp_path) == ["vae", "gan"]


def test_it_refuses_root_unless_allowed(serve, monkeypatch, capsys):
    monkeypatch.setattr(serve.os, "geteuid", lambda: 0)
    monkeypatch.delenv("ALLOW_ROOT", raising=False)
    assert serve.main(["--port", "1"]) == 2
    assert "ALLOW_ROOT=1" in capsys.readouterr().err


def test_it_refuses_a_port_that_is_taken(serve, monkeypatch, capsys):
    monkeypatch.setenv("ALLOW_ROOT", "1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert serve.main(["--port", str(port)]) == 2
    assert f"PORT={port + 1}" in capsys.readouterr().err


def test_a_cold_cache_is_warmed_before_serving(serve, monkeypatch, tmp_path):
    env = {**serve.os.environ, "ALLOW_ROOT": "1", "AELIB_CACHE_DIR": str(tmp_path / "cache"),
           "JUPYTER_TOKEN": "secret"}  # fmt: skip
    monkeypatch.setattr(serve.os, "environ", env)  # main() sets Jupyter folders: not ours
    ran = []
    monkeypatch.setattr(serve.subprocess, "run", lambda cmd, **kw: ran.append(cmd))

    class Stop(Exception):
        pass

    def launch(*args, **kwargs):  # stands in for Voila: no server in a unit test
        raise Stop

    import voila.app

    monkeypatch.setattr(voila.app.Voila, "launch_instance", launch)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Stop):
        serve.main(["--port", str(port), "--warm-if-cold", "--jupyter-dir", str(tmp_path / "j")])
    assert ran and ran[0][1:] == ["-m", "aelib.zoo"]
    assert "JUPYTER_TOKEN" not in env, "the token is not passed on to the kernels"
    assert env["JUPYTER_CONFIG_DIR"] == str(tmp_path / "j" / "config")


def test_the_settings_guard_the_server(serve):
    c = serve.voila_config("s3cret", 8866, idle_timeout=300, cull_interval=30, max_kernels=4)
    assert c.Voila.ip == "127.0.0.1" and c.Voila.token == "s3cret" and c.Voila.port_retries == 0
    settings = c.Voila.tornado_settings
    assert settings["allow_remote_access"] is False, "the Host header is checked"
    csp = settings["headers"]["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp and "http" not in csp
    assert c.VoilaConfiguration.template == "aelib"
    assert c.VoilaConfiguration.allow_template_override == "NO"
    assert c.VoilaConfiguration.show_tracebacks is False
    assert c.MappingKernelManager.cull_idle_timeout == 300
    assert c.MappingKernelManager.cull_connected is False, "an open page keeps its kernel"
    assert (ROOT / "explore" / "voila" / "templates" / "aelib" / "index.html.j2").is_file()


def test_the_kernel_cap_answers_503(serve):
    import tornado.web

    hook = serve.cap_kernels(2, idle_timeout=300)
    handler = SimpleNamespace(kernel_manager=SimpleNamespace(list_kernel_ids=lambda: ["a"]))
    assert hook(handler) is None
    handler.kernel_manager.list_kernel_ids = lambda: ["a", "b"]
    with pytest.raises(tornado.web.HTTPError) as err:
        hook(handler)
    assert err.value.status_code == 503 and "300 s" in err.value.log_message
