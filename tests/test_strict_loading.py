"""Loading is strict and atomic: state dicts (layers, optimisers, whole models), checkpoint
files (their zip and .npy structure, their metadata), and the files a run writes (the umask's
permissions, strict JSON)."""
import hashlib
import io
import json
import os
import pickle
import stat
import struct
import zipfile

import numpy as np
import pytest

from minigan.data.mnist import fetch_file
from minigan.gans.gan import GAN
from minigan.nn import BatchNorm1d, Linear, ReLU, Sequential
from minigan.nn.module import StateDictError
from minigan.optim import SGD, Adam, RMSprop
from minigan.train import (
    CheckpointError,
    fit,
    load_model,
    read_checkpoint,
    save_checkpoint,
    write_json,
)


def net(seed=0):
    r = np.random.default_rng(seed)
    return Sequential(Linear(3, 4, rng=r), ReLU(), Linear(4, 2, rng=r), BatchNorm1d(2))


def snapshot(module):
    return {k: np.array(v, copy=True) for k, v in module.state_dict().items()}


def assert_unchanged(module, before):
    after = module.state_dict()
    assert set(after) == set(before)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)


def tiny_gan(seed=7):
    return GAN(data_shape=(2,), latent_dim=2, hidden=4, depth=1, seed=seed)


def trained_gan():
    model = tiny_gan()
    model.train_step(np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32))
    return model


# --- Module.load_state_dict: strict, checked, all or nothing ---------------------------------
def test_unexpected_and_missing_entries_are_named_and_strict_false_skips_them():
    a, b = net(1), net(2)
    state = a.state_dict()
    extra = dict(state, **{"9.weight": np.zeros(3)})
    with pytest.raises(KeyError, match=r"unexpected '9\.weight'") as info:
        b.load_state_dict(extra)
    assert "strict=False" in str(info.value)
    lacking = {k: v for k, v in state.items() if k != "3.running_var"}
    with pytest.raises(KeyError, match=r"missing '3\.running_var'"):
        b.load_state_dict(lacking)
    before = snapshot(b)
    b.load_state_dict(dict(lacking, **{"9.weight": np.zeros(3)}), strict=False)
    np.testing.assert_array_equal(b[0].params["weight"], a[0].params["weight"])
    np.testing.assert_array_equal(b[3].running_var, before["3.running_var"])   # kept


@pytest.mark.parametrize("what, value, message", [
    ("shape", np.zeros((2, 5)), r"'2\.weight' has shape \(2, 5\), expected \(2, 4\)"),
    ("complex", np.zeros((2, 4), complex), r"'2\.weight' has dtype complex128, expected real"),
    ("strings", np.full((2, 4), "x"), r"'2\.weight' has dtype <U1, expected real"),
    ("objects", np.empty((2, 4), object), r"'2\.weight' has dtype object, expected real"),
    ("booleans", np.ones((2, 4), bool), r"'2\.weight' has dtype bool, expected real"),
    ("nan", np.full((2, 4), np.nan), r"'2\.weight' holds NaN or infinite values"),
    ("inf", np.full((2, 4), -np.inf), r"'2\.weight' holds NaN or infinite values"),
    ("float32 overflow", np.full((2, 4), 1e300), r"'2\.weight' holds values too large for float32"),
    ("not an array", [[1, 2], [3]], r"'2\.weight' is not an array of numbers"),
])
def test_a_bad_entry_is_named_and_nothing_is_written(what, value, message):
    """The bad entry is the second layer's: the first one (loaded first) must not change."""
    a, b = net(1), net(2)
    state = dict(a.state_dict(), **{"2.weight": value})
    before = snapshot(b)
    with pytest.raises(ValueError, match=message):
        b.load_state_dict(state)
    assert_unchanged(b, before)


def test_integers_load_and_are_cast_to_the_parameters_dtype():
    b = net(2)
    state = {k: np.ones(v.shape, np.int64) for k, v in net(1).state_dict().items()}
    b.load_state_dict(state)
    assert b[0].params["weight"].dtype == np.float32
    np.testing.assert_array_equal(b[0].params["weight"], 1)


def test_state_dict_error_is_a_key_error_and_a_value_error_with_a_plain_message():
    with pytest.raises(StateDictError) as info:
        net().load_state_dict({})
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert str(info.value).startswith("Sequential: the state does not fit: missing '0.weight'")
    with pytest.raises(StateDictError, match="expected the state as a dict"):
        net().load_state_dict([1, 2])


# --- optimisers: checked at load, not at the next step ---------------------------------------
def _trained_opt(cls, **kw):
    model = net(1)
    opt = cls(model, lr=0.01, **kw)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    y, cache = model.forward(x)
    model.backward(np.ones_like(y), cache)
    opt.step()
    return model, opt


@pytest.mark.parametrize("cls, kw, key", [(Adam, {}, "m"), (RMSprop, {}, "square_avg"),
                                         (SGD, {"momentum": 0.9}, "momentum")])
def test_optimiser_state_of_the_wrong_shape_fails_at_load_and_changes_nothing(cls, kw, key):
    _, opt = _trained_opt(cls, **kw)
    state = opt.state_dict()
    fresh = cls(net(2), lr=0.5, **kw)
    bad = dict(state, **{f"0.weight/{key}": np.zeros((3, 4))})
    with pytest.raises(ValueError, match=rf"'0\.weight/{key}' has shape \(3, 4\), expected \(4, 3\)"):
        fresh.load_state_dict(bad)
    assert fresh.t == 0 and fresh.lr == 0.5 and fresh.state == {}
    fresh.load_state_dict(state)                      # the good state loads
    assert fresh.t == 1 and fresh.lr == 0.01


@pytest.mark.parametrize("change, message", [
    ({"t": np.asarray(-1)}, r"'t' \(the step count\) must be a whole number >= 0"),
    ({"t": np.asarray(1.5)}, r"'t' \(the step count\) must be a whole number >= 0"),
    ({"t": np.zeros(3)}, r"'t' must be one real number"),
    ({"lr": np.asarray(0.0)}, r"'lr' \(the learning rate\) must be positive"),
    ({"lr": np.asarray(np.nan)}, r"'lr' is nan, expected a finite number"),
    ({"lr": np.asarray("fast")}, r"'lr' must be one real number"),
    ({"0.weight/m": np.full((4, 3), np.inf)}, r"'0\.weight/m' holds NaN or infinite"),
    ({"0.weight/momentum": np.zeros((4, 3))}, r"unexpected '0\.weight/momentum'"),
    ({"stray": np.zeros(1)}, r"unexpected 'stray'"),
    ({"nope/m": np.zeros(1)}, r"unknown parameter 'nope'"),
])
def test_optimiser_state_is_checked_before_anything_changes(change, message):
    _, opt = _trained_opt(Adam)
    fresh = Adam(net(2), lr=0.5)
    with pytest.raises(ValueError, match=message):
        fresh.load_state_dict(dict(opt.state_dict(), **change))
    assert fresh.t == 0 and fresh.lr == 0.5 and fresh.state == {}


def test_optimiser_missing_entries_strict_and_not():
    _, opt = _trained_opt(Adam)
    state = opt.state_dict()
    lacking = {k: v for k, v in state.items() if k != "2.bias/v"}
    with pytest.raises(KeyError, match=r"missing '2\.bias/v'"):
        Adam(net(2)).load_state_dict(lacking)
    with pytest.raises(KeyError, match="has no 't'"):
        Adam(net(2)).load_state_dict({k: v for k, v in state.items() if k != "t"})
    fresh = Adam(net(2))
    fresh.load_state_dict(dict(lacking, **{"nope/m": np.zeros(1)}), strict=False)
    assert fresh.t == 1 and "v" not in fresh.state["2.bias"]
    Adam(net(2)).load_state_dict({"t": np.asarray(0), "lr": np.asarray(0.1)})   # before a step


# --- whole models: every part checked before any is written ----------------------------------
def test_a_model_state_that_fails_in_its_last_part_leaves_every_part_as_it_was():
    state = trained_gan().state_dict()
    other = tiny_gan(seed=3)
    before = {k: np.array(v, copy=True) for k, v in other.state_dict().items()}
    opt_state = dict(other.opt_d.state)
    bad = dict(state, **{"opt_d.0.weight/v": np.zeros((1, 1))})        # the last part
    with pytest.raises(ValueError, match=r"'opt_d\.0\.weight/v' has shape \(1, 1\)"):
        other.load_state_dict(bad)
    after = other.state_dict()
    assert set(after) == set(before) and other.step == 0 and other.opt_d.state == opt_state
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)
    other.load_state_dict(state)
    assert other.step == 1


def test_a_model_state_is_strict_and_names_the_full_entry():
    state = trained_gan().state_dict()
    with pytest.raises(KeyError, match=r"unexpected 'H\.0\.weight'"):
        tiny_gan().load_state_dict(dict(state, **{"H.0.weight": np.zeros(1)}))
    with pytest.raises(KeyError, match=r"missing 'D\.2\.bias'"):
        tiny_gan().load_state_dict({k: v for k, v in state.items() if k != "D.2.bias"})
    with pytest.raises(KeyError, match=r"missing 'step'"):
        tiny_gan().load_state_dict({k: v for k, v in state.items() if k != "step"})
    with pytest.raises(ValueError, match=r"'step' must be one whole number >= 0"):
        tiny_gan().load_state_dict(dict(state, step=np.asarray(-2)))
    model = tiny_gan()
    model.load_state_dict(dict({k: v for k, v in state.items() if k != "D.2.bias"},
                               **{"H.0.weight": np.zeros(1)}), strict=False)
    assert model.step == 1


# --- checkpoint files ------------------------------------------------------------------------
def write_npz(path, meta=None, raw_meta=None, **arrays):
    if raw_meta is not None:
        arrays["__meta__"] = raw_meta
    elif meta is not None:
        arrays["__meta__"] = np.asarray(json.dumps(meta))
    np.savez(path, **arrays)
    return path


GOOD_META = {"model": "gan", "config": {}, "step": 0}


@pytest.mark.parametrize("meta, message", [
    (None, "has no metadata"),
    (np.asarray("{not json"), "metadata is not valid JSON"),
    (np.asarray(b"bytes"), "metadata is not a JSON string"),
    (np.zeros(3), "metadata is not a JSON string"),
    ([1, 2], "metadata is a JSON list, expected an object"),
    ({"config": {}, "step": 0}, "metadata lacks 'model'"),
    ({"model": "gan", "step": 0}, "metadata lacks 'config'"),
    ({"model": "gan", "config": {}}, "metadata lacks 'step'"),
    (dict(GOOD_META, colour="red"), "unknown keys 'colour'"),
    (dict(GOOD_META, model=3), "'model' is a int .*expected a str"),
    (dict(GOOD_META, config=[1]), "'config' is a list .*expected a dict"),
    (dict(GOOD_META, step="3"), "'step' is a str .*expected a int"),
    (dict(GOOD_META, step=True), "'step' is a bool"),
    (dict(GOOD_META, step=2.0), "'step' is a float"),
    (dict(GOOD_META, step=-1), "step is -1, expected >= 0"),
    (dict(GOOD_META, run="ring8"), "'run' is a str .*expected a dict"),
    (dict(GOOD_META, step=4), "metadata says step 4, its state step 0"),
])
def test_malformed_metadata_is_a_checkpoint_error_naming_the_file(tmp_path, meta, message):
    path = tmp_path / "checkpoint.npz"
    if isinstance(meta, np.ndarray) or meta is None:
        write_npz(path, raw_meta=meta, step=np.asarray(0))
    else:
        write_npz(path, meta, step=np.asarray(0))
    with pytest.raises(CheckpointError, match=message) as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_a_checkpoint_for_an_unknown_model_or_config_is_a_checkpoint_error(tmp_path):
    state = trained_gan().state_dict()                     # at step 1
    meta = dict(GOOD_META, step=1)
    path = write_npz(tmp_path / "a.npz", dict(meta, model="bigan"), **state)
    with pytest.raises(CheckpointError, match=r"a\.npz: unknown model 'bigan'"):
        load_model(path)
    path = write_npz(tmp_path / "b.npz", dict(meta, config={"colour": 1}), **state)
    with pytest.raises(CheckpointError, match=r"b\.npz: its config does not build a 'gan' model"):
        load_model(path)
    path = write_npz(tmp_path / "c.npz", dict(meta, config={"hidden": 0}), **state)
    with pytest.raises(CheckpointError, match=r"c\.npz: its config does not build"):
        load_model(path)
    config = trained_gan().config
    path = write_npz(tmp_path / "d.npz", dict(meta, config=config),
                     **dict(state, extra=np.zeros(2)))
    with pytest.raises(CheckpointError, match=r"d\.npz does not fit model 'gan'.*unexpected 'extra'"):
        load_model(path)


def _not_checkpoints(tmp_path):
    files = {"text": b"not a checkpoint at all", "empty": b"",
             "pickle": pickle.dumps({"G.0.weight": [1, 2]}),
             "png": b"\x89PNG\r\n\x1a\n" + bytes(40)}
    buf = io.BytesIO()
    np.save(buf, np.arange(3))
    files["npy"] = buf.getvalue()
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    files["pickled npy"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.asarray(json.dumps(GOOD_META)), step=np.asarray(0),
             evil=np.array([{"a": 1}, None], dtype=object))
    files["npz with objects"] = buf.getvalue()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes.txt", "hello")
    files["zip"] = buf.getvalue()
    for name, data in files.items():
        path = tmp_path / f"{name.replace(' ', '-')}.npz"
        path.write_bytes(data)
        yield name, path


def test_a_file_that_is_not_a_checkpoint_never_suggests_pickle(tmp_path):
    for name, path in _not_checkpoints(tmp_path):
        with pytest.raises(CheckpointError) as info:
            load_model(path)
        msg = str(info.value)
        assert str(path) in msg, name
        assert "allow_pickle" not in msg, (name, msg)
    with pytest.raises(CheckpointError, match="Python objects .* pickled data is never loaded"):
        read_checkpoint(tmp_path / "npz-with-objects.npz")


def _zip_header_positions(data, window=300):
    """Byte positions worth corrupting: {position: masks}. Every byte of the first ``window``
    bytes, of each member's zip header and .npy header, and of the central directory and its
    end record is flipped (xor 0xFF); the fixed fields of the zip records (flags, compression
    method, sizes, offsets) also get a one-bit flip (xor 0x01: "encrypted", "compressed")."""
    flips = {}

    def add(lo, hi, *masks):
        for i in range(lo, min(hi, len(data))):
            flips.setdefault(i, set()).update(masks)

    add(0, window, 0xFF)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    for info in infos:
        start = info.header_offset
        name_len, extra_len = struct.unpack("<HH", data[start + 26:start + 30])
        npy = start + 30 + name_len + extra_len                 # the member's .npy data
        header_len = struct.unpack("<H", data[npy + 8:npy + 10])[0]
        add(start, npy + 10 + header_len, 0xFF)
        add(start, start + 30, 0x01)
    end = data.rfind(b"PK\x05\x06")
    central = struct.unpack("<I", data[end + 16:end + 20])[0]   # the central directory's offset
    add(central, len(data), 0xFF)
    i = central
    while data[i:i + 4] == b"PK\x01\x02":                   # each central record's fixed part
        add(i, i + 46, 0x01)
        n, m, k = struct.unpack("<HHH", data[i + 28:i + 34])
        i += 46 + n + m + k
    add(end, end + 22, 0x01)
    return flips


@pytest.mark.slow
def test_every_corruption_of_the_zip_and_npy_headers_is_a_checkpoint_error(tmp_path):
    """Flip every byte of the zip's structures and of each member's .npy header, one at a time:
    whatever comes out is a CheckpointError naming the file (or, for bytes that nothing reads,
    a good load); never NotImplementedError, a tokenizer error, an "encrypted" RuntimeError,
    a MemoryError, nor a message that suggests allow_pickle."""
    good = tmp_path / "good.npz"
    model = tiny_gan()
    save_checkpoint(good, model)
    data = good.read_bytes()
    flips = _zip_header_positions(data)
    assert len(flips) > 2000 and len(data) - 1 in flips and 0 in flips
    bad = tmp_path / "bad.npz"
    escaped, caught, loaded = [], 0, 0
    for pos, masks in sorted(flips.items()):
        for mask in sorted(masks):
            corrupt = bytearray(data)
            corrupt[pos] ^= mask
            bad.write_bytes(bytes(corrupt))
            try:
                loaded_model, _ = load_model(bad)              # reads it, builds, loads
            except CheckpointError as exc:
                if str(bad) not in str(exc) or "allow_pickle" in str(exc):
                    escaped.append((pos, mask, str(exc)))
                caught += 1
            except BaseException as exc:  # noqa: BLE001 - what the test is about
                escaped.append((pos, mask, f"{type(exc).__name__}: {exc}"))
            else:
                loaded += 1
                assert loaded_model.step == model.step      # only unread bytes were changed
    assert not escaped, escaped[:10]
    assert caught > loaded > 0


def test_truncated_checkpoints_at_every_length_are_checkpoint_errors(tmp_path):
    good = tmp_path / "good.npz"
    save_checkpoint(good, trained_gan())
    data = good.read_bytes()
    bad = tmp_path / "cut.npz"
    for n in list(range(0, len(data), 7)) + [len(data) - 1]:
        bad.write_bytes(data[:n])
        with pytest.raises(CheckpointError):
            read_checkpoint(bad)


# --- what a run writes: the umask's permissions, strict JSON ---------------------------------
@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_checkpoints_and_json_files_get_the_umasks_permissions(tmp_path, umask, mask):
    umask(mask)
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, tiny_gan())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask
    write_json(tmp_path / "metrics.json", {"a": 1})
    assert stat.S_IMODE(os.stat(tmp_path / "metrics.json").st_mode) == 0o666 & ~mask
    save_checkpoint(path, tiny_gan())                   # replacing one keeps the rule
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask
    mirror = tmp_path / "mirror"                        # a downloaded dataset file too
    mirror.mkdir()
    (mirror / "f.gz").write_bytes(b"data")
    got = fetch_file("f.gz", hashlib.md5(b"data").hexdigest(), tmp_path / "cache",
                     (mirror.as_uri() + "/",), quiet=True)
    assert stat.S_IMODE(os.stat(got).st_mode) == 0o666 & ~mask


def strict_json(text):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def test_write_json_writes_non_finite_numbers_as_null(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"fid": np.float64(np.nan), "kl": float("inf"), "n": np.int64(3),
                      "curve": np.array([1.0, -np.inf, 2.5]), "nested": [{"x": np.float32(np.nan)}],
                      "ok": 0.5, "flag": True, "none": None})
    assert strict_json(path.read_text()) == {
        "fid": None, "kl": None, "n": 3, "curve": [1.0, None, 2.5], "nested": [{"x": None}],
        "ok": 0.5, "flag": True, "none": None}
    with pytest.raises(TypeError, match="not JSON-serialisable: complex"):
        write_json(path, {"z": 1j})
    assert strict_json(path.read_text())["ok"] == 0.5      # the old file is left whole


class Phased(GAN):
    """Logs loss_d only in its first steps, loss_g only after: NaN placeholders in history."""

    def train_step(self, batch):
        logs = super().train_step(batch)
        return {"loss_d": logs["loss_d"]} if self.step <= 4 else {"loss_g": logs["loss_g"]}


def test_history_and_metrics_are_strict_json_and_a_resume_reads_null_as_nan(tmp_path):
    def batches(step):
        return np.random.default_rng(step).standard_normal((8, 2)).astype(np.float32)

    model = Phased(data_shape=(2,), latent_dim=2, hidden=4, depth=1, seed=7)
    fit(model, batches, 8, tmp_path, checkpoint_every=4, log_every=2, progress=False,
        evaluate=lambda m: {"score": float("nan"), "count": 3})
    history = strict_json((tmp_path / "history.json").read_text())
    assert history["loss_d"][2:] == [None, None] and None not in history["loss_d"][:2]
    assert strict_json((tmp_path / "metrics.json").read_text()) == {"score": None, "count": 3,
                                                                    "step": 8}
    again = Phased(data_shape=(2,), latent_dim=2, hidden=4, depth=1, seed=7)
    resumed = fit(again, batches, 12, tmp_path, checkpoint_every=4, log_every=2,
                  progress=False, resume=True)
    assert resumed["step"] == [2, 4, 6, 8, 10, 12]
    assert np.isnan(resumed["loss_d"][2:]).all() and np.isfinite(resumed["loss_d"][:2]).all()
    assert None not in resumed["loss_g"]
    strict_json((tmp_path / "history.json").read_text())


def test_save_checkpoint_refuses_metadata_it_could_not_read_back(tmp_path):
    with pytest.raises(ValueError, match="unknown metadata 'colour'.*'run'"):
        save_checkpoint(tmp_path / "c.npz", tiny_gan(), {"colour": "red"})
    with pytest.raises(ValueError, match="unknown metadata 'step'"):
        save_checkpoint(tmp_path / "c.npz", tiny_gan(), {"step": 99})
    assert not (tmp_path / "c.npz").exists()
    save_checkpoint(tmp_path / "c.npz", tiny_gan(), {"run": {"data": "ring8"}})
    meta, _ = read_checkpoint(tmp_path / "c.npz")
    assert meta["run"] == {"data": "ring8"} and meta["step"] == 0
