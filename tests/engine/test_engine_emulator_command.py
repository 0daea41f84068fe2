"""`amlgen emulator` runs in the foreground and writes .amlgen/emulator.json for `--target local` commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from engine_support import REPO, subprocess_cmd


def test_emulator_command_serves_local_target(template_project, tmp_path, capsys):
    import shutil

    from generator.cli import main

    root = tmp_path / "proj"
    shutil.copytree(template_project, root)
    env = {k: v for k, v in os.environ.items() if k != "AZUREML_CURRENT_CLOUD"}
    proc = subprocess.Popen(subprocess_cmd("emulator", "-C", str(root), "--job-duration", "0.2",
                                           "--latency", "deployment=0.05"),
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = root / ".amlgen/emulator.json"
    try:
        deadline = time.time() + 30
        while not state.exists() and time.time() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        data = json.loads(state.read_text())
        assert data["base_url"].startswith("https://127.0.0.1:") and os.path.isfile(data["ca_path"])
        capsys.readouterr()
        assert main(["apply", "--env", "dev", "--target", "local", "-C", str(root)]) == 0
        assert main(["plan", "--env", "dev", "--target", "local", "-C", str(root), "--detailed-exitcode"]) == 0
        # the workspaces in their infra/ regions and the promotion registry exist, as infra/bicep makes them
        capsys.readouterr()
        assert main(["promote", "--from", "dev", "--to", "prod", "--target", "local", "-C", str(root)]) == 0
        assert "shared" in capsys.readouterr().out
        assert main(["plan", "--env", "prod", "--target", "local", "-C", str(root)]) == 0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert not state.exists()  # removed on a clean stop
    assert (root / ".amlgen/emulator/state.json").exists()  # resources persist for the next start


def test_a_terminated_emulator_cleans_up_and_a_dead_one_is_named(template_project, tmp_path, capsys):
    """SIGTERM stops it as Ctrl-C does (its state file goes); a state file whose emulator died anyway (kill -9) is
    named as such by the next `--target local` command instead of a connection error."""
    import shutil

    from generator.cli import main

    root = tmp_path / "proj"
    shutil.copytree(template_project, root)
    state = root / ".amlgen/emulator.json"
    env = {k: v for k, v in os.environ.items() if k != "AZUREML_CURRENT_CLOUD"}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        proc = subprocess.Popen(subprocess_cmd("emulator", "-C", str(root)), cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 30
            while not state.exists() and time.time() < deadline:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.05)
            assert json.loads(state.read_text())["pid"] == proc.pid
        finally:
            proc.send_signal(sig)
            proc.wait(timeout=10)
        if sig == signal.SIGTERM:
            assert proc.returncode == 0 and not state.exists()
    assert state.exists()  # kill -9 left it
    capsys.readouterr()
    assert main(["plan", "--env", "dev", "--target", "local", "-C", str(root)]) == 1
    err = capsys.readouterr().err
    assert f"(pid {proc.pid}) is not running any more" in err and "Traceback" not in err


def test_an_emulator_for_a_project_whose_infra_is_broken_does_not_start(template_project, tmp_path, capsys):
    """`amlgen emulator` declares what infra/ describes, so a broken infra/ is its one-line error before it serves:
    no state file, nothing else written."""
    import shutil

    from generator.cli import main

    root = tmp_path / "proj"
    shutil.copytree(template_project, root)
    dev = root / "infra/environments/dev.yml"
    dev.write_text(dev.read_text() + "\ncompute:\n  max_instancez: 3\n")
    before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    capsys.readouterr()
    assert main(["emulator", "-C", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: infra/environments/dev.yml:") and "max_instancez" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == before
