"""Check the Tekton and Kyverno manifests for what their engines read (tests/it/pipelines.rs).

    python pipelines_manifests.py REPO [VSA_FILE REPOSITORY]

No Tekton or Kyverno runs here, so this checks what each engine would resolve: every
`$(params.X)`, `$(workspaces.X.path)`, `$(results.X.path)`, `$(steps.S.…)` and
`$(tasks.T.results.R)` names something declared; the Pipeline's matrix feeds a Task
param; the Task emits the IMAGE_URL / IMAGE_DIGEST results Tekton Chains reads; the
Kyverno rule verifies the VSA predicate type with the project key and its conditions
read fields `audit --vsa-out` writes. With VSA_FILE (a DSSE envelope from audit) the
conditions are evaluated on it as Kyverno documents them (Equals with wildcards, AnyIn),
with REPOSITORY in place of registry.k8s.io/pause, and must pass; three tamperings must
fail. Exits 1 naming the first problem.
"""

import base64
import fnmatch
import json
import re
import sys
from pathlib import Path

from ruamel.yaml import YAML

VSA = "https://slsa.dev/verification_summary/v1"
# What Tekton substitutes: dotted names; anything else in $(…) is shell.
SUBST = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*(\[\*\])?$")
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def fail(msg):
    print(f"pipelines_manifests: {msg}", file=sys.stderr)
    sys.exit(1)


def load(p):
    with open(p, encoding="utf-8") as f:
        return YAML(typ="safe").load(f)


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def check_task(task):
    if task.get("apiVersion") != "tekton.dev/v1" or task.get("kind") != "Task":
        fail("task: apiVersion tekton.dev/v1, kind Task expected")
    spec = task["spec"]
    params = {p["name"]: p for p in spec["params"]}
    workspaces = {w["name"] for w in spec["workspaces"]}
    results = {r["name"] for r in spec["results"]}
    for chains in ("IMAGE_URL", "IMAGE_DIGEST"):
        if chains not in results:
            fail(f"task: no {chains} result (Tekton Chains type hint)")
    steps = spec["steps"]
    names = [s["name"] for s in steps]
    if len(set(names)) != len(names) or not all(DNS1123.match(n) for n in names):
        fail(f"task: step names must be unique DNS-1123 labels: {names}")
    step_results = {s["name"]: {r["name"] for r in s.get("results", [])} for s in steps}
    written = set()
    for s in steps:
        if "script" in s and "command" in s:
            fail(f"task step {s['name']}: script and command together")
        if "script" not in s and "command" not in s:
            fail(f"task step {s['name']}: neither script nor command (the image has no shell default)")
        if s.get("onError", "stopAndFail") not in ("continue", "stopAndFail"):
            fail(f"task step {s['name']}: onError {s['onError']}")
    for text in strings(spec):
        for m in re.finditer(r"\$\(([^)]*)\)", text):
            ref = m.group(1)
            if not SUBST.match(ref):
                continue  # a shell command substitution inside a script
            parts = ref.split(".")
            if parts[0] == "params":
                name = parts[1].split("[")[0]
                if name not in params:
                    fail(f"task: $({ref}) names no param")
            elif parts[0] == "workspaces":
                if parts[1] not in workspaces or parts[2:] != ["path"]:
                    fail(f"task: $({ref}) names no workspace path")
            elif parts[0] == "results":
                if parts[1] not in results or parts[2:] != ["path"]:
                    fail(f"task: $({ref}) names no result path")
                written.add(parts[1])
            elif parts[0] == "step":
                if parts[1] != "results":
                    fail(f"task: $({ref})")
            elif parts[0] == "steps":
                step = parts[1]
                if parts[2] == "exitCode":
                    if not step.startswith("step-") or step[5:] not in names:
                        fail(f"task: $({ref}) names no step (exit codes are steps.step-NAME)")
                elif parts[2] == "results":
                    if parts[3] not in step_results.get(step, set()):
                        fail(f"task: $({ref}) names no step result")
                else:
                    fail(f"task: $({ref})")
            elif parts[0] == "context":
                if ref not in ("context.taskRun.name", "context.task.name"):
                    fail(f"task: $({ref})")
            else:
                fail(f"task: unknown substitution $({ref})")
    for r in results:
        if r not in written:
            fail(f"task: result {r} is never written")
    return params, workspaces, results


def check_pipeline(pipe, task_name, task_params, task_workspaces, task_results):
    if pipe.get("apiVersion") != "tekton.dev/v1" or pipe.get("kind") != "Pipeline":
        fail("pipeline: apiVersion tekton.dev/v1, kind Pipeline expected")
    spec = pipe["spec"]
    pparams = {p["name"] for p in spec["params"]}
    pws = {w["name"] for w in spec["workspaces"]}
    tasks = {t["name"]: t for t in spec["tasks"]}
    matrixed = False
    for t in spec["tasks"]:
        if t["taskRef"]["name"] != task_name:
            fail(f"pipeline task {t['name']}: taskRef {t['taskRef']['name']} is not {task_name}")
        given = {p["name"] for p in t.get("params", [])}
        mparams = {p["name"] for p in t.get("matrix", {}).get("params", [])}
        matrixed = matrixed or bool(mparams)
        for n in given | mparams:
            if n not in task_params:
                fail(f"pipeline task {t['name']}: param {n} is not the Task's")
        for n, p in task_params.items():
            if "default" not in p and n not in given | mparams:
                fail(f"pipeline task {t['name']}: required param {n} not given")
        for w in t.get("workspaces", []):
            if w["name"] not in task_workspaces or w["workspace"] not in pws:
                fail(f"pipeline task {t['name']}: workspace {w}")
        if {w["name"] for w in t.get("workspaces", [])} != task_workspaces:
            fail(f"pipeline task {t['name']}: every Task workspace must be bound")
    if not matrixed:
        fail("pipeline: no matrix fan-out")
    for text in strings(spec):
        for m in re.finditer(r"\$\(([^)]*)\)", text):
            ref = m.group(1)
            if not SUBST.match(ref):
                continue
            parts = ref.split(".")
            if parts[0] == "tasks":
                if parts[1] not in tasks or parts[2] != "results" or parts[3].split("[")[0] not in task_results:
                    fail(f"pipeline: $({ref}) names no task result")
            elif parts[0] == "params":
                if parts[1].split("[")[0] not in pparams | {"VERDICTS", "PLATFORMS"}:
                    fail(f"pipeline: $({ref}) names no param")


def vsa_predicate(path):
    env = json.loads(Path(path).read_text())
    statement = json.loads(base64.b64decode(env["payload"]))
    if statement["predicateType"] != VSA:
        fail("the VSA file is not a VSA")
    return statement["predicate"]


def lookup(pred, key):
    m = re.fullmatch(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}", key)
    if not m:
        return key
    v = pred
    for part in m.group(1).split("."):
        if not isinstance(v, dict) or part not in v:
            return None
        v = v[part]
    return v


def holds(cond, pred, repo):
    key = lookup(pred, cond["key"])
    value = lookup(pred, cond["value"])
    if isinstance(value, str) and repo:
        value = value.replace("docker://registry.k8s.io/pause", repo)
    op = cond["operator"]
    if op == "Equals":
        return isinstance(key, str) and fnmatch.fnmatchcase(key, value)
    if op == "AnyIn":
        return isinstance(value, list) and key in value
    fail(f"kyverno: operator {op} not evaluated here")


def check_kyverno(pol, repo_root, vsa_file, repo):
    if pol.get("apiVersion") != "kyverno.io/v1" or pol.get("kind") != "ClusterPolicy":
        fail("kyverno: apiVersion kyverno.io/v1, kind ClusterPolicy expected")
    pub = (repo_root / "attestations/cosign.pub").read_text().strip()
    conds = None
    for rule in pol["spec"]["rules"]:
        for vi in rule["verifyImages"]:
            if vi.get("failureAction") != "Enforce" or vi.get("required") is not True:
                fail("kyverno: the rule must enforce and require verification")
            if not vi.get("verifyDigest"):
                fail("kyverno: verifyDigest must be on (admit by digest only)")
            for att in vi["attestations"]:
                if att.get("type") != VSA:
                    fail(f"kyverno: attestation type {att.get('type')}")
                keys = [e["keys"]["publicKeys"].strip() for a in att["attestors"] for e in a["entries"]]
                if keys != [pub]:
                    fail("kyverno: the attestor key is not attestations/cosign.pub")
                conds = [c for block in att["conditions"] for c in block["all"]]
    if not conds:
        fail("kyverno: no VSA conditions")
    read = {re.sub(r"[{} ]", "", c["key"]) for c in conds} | {
        re.sub(r"[{} ]", "", c["value"]) for c in conds if "{{" in str(c["value"])
    }
    # What src/attest/statement.rs (vsa) writes in the predicate.
    for field in ("verificationResult", "verifier.id", "resourceUri", "verifiedLevels"):
        if field not in read:
            fail(f"kyverno: the conditions do not read {field}")
    if vsa_file:
        pred = vsa_predicate(vsa_file)
        if not all(holds(c, pred, repo) for c in conds):
            fail(f"kyverno: the conditions reject a PASSED VSA: {pred}")
        for tamper in (
            {"verificationResult": "FAILED"},
            {"verifier": {"id": "https://example.com/other"}},
            {"resourceUri": "docker://evil.example/pause@" + pred["resourceUri"].split("@")[1]},
            {"verifiedLevels": []},
        ):
            bad = dict(pred, **tamper)
            if all(holds(c, bad, repo) for c in conds):
                fail(f"kyverno: the conditions admit a tampered VSA: {tamper}")
        print("kyverno conditions: PASSED VSA admitted, 4 tampered ones refused")


def main():
    root = Path(sys.argv[1])
    vsa_file = sys.argv[2] if len(sys.argv) > 2 else None
    repo = sys.argv[3] if len(sys.argv) > 3 else None
    task = load(root / "deploy/tekton/task-pause-verify-audit.yaml")
    tp, tw, tr = check_task(task)
    check_pipeline(
        load(root / "deploy/tekton/pipeline-pause-verify-platforms.yaml"), task["metadata"]["name"], tp, tw, tr
    )
    check_kyverno(load(root / "deploy/kyverno/pause-verify-vsa.yaml"), root, vsa_file, repo)
    print("tekton task + pipeline, kyverno policy: ok")


if __name__ == "__main__":
    main()
