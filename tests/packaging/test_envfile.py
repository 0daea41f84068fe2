"""New environment files modelled on the repository's: a deploying environment's source is the project's training
environment, and a `promoted:` block in the model (the repository's own promotion) never reaches a new project."""

from __future__ import annotations

import pytest
from scaffold_support import REPO

RECORD = {"registry": "amlgen-models", "name": "phi3-chat-ft", "version": "3", "source_env": "dev",
          "source_job": "amlgen-dev-ft-0a1b2c", "metrics": {"train_loss": 0.41}, "date": "2025-05-01"}


def promoted_model(where: str) -> str:
    """The repository's prod file with a promotion recorded as `amlgen promote` writes it (at the end), or moved
    by hand into the middle of the file."""
    from generator.flows.promote import promoted_block

    text, block = (REPO / "infra/environments/prod.yml").read_text(), promoted_block(RECORD)
    if where == "end":
        return text + "\n" + block
    head, sep, tail = text.partition("\ntags:")
    assert sep, "the prod model has no tags: section"
    return head + "\n" + block + sep + tail


def new_env(model_text: str, env: str = "live") -> str:
    from generator.scaffold import envfile

    return envfile.environment_text(model_text, "infra/environments/prod.yml", model="prod", env=env,
                                    values=dict.fromkeys(envfile.WORKSPACE_KEYS), renames={"dev": "stage", "prod": env},
                                    source="stage")


@pytest.mark.parametrize("where", ["end", "middle"])
def test_a_promotion_in_the_model_never_reaches_a_new_project(where):
    from generator.scaffold.envfile import drop_promoted
    from generator.yamlutil import safe_load

    text = promoted_model(where)
    assert "promoted" in safe_load(text, "prod.yml")
    made = new_env(text)
    assert "promoted" not in safe_load(made, "live.yml") and "phi3-chat-ft" not in made
    assert made == new_env((REPO / "infra/environments/prod.yml").read_text())  # nothing else changed
    assert drop_promoted(text, "prod.yml") == (REPO / "infra/environments/prod.yml").read_text()


def test_promoted_tail_is_only_the_block_promote_appends():
    from generator.scaffold.envfile import promoted_tail

    plain = (REPO / "infra/environments/prod.yml").read_text()
    assert promoted_tail(promoted_model("end"), "p.yml") == (plain, promoted_model("end")[len(plain):])
    assert promoted_tail(promoted_model("middle"), "p.yml") == (promoted_model("middle"), "")  # moved: the team's edit
    assert promoted_tail(plain, "p.yml") == (plain, "")


def test_every_deploying_environment_names_the_training_one():
    from generator.scaffold import Answers, build
    from generator.yamlutil import safe_load

    def sources(answers: Answers) -> dict[str, str | None]:
        files = build(answers, "proj")
        return {e: (safe_load(files[f"infra/environments/{e}.yml"], e).get("promotion") or {}).get("source")
                for e in answers.envs}

    assert sources(Answers(envs=["train", "uat", "live"])) == {"train": None, "uat": "train", "live": "train"}
    # environments recorded with their models (init --diff): the training one need not come first
    assert sources(Answers(envs=["live", "lab"], models={"live": "prod", "lab": "dev"})) == {"live": "lab", "lab": None}
    assert new_env(promoted_model("end")).count("  source: stage ") == 1
