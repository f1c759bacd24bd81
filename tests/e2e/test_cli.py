"""The murr binary's command line and configuration handling, end to end."""
import os
import subprocess

from conftest import MURR_BIN


def run(args, env=None, timeout=20):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([str(MURR_BIN), *args], capture_output=True, text=True, env=e, timeout=timeout)


def test_version():
    r = run(["--version"])
    assert r.returncode == 0
    assert r.stdout.strip().startswith("murr 0.")
    assert run(["-V"]).stdout == r.stdout


def test_help_lists_options():
    r = run(["--help"])
    assert r.returncode == 0
    for opt in ("--config", "--print-config", "--version", "MURR_STORAGE_PATH"):
        assert opt in r.stdout


def test_unknown_argument_is_usage_error():
    r = run(["--bogus"])
    assert r.returncode == 2
    assert "unexpected argument '--bogus'" in r.stderr


def test_missing_config_file_names_it(tmp_path):
    r = run(["-c", str(tmp_path / "nope.yaml")])
    assert r.returncode == 2
    assert "nope.yaml" in r.stderr


def test_bad_config_names_file_line_and_key(tmp_path):
    cfg = tmp_path / "murr.yaml"
    cfg.write_text("server:\n  http:\n    port: 8080\n    prot: 1\n")
    r = run(["--config", str(cfg)])
    assert r.returncode == 2
    assert f"{cfg}:4:5: unknown key 'server.http.prot'" in r.stderr


def test_bad_env_value_names_variable(tmp_path):
    r = run([], env={"MURR_SERVER_HTTP_PORT": "eighty", "MURR_STORAGE_PATH": str(tmp_path)})
    assert r.returncode == 2
    assert "MURR_SERVER_HTTP_PORT" in r.stderr and "eighty" in r.stderr


def test_bad_log_level(tmp_path):
    r = run([], env={"MURR_LOG": "loud"})
    assert r.returncode == 2
    assert "MURR_LOG='loud'" in r.stderr


def test_print_config_shows_precedence(tmp_path):
    cfg = tmp_path / "murr.yaml"
    cfg.write_text("server:\n  http:\n    port: 7000\n    threads: 3\nstorage:\n  path: /from/file\n")
    r = run(["-c", str(cfg), "--print-config"], env={"MURR_SERVER_HTTP_PORT": "7001"})
    assert r.returncode == 0, r.stderr
    assert "    port: 7001\n" in r.stdout          # env beats file
    assert "    threads: 3\n" in r.stdout          # file beats default
    assert '  path: "/from/file"' in r.stdout
    assert "    max_payload_size: 1073741824\n" in r.stdout  # default
    r = run(["--print-config"], env={"MURR_STORAGE_PATH": str(tmp_path / "d")})
    assert f'  path: "{tmp_path / "d"}"' in r.stdout


def test_default_storage_path_is_cwd_murr(tmp_path):
    e = dict(os.environ)
    e.pop("MURR_STORAGE_PATH", None)
    r = subprocess.run([str(MURR_BIN), "--print-config"], capture_output=True, text=True, cwd=tmp_path, env=e, timeout=20)
    assert r.returncode == 0
    assert f'  path: "{tmp_path}/murr"' in r.stdout
    assert f"Using cache dir: {tmp_path}/murr" in r.stderr
