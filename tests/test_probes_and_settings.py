"""Training probes on known arrays, and the settings machinery every experiment uses."""

import dataclasses

import numpy as np
import pytest

from engine import probes
from engine.experiments import SettingError, apply_settings, describe_settings, setting, validate


def test_change_tracker_counts_changes_per_weight():
    w = np.zeros((2, 3), dtype=np.float32)
    tracker = probes.ChangeTracker([w])
    w[0, 1] = 1.0
    (changed,) = tracker.update([w])
    assert changed.sum() == 1 and changed[0, 1]
    w[0, 1] = 2.0
    w[1, 2] = 5.0
    tracker.update([w])
    np.testing.assert_array_equal(tracker.cumulative[0], [[0, 2, 0], [0, 0, 1]])
    assert tracker.changed_fraction() == [pytest.approx(2 / 6)]
    tracker.update([w])  # nothing changed this time
    assert tracker.last_changed[0].sum() == 0 and tracker.steps == 3


def test_dead_units_dense_and_conv():
    pre = np.array([[1.0, -1.0, 0.0], [-2.0, -3.0, 0.0]])
    np.testing.assert_array_equal(probes.dead_units(pre), [False, True, True])
    assert probes.dead_fraction(pre) == pytest.approx(2 / 3)
    conv = -np.ones((2, 4, 4, 5))
    conv[1, 3, 3, 2] = 0.1  # channel 2 fires once: alive
    assert probes.dead_fraction(conv) == pytest.approx(4 / 5)
    with pytest.raises(ValueError, match="shape"):
        probes.dead_units(np.ones(3))


def test_histogram_and_gradient_norms():
    counts, edges = probes.histogram(np.array([0.0, 0.0, 1.0, np.nan, np.inf]), bins=2)
    np.testing.assert_array_equal(counts, [2, 1])
    np.testing.assert_allclose(edges, [0, 0.5, 1])
    counts, edges = probes.histogram(np.full(4, 3.0), bins=1)
    assert counts.tolist() == [4] and edges[0] < 3 < edges[1]
    np.testing.assert_allclose(probes.gradient_norms([np.array([3.0, 4.0]), np.ones((2, 2))]), [5, 2])


@dataclasses.dataclass
class ExampleConfig:
    steps: int = setting(100, "training steps", low=1, high=10_000)
    learning_rate: float = setting(0.01, "step size", low=0.0, high=10.0, live=True)
    optimizer: str = setting("sgd", "update rule", choices=("sgd", "adam"))
    hidden: tuple[int, ...] = setting((8, 8), "hidden units per layer", low=1)
    shuffle: bool = setting(True, "shuffle each epoch")


def test_apply_settings_parses_text_and_validates():
    config = ExampleConfig()
    apply_settings(config, ["steps=5", "learning_rate=0.5", "optimizer=adam", "hidden=4,3,2",
                            "shuffle=no"])
    assert (config.steps, config.learning_rate, config.optimizer) == (5, 0.5, "adam")
    assert config.hidden == (4, 3, 2) and config.shuffle is False


@pytest.mark.parametrize(
    "item,message",
    [("step=5", "unknown setting 'step'"), ("steps=abc", "cannot read 'abc' as int"),
     ("steps=0", "at least 1"), ("optimizer=rmsprop", "not one of sgd, adam"),
     ("learning_rate=nan", "finite"), ("steps", "key=value"), ("shuffle=maybe", "true or false"),
     ("hidden=8,0", "each value must be at least 1"), ("hidden=", "at least one value")],
)
def test_bad_settings_are_refused_and_change_nothing(item, message):
    config = ExampleConfig()
    with pytest.raises(SettingError, match=message):
        apply_settings(config, ["learning_rate=0.2", item])
    assert config == ExampleConfig()


def test_describe_and_validate():
    text = describe_settings(ExampleConfig)
    assert "learning_rate=0.01  step size" in text and "live" in text and "hidden=8,8" in text
    config = ExampleConfig()
    config.learning_rate = -1.0
    with pytest.raises(SettingError, match="at least 0.0"):
        validate(config)
