"""Checkpoints on hosts that share no filesystem: host manifests, and the step a resume agrees on.

Every host keeps its own workers' files of a checkpoint and, written after them, a host
manifest `DIR/step_<n>/host-<label>.json` (step, spec hash, model, the sha256 of each of its
workers' files). A worker holds a step when its host's manifest (or the global `manifest.json`)
lists its file and the file is there. A resume gathers what every worker holds and takes the
newest step that all hold; when no step is held by all but some worker holds one, it stops with
an error naming the hosts that lack the newest. On a shared filesystem every host writes into
the same folders and this is the same rule.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch.distributed as dist

from .files import sha256
from .plan import Plan, PlanError

Found = tuple[Path, dict[str, Any]]  # a step folder and the manifest that lists this worker


def host_manifest(d: Path, host: str) -> Path:
    return d / f"host-{re.sub(r'[^A-Za-z0-9_.-]', '_', host) or '_'}.json"


def write_host_manifest(d: Path, step: int, plan: Plan, model: Mapping[str, Any], host: str,
                        digests: Mapping[str, str]) -> None:
    """`host`'s manifest of its workers' files in `d`, written last and atomically."""
    man = {"step": step, "spec_hash": plan.spec_hash, "model": dict(model), "host": host,
           "files": dict(sorted(digests.items()))}
    path = host_manifest(d, host)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(man, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _manifest(path: Path, plan: Plan) -> dict[str, Any] | None:
    try:
        man = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(man, dict) or man.get("spec_hash") != plan.spec_hash:
        return None
    return man if isinstance(man.get("files"), dict) and isinstance(man.get("step"), int) else None


def held(plan: Plan, root: Path, me: str, host: str, verify: bool = False) -> dict[int, Found]:
    """step -> (folder, manifest) of every checkpoint under `root` that holds `me`'s file
    (with `verify`, only where the file's sha256 is the manifest's: a damaged newest
    checkpoint is then not held, and `choose` falls back to the newest verified one)."""
    out: dict[int, Found] = {}
    for d in sorted(root.glob("step_*")):
        for path in (host_manifest(d, host), d / "manifest.json"):
            man = _manifest(path, plan)
            own = d / f"{me}.pt"
            if man is not None and f"{me}.pt" in man["files"] and own.exists():
                if verify and sha256(own) != man["files"][f"{me}.pt"]:
                    print(f"pgc: worker {me}: checkpoint {d} fails its sha256 check; falling "
                          "back to an older one", file=sys.stderr)
                    break
                out[man["step"]] = (d, man)
                break
    return out


def agree(plan: Plan, root: Path, me: str, host: str) -> Found | None:
    """The checkpoint this worker resumes from (a collective: every worker calls it), as
    `choose` decides from what every worker holds."""
    mine = held(plan, root, me, host, verify=True)
    present = [d.name for d in sorted(root.glob("step_*"))]
    everyone: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, Holding(me, host, tuple(sorted(mine)), tuple(present)))
    step = choose(everyone, root)
    if step is None:
        return None
    for name in present:
        if name > mine[step][0].name:
            print(f"pgc: skipping incomplete checkpoint {root / name} (resuming from step "
                  f"{step}, the newest complete on every host)", file=sys.stderr)
    return mine[step]


class Holding(NamedTuple):
    """What one worker holds under its checkpoint folder."""

    worker: str
    host: str
    steps: tuple[int, ...]  # complete for this worker
    present: tuple[str, ...]  # every step_* folder, complete or not


def choose(everyone: list[Holding], root: Path) -> int | None:
    """The newest step every worker holds. None when no host has a checkpoint folder (a first
    run); a PlanError naming the hosts that lack the newest step when no step is held by all,
    or when the folders hold only incomplete checkpoints (starting over would later rotate
    them away)."""
    common = set.intersection(*(set(h.steps) for h in everyone))
    newest = max((s for h in everyone for s in h.steps), default=None)
    if newest is None:
        seen = sorted({(d, h.host) for h in everyone for d in h.present})
        if seen:
            raise PlanError(f"--resume: none of the checkpoints under {root} is complete for "
                            f"this plan (newest: {seen[-1][0]} on host {seen[-1][1]}); refusing "
                            "to start from step 0 and rotate them away: move them aside, or "
                            "run without --resume")
        return None
    if not common:
        lacking = sorted({h.host for h in everyone if newest not in h.steps})
        who = sorted(h.worker for h in everyone if newest not in h.steps)
        raise PlanError(f"--resume: the newest checkpoint, step {newest}, is missing or "
                        f"incomplete on host(s) {', '.join(lacking)} (workers "
                        f"{', '.join(who)}), and no older step is complete on every host; "
                        "copy it there or give each host's --ckpt-dir")
    return max(common)


def prune(plan: Plan, root: Path, me: str, host: str, keep: int) -> None:
    """Keep the newest `keep` checkpoints this host holds (0: keep all); `me`: a worker of it."""
    found = held(plan, root, me, host)
    for s in sorted(found)[:-keep] if keep > 0 else []:
        shutil.rmtree(found[s][0], ignore_errors=True)
