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


def check_tests(module, correct):
    """The three tests every chapter's checks get, for ``correct``: a list of (check, a right
    answer) pairs, several right answers per check where they can be written differently.

    - each right answer passes its check (:func:`assert_passes`);
    - every ``check_*`` defined in ``module`` (a module of minigan.exercises, or a list of
      them) has at least one right answer in ``correct``;
    - each check lets an unfinished exercise's NotImplementedError through unchanged.

    Use: ``test_accepts, test_covered, test_not_implemented = check_tests(ex, CORRECT)`` at
    module level (pytest collects them by their ``test_`` names)."""
    checks = list(dict.fromkeys(c for c, _ in correct))

    @pytest.mark.parametrize("check, fn", correct, ids=[f.__name__ for _, f in correct])
    def test_check_accepts_correct_answer(check, fn, capsys):
        assert_passes(check, fn, capsys)

    modules = module if isinstance(module, (list, tuple)) else [module]

    def test_every_check_is_covered():      # every check the chapter's modules define
        assert ({c.__name__ for c in checks}
                == {n for m in modules for n, v in vars(m).items()
                    if n.startswith("check_") and getattr(v, "__module__", None) == m.__name__})

    @pytest.mark.parametrize("check", checks, ids=[c.__name__ for c in checks])
    def test_not_implemented_propagates_unchanged(check):
        assert_not_implemented_propagates(check)

    return (test_check_accepts_correct_answer, test_every_check_is_covered,
            test_not_implemented_propagates_unchanged)
