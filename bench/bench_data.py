"""Benchmark: seconds to generate 10,000 glyphs47 samples (budget: 5 s on a 2-core machine).

Run: python bench/bench_data.py
"cold" includes rendering the font templates, which happens once per process.
"""

from __future__ import annotations

import time

BUDGET_S = 5.0
N = 10_000


def main() -> None:
    from engine.data import digits, glyphs47

    t0 = time.perf_counter()
    glyphs47(n=N, seed=0)
    cold = time.perf_counter() - t0

    warm = min(_timed(lambda: glyphs47(n=N, seed=1)) for _ in range(3))
    dig = _timed(digits)

    print(f"glyphs47 n={N}: cold {cold:.2f} s (templates + samples), warm {warm:.2f} s")
    print(
        f"  {1e3 * warm / N:.3f} ms per sample; cold is {cold / BUDGET_S:.2f} of the {BUDGET_S} s budget"
    )
    print(f"digits(): {1e3 * dig:.1f} ms (cached after the first call)")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
