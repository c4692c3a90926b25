"""The shared training kit: one optimizer lookup, by name in any case, used by every lab."""

import numpy as np
import pytest

from engine import optimizers
from engine.experiments import dropout, training
from engine.experiments import optimizers as optimizer_lab
from engine.experiments.kit import parse_numbers


def test_one_lookup_knows_every_name_the_labs_offer():
    nesterov = optimizers.get("Nesterov", lr=0.1)
    assert type(nesterov) is optimizers.SGD
    assert (nesterov.momentum, nesterov.nesterov) == (0.9, True)
    momentum = optimizers.get("momentum", lr=0.2)
    assert (momentum.momentum, momentum.nesterov) == (0.9, False)
    assert type(optimizers.get("ADAM", lr=1e-3)) is optimizers.Adam
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'; known: sgd, adam"):
        optimizers.get("adamw", lr=0.1)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adagrad",
                                  "adadelta", "rmsprop"])
def test_the_training_lab_uses_the_lookup(name):
    made, looked_up = training.make_optimizer(name, 0.05), optimizers.get(name, lr=0.05)
    assert type(made) is type(looked_up)
    assert vars(made).keys() == vars(looked_up).keys()
    assert getattr(made, "nesterov", None) == getattr(looked_up, "nesterov", None)


def test_dropout_and_optimizer_labs_use_the_lookup():
    for name in dropout.OPTIMIZERS:
        assert type(dropout.make_optimizer(name, 0.1)) is type(optimizers.get(name, lr=0.1))
    for name in optimizer_lab.OPTIMIZERS:
        opt = optimizer_lab.make_optimizer(name, np.array([1e-3, 1e-2], np.float32), population=2)
        assert type(opt) is type(optimizers.get(name, lr=0.1))


def test_a_recording_is_written_as_its_suffix_says(tmp_path):
    from vizlab.export import ExportError, Recorder

    with Recorder() as recorder:
        for shade in (0, 128, 255):
            recorder.add_frame(np.full((8, 8, 3), shade, np.uint8))
        assert recorder.write(tmp_path / "a.gif", fps=5)
        assert recorder.write(tmp_path / "a.apng", fps=5)
        assert recorder.write(tmp_path / "a.PNG", fps=5)
        with pytest.raises(ExportError, match="written as .gif or .apng or .png, not 'a.mp4'"):
            recorder.write(tmp_path / "a.mp4")
    assert (tmp_path / "a.gif").read_bytes()[:6] == b"GIF89a"
    assert b"acTL" in (tmp_path / "a.apng").read_bytes()[:200]  # an animated PNG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.PNG", "a.apng", "a.gif"]


def test_mini_batches_cover_each_epoch_and_read_a_live_size():
    from engine.experiments.kit import MiniBatches

    size = [4]
    batches = MiniBatches(10, np.random.default_rng(0), lambda: size[0])
    first = [next(batches) for _ in range(2)]
    assert [len(b) for b in first] == [4, 4] and len(set(np.concatenate(first))) == 8
    size[0] = 3  # 2 left in this epoch: a fresh permutation
    assert len(next(batches)) == 3 and batches.cursor == 3
    size[0] = 50  # clamped to the data
    assert sorted(next(batches)) == list(range(10))


def test_one_number_list_parser_names_the_setting():
    from engine.experiments import activations
    from engine.experiments.settings import SettingError

    assert parse_numbers("1, 2;3 4", "units").tolist() == [1, 2, 3, 4]
    with pytest.raises(SettingError, match="setting 'units': cannot read '1,x' as numbers"):
        parse_numbers("1,x", "units")
    with pytest.raises(SettingError, match="setting 'logits': every value must be a finite"):
        activations.parse_logits("1,inf")
    with pytest.raises(SettingError, match="setting 'logits': give 2 to"):
        activations.parse_logits("1")


@pytest.mark.parametrize("text", ["64, 32", "64;32", "64 32", " 64,, 32 ", "64\t32"])
def test_one_way_to_read_a_typed_list(text):
    from engine.experiments.settings import split_list
    from engine.experiments.style import parse_layers

    assert split_list(text) == ["64", "32"]
    assert parse_layers(text) == ["64", "32"]
    np.testing.assert_array_equal(parse_numbers(text, "x"), [64.0, 32.0])
