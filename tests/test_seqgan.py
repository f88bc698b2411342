"""The LSTM language model (minigan.lm) and SeqGAN (minigan.gans.seqgan).

Gradient checks in float64 by central differences, with non-zero random parameters (larger
than the init, so that gates sit off their centre) and odd sizes, batch 1 and 3: the
teacher-forced MLE loss, the policy-gradient surrogate with fixed random rewards (with and
without baseline), and D's loss, each w.r.t. every parameter. Then sampling (greedy limits,
top-k support, rollouts keep their prefix), short training runs in which every parameter
moves, and exact checkpoint/resume through minigan.train.fit.
"""
import numpy as np
import pytest

import quality_runs
from quality_runs import assert_quality

from minigan.data import DataLoader
from minigan.data.sequences import VOCAB, sample_sentences
from minigan.gans.seqgan import SeqGAN
from minigan.gradcheck import check_scalar_function
from minigan.lm import LanguageModel, draw_tokens
from minigan.train import fit

TOL = 1e-6


def randomise(module, rng, scale=0.8):
    for _, p, _ in module.named_parameters():
        p[...] = rng.uniform(-scale, scale, p.shape)


def lm64(V=5, E=3, H=4, T=4, seed=0, start=1):
    rng = np.random.default_rng(seed)
    m = LanguageModel(V, E, H, T, start_token=start, rng=rng, dtype="float64")
    randomise(m, rng)
    return m


def grads_report(module, f):
    arrays = {n: p for n, p, _ in module.named_parameters()}
    analytic = {n: g.copy() for n, _, g in module.named_parameters()}
    return check_scalar_function(f, arrays, analytic)


# --- gradients ---------------------------------------------------------------------------
@pytest.mark.parametrize("N,T", [(1, 1), (1, 4), (3, 5)])
def test_lm_mle_gradient(N, T):
    m = lm64(T=T, seed=N + T)
    y = np.random.default_rng(1).integers(0, 5, (N, T))
    m.zero_grad()
    loss = m.loss_and_backward(y)
    assert loss == pytest.approx(m.nll(y), rel=1e-12)
    report = grads_report(m, lambda: m.nll(y))
    assert max(report.values()) < TOL, report
    assert set(report) == {"emb.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0",
                           "lstm.bias_ih_l0", "lstm.bias_hh_l0", "out.weight", "out.bias"}


@pytest.mark.parametrize("baseline", ["none", "mean"])
def test_policy_gradient_is_the_gradient_of_the_weighted_log_likelihood(baseline):
    """L_PG = −(1/BT) Σ w_bt log G(y_bt | y_<t) with the rewards held fixed."""
    rng = np.random.default_rng(4)
    gan = SeqGAN(vocab_size=6, seq_len=5, start_token=0, embed_dim=3, hidden=4, d_embed_dim=3,
                 d_hidden=3, baseline=baseline, seed=2, dtype="float64")
    randomise(gan.G, rng)
    y = rng.integers(0, 6, (3, 5))
    Q = rng.uniform(0, 1, (3, 5))                          # fixed rewards
    gan.G.zero_grad()
    loss = gan.pg_loss_and_backward(y, Q)
    w = Q - Q.mean(axis=0, keepdims=True) if baseline == "mean" else Q

    def f():
        return -float((w * gan.G.log_prob(y)).sum()) / y.size
    assert loss == pytest.approx(f(), rel=1e-12)
    report = grads_report(gan.G, f)
    assert max(report.values()) < TOL, report


def test_discriminator_gradient():
    rng = np.random.default_rng(5)
    gan = SeqGAN(vocab_size=7, seq_len=4, embed_dim=3, hidden=3, d_embed_dim=3, d_hidden=5,
                 seed=1, dtype="float64")
    randomise(gan.D, rng)
    real, fake = rng.integers(0, 7, (3, 4)), rng.integers(0, 7, (1, 4))
    gan.D.zero_grad()
    loss, _, _ = gan.d_loss_and_backward(real, fake)

    def f():
        gan_loss, _, _ = _d_loss_only(gan.D, real, fake)
        return gan_loss
    assert loss == pytest.approx(f(), rel=1e-12)
    report = grads_report(gan.D, f)
    assert max(report.values()) < TOL, report


def _d_loss_only(D, real, fake):
    """The same loss with no gradients kept: −mean log σ(s_real) − mean log(1 − σ(s_fake))."""
    s_r = D.forward(real)[0][:, 0]
    s_f = D.forward(fake)[0][:, 0]
    return (float(np.mean(np.logaddexp(0, -s_r))) + float(np.mean(np.logaddexp(0, s_f))),
            None, None)


def test_two_backward_passes_add_up():
    m = lm64(seed=3)
    y = np.random.default_rng(2).integers(0, 5, (2, 4))
    m.zero_grad()
    m.loss_and_backward(y)
    once = {n: g.copy() for n, _, g in m.named_parameters()}
    m.loss_and_backward(y)
    for n, _, g in m.named_parameters():
        assert np.allclose(g, 2 * once[n])


# --- sampling ------------------------------------------------------------------------------
def greedy(m, n):
    """Greedy decoding written out with step(): argmax at every position."""
    x, state = m.start_state(n)
    out = []
    for _ in range(m.seq_len):
        z, state = m.step(x, state)
        x = np.argmax(z, axis=1)
        out.append(x)
    return np.stack(out, axis=1)


def test_temperature_to_zero_and_top_k_one_are_greedy():
    m = lm64(V=7, E=4, H=5, T=6, seed=8)
    g = greedy(m, 4)
    assert (m.sample(4, temperature=0) == g).all()
    assert (m.sample(4, temperature=1e-6, seed=3) == g).all()
    assert (m.sample(4, top_k=1, seed=4) == g).all()
    z = np.random.default_rng(0).standard_normal((50, 9))
    rng = np.random.default_rng(1)
    assert (draw_tokens(z, rng, temperature=1e-4) == z.argmax(1)).all()
    assert (draw_tokens(z, rng, top_k=1) == z.argmax(1)).all()


def test_top_k_never_samples_outside_the_top_k():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((3000, 11)).astype(np.float32)
    for k in (2, 5):
        y = draw_tokens(z, rng, top_k=k)
        rank = (z > z[np.arange(len(z)), y][:, None]).sum(axis=1)    # how many are larger
        assert rank.max() < k
        assert len(np.unique(rank)) == k                               # every rank occurs


def test_draw_tokens_follows_the_softmax():
    rng = np.random.default_rng(3)
    logits = np.array([[2.0, 0.5, -1.0, 0.0, 1.0, -3.0, 0.2]])
    z = np.repeat(logits, 100000, axis=0)
    p = np.exp(logits[0]) / np.exp(logits[0]).sum()
    freq = np.bincount(draw_tokens(z, rng), minlength=7) / len(z)
    assert np.abs(freq - p).max() < 0.006
    p_t = np.exp(logits[0] / 0.5) / np.exp(logits[0] / 0.5).sum()
    freq_t = np.bincount(draw_tokens(z, rng, temperature=0.5), minlength=7) / len(z)
    assert np.abs(freq_t - p_t).max() < 0.006


def test_rollout_keeps_the_prefix_and_matches_prefix_states():
    m = lm64(V=6, E=3, H=4, T=7, seed=9)
    prefix = np.random.default_rng(0).integers(0, 6, (5, 3))
    out = m.complete(prefix, np.random.default_rng(7))
    assert out.shape == (5, 7) and (out[:, :3] == prefix).all()
    _, state, z = m.prefix_states(prefix)[3]
    again = m.complete(prefix, np.random.default_rng(7), _state=(state, z))
    assert (again == out).all()


def test_rewards_shape_range_and_last_step():
    gan = SeqGAN(vocab_size=6, seq_len=5, embed_dim=3, hidden=4, d_embed_dim=3, d_hidden=4,
                 rollouts=3, seed=0, dtype="float64")
    y = np.random.default_rng(0).integers(0, 6, (4, 5))
    Q = gan.rewards(y, np.random.default_rng(1))
    assert Q.shape == (4, 5) and ((Q > 0) & (Q < 1)).all()
    assert np.allclose(Q[:, -1], gan.D.prob(y))
    # a D that ignores the tokens gives every prefix the same reward
    gan.D.out.params["weight"][...] = 0
    Q = gan.rewards(y, np.random.default_rng(1))
    assert np.allclose(Q, Q[0, 0])


# --- training ------------------------------------------------------------------------------
def snapshot(module):
    return {n: p.copy() for n, p, _ in module.named_parameters()}


def assert_all_moved(before, module, what):
    for n, p, g in module.named_parameters():
        assert np.isfinite(p).all() and np.isfinite(g).all(), f"{what}.{n} not finite"
        assert not np.allclose(before[n], p), f"{what}.{n} did not move"


@pytest.mark.quality
def test_mle_training_lowers_nll_and_raises_validity():
    assert_quality(quality_runs.mle_grammar)


def tiny_seqgan(**kw):
    cfg = dict(vocab_size=len(VOCAB), seq_len=8, start_token=VOCAB.bos, embed_dim=8, hidden=8,
               d_embed_dim=6, d_hidden=6, pretrain_g_steps=3, pretrain_d_steps=2, d_steps=2,
               rollouts=2, seed=0, lr_adv=1e-2, lr_d=1e-2)
    cfg.update(kw)
    return SeqGAN(**cfg)


def test_seqgan_phases_and_adversarial_phase_moves_every_parameter():
    gan = tiny_seqgan()
    data = sample_sentences(64, seq_len=8, seed=1)
    loader = DataLoader(data, batch_size=8, seed=0)
    phases = []
    while gan.phase != "adversarial":
        phases.append(gan.phase)
        logs = gan.train_step(loader.batch_at(gan.step))
    assert phases == ["mle"] * 3 + ["pretrain_d"] * 2 and logs["phase"] == 1
    assert logs["loss_d"] > 0 and logs["loss_g"] == 0
    g0, d0 = snapshot(gan.G), snapshot(gan.D)
    r0 = snapshot(gan.R)
    for _ in range(3):
        logs = gan.train_step(loader.batch_at(gan.step))
        assert all(np.isfinite(v) for v in logs.values())
    assert set(logs) == {"phase", "nll", "loss_g", "reward", "loss_d", "d_real", "d_fake"}
    assert logs["phase"] == 2 and logs["loss_g"] > 0 and 0 < logs["reward"] < 1
    assert_all_moved(g0, gan.G, "G")
    assert_all_moved(d0, gan.D, "D")
    # the rollout net follows G with a delay: it moved, but it is not G
    g = snapshot(gan.G)
    for n, p, _ in gan.R.named_parameters():
        assert not np.allclose(p, r0[n]) and not np.allclose(p, g[n]), n


def test_state_dict_round_trip_and_exact_resume(tmp_path):
    data = sample_sentences(64, seq_len=8, seed=1)
    loader = DataLoader(data, batch_size=8, seed=0)
    straight = tiny_seqgan()
    fit(straight, loader.batch_at, 7, progress=False)
    interrupted = tiny_seqgan()
    fit(interrupted, loader.batch_at, 4, out=str(tmp_path), checkpoint_every=4, progress=False)
    resumed = tiny_seqgan()
    fit(resumed, loader.batch_at, 7, out=str(tmp_path), resume=True, progress=False)
    a, b = straight.state_dict(), resumed.state_dict()
    assert set(a) == set(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    copy = tiny_seqgan(seed=5)
    copy.load_state_dict(a)
    assert (copy.sample(5, seed=2) == straight.sample(5, seed=2)).all()
    assert copy.phase == "adversarial" and copy.step == 7


# --- the policy gradient moves G the right way ----------------------------------------------
@pytest.mark.parametrize("baseline", ["none", "mean"])
@pytest.mark.parametrize("position", [0, 3])
def test_policy_gradient_with_a_hand_made_reward_moves_g_towards_it(baseline, position):
    """Sign and alignment of REINFORCE: with the reward "token k at ``position``" in place of
    D, policy-gradient steps must make G emit k there (from ~1/V to nearly always).

    Position 0 checks the prefix alignment: Q of y_1 must be computed from rollouts of the
    prefix (y_1) INCLUDING y_1; were it the prefix before y_1 (empty), Q would not depend on
    y_1 and nothing would push G towards k at the first position. Position T−1 = 3 checks
    the last step, whose reward is D(Y) itself."""
    from minigan.gans.gan import step_rng
    gan = SeqGAN(vocab_size=6, seq_len=4, start_token=0, embed_dim=4, hidden=8, rollouts=4,
                 lr_adv=0.05, baseline=baseline, seed=0, dtype="float64")
    k = 3
    gan.D.prob = lambda y: (y[:, position] == k).astype(np.float64)     # the hand-made reward

    def share():
        return float((gan.G.sample(2000, seed=9)[:, position] == k).mean())
    before = share()
    for s in range(40):
        gan.g_step(32, step_rng(0, s))
    assert before < 0.3 and share() > 0.9, (before, share())


def test_rollout_network_is_the_pretrained_generator_once_mle_ends():
    """After MLE pretraining (before any adversarial step) rewards() already rolls out with
    the pretrained G, not with the initial weights."""
    from minigan.gans.seqgan import SeqGAN
    m = SeqGAN(vocab_size=6, seq_len=4, start_token=0, embed_dim=4, hidden=5, d_embed_dim=4,
               d_hidden=5, pretrain_g_steps=3, pretrain_d_steps=2, seed=0)
    data = np.random.default_rng(0).integers(1, 6, size=(8, 4))
    for _ in range(3):
        m.train_step(data)
    assert m.phase == "pretrain_d"
    for (_, r, _), (_, g, _) in zip(m.R.named_parameters(), m.G.named_parameters()):
        assert np.array_equal(r, g)


def test_nll_can_leave_the_padding_out():
    m = lm64(seed=4)
    y = np.array([[2, 3, 0, 0], [4, 1, 2, 0]])
    logp = m.log_prob(y)
    assert m.nll(y) == pytest.approx(-logp.mean())
    assert m.nll(y, pad=0) == pytest.approx(-logp[y != 0].mean())
    assert m.nll(y, pad=0, batch_size=1) == pytest.approx(m.nll(y, pad=0))
    with pytest.raises(ValueError, match="no position to score"):
        m.nll(np.zeros((2, 4), np.int64), pad=0)
