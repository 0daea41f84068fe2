"""What the dataset step hands to render, as plain data (``generator.render.DataInfo``).

Render imports nothing from the dataset step: the facade (``generator.api``) calls ``data_info`` and passes the
result in. In ``local`` mode the pipeline job names the prepared ``<split>.jsonl`` files (the SDK uploads them);
in ``asset`` mode it references data assets versioned by content from the manifest. In both modes the job
carries the data's identity (``identity``), so preparing different data renames the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..render import DATA_ROLES, DataInfo


def data_info(env: Any, root: Path, manifest: dict[str, Any] | None) -> DataInfo:
    """The data inputs of ``env``'s pipeline job, the data-asset specs (asset mode) and the data's identity."""
    from .assets import data_assets
    from .manifest import data_identity

    data = env.config.data
    inputs: dict[str, dict[str, Any]] = {}
    assets: list[dict[str, Any]] = []
    if data.assets.mode == "asset":
        if manifest is None:
            raise ConfigError(
                f"data.assets.mode is 'asset' but {data.resolved_output_dir}/manifest.json does not exist: "
                f"run `amlgen data prepare --env {env.name}` and commit the manifest",
                where=env.where("data", "assets", "mode"),
            )
        for asset in data_assets(env, manifest):
            if asset.version is None:
                raise ConfigError(
                    f"split '{asset.split}' is not in {data.resolved_output_dir}/manifest.json; "
                    f"re-run `amlgen data prepare --env {env.name}`",
                    where=env.where("data", f"{asset.role}_split"),
                )
            inputs[DATA_ROLES[asset.role]] = {"path": f"azureml:{asset.name}:{asset.version}"}
            tags: dict[str, Any] = {**env.config.tags, "split": asset.split}
            if asset.rows is not None:
                tags["rows"] = asset.rows
            assets.append({
                "role": asset.role, "name": asset.name, "version": asset.version, "path": f"../../{asset.path}",
                "description": asset.description, "tags": tags,
            })
    else:
        for asset in data_assets(env, manifest):
            inputs[DATA_ROLES[asset.role]] = {"path": f"../../{asset.path}"}
    return DataInfo(inputs=inputs, assets=assets, identity=data_identity(manifest) if manifest else None)


def check_job_data(root: Path, env: Any, resources: list, ws: Any) -> None:
    """Before a job uploads data: the prepared files match their manifest, and the job was rendered for them."""
    job = next((r for r in resources if r.kind.run_once), None)
    if job is None or not env.trains:
        return
    from ..errors import SpecError
    from ..kinds import Ref

    if ws.get(Ref("job", job.name)) is not None:
        return  # it ran (or runs) already: nothing is uploaded again
    from .assets import load_manifest, output_dir
    from .manifest import check_prepared, data_identity

    data = env.config.data
    manifest = load_manifest(env, root)
    if manifest is None:
        raise SpecError(f"the data of job {job.name} is not prepared ({data.resolved_output_dir}/manifest.json is "
                        f"missing): run `amlgen data prepare --env {env.name}`, then `amlgen render --env {env.name}`")
    splits = [x for x in (data.train_split, data.validation_split, data.test_split) if x]
    check_prepared(output_dir(env, root), manifest, splits, env=env.name)
    identity = data_identity(manifest)
    rendered = (job.data.get("tags") or {}).get("data")
    if rendered != identity:
        raise SpecError(f"{job.shown_path} was rendered for {'data ' + str(rendered) if rendered else 'unprepared data'}, "
                        f"but the prepared data is {identity}: run `amlgen render --env {env.name}` (a new job name) "
                        "and commit it")
