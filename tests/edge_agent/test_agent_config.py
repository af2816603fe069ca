"""Agent configuration: defaults, one TOML file, ECG_EDGE_* variables, CLI overrides."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from edge_agent.agent_cli import ProgressBar
from edge_agent.config import ConfigError, EdgeConfig, load_config


def test_defaults_run_against_a_local_central_with_tls_on() -> None:
    cfg = load_config(environ={"HOME": "/home/cart"})
    assert cfg.server == "127.0.0.1:50051" and cfg.insecure is False, f"{cfg}"
    assert cfg.outbox == Path("/home/cart/.local/share/ecg-edge/outbox.sqlite"), cfg.outbox
    assert cfg.token is None and cfg.outbox_alarm_fraction == 0.9


def test_toml_then_environment_then_flags(tmp_path: Path) -> None:
    toml = tmp_path / "edge.toml"
    toml.write_text(
        '[edge]\nserver = "county:50051"\nsite_id = "township-07"\n'
        'max_outbox_bytes = 1_000_000\nrpc_timeout_s = 4\ntls_ca = "/etc/ca.pem"\n'
    )
    env = {"ECG_EDGE_CONFIG": str(toml), "ECG_EDGE_SITE_ID": "township-08",
           "ECG_EDGE_TOKEN": "tok", "ECG_EDGE_INSECURE": "no", "HOME": "/h"}
    cfg = load_config(environ=env)
    assert (cfg.server, cfg.site_id, cfg.token) == ("county:50051", "township-08", "tok")
    assert cfg.max_outbox_bytes == 1_000_000 and cfg.rpc_timeout_s == 4.0, f"{cfg}"
    assert cfg.tls_ca == Path("/etc/ca.pem") and cfg.insecure is False, f"{cfg}"
    flagged = cfg.with_overrides(site_id="township-09", insecure=True, server=None)
    assert (flagged.site_id, flagged.insecure, flagged.server) == (
        "township-09", True, "county:50051"), f"{flagged}"


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [('sever = "x:1"\n', {}, "unknown configuration key"),
     ('max_outbox_bytes = "lots"\n', {}, "wrong type"),
     ("", {"ECG_EDGE_INSECURE": "maybe"}, "wrong type"),
     ('server = "nohostport"\n', {}, "HOST:PORT"),
     ("rpc_timeout_s = 0\n", {}, "positive"),
     ("this is = = not toml\n", {}, "cannot read configuration")],
)
def test_bad_configuration_is_named(
    tmp_path: Path, text: str, env: dict[str, str], needle: str
) -> None:
    toml = tmp_path / "edge.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_config(toml, environ=env)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as info:
        load_config(tmp_path / "nope.toml", environ={})
    assert "nope.toml" in str(info.value), f"{info.value}"


def test_tls_cert_needs_its_key() -> None:
    with pytest.raises(ConfigError, match="go together"):
        EdgeConfig(tls_cert=Path("c.pem"))


def test_progress_bar_draws_only_when_enabled() -> None:
    out = io.StringIO()
    bar = ProgressBar(4, stream=out, enabled=True, label="queue ")
    for _ in range(4):
        bar.advance(note="routine")
    bar.close()
    last = out.getvalue().split("\r")[-1]
    assert "[" + "#" * 30 + "] 4/4" in last, f"{last!r}"
    quiet = io.StringIO()
    ProgressBar(4, stream=quiet, enabled=False, label="x").advance()
    assert quiet.getvalue() == "", f"{quiet.getvalue()!r}"
