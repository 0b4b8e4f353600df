"""A grid study killed at any moment of a trial's life, then run again, trains every grid point
exactly once: the driver is SIGKILLed (no cleanup runs) when a trial has been asked, submitted,
is running, or has been told, and the same command then finishes the study."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter

import pytest
from optuna.trial import TrialState
from study_helpers import write_study

from hybridlab.study import load_plan
from hybridlab.study.storage import open_study

# Two mixers, attention ratio 0, 1/2 or 1, d_state 4 or 8 when there is an SSD layer: 6 grid
# points, 5 architectures (the two all-attention points are one), as in the quickstart.
CONDITIONAL_SPACE = """\
knobs:
  attn_ratio: {choice: [0.0, 0.5, 1.0]}
  ssd:
    when: "attn_ratio < 1"
    d_state: {choice: [4, 8]}
model:
  d_model: 16
  layout: {depth: 2, attn_ratio: "${knobs.attn_ratio}", placement: back, ssm: ssd, mlp: false}
  defaults:
    ssd: {d_state: "${knobs.ssd.d_state}", headdim: 8}
    attn: {heads: 2}
"""

# Runs the study in a fresh interpreter; `KILL_AT` (moment, n) kills it with SIGKILL the n-th
# time the moment comes. Training is replaced by a result computed from the spec (instant).
RUNNER = textwrap.dedent(
    """
    import json, os, signal, sys
    from hybridlab.execution import worker, inline
    from hybridlab.space.space import SearchSpace
    from hybridlab.study import load_plan, run_study
    from hybridlab.tracking import Tracker
    from hybridlab.train import TrainResult

    moment, at = json.loads(sys.argv[2]) if len(sys.argv) > 2 else (None, 0)
    seen = {"asked": 0, "submitted": 0, "running": 0, "told": 0}

    def arrive(name):
        if name == moment:
            seen[name] += 1
            if seen[name] == at:
                os.kill(os.getpid(), signal.SIGKILL)

    def fake_training(spec, task, config, report=None):
        arrive("running")
        text = spec.format()
        with open(os.environ["TRAINED_LOG"], "a") as log:
            log.write(text + "\\n")
        return TrainResult(accuracy=(len(text) % 7) / 7, loss=1.0, steps_done=1, spec=text)

    propose = SearchSpace.propose
    def asked(self, suggester, vocab_size):
        arrive("asked")
        return propose(self, suggester, vocab_size)

    submit = inline.InlineExecutor.submit
    def submitted(self, request):
        number = submit(self, request)
        arrive("submitted")
        return number

    class Told(Tracker):
        def log_trial_finished(self, record):
            arrive("told")

    worker.train_proxy = fake_training
    SearchSpace.propose = asked
    inline.InlineExecutor.submit = submitted
    run_study(load_plan(sys.argv[1]), trackers=[Told()])
    """
)


def run(study, kill=None, log=None):
    args = [sys.executable, "-c", RUNNER, str(study)] + ([json.dumps(kill)] if kill else [])
    env = {"TRAINED_LOG": str(log), "PATH": "/usr/bin:/bin", "HYBRIDLAB_NO_PLUGINS": "1"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["asked", "submitted", "running", "told"])
@pytest.mark.parametrize("at", [1, 4], ids=["first-trial", "fourth-trial"])
def test_after_a_crash_every_grid_point_is_trained_exactly_once(tmp_path, moment, at):
    study = write_study(tmp_path, space=CONDITIONAL_SPACE, trials=8, steps=1, sampler="grid")
    log = tmp_path / "trained.log"
    crashed = run(study, kill=[moment, at], log=log)
    assert crashed.returncode == -9, crashed.stderr
    again = run(study, log=log)
    assert again.returncode == 0, again.stderr

    trials = open_study(load_plan(study), create=False).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    points = Counter(t.system_attrs["grid_id"] for t in complete)
    assert points == Counter(range(6)), [(t.number, t.system_attrs, t.params) for t in trials]
    # Each trial's params are its grid point's: every point's architecture once (the two
    # all-attention points have one params dict: no d_state without an SSD layer).
    sampled = Counter((t.params["attn_ratio"], t.params.get("ssd.d_state")) for t in complete)
    expected = {(0.0, 4): 1, (0.0, 8): 1, (0.5, 4): 1, (0.5, 8): 1, (1.0, None): 2}
    assert sampled == Counter(expected), [(t.number, t.system_attrs, t.params) for t in trials]
    # Each architecture trained once (a run the crash cut short never got to its result; the
    # two all-attention points are one architecture, the second reuses the first's result).
    trained = Counter(log.read_text().split("\n")[:-1])
    assert len(trained) == 5 and set(trained.values()) == {1}, trained
