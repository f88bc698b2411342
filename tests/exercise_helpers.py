"""What every exercise check must do, shared by the tests of each chapter's checks."""
import pytest

from minigan.exercises import ExerciseError


def assert_passes(check, fn, capsys):
    """A right answer: one line, "✓ <name> passed ...", and nothing raised."""
    check(fn)
    out = capsys.readouterr().out
    assert out.startswith("\u2713 " + fn.__name__ + " passed")
    assert out.count("\n") == 1


def assert_not_implemented_propagates(check):
    """An unfinished exercise's NotImplementedError reaches the learner unchanged."""
    def stub(*args):
        raise NotImplementedError("Exercise 0.0")
    with pytest.raises(NotImplementedError, match="Exercise 0.0") as info:
        check(stub)
    assert not isinstance(info.value, ExerciseError)
