"""Every lab's experiment module keeps the experiment contract (engine/experiments/contract.py),
and a module that breaks it is named with what it lacks."""

import types

import pytest

from engine import experiments
from engine.experiments import contract


@pytest.mark.parametrize("name", experiments.LAB_NAMES)
def test_every_lab_keeps_the_experiment_contract(name):
    module = experiments.get(name)
    problems = contract.contract_problems(module)
    assert not problems, f"the {name} lab ({module.__name__}) breaks the contract: " + "; ".join(problems)


def test_the_labs_declare_what_the_front_ends_ask():
    paced = {name for name in experiments.LAB_NAMES
             if contract.is_paced(experiments.get(name).Config())}
    assert paced == {"training", "activations", "dropout", "optimizers", "regularization", "style"}
    assert [n for n in experiments.LAB_NAMES if contract.is_resumable(experiments.get(n))] == ["training"]


def test_a_broken_pair_is_named_with_what_it_lacks():
    from engine.experiments import dropout

    broken = types.ModuleType("engine.experiments.broken")
    broken.TITLE = "Broken"
    broken.Config = dropout.Config
    broken.Snapshot = dropout.Side  # not a snapshot: no step field
    broken.run = lambda config: []
    problems = contract.contract_problems(broken)
    assert problems == [
        "SUMMARY must be a non-empty string",
        "Snapshot must have a `step` field",
        "run(config) must be a generator function (it yields snapshots)",
    ]
