"""Bootstrap errors are one clear line with the command to run, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kernel.services.system import MissingDependency, ensure_binary, free_port, reachable


def test_a_missing_binary_names_the_one_command_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINGANLING_NO_INSTALL", "1")
    with pytest.raises(MissingDependency) as err:
        ensure_binary("pinganling-no-such-binary", "pinganling-no-such-package")
    assert err.value.command == "sudo apt-get install -y pinganling-no-such-package"
    assert "is not installed" in str(err.value)


def test_the_cli_turns_a_missing_dependency_into_exit_2_and_one_message(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With no mosquitto on PATH (and installing forbidden) the demo stops cleanly."""
    code = (
        "import sys, kernel.services.system as s\n"
        "s.find_binary = lambda name, extra_dirs=(): None\n"
        "from pinganling.cli import main\n"
        "from kernel.services import broker\n"
        "broker.reachable = lambda *a, **k: False\n"
        "sys.exit(main(['demo', '--state-dir', sys.argv[1]]))\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, env={"PINGANLING_NO_INSTALL": "1", "PATH": "/usr/bin:/bin"},
                          timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "sudo apt-get install -y mosquitto" in done.stderr


def test_free_port_is_free_and_reachable_tells_the_truth() -> None:
    port = free_port()
    assert not reachable("127.0.0.1", port)
