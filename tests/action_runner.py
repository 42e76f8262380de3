"""Run a composite GitHub Action's `run` steps locally, as the runner would.

    python action_runner.py ACTION_DIR INPUTS_JSON OUT_JSON

Reads ACTION_DIR/action.yml, fills each input (given, else its default), evaluates the
`${{ inputs.X }}` / `${{ steps.ID.outputs.X }}` expressions of each step's `env`, runs its
`run` script with `bash -e` (GITHUB_ACTION_PATH, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY
set as on a runner), collects its outputs, and stops at the first failing step. Steps
that `uses:` another action are not run (they are caches: the runner records them as
skipped). Any other expression, or a `run` step with an `if:`, is an error: what runs here
must be exactly what runs on GitHub. Writes {"exit", "steps", "skipped", "outputs",
"summary"} to OUT_JSON and exits 0 (the step's exit code is in the JSON).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from ruamel.yaml import YAML

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def evaluate(text, inputs, steps):
    def one(m):
        e = m.group(1)
        parts = e.split(".")
        if len(parts) == 2 and parts[0] == "inputs":
            if parts[1] not in inputs:
                raise SystemExit(f"unknown input in expression: {e}")
            return inputs[parts[1]]
        if len(parts) == 4 and parts[0] == "steps" and parts[2] == "outputs":
            return steps.get(parts[1], {}).get(parts[3], "")
        raise SystemExit(f"expression not supported by the local runner: {e}")

    return EXPR.sub(one, str(text))


def parse_outputs(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if "<<" in line.split("=", 1)[0]:
                raise SystemExit("multi-line outputs are not supported by the local runner")
            if "=" in line:
                k, v = line.split("=", 1)
                out[k] = v
    return out


def main():
    action_dir, inputs_json, out_json = sys.argv[1:4]
    with open(os.path.join(action_dir, "action.yml"), encoding="utf-8") as f:
        action = YAML(typ="safe").load(f)
    given = json.loads(inputs_json)
    declared = action.get("inputs", {})
    for k in given:
        if k not in declared:
            raise SystemExit(f"no such input: {k}")
    inputs = {}
    for k, spec in declared.items():
        if k in given:
            inputs[k] = str(given[k])
        elif spec.get("required"):
            raise SystemExit(f"required input missing: {k}")
        else:
            inputs[k] = str(spec.get("default", ""))
    assert action["runs"]["using"] == "composite"
    work = tempfile.mkdtemp(prefix="action-runner-")
    try:
        summary = os.path.join(work, "summary.md")
        open(summary, "w").close()
        steps, ran, skipped, code = {}, [], [], 0
        for i, step in enumerate(action["runs"]["steps"]):
            sid = step.get("id", f"step{i}")
            if "uses" in step:
                skipped.append(step["uses"])
                continue
            if "if" in step:
                raise SystemExit(f"step {sid}: a run step with `if:` would diverge from GitHub")
            if step.get("shell") != "bash":
                raise SystemExit(f"step {sid}: only shell: bash is run here")
            env = dict(os.environ)
            for k, v in (step.get("env") or {}).items():
                env[k] = evaluate(v, inputs, steps)
            out = os.path.join(work, f"{sid}.out")
            open(out, "w").close()
            env.update(GITHUB_ACTION_PATH=action_dir, GITHUB_OUTPUT=out, GITHUB_STEP_SUMMARY=summary)
            script = evaluate(step["run"], inputs, steps)
            # GitHub runs `bash --noprofile --norc -eo pipefail {0}` for shell: bash.
            p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], env=env)
            steps[sid] = parse_outputs(out)
            ran.append(sid)
            if p.returncode != 0:
                code = p.returncode
                break
        outputs = {
            k: evaluate(v["value"], inputs, steps) for k, v in (action.get("outputs") or {}).items()
        }
        with open(summary, encoding="utf-8") as f:
            summary_text = f.read()
    finally:
        # The runner's scratch (step outputs, the summary file) is read above; leave no litter.
        shutil.rmtree(work, ignore_errors=True)
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(
            {"exit": code, "steps": ran, "skipped": skipped, "outputs": outputs, "summary": summary_text},
            f,
            indent=1,
        )


if __name__ == "__main__":
    main()
