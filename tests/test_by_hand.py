"""An answer that calls minigan's own answer to its exercise fails the check (by name), and so does
one that calls the chapter's own version written out earlier in the notebook; the library is
whole again after the check, pass or fail."""
import numpy as np
import pytest

from minigan.exercises import ExerciseError, check_conv2d_backward, check_linear_backward
from minigan.exercises.answers import ANSWERS
from minigan.exercises.checker import _resolve
from minigan.nn.layers import Linear


def _by_library(dy, x, W):
    layer = Linear(W.shape[1], W.shape[0], rng=np.random.default_rng(0), dtype="float64")
    layer.params["weight"][...] = W
    _, cache = layer.forward(x)
    layer.zero_grad()
    dx = layer.backward(dy, cache)
    return dx, layer.grads["weight"], layer.grads["bias"]


def _by_hand(dy, x, W):
    return dy @ W, dy.T @ x, dy.sum(0)


def test_calling_the_library_answer_fails_by_name():
    before = Linear.backward
    with pytest.raises(ExerciseError, match=r"calls minigan's Linear.backward, which answers "
                                            r"Exercise 1.1 itself"):
        check_linear_backward(_by_library)
    assert Linear.backward is before
    check_linear_backward(_by_hand)            # the same numbers written by hand pass


def test_calling_the_chapters_own_version_fails_by_name():
    from minigan.nn.conv import Conv2d
    ns = {"np": np}
    exec("def conv2d_backward_loops(dy, x, W, stride=1, padding=0):\n"
         "    return REAL(dy, x, W, stride, padding)\n"
         "def conv2d_backward(dy, x, W, stride, padding):\n"
         "    return conv2d_backward_loops(dy, x, W, stride, padding)\n", ns)

    def real(dy, x, W, stride, padding):
        layer = Conv2d(W.shape[1], W.shape[0], W.shape[2], stride=stride, padding=padding,
                       rng=np.random.default_rng(0), dtype="float64")
        layer.params["weight"][...] = W
        _, cache = layer.forward(x)
        layer.zero_grad()
        dx = layer.backward(dy, cache)
        return dx, layer.grads["weight"], layer.grads["bias"]
    ns["REAL"] = real
    with pytest.raises(ExerciseError, match="calls `conv2d_backward_loops`"):
        check_conv2d_backward(ns["conv2d_backward"])
    assert ns["conv2d_backward_loops"].__name__ == "conv2d_backward_loops"   # put back
    with pytest.raises(ExerciseError, match="calls minigan's Conv2d.backward"):
        check_conv2d_backward(lambda dy, x, W, stride, padding: real(dy, x, W, stride, padding))


@pytest.mark.parametrize("exercise", sorted(ANSWERS))
def test_every_listed_answer_resolves(exercise):
    for entry in ANSWERS[exercise]:
        owner, attr = _resolve(entry)
        assert callable(getattr(owner, attr)), entry


def test_a_library_answer_imported_by_name_is_refused_too():
    """`from minigan.nn.losses import bce_with_logits` binds the function in the notebook's own
    namespace: patching the module alone would not catch a call through that name."""
    from minigan.exercises import check_bce_with_logits_grad
    from minigan.nn import losses
    ns = {}
    exec("from minigan.nn.losses import bce_with_logits\n"
         "def bce_with_logits_grad(z, t):\n"
         "    return bce_with_logits(z, t)\n", ns)
    with pytest.raises(ExerciseError, match="calls minigan's bce_with_logits"):
        check_bce_with_logits_grad(ns["bce_with_logits_grad"])
    assert ns["bce_with_logits"] is losses.bce_with_logits          # put back


def test_a_name_both_imported_and_listed_in_also_is_put_back_whole():
    """A name refused twice over (an imported library answer that is also in `also`) gets its
    own function back after the check, not the refusal."""
    from minigan.exercises import check_critic_step
    from minigan.nn import penalty
    ns = {}
    exec("from minigan.nn.penalty import gradient_penalty\n"
         "def critic_step(*args):\n"
         "    return gradient_penalty(*args)\n", ns)
    with pytest.raises(ExerciseError, match="calls minigan's gradient_penalty"):
        check_critic_step(ns["critic_step"])
    assert ns["gradient_penalty"] is penalty.gradient_penalty
