"""An interrupt (Ctrl-C, SIGTERM, SIGHUP) during a journal write waits for the write to end."""

from __future__ import annotations

import pytest
from optuna.storages.journal import JournalFileBackend
from study_helpers import write_study

from hybridlab.study import load_plan
from hybridlab.study.interrupts import raise_or_defer, whole_write
from hybridlab.study.storage import make_storage, open_study


def test_outside_a_write_an_interrupt_is_raised_at_once():
    with pytest.raises(KeyboardInterrupt):
        raise_or_defer(KeyboardInterrupt("now"))


def test_inside_a_write_the_first_interrupt_is_raised_when_it_ends():
    done = []
    with pytest.raises(KeyboardInterrupt, match="first"), whole_write():
        with whole_write():  # nested writes: raised when the outermost ends
            raise_or_defer(KeyboardInterrupt("first"))
            raise_or_defer(KeyboardInterrupt("second"))
            done.append("inner")
        done.append("outer")
    assert done == ["inner", "outer"]
    with whole_write():  # nothing left pending
        pass


def test_an_interrupt_mid_append_lets_the_journal_write_finish(tmp_path, monkeypatch):
    plan = load_plan(write_study(tmp_path, trials=1))
    study = open_study(plan, create=True, storage=make_storage(plan, create=True))
    trial = study.ask()
    append = JournalFileBackend.append_logs

    def interrupted_append(self, logs):
        raise_or_defer(KeyboardInterrupt("SIGTERM"))  # as the signal handler would
        append(self, logs)

    monkeypatch.setattr(JournalFileBackend, "append_logs", interrupted_append)
    with pytest.raises(KeyboardInterrupt):
        trial.set_user_attr("stack", "ssd")
    monkeypatch.undo()
    # The attribute is in the journal, whole, and the lock is free for the next write.
    reread = open_study(plan, create=False)
    assert reread.trials[0].user_attrs["stack"] == "ssd"
    reread.set_user_attr("after", 1)
    assert not list(plan.folder.glob("study.journal.lock*"))
