"""Optimizer sweeps in chunks: chunking never changes a member's numbers, Dask workers give
the in-process numbers (also when one dies mid-sweep), interrupted sweeps resume from
their results file, damaged or foreign files are refused, the CLI and the lab's Sweep box."""

from __future__ import annotations

import io
import os
import signal

import numpy as np
import pytest

from engine.experiments import SettingError, sweep
from engine.experiments import optimizers as lab

FIELDS = ("test_loss", "test_accuracy", "diverged", "curve", "done")
# Process-wide thread pools Dask starts once and keeps (offloading, its event loop), and
# the queue thread of a worker process its nanny restarted (ends with the cluster).
DASK_THREADS = ("Dask-", "IO loop", "Profile", "TCP-Executor", "AsyncProcess",
                "QueueFeederThread")


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """As tests/conftest.py's, but Dask's own process-wide pools may stay."""
    import threading
    import time

    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while True:
        extra = [t.name for t in threading.enumerate() if t not in before and t.is_alive()
                 and not t.name.startswith(DASK_THREADS)]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not extra, f"test left threads running: {extra}"


def tiny(**changes) -> sweep.SweepConfig:
    config = sweep.SweepConfig(rates=9, train_samples=96, test_samples=40, curve_points=6)
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def assert_same(a: sweep.SweepResults, b: sweep.SweepResults) -> None:
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.fixture(scope="module")
def reference() -> sweep.SweepResults:
    """The tiny sweep, in this process, in one chunk per (optimizer, dropout)."""
    snaps = list(sweep.run_sweep(tiny(), None, workers=0))
    assert snaps[-1].state == "finished" and snaps[-1].chunks_total == 8
    return snaps[-1].results


@pytest.mark.parametrize("dropout", [False, True])
@pytest.mark.parametrize("optimizer", ["Adam", "SGD"])
def test_a_member_is_bit_identical_in_chunks_of_1_7_or_all(optimizer, dropout):
    settings = sweep.identity_json(tiny())
    whole = sweep.train_chunk(settings, optimizer, dropout, np.arange(9))
    seven = sweep.train_chunk(settings, optimizer, dropout, np.arange(1, 8))
    for rate in (1, 4, 7):
        one = sweep.train_chunk(settings, optimizer, dropout, np.array([rate]))
        for name in ("test_loss", "test_accuracy", "diverged", "curve"):
            np.testing.assert_array_equal(one[name][0], whole[name][rate])
            np.testing.assert_array_equal(seven[name][rate - 1], whole[name][rate])
    # The rates did train differently: the sweep is not trivially equal.
    assert np.ptp(whole["curve"][:, -1]) > 0.01
    assert whole["curve"].shape == (9, 6) and whole["curve"].dtype == np.float32


def test_the_rates_run_from_lr_min_to_lr_max_and_a_bad_range_is_refused():
    config = tiny(rates=5, lr_min=1e-3, lr_max=10.0)
    results = list(sweep.run_sweep(config, None, workers=0))[-1].results
    np.testing.assert_allclose(results.rates, [1e-3, 1e-2, 1e-1, 1.0, 10.0], rtol=1e-12)
    assert results.rates[0] == 1e-3 and results.rates[-1] == 10.0
    assert results.config.lr_max == 10.0 and results.done.all()
    # The lab's Sweep box hands its range on; a range upside down is one message.
    assert sweep.SweepConfig().lr_min == lab.Config().lr_min
    with pytest.raises(SettingError, match="lr_min"):
        list(sweep.run_sweep(tiny(lr_min=1.0, lr_max=0.1), None, workers=0))


def test_dropout_masks_come_from_the_seed_and_the_step_alone():
    config = lab.Config(train_samples=64, test_samples=10)
    x, _, _, _ = lab.load_data(config)
    small, large = (lab.network(config, True, population=k) for k in (1, 5))
    for _ in range(3):
        small(x[:8], training=True)
        large(x[:8], training=True)
        np.testing.assert_array_equal(small.layers[2].last_mask[0], large.layers[2].last_mask[4])
    first = lab.network(config, True, population=2)
    first(x[:8], training=True)
    assert not np.array_equal(first.layers[2].last_mask[0], small.layers[2].last_mask[0])


def test_chunk_size_follows_the_memory_budget():
    per_member, fixed = sweep.member_bytes("mlp", 8)
    assert 1e6 < per_member < 5e6  # 0.1 M weights with Adam's state, plus activations
    config = tiny(rates=1000, memory_mb=64)
    fit = sweep.budget_chunk_size(config)
    assert fit * per_member + fixed <= 0.75 * 64 * 2**20 < (fit + 1) * per_member + fixed
    # The MLP's chunks stay at its fastest population size, within the budget.
    size = sweep.chunk_size(config)
    assert size == min(fit, sweep.FASTEST_CHUNK["mlp"]) == 16
    config.memory_mb = 16
    assert sweep.chunk_size(config) == sweep.budget_chunk_size(config) < size
    config.memory_mb = 64
    chunks = sweep.plan(config, np.zeros((4, 2, 1000), bool), size)
    assert len(chunks) == 8 * -(-1000 // size)
    assert sorted(i for c in chunks[:-(-1000 // size)] for i in c.indices) == list(range(1000))
    # The conv net at 1,000 rates and the default budget: chunks that fit, none empty.
    conv = tiny(rates=1000, model="conv")
    conv_member, conv_fixed = sweep.member_bytes("conv", 8)
    conv_fit = sweep.budget_chunk_size(conv)
    assert 1 <= conv_fit < 1000
    assert conv_fit * conv_member + conv_fixed <= conv.memory_mb * 2**20
    assert sweep.chunk_size(conv) == conv_fit
    # Done members are never planned again.
    done = np.zeros((4, 2, 1000), bool)
    done[0, 0, :500] = True
    assert sum(len(c.indices) for c in sweep.plan(config, done, size)) == 8000 - 500


def test_interrupted_sweep_resumes_running_only_the_missing_chunks(tmp_path, monkeypatch,
                                                                   reference):
    path = tmp_path / "sweep.npz"
    calls = []
    real = sweep.chunk_steps

    def counted(settings, optimizer, dropout, indices):
        calls.append((optimizer, dropout, tuple(indices)))
        return real(settings, optimizer, dropout, indices)

    monkeypatch.setattr(sweep, "chunk_steps", counted)
    config = tiny(memory_mb=64)
    monkeypatch.setattr(sweep, "chunk_size", lambda config: 5)  # 16 chunks: 5 + 4 rates
    run = sweep.run_sweep(config, path, workers=0)
    for snap in run:
        if snap.chunks_done == 3:
            run.close()  # Cancel / Ctrl+C after three chunks
            break
    saved = sweep.SweepResults.load(path)
    assert saved.done.sum() == 5 + 4 + 5 and len(calls) == 3
    first = list(calls)
    calls.clear()
    snaps = list(sweep.run_sweep(config, path, workers=0))
    assert len(calls) == 13 and not set(calls) & set(first)
    assert snaps[-1].chunks_total == 13 and snaps[-1].members_done == 72
    assert_same(sweep.SweepResults.load(path), reference)
    # Once complete, running it again trains nothing.
    calls.clear()
    assert [s.state for s in sweep.run_sweep(config, path, workers=0)] == ["finished"]
    assert calls == []


def test_damaged_or_foreign_results_files_are_refused_and_kept(tmp_path, reference):
    good = tmp_path / "good.npz"
    reference.save(good)
    data = good.read_bytes()
    single = io.BytesIO()
    np.save(single, np.zeros(3))
    for name, content in (("truncated.npz", data[:len(data) // 2]),
                          ("single-array.npz", single.getvalue()),
                          ("garbage.npz", b"not a zip file at all" * 10),
                          ("empty.npz", b"")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(SettingError, match="not a readable sweep results file.*left as "
                                               "it is"):
            list(sweep.run_sweep(tiny(), path, workers=0))
        assert path.read_bytes() == content
    other = tmp_path / "other.npz"
    np.savez(other, format=np.array("something else"), x=np.zeros(3))
    with pytest.raises(SettingError, match="format"):
        sweep.SweepResults.load(other)
    with pytest.raises(SettingError, match=r"other settings \(rates=9 there, 10 here\)"):
        list(sweep.run_sweep(tiny(rates=10), good, workers=0))
    assert good.read_bytes() == data
    # No pickles: the file is plain arrays, the settings JSON text.
    with np.load(good, allow_pickle=False) as arrays:
        assert '"rates": 9' in str(arrays["settings"])
        assert arrays["curve"].shape == (4, 2, 9, 6)


def test_results_load_back_and_export_as_csv(tmp_path, reference):
    path = tmp_path / "r.npz"
    reference.save(path)
    loaded = sweep.SweepResults.load(path)
    assert_same(loaded, reference)
    np.testing.assert_array_equal(loaded.rates, lab.learning_rates(9))
    loaded.write_csv(tmp_path / "r.csv")
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0] == "optimizer,dropout,learning_rate,test_loss,test_accuracy,diverged,done"
    assert len(lines) == 1 + 8 * 9
    name, drop, rate, loss, acc, diverged, done = lines[1 + 9 + 2].split(",")  # Adam, dropout
    assert (name, drop, float(rate)) == ("Adam", "1", pytest.approx(lab.learning_rates(9)[2]))
    assert float(loss) == pytest.approx(reference.test_loss[0, 1, 2], rel=1e-8)
    assert float(acc) == pytest.approx(reference.test_accuracy[0, 1, 2])
    assert (diverged, done) == ("0", "1")


# ----------------------------------------------------------------------------------
# Dask


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    # This process says otherwise: the workers must still start with WORKER_ENV.
    with sweep.environment(PARENT_ENV):
        cluster = sweep.local_cluster(2)
        after = {name: os.environ.get(name) for name in PARENT_ENV}
    assert after == PARENT_ENV  # and this process's environment is as it was
    with cluster, distributed.Client(cluster) as client:
        yield client


PARENT_ENV = {"OPENBLAS_NUM_THREADS": "2", "MALLOC_TRIM_THRESHOLD_": "65536"}


def _start_environment() -> dict:
    """The environment this process started with (what the BLAS and malloc read)."""
    with open("/proc/self/environ", "rb") as handle:
        pairs = [item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item]
    return {key.decode(): value.decode() for key, value in pairs}


def _page_faults_of_big_buffers() -> tuple[bool, int]:
    """Minor page faults of 50 allocations of 1 MB after keep_malloc_buffers()."""
    import resource

    kept = sweep.keep_malloc_buffers()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        np.ones(2**18, np.float32).sum()
    return kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(not os.path.exists("/proc/self/environ"), reason="Linux /proc")
def test_workers_start_with_one_blas_thread_and_keep_malloc_buffers(client):
    for environment in client.run(_start_environment).values():
        for name, value in sweep.WORKER_ENV.items():
            assert environment.get(name) == value, name
    for kept, faults in client.run(_page_faults_of_big_buffers).values():
        # Mapped afresh, 50 buffers of 1 MB fault 50 x 256 pages in; kept, none.
        assert kept and faults < 1000


def test_chunks_per_task_make_about_a_second_of_work_and_8_tasks_per_worker():
    assert sweep.TASK_SECONDS == 1.0
    assert sweep.chunks_per_task(0.27, 500, 2) == 3  # the MLP at 1,000 rates
    assert sweep.chunks_per_task(0.27, 40, 2) == 2  # 20 tasks: at least 8 per worker
    assert sweep.chunks_per_task(5.0, 500, 2) == 1  # one long chunk per task
    assert sweep.chunks_per_task(0.01, 8, 2) == 1


def test_local_cluster_equals_in_process(client, reference, tmp_path, monkeypatch):
    # Tasks of 3, 3 and 2 chunks.
    monkeypatch.setattr(sweep, "chunks_per_task", lambda seconds, chunks, workers: 3)
    snaps = list(sweep.run_sweep(tiny(), tmp_path / "d.npz", client=client))
    assert snaps[-1].state == "finished" and snaps[-1].chunks_done == 8
    assert [s.chunks_done for s in snaps if s.state == "running"][-1] == 8
    assert {s.chunks_done for s in snaps} <= {0, 2, 3, 5, 6, 8}
    assert "2 workers" in snaps[-1].executor
    assert_same(snaps[-1].results, reference)
    assert_same(sweep.SweepResults.load(tmp_path / "d.npz"), reference)
    assert "here on 2 workers" in snaps[-1].estimate and "on 50 workers" in snaps[-1].estimate


def test_a_worker_killed_mid_sweep_changes_nothing(client, tmp_path):
    # Chunks of a few hundred steps, so the kill lands while they train.
    config = tiny(train_samples=800, rates=4)
    expected = list(sweep.run_sweep(config, None, workers=0))[-1].results
    pids = client.run(os.getpid)
    killed = None
    for snap in sweep.run_sweep(config, tmp_path / "k.npz", client=client):
        busy = [addr for addr, keys in client.processing().items() if keys]
        if killed is None and snap.state == "running" and busy:
            killed = pids[busy[0]]
            os.kill(killed, signal.SIGKILL)
    assert killed is not None
    assert snap.state == "finished" and snap.results.complete
    assert_same(snap.results, expected)
    assert killed not in client.run(os.getpid).values()  # the nanny started a new one


# ----------------------------------------------------------------------------------
# the command line and the lab


SMALL = ["--set", "rates=5", "--set", "train_samples=48", "--set", "test_samples=20",
         "--set", "curve_points=4"]


def test_cli_sweep_in_process_and_on_two_workers_then_screenshot(tmp_path, capsys,
                                                                monkeypatch):
    from vizlab import cli
    from vizlab.cli import main

    # The screenshot installs the CLI's Qt message filter: a later test installs it anew.
    monkeypatch.setattr(cli, "_qt_message_handler", None)

    here, there = tmp_path / "here.npz", tmp_path / "there.npz"
    assert main(["sweep", "optimizers", *SMALL, "--workers", "0", "--out", str(here),
                 "--csv", str(tmp_path / "here.csv")]) == 0
    out, err = capsys.readouterr()
    assert f"wrote {here}: 40 of 40 members (8 chunks run now)" in out
    assert "this process: chunks of up to 5 rates" in err and "estimate: 8 chunks" in err
    assert len((tmp_path / "here.csv").read_text().splitlines()) == 41
    assert main(["sweep", "optimizers", *SMALL, "--workers", "2", "--out", str(there)]) == 0
    out, err = capsys.readouterr()
    assert "2 workers" in err and "Dask dashboard: http://127.0.0.1:" in err
    assert_same(sweep.SweepResults.load(here), sweep.SweepResults.load(there))
    # Again: nothing to do.
    assert main(["sweep", "optimizers", *SMALL, "--workers", "0", "--out", str(here)]) == 0
    assert "(0 chunks run now)" in capsys.readouterr().out
    png = tmp_path / "sweep.png"
    assert main(["screenshot", "optimizers", "--results", str(here), "--out", str(png),
                 "--size", "900x700"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A damaged file: a message, exit 2, the file untouched.
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"junk")
    assert main(["sweep", "optimizers", *SMALL, "--workers", "0", "--out", str(bad)]) == 2
    assert "not a readable sweep results file" in capsys.readouterr().err
    assert bad.read_bytes() == b"junk"


def test_lab_sweep_fills_in_and_loads_results(qtbot, shown_lab, tmp_path, reference):
    view = shown_lab("optimizers")
    view.apply_settings({"train_samples": 96, "test_samples": 40})
    view.sweep_rates.setValue(9)
    view.sweep_workers.setValue(0)
    path = tmp_path / "lab.npz"
    view.sweep_file.setText(str(path))
    # The lab's sweep keeps 50 curve points; the reference keeps 6: compare the grid.
    view.start_sweep()
    qtbot.waitUntil(lambda: view.sweep_runner.state == "finished", timeout=20_000)
    qtbot.waitUntil(lambda: "Finished: 72 of 72" in view.sweep_status.text(), timeout=2000)
    results = sweep.SweepResults.load(path)
    for name in ("test_loss", "test_accuracy", "diverged"):
        np.testing.assert_array_equal(getattr(results, name), getattr(reference, name))
    _, y = view.acc_plot.curve_data("SGD + dropout")
    np.testing.assert_array_equal(y, reference.test_accuracy[3, 1])
    assert view.sweep_progress.value() == view.sweep_progress.maximum() == 72
    # A partial file: pending rates drawn grey, loaded back as they are.
    partial = reference.copy()
    partial.done[:, :, 4:] = False
    partial.test_loss[:, :, 4:] = np.nan
    partial.save(tmp_path / "partial.npz")
    view.load_results(tmp_path / "partial.npz")
    x, _ = view.pending_dots[1].getData()
    np.testing.assert_allclose(x, np.log10(lab.learning_rates(9)[4:]))  # log x axis
    assert "32 of 72 members" in view.sweep_status.text()
    view.shutdown()
