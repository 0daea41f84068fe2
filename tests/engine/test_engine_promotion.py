"""Promotion dev -> prod through the registry and staged rollouts, end to end through the real SDK on the emulator.

Train in dev, promote, render, apply prod, invoke prod; change a fine-tuning parameter in dev, train and promote
again, and watch prod roll from the old deployment to the new one in steps; a new version whose smoke test fails
gets no traffic; `amlgen rollback` moves traffic back.
"""

from __future__ import annotations

import re

import pytest
import yaml
from engine_support import REPO, _endpoint_name, writes

PROD_EP = _endpoint_name("prod")
FAST_ROLLOUT = "\nrollout:\n  steps:\n    - {mirror: 20, wait: 1}\n    - {traffic: 10, wait: 1}\n    - {traffic: 100}\n"


def _append(path, text):
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _promoted(project) -> dict:
    return yaml.safe_load((project / "infra/environments/prod.yml").read_text())["promoted"]


def _prod_deployment(project) -> str:
    return yaml.safe_load((project / "specs/prod/deployment.yml").read_text())["name"]


def _train_and_promote(run, project) -> dict:
    r = run("apply", "--env", "dev")
    assert r.code == 0, r.text
    r = run("promote", "--from", "dev", "--to", "prod")
    assert r.code == 0, r.text
    return _promoted(project)


@pytest.fixture
def staged(project, run):
    """The test project with prod's rollout waits shortened to a second (dev keeps its own, a few seconds)."""
    _append(project / "infra/environments/prod.yml", FAST_ROLLOUT)
    dev = project / "infra/environments/dev.yml"
    dev.write_text(dev.read_text().replace("wait: 5}", "wait: 0}"))  # dev's own rollouts: no need to wait here
    assert run("render", "--env", "prod", target=None).code == 0
    return project


@pytest.fixture
def prod_ml(emu, ml):
    """An MLClient on prod's workspace of the emulator (for assertions only; `ml` prepares the process)."""
    from azure.ai.ml import MLClient

    from generator.config import load_environment
    from generator.emulator.local import EmulatorCredential, local_cloud_kwargs

    w = load_environment(REPO, "prod").config.workspace
    return MLClient(EmulatorCredential(), w.subscription_id, w.resource_group, w.name,
                    **local_cloud_kwargs(emu.base_url), retry_backoff_factor=0.01)


def test_train_promote_deploy_then_roll_prod_to_a_new_version_in_steps(run, emu, ml, prod_ml, staged):
    project = staged
    # nothing promoted yet: prod renders its endpoint only
    assert sorted(p.name for p in (project / "specs/prod").iterdir()) == ["endpoint.yml"]

    first = _train_and_promote(run, project)
    dev_model = yaml.safe_load((project / "specs/dev/model.yml").read_text())
    assert first["registry"] == "amlgen-models" and first["source_env"] == "dev"
    assert (first["name"], first["version"]) == (dev_model["name"], str(dev_model["version"]))
    dep = yaml.safe_load((project / "specs/prod/deployment.yml").read_text())
    assert dep["model"] == f"azureml://registries/amlgen-models/models/{first['name']}/versions/{first['version']}"
    assert not (project / "specs/prod/compute.yml").exists()  # prod does not train

    r = run("apply", "--env", "prod", "--yes")
    assert r.code == 0, r.text
    v1 = _prod_deployment(project)
    assert prod_ml.online_endpoints.get(PROD_EP) is not None
    r = run("invoke", "--env", "prod")
    assert r.code == 0 and f"[{v1}:" in r.out, r.text

    # a new fine-tuning run in dev (a parameter changed), promoted again
    _append(project / "infra/environments/dev.yml", "\nfinetune:\n  lora_r: 16\n")
    assert run("render", "--env", "dev", target=None).code == 0
    second = _train_and_promote(run, project)
    assert second["version"] != first["version"]
    v2 = _prod_deployment(project)
    assert v2 != v1

    plan = run("plan", "--env", "prod")
    assert f"staged rollout from {v1}: smoke test {v2} -> mirror 20% (wait 1s) -> 10% to {v2} (wait 1s) -> 100% to " \
           f"{v2}; keep 1 previous" in plan.out, plan.out

    r = run("apply", "--env", "prod", "--yes")
    assert r.code == 0, r.text
    steps = [line for line in r.out.splitlines() if "step " in line]
    assert [re.sub(r"^.*?step", "step", s) for s in steps] == [
        f"step 1: mirror 20% to {v2}", f"step 2: {v1}=90%, {v2}=10%", f"step 3: {v2}=100%"], r.out
    endpoint = prod_ml.online_endpoints.get(PROD_EP)
    assert {k: v for k, v in endpoint.traffic.items() if v} == {v2: 100}
    assert not any((endpoint.mirror_traffic or {}).values())
    assert {d.name for d in prod_ml.online_deployments.list(endpoint_name=PROD_EP)} == {v1, v2}  # keep: 1 previous

    # rollback: traffic back to the previous deployment
    r = run("rollback", "--env", "prod", "--yes")
    assert r.code == 0, r.text
    assert {k: v for k, v in prod_ml.online_endpoints.get(PROD_EP).traffic.items() if v} == {v1: 100}
    plan = run("plan", "--env", "prod", "--detailed-exitcode")
    assert plan.code == 2 and "traffic move" in plan.out  # the specs still say v2: the drift shows


def test_a_version_failing_its_smoke_test_gets_no_traffic(run, emu, ml, prod_ml, staged):
    project = staged
    _train_and_promote(run, project)
    assert run("apply", "--env", "prod", "--yes").code == 0
    v1 = _prod_deployment(project)
    _append(project / "infra/environments/dev.yml", "\nfinetune:\n  lora_r: 32\n")
    assert run("render", "--env", "dev", target=None).code == 0
    _train_and_promote(run, project)
    v2 = _prod_deployment(project)
    emu.faults.add(rf"/deployments/{v2}/score", "POST", action="fail")  # the new version answers 500
    r = run("apply", "--env", "prod", "--yes")
    assert r.code == 1
    assert f"rollout to {v2} stopped: the smoke test of {v2} failed" in r.err and "left for inspection" in r.err
    assert {k: v for k, v in prod_ml.online_endpoints.get(PROD_EP).traffic.items() if v} == {v1: 100}
    assert prod_ml.online_deployments.get(v2, endpoint_name=PROD_EP) is not None  # kept for inspection


def test_a_step_check_failing_moves_traffic_back(run, emu, ml, prod_ml, staged):
    project = staged
    _train_and_promote(run, project)
    assert run("apply", "--env", "prod", "--yes").code == 0
    v1 = _prod_deployment(project)
    _append(project / "infra/environments/dev.yml", "\nfinetune:\n  lora_r: 8\n  lora_alpha: 64\n")
    assert run("render", "--env", "dev", target=None).code == 0
    _train_and_promote(run, project)
    v2 = _prod_deployment(project)
    # the smoke test passes, the check after the first step does not (the new version starts to fail)
    emu.faults.add(rf"/deployments/{v2}/score", "POST", action="body", body={"oops": 1}, after=1)
    r = run("apply", "--env", "prod", "--yes")
    assert r.code == 1, r.text
    assert re.search(rf"rollout to {v2} failed at step 1: the smoke test of {v2} answered without 'output'", r.err)
    assert {k: v for k, v in prod_ml.online_endpoints.get(PROD_EP).traffic.items() if v} == {v1: 100}
    assert not any((prod_ml.online_endpoints.get(PROD_EP).mirror_traffic or {}).values())


def test_promotion_gates_and_bad_input(run, emu, ml, project):
    r = run("promote", "--from", "dev", "--to", "prod")
    assert r.code == 1 and "never ran" in r.err and "apply the source environment first" in r.err
    r = run("promote", "--from", "prod", "--to", "dev")
    assert r.code == 1 and "'prod' does not train" in r.err
    assert run("apply", "--env", "dev").code == 0
    # a gate on a metric the run reports, and one on a metric it does not have
    prod = project / "infra/environments/prod.yml"
    prod.write_text(prod.read_text().replace("    - {smoke: true}", "    - {metric: eval_loss, max: 100}\n"
                                                                     "    - {metric: bleu, min: 0.5}"))
    before = (project / "infra/environments/prod.yml").read_text()
    r = run("promote", "--from", "dev", "--to", "prod")
    assert r.code == 1, r.text
    assert re.search(r"eval_loss\s+<= 100\s+\S+\s+ok", r.out) and re.search(r"bleu\s+>= 0.5\s+not reported", r.out)
    assert "1 gate(s) failed (bleu not reported by the run" in r.err
    assert (project / "infra/environments/prod.yml").read_text() == before  # nothing written
    assert not writes(emu, "POST", "/import")  # nothing shared


def test_promotion_is_idempotent_and_a_dry_run_changes_nothing(run, emu, ml, project):
    assert run("apply", "--env", "dev").code == 0
    before = (project / "infra/environments/prod.yml").read_text()
    r = run("promote", "--from", "dev", "--to", "prod", "--dry-run")
    assert r.code == 0 and "would share it into registry amlgen-models" in r.out, r.text
    assert (project / "infra/environments/prod.yml").read_text() == before and not writes(emu, "POST", "/import")
    assert run("promote", "--from", "dev", "--to", "prod").code == 0
    first = (project / "infra/environments/prod.yml").read_text()
    r = run("promote", "--from", "dev", "--to", "prod", "--dry-run")
    assert r.code == 0 and "would find it already in registry amlgen-models" in r.out, r.text
    r = run("promote", "--from", "dev", "--to", "prod")  # again: already in the registry, same record
    assert r.code == 0 and "already there" in r.out
    assert len(writes(emu, "POST", "/import")) == 1
    assert (project / "infra/environments/prod.yml").read_text() == first


def test_a_share_failing_mid_way_converges_on_a_rerun(run, emu, ml, project):
    assert run("apply", "--env", "dev").code == 0
    emu.faults.add(r"/registries/amlgen-models/import$", "POST", action="fail", count=1)
    before = (project / "infra/environments/prod.yml").read_text()
    r = run("promote", "--from", "dev", "--to", "prod")
    assert r.code == 1 and "share into registry amlgen-models" in r.err
    assert (project / "infra/environments/prod.yml").read_text() == before
    assert run("promote", "--from", "dev", "--to", "prod").code == 0
    assert _promoted(project)["registry"] == "amlgen-models"


def test_a_registry_the_target_region_cannot_use_is_refused_offline(run, emu, project):
    text = (REPO / "infra/defaults.yml").read_text()
    (project / "infra/defaults.yml").write_text(text.replace("locations: [eastus2, swedencentral]", "locations: [eastus2]"))
    r = run("promote", "--from", "dev", "--to", "prod")
    assert r.code == 1 and "registry 'amlgen-models' is not replicated to swedencentral" in r.err
    assert emu.write_calls() == 0


def _two_versions(run, project):
    """prod serving v1, v2 promoted and deployed next to it but without traffic yet; (v1, v2)."""
    _train_and_promote(run, project)
    assert run("apply", "--env", "prod", "--yes").code == 0
    v1 = _prod_deployment(project)
    _append(project / "infra/environments/dev.yml", "\nfinetune:\n  lora_r: 24\n")
    assert run("render", "--env", "dev", target=None).code == 0
    _train_and_promote(run, project)
    return v1, _prod_deployment(project)


def _route(prod_ml, traffic, mirror=None):
    endpoint = prod_ml.online_endpoints.get(PROD_EP)
    endpoint.traffic, endpoint.mirror_traffic = traffic, mirror or {}
    prod_ml.online_endpoints.begin_create_or_update(endpoint).result()


def test_an_interrupted_rollout_continues_from_the_live_traffic(run, emu, prod_ml, staged):
    v1, v2 = _two_versions(run, staged)
    # the previous apply was interrupted after step 2: v2 deployed and taking 10 %
    from azure.ai.ml import load_online_deployment

    prod_ml.online_deployments.begin_create_or_update(
        load_online_deployment(str(staged / "specs/prod/deployment.yml"))).result()
    _route(prod_ml, {v1: 90, v2: 10})
    r = run("apply", "--env", "prod", "--yes")
    assert r.code == 0, r.text
    assert f"continuing the rollout to {v2} at step 3" in r.out and "step 1:" not in r.out
    assert {k: v for k, v in prod_ml.online_endpoints.get(PROD_EP).traffic.items() if v} == {v2: 100}


def test_a_resumed_rollout_never_routes_to_an_unhealthy_deployment(run, emu, prod_ml, staged):
    v1, v2 = _two_versions(run, staged)
    from azure.ai.ml import load_online_deployment

    prod_ml.online_deployments.begin_create_or_update(
        load_online_deployment(str(staged / "specs/prod/deployment.yml"))).result()
    _route(prod_ml, {v1: 90, v2: 10})
    emu.faults.add(rf"/deployments/{v2}/score", "POST", action="fail")  # v2 broke meanwhile
    r = run("apply", "--env", "prod", "--yes")
    assert r.code == 1 and f"rollout to {v2} stopped" in r.err, r.text
    assert {k: v for k, v in prod_ml.online_endpoints.get(PROD_EP).traffic.items() if v} == {v1: 100}


def test_two_promotions_do_not_race(run, emu, project):
    import subprocess
    import sys

    assert run("apply", "--env", "dev").code == 0
    holder = subprocess.Popen([sys.executable, "-c",
                               "import time; from pathlib import Path; from generator.locks import hold\n"
                               f"with hold(Path({str(project)!r}), 'promote', 'promotion'):\n"
                               "    print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = (project / "infra/environments/prod.yml").read_text()
        r = run("promote", "--from", "dev", "--to", "prod")
        assert r.code == 1 and "another promotion is running (pid" in r.err, r.text
        assert (project / "infra/environments/prod.yml").read_text() == before
    finally:
        holder.kill()
        holder.wait()


def test_a_dry_run_reads_the_registry_the_real_run_would_use(run, emu, ml, project):
    """A dry run that says "would share" must not hide a registry that does not exist (the real run's error)."""
    assert run("apply", "--env", "dev").code == 0
    defaults = project / "infra/defaults.yml"  # where the promotion registry is named
    text = defaults.read_text()
    assert "name: amlgen-models" in text
    defaults.write_text(text.replace("name: amlgen-models", "name: amlgen-nosuchregistry"))
    r = run("promote", "--from", "dev", "--to", "prod", "--dry-run")
    assert r.code == 1, r.text
    assert "registry 'amlgen-nosuchregistry'" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1
