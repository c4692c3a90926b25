"""`vizlab sweep optimizers ...`: the Optimizer lab's full sweep, headless, on Dask or here;
and `vizlab screenshot optimizers --results FILE`: a finished sweep's picture.

    vizlab sweep optimizers --set rates=1000 --set model=conv [--scheduler ADDR | --workers N]
                            --out sweep.npz [--csv sweep.csv] [--estimate-only]

The results file is written after every finished chunk; the same command again resumes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < -1:
        raise argparse.ArgumentTypeError("--workers is -1 (one per core), 0 (this process) "
                                         "or a number of worker processes")
    return value


def add_sweep_parser(sub) -> None:
    """Register `vizlab sweep` on the CLI's subparsers."""
    cmd = sub.add_parser("sweep", help="run the Optimizer lab's learning-rate sweep in chunks, "
                         "on a Dask cluster or this machine's cores, into a results file")
    cmd.add_argument("lab", choices=("optimizers",), help="the lab whose sweep to run")
    cmd.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="change a sweep setting (repeatable; see below)")
    where = cmd.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default="", metavar="ADDR",
                       help="a running Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--workers", type=_workers, default=-1, metavar="N",
                       help="worker processes of a LocalCluster on this machine (default -1: "
                       "one per core; 0: in this process, without Dask)")
    cmd.add_argument("--out", required=True, help="results file (.npz); resumed if it exists")
    cmd.add_argument("--csv", help="also export the results as CSV to this file")
    cmd.add_argument("--estimate-only", action="store_true",
                     help="say how long the sweep would take, and stop")
    plain_help = cmd.format_help

    def format_help() -> str:
        # The engine is imported only for --help, not whenever vizlab starts.
        from engine.experiments import describe_settings
        from engine.experiments.sweep import SweepConfig

        return f"{plain_help()}\nsettings:\n{describe_settings(SweepConfig)}\n"

    cmd.format_help = format_help


def _bar():
    """A rich progress bar on stderr (a plain line per chunk where rich is missing)."""
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
    except ImportError:
        return None
    return Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("members · {task.fields[chunks]} · {task.fields[left]}"),
                    TimeElapsedColumn(), console=Console(file=sys.stderr), transient=False)


def _left(seconds: float | None) -> str:
    from engine.experiments.sweep import duration_text

    if seconds is None:
        return "time left unknown"
    return "done" if seconds <= 0 else f"{duration_text(seconds)} left"


def sweep_command(args: argparse.Namespace, error: type[Exception], say) -> int:
    from engine.experiments import SettingError, apply_settings, sweep

    out = Path(args.out)
    if out.suffix.lower() != ".npz":
        raise error(f"--out must end in .npz, got {out.name!r}")
    if not out.parent.exists():
        raise error(f"the folder {out.parent} does not exist")
    if args.csv and not Path(args.csv).parent.exists():
        raise error(f"the folder {Path(args.csv).parent} does not exist")
    config = sweep.SweepConfig()
    try:
        apply_settings(config, args.set)
        config.check()
        results = sweep.open_results(config, out)
    except SettingError as exc:
        raise error(str(exc)) from None
    if results.done.any():
        say(f"resuming {out}: {int(results.done.sum())} of {results.done.size} members "
            f"are done")
    bar = _bar()
    runs = 0
    generator = sweep.run_sweep(config, out, workers=args.workers, scheduler=args.scheduler)
    snap = None
    try:
        with bar if bar is not None else contextlib.nullcontext():
            task = None
            for snap in generator:
                if snap.state == "estimating":
                    say(f"{snap.executor}: chunks of up to {snap.chunk_size} rates "
                        f"(memory_mb {config.memory_mb}); estimate: {snap.estimate}")
                    if snap.dashboard:
                        say(f"Dask dashboard: {snap.dashboard}")
                    if args.estimate_only:
                        break
                if bar is not None:
                    fields = dict(chunks=f"chunks {snap.chunks_done} done, "
                                  f"{snap.chunks_running} running, {snap.chunks_left} left",
                                  left=_left(snap.remaining))
                    if task is None:
                        task = bar.add_task("sweep", total=snap.members_total, **fields)
                    bar.update(task, completed=snap.members_done, **fields)
                elif snap.chunks_done > runs:
                    say(f"{snap.chunks_done}/{snap.chunks_total} chunks")
                runs = snap.chunks_done
    except SettingError as exc:
        raise error(str(exc)) from None
    except KeyboardInterrupt:
        generator.close()
        say(f"vizlab: the sweep stopped; {out} keeps every finished chunk "
            f"(run the same command to resume)")
        raise
    finally:
        generator.close()
    if args.estimate_only or snap is None:
        return 0
    if args.csv:
        snap.results.write_csv(args.csv)
        print(f"wrote {args.csv}")
    print(f"wrote {out}: {snap.members_done} of {snap.members_total} members "
          f"({snap.chunks_done} chunks run now)")
    return 0


def screenshot_results(args: argparse.Namespace, error: type[Exception]) -> int:
    """`vizlab screenshot optimizers --results FILE --out PNG`: the finished (or partial)
    sweep drawn by the Optimizer lab, without training."""
    from engine.experiments import SettingError
    from engine.experiments.sweep import SweepResults

    if args.lab != "optimizers":
        raise error("--results is for the optimizers lab (a file of `vizlab sweep`)")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise error(f"--out must end in .png, got {out.name!r}")
    if not out.parent.exists():
        raise error(f"the folder {out.parent} does not exist")
    try:
        SweepResults.load(args.results)  # refused before any window is made
    except SettingError as exc:
        raise error(str(exc)) from None
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from vizlab import export
    from vizlab.labs import view_class

    app = QApplication.instance() or QApplication(["vizlab"])
    view = view_class("optimizers")()
    try:
        view.disable_previews()
        view.resize(*args.size)
        view.show()
        view.load_results(args.results)
        app.processEvents()
        export.save_screenshot(view, out, scale=args.scale)
    except export.ExportError as exc:
        raise error(str(exc)) from None
    finally:
        view.shutdown()
        view.close()
    print(f"wrote {out}")
    return 0
