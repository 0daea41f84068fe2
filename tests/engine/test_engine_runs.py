"""``amlgen logs`` / ``amlgen metrics`` and the steps listing, on the env's pipeline job in the emulator."""

from __future__ import annotations

import json
import threading

from engine_support import job_name

STEPS = ["ft_nlp_common_validation", "chat_completion_model_import", "chat_completion_datapreprocess",
         "chat_completion_finetune", "ft_nlp_model_converter"]


def _submit(ml, project):
    """Submit the env's pipeline job as apply does, without waiting (its compute first)."""
    from azure.ai.ml import load_compute, load_job

    ml.compute.begin_create_or_update(load_compute(project / "specs/dev/compute.yml")).result()
    return ml.jobs.create_or_update(load_job(project / "specs/dev/pipeline-job.yml"))


def _wait(ml, name):
    import time

    while ml.jobs.get(name).status not in ("Completed", "Failed", "Canceled"):
        time.sleep(0.05)


def test_logs_and_metrics_before_the_job_is_submitted(run, project):
    name = job_name(project)
    for args in (("logs", "--env", "dev"), ("metrics", "--env", "dev")):
        r = run(*args)
        assert r.code == 1 and r.err.count("\n") == 1 and "Traceback" not in r.err
        assert f"job '{name}': it has not been submitted" in r.err and "amlgen apply" in r.err


def test_logs_of_the_job_and_of_a_step(run, emu, ml, project):
    job = _submit(ml, project)
    _wait(ml, job.name)
    r = run("logs", "--env", "dev")
    assert r.code == 0, r.err
    assert "Submitting 1 runs" in r.out and f"Execution of experiment run {job.name} finished with status Completed" in r.out
    r = run("logs", "--env", "dev", "--step", "finetune")
    assert r.code == 0, r.err
    assert "Starting chat_completion_finetune on gpu-a100-1x" in r.out and "'eval_loss':" in r.out
    r = run("logs", "--env", "dev", "--step", "model")  # model_import and model_converter
    assert r.code == 1 and "matches more than one step" in r.err and "chat_completion_model_import" in r.err
    r = run("logs", "--env", "dev", "--step", "evaluation")
    assert r.code == 1 and "is not a step of the job" in r.err


def test_logs_of_a_step_that_has_not_started(run, emu, ml, project):
    emu.job_duration = 6.0  # the fine-tuning step starts 3.6 s after the submission
    _submit(ml, project)
    r = run("logs", "--env", "dev", "--step", "finetune")
    assert r.code == 0 and r.out == "" and r.err == "no log lines yet (the step is NotStarted)\n"


def test_logs_follow_until_the_step_ends(run, emu, ml, project):
    emu.job_duration = 1.5
    job = _submit(ml, project)
    r = run("logs", "--env", "dev", "--step", "chat_completion_finetune", "--follow")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].endswith("Starting chat_completion_finetune on gpu-a100-1x")
    assert lines[-1].endswith("chat_completion_finetune completed")
    assert len(lines) == len(set(lines))  # every line printed once
    assert ml.jobs.get(job.name).status in ("Running", "Completed")


def test_metrics_text_json_and_markdown(run, emu, ml, project):
    job = _submit(ml, project)
    _wait(ml, job.name)
    r = run("metrics", "--env", "dev")
    assert r.code == 0, r.err
    assert r.out.startswith(f"Job {job.name} (Completed)") and "chat_completion_finetune (finished)" in r.out
    assert "train_loss" in r.out and "eval_loss" in r.out
    r = run("metrics", "--env", "dev", "--format", "json")
    data = json.loads(r.out)
    (ft,) = [x for x in data["runs"] if x["step"] == "chat_completion_finetune"]
    import yaml

    epochs = yaml.safe_load((project / "specs/dev/pipeline-job.yml").read_text())["inputs"]["num_train_epochs"]
    assert [p["value"] for p in ft["history"]["epoch"]][-1] == epochs
    assert len(ft["history"]["eval_loss"]) == epochs and ft["history"]["eval_loss"][-1]["value"] == ft["metrics"]["eval_loss"]
    assert ft["history"]["learning_rate"][0]["value"] > ft["history"]["learning_rate"][-1]["value"]
    r = run("metrics", "--env", "dev", "--format", "markdown")
    assert "| chat_completion_finetune | eval_loss |" in r.out
    r = run("metrics", "--env", "dev", "--format", "yaml")
    assert r.code == 64


def test_metric_override_drives_a_gate(run, emu, ml, project):
    from generator.api import session, target
    from generator.engine.runs import latest_metrics, list_steps

    name = job_name(project)
    emu.set_metrics(name, {"eval_loss": 0.25, "bleu": 31.5})
    job = _submit(ml, project)
    _wait(ml, job.name)
    with session(project, "dev", target=target(project, "local")) as s:
        steps = list_steps(s.ws, name)
        metrics = latest_metrics(s.ws, name)
    assert [st.name for st in steps] == STEPS and {st.status for st in steps} == {"Completed"}
    assert {st.node for st in steps} == {"chat_completion_pipeline"}
    assert metrics["eval_loss"] == 0.25 and metrics["bleu"] == 31.5 and metrics["train_loss"] > 0


def test_steps_while_the_job_runs(run, emu, ml, project):
    from generator.api import session, target
    from generator.engine.runs import list_steps

    emu.job_duration = 1.5
    job = _submit(ml, project)
    seen = []
    done = threading.Event()
    with session(project, "dev", target=target(project, "local")) as s:
        while not done.is_set():
            statuses = [st.status for st in list_steps(s.ws, job.name)]
            seen.append(statuses)
            done.set() if set(statuses) == {"Completed"} else None
    assert seen[0][-1] == "NotStarted" and any("Running" in x for x in seen)
