"""The GitHub Action (action.yml): its keys against GitHub's documented composite-action syntax, and its
`run:` steps executed by a small runner as GitHub executes them.

The runner substitutes `${{ inputs.X }}` and `${{ github.action_path }}` (any other expression fails the
test), runs each `run:` step with GitHub's bash command line (`bash --noprofile --norc -eo pipefail`) in
the workspace with GITHUB_STEP_SUMMARY and GITHUB_OUTPUT files, and stops at the first failing step.
`uses:` steps are skipped: a fresh virtualenv first on PATH stands in for actions/setup-python, so the
install step installs gallery (from a snapshot of this checkout, as GitHub fetches the action) and its
dependencies from the package index into it, once per module.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import REPO, make_image, require_program, snapshot_checkout, write_site

ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")

# https://docs.github.com/en/actions/sharing-automations/creating-actions/metadata-syntax-for-github-actions
TOP_KEYS = {"name", "author", "description", "inputs", "outputs", "runs", "branding"}
INPUT_KEYS = {"description", "required", "default", "deprecationMessage"}
COMPOSITE_STEP_KEYS = {
    "name",
    "id",
    "if",
    "run",
    "shell",
    "uses",
    "with",
    "env",
    "continue-on-error",
    "working-directory",
}
BRANDING_COLORS = {"white", "black", "yellow", "blue", "green", "orange", "red", "purple", "gray-dark"}


def test_action_yml_keeps_to_the_composite_action_syntax() -> None:
    assert set(ACTION) <= TOP_KEYS and {"name", "description", "runs"} <= set(ACTION)
    assert ACTION["branding"]["color"] in BRANDING_COLORS
    assert set(ACTION["inputs"]) == {"path", "python-version", "args"}
    for name, spec in ACTION["inputs"].items():
        assert set(spec) <= INPUT_KEYS and spec["description"], name
        assert isinstance(spec["default"], str), name  # inputs are strings
    assert ACTION["runs"]["using"] == "composite"
    setup, install, check = ACTION["runs"]["steps"]
    assert setup == {"uses": "actions/setup-python@v5", "with": {"python-version": "${{ inputs.python-version }}"}}
    for step in (install, check):
        assert set(step) <= COMPOSITE_STEP_KEYS and step["shell"] == "bash"  # a composite `run:` needs its shell
        # Expressions only in env: pasted into the script, an input would be shell code.
        assert not EXPRESSION.search(step["run"]), step["name"]
    assert install["env"] == {"GALLERY_SOURCE": "${{ github.action_path }}"}
    assert (
        "--format github" in check["run"]
        and '--format markdown "${extra[@]}" >> "$GITHUB_STEP_SUMMARY"' in check["run"]
    )


def test_example_workflow_is_a_workflow_using_the_action_with_its_inputs() -> None:
    workflow = yaml.safe_load((REPO / "examples/github-workflow.yml").read_text(encoding="utf-8"))
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true; GitHub reads it as "on"
    assert set(triggers) == {"pull_request", "push"}
    [job] = workflow["jobs"].values()
    checkout, action = job["steps"]
    assert checkout["uses"].startswith("actions/checkout@")  # the action checks the files of the workspace
    assert re.fullmatch(r"[\w-]+/gallery@[\w.-]+", action["uses"])
    assert set(action["with"]) <= set(ACTION["inputs"])


@dataclass(frozen=True)
class ActionRun:
    status: int  # of the first failing step, else 0
    log: str  # stdout and stderr of every step run
    summary: str  # the GITHUB_STEP_SUMMARY file


@pytest.fixture(scope="module")
def runner_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The action's folder (a snapshot of this checkout) and the bin folder of a fresh virtualenv."""
    require_program("git")
    action_path = tmp_path_factory.mktemp("action")
    snapshot_checkout(action_path)
    venv = tmp_path_factory.mktemp("python")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return action_path, venv / "bin"


def run_action(workspace: Path, runner_env: tuple[Path, Path], **given: str) -> ActionRun:
    """Run the action's steps in `workspace` with the inputs `given` (by their names, `-` as `_`)."""
    action_path, python_bin = runner_env
    inputs = {name: spec["default"] for name, spec in ACTION["inputs"].items()}
    inputs |= {name.replace("_", "-"): value for name, value in given.items()}

    def evaluated(text: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match[1]
            if name == "github.action_path":
                return str(action_path)
            if name.startswith("inputs.") and name[len("inputs.") :] in inputs:
                return inputs[name[len("inputs.") :]]
            raise AssertionError(f"the test's runner cannot evaluate {match[0]}")

        return EXPRESSION.sub(value, text)

    files = workspace.parent / "runner"
    files.mkdir(exist_ok=True)
    summary, output = files / "step_summary.md", files / "output"
    summary.write_text("", encoding="utf-8")
    log = []
    for number, step in enumerate(ACTION["runs"]["steps"]):
        if "uses" in step:
            continue
        script = files / f"step{number}.sh"
        script.write_text(evaluated(step["run"]), encoding="utf-8")
        env = {
            **os.environ,
            "PATH": f"{python_bin}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_ACTION_PATH": str(action_path),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_OUTPUT": str(output),
            **{name: evaluated(str(value)) for name, value in step.get("env", {}).items()},
        }
        command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
        done = subprocess.run(command, cwd=workspace, env=env, capture_output=True, text=True)
        log.append(done.stdout + done.stderr)
        if done.returncode != 0:
            return ActionRun(done.returncode, "".join(log), summary.read_text(encoding="utf-8"))
    return ActionRun(0, "".join(log), summary.read_text(encoding="utf-8"))


def test_action_fails_on_errors_with_annotations_and_still_writes_the_summary(
    tmp_path: Path, runner_env: tuple[Path, Path]
) -> None:
    workspace = write_site(
        tmp_path / "workspace", {"content/a.md": "# A\n\n![gone](/images/gone.jpg)\n", "static/images/b.jpg": None}
    )
    result = run_action(workspace, runner_env)
    assert result.status == 1, result.log
    assert "::error file=content/a.md,line=3,title=broken-ref::image not found: /images/gone.jpg" in result.log
    assert result.summary.startswith("### gallery check: 1 error, ")
    assert "| error | broken-ref | content/a.md:3 | image not found: /images/gone.jpg |" in result.summary


def test_action_checks_a_site_in_a_folder_with_args_and_passes_when_clean(
    tmp_path: Path, runner_env: tuple[Path, Path]
) -> None:
    workspace = tmp_path / "workspace"
    site = write_site(
        workspace / "site",
        {"content/posts/a.md": "![gone](/images/gone.jpg)\n", "content/drafts/b.md": "![x](/images/nowhere.jpg)\n"},
    )
    make_image(site / "static/images/a.jpg", pattern=1)
    # The quoted glob reaches gallery as one word, unexpanded.
    result = run_action(workspace, runner_env, path="site", args="--ignore 'content/drafts/*'")
    assert result.status == 1, result.log
    # Annotations name files from the repository root, where GitHub looks for them.
    annotations = [line for line in result.log.splitlines() if line.startswith("::")]
    assert annotations == [
        "::error file=site/content/posts/a.md,line=1,title=broken-ref::image not found: /images/gone.jpg"
    ]

    (site / "content/posts/a.md").write_text("![a](/images/a.jpg)\n", encoding="utf-8")
    result = run_action(workspace, runner_env, path="site", args="--ignore 'content/drafts/*'")
    assert result.status == 0, result.log
    assert result.summary == "### gallery check: no problems in 1 image\n"
