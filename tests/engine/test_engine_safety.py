"""Protected environments need --yes; no secret of the workspace ever appears in any output."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from engine_support import DEP, EP


def _protect(project):
    path = project / "infra/environments/dev.yml"
    text = path.read_text()
    assert "protected: false" in text
    path.write_text(text.replace("protected: false", "protected: true"))


def test_protected_env_refuses_without_yes(run, emu, ml, project):
    _protect(project)
    r = run("apply", "--env", "dev")  # no terminal under pytest
    assert r.code == 64
    assert "protected" in r.err and "--yes" in r.err
    assert emu.write_calls() == 0
    r = run("destroy", "--env", "dev")
    assert r.code == 64 and "protected" in r.err
    r = run("plan", "--env", "dev")  # plan is read-only: no confirmation
    assert r.code == 0
    r = run("apply", "--env", "dev", "--yes")
    assert r.code == 0, r.text
    assert ml.online_endpoints.get(EP).traffic == {DEP: 100}


def test_confirmation_through_the_api(emu, project):
    import pytest

    from generator import api
    from generator.errors import AmlgenError

    _protect(project)
    with pytest.raises(AmlgenError, match="not confirmed"):
        api.apply(project, "dev", target=api.target(project, "local"), ask=lambda question: False)
    assert emu.write_calls() == 0


def test_no_secret_in_any_output(run, emu, ml, project, tmp_path):
    outputs = []
    for args in (["plan", "--env", "dev"], ["apply", "--env", "dev"], ["invoke", "--env", "dev"]):
        outputs.append(run(*args).text)
    for fmt in ("text", "json", "markdown"):
        outputs.append(run("plan", "--env", "dev", "--format", fmt).text)
    keys = ml.online_endpoints.get_keys(EP)
    # this SDK's listSecrets gets a SAS, as from the service (recordings, fact 27); older ones got the account key
    sas = ml.datastores.get_default(include_secrets=True).credentials.sas_token
    secrets = [keys.primary_key, keys.secondary_key, parse_qs(sas.lstrip("?"))["sig"][0], emu._app.account_key]
    assert all(s and len(s) > 16 for s in secrets)
    emu.faults.add(r"/listKeys$", "POST", status=500)  # an error on the key path must not leak either
    outputs.append(run("invoke", "--env", "dev").text)
    emu.faults.clear()
    outputs.append(run("destroy", "--env", "dev", "--include-compute", "--yes").text)
    files = [p for p in project.rglob("*") if p.is_file() and p.suffix in (".json", ".yml", ".log", ".txt")]
    outputs.extend(p.read_text(errors="replace") for p in files)
    blob = "\n".join(outputs)
    for secret in secrets:
        assert secret not in blob
    assert "Bearer " not in blob
    state = json.loads((project / ".amlgen/emulator.json").read_text())
    assert set(state) == {"base_url", "ca_path", "pid"}
