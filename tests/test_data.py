"""Tests for engine.data: toy sets, the L1/L2 line, digits, glyphs, IDX and CSV readers."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import engine.data as data
from engine._paths import ASSETS

TOY = ["spiral", "moons", "circles", "xor", "gaussians"]


# --- 2-D toy sets -------------------------------------------------------------


@pytest.mark.parametrize("name", TOY)
def test_toy_shapes_dtypes_balance(name):
    X, y = data.load(name, n=301, seed=3)
    assert X.shape == (301, 2) and X.dtype == np.float32
    assert y.shape == (301,) and y.dtype == np.int64
    assert np.isfinite(X).all()
    counts = np.bincount(y)
    assert counts.sum() == 301
    assert counts.max() - counts.min() <= 1
    assert np.abs(X).max() < 5


@pytest.mark.parametrize("name", TOY)
def test_toy_deterministic_from_seed(name):
    a = data.load(name, seed=7)
    b = data.load(name, seed=7)
    c = data.load(name, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_toy_class_counts_exact():
    _, y = data.spiral(n=10, classes=3)
    assert np.bincount(y).tolist() == [4, 3, 3]
    _, y = data.gaussians(n=200, classes=4)
    assert np.bincount(y).tolist() == [50, 50, 50, 50]


def test_toy_geometry_without_noise():
    X, y = data.circles(n=100, noise=0.0, factor=0.4)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(r[y == 1], 0.4, rtol=1e-6)
    X, y = data.xor(n=200, noise=0.0)
    np.testing.assert_array_equal((X[:, 0] * X[:, 1] < 0).astype(np.int64), y)
    X, y = data.spiral(n=200, noise=0.0)
    assert np.hypot(X[:, 0], X[:, 1]).max() == pytest.approx(1.0, abs=1e-6)


def test_gaussians_blobs_around_their_centres():
    X, y = data.gaussians(n=3000, noise=0.2, classes=3)
    means = np.array([X[y == c].mean(0) for c in range(3)])
    np.testing.assert_allclose(np.hypot(means[:, 0], means[:, 1]), 1.5, atol=0.05)
    np.testing.assert_allclose(X[y == 0].std(0), 0.2, atol=0.03)


@pytest.mark.parametrize(
    "call",
    [
        lambda: data.spiral(n=1, classes=2),
        lambda: data.moons(noise=-1),
        lambda: data.circles(factor=1.5),
        lambda: data.gaussians(classes=1),
    ],
)
def test_toy_bad_arguments(call):
    with pytest.raises(ValueError):
        call()


def test_load_unknown_name_lists_known():
    with pytest.raises(ValueError, match="spiral"):
        data.load("nope")
    assert data.DATASETS == (
        "spiral",
        "moons",
        "circles",
        "xor",
        "gaussians",
        "digits",
        "glyphs47",
    )


# --- line with outliers -------------------------------------------------------


def test_line_with_outliers():
    x, y = data.line_with_outliers(
        n=50, slope=2.0, intercept=-1.0, noise=0.05, n_outliers=5, seed=1
    )
    assert x.shape == (50, 1) and y.shape == (50, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    res = (y - (2.0 * x - 1.0))[:, 0]
    out = np.abs(res) > 1.0
    assert out.sum() == 5
    assert (res[out] >= 1.5 - 1e-5).all()  # clearly off, all above the line
    assert np.abs(res[~out]).max() < 0.05 * 5
    a = data.line_with_outliers(seed=4)
    b = data.line_with_outliers(seed=4)
    c = data.line_with_outliers(seed=5)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_line_outliers_pull_l2_not_l1():
    """Least squares is pulled up by the outliers; least absolute deviation is not."""
    x, y = data.line_with_outliers(n=40, slope=0.5, intercept=0.2, n_outliers=4, seed=0)
    A = np.c_[x[:, 0], np.ones(len(x))].astype(np.float64)
    b = y[:, 0].astype(np.float64)
    l2 = np.linalg.lstsq(A, b, rcond=None)[0]
    # L1 fit by iteratively reweighted least squares.
    w = np.ones(len(b))
    for _ in range(200):
        l1 = np.linalg.lstsq(A * w[:, None], b * w, rcond=None)[0]
        w = 1 / np.sqrt(np.maximum(np.abs(A @ l1 - b), 1e-6))
    assert abs(l1[1] - 0.2) < 0.05
    assert l2[1] - 0.2 > 0.1


def test_line_bad_arguments():
    with pytest.raises(ValueError):
        data.line_with_outliers(n=10, n_outliers=5)


# --- digits -------------------------------------------------------------------


def test_digits():
    X, y = data.digits()
    assert X.shape == (1797, 8, 8) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    # Multiples of 1/16: the file stores counts 0..16.
    np.testing.assert_allclose(X * 16, np.round(X * 16), atol=1e-5)
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # The first image is a 0 (as in scikit-learn's load_digits).
    assert y[0] == 0 and X[0, 0, 2] == pytest.approx(5 / 16)
    # Callers get copies: editing one does not change the next call.
    X[:] = 0
    assert data.digits()[0].max() == 1.0


def test_train_test_split_stratified_and_deterministic():
    X, y = data.digits()
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_fraction=0.2, seed=0)
    assert len(Xtr) + len(Xte) == 1797 and len(ytr) == len(Xtr) and len(yte) == len(Xte)
    assert abs(len(Xte) - 0.2 * 1797) <= 10
    assert np.abs(np.bincount(yte) - 0.2 * np.bincount(y)).max() <= 0.5
    # Train and test are disjoint and together hold every image.
    flat = lambda a: {r.tobytes() + bytes([c]) for r, c in zip(a[0], a[1], strict=True)}  # noqa: E731
    tr, te = flat((Xtr, ytr)), flat((Xte, yte))
    assert tr.isdisjoint(te)
    again = data.train_test_split(X, y, test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(again[1], Xte)
    other = data.train_test_split(X, y, test_fraction=0.2, seed=1)
    assert not np.array_equal(other[3], yte)
    _, Xte2, _, _ = data.train_test_split(X, y, test_fraction=0.3, stratify=False)
    assert len(Xte2) == round(0.3 * 1797)
    with pytest.raises(ValueError):
        data.train_test_split(X, y[:-1])
    with pytest.raises(ValueError):
        data.train_test_split(X, y, test_fraction=1.0)


# --- glyphs -------------------------------------------------------------------


@pytest.fixture(scope="module")
def glyphs():
    return data.glyphs47(n=2350, seed=0)


def test_glyph_labels():
    labels = data.GLYPH47_LABELS
    assert len(labels) == 47 and len(set(labels)) == 47
    assert "".join(labels[:10]) == "0123456789"
    assert "".join(labels[10:36]) == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert "".join(labels[36:]) == "abdefghnqrt"


def test_glyph_fonts_ship_with_licences():
    fonts = ASSETS / "fonts"
    for name, _, _ in data.GLYPH_FONTS:
        assert (fonts / name).is_file(), name
    readme = (ASSETS / "README.md").read_text()
    for name, _, _ in data.GLYPH_FONTS:
        assert f"fonts/{name}" in readme, f"{name} has no provenance entry"
    for lic in fonts.glob("LICENSE-*.txt"):
        assert lic.name in readme
    assert len(list(fonts.glob("LICENSE-*.txt"))) == 8
    assert "data/digits.csv.gz" in readme


def test_glyphs_shapes_and_balance(glyphs):
    X, y = glyphs
    assert X.shape == (2350, 28, 28) and X.dtype == np.float32
    assert y.shape == (2350,) and y.dtype == np.int64
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert np.bincount(y, minlength=47).tolist() == [50] * 47
    # Not blank: every image has a bright stroke and some ink.
    assert (X.reshape(len(X), -1).max(1) > 0.8).all()
    assert ((X > 0.5).reshape(len(X), -1).sum(1) >= 15).all()
    # The glyph sits inside the frame: the outer rows and columns hold little ink.
    border = np.concatenate([X[:, 0], X[:, -1], X[:, :, 0], X[:, :, -1]], axis=1)
    assert (border > 0.5).mean() < 0.01


def test_glyphs_deterministic(glyphs):
    X, y = data.glyphs47(n=2350, seed=0)
    np.testing.assert_array_equal(X, glyphs[0])
    np.testing.assert_array_equal(y, glyphs[1])
    X2, _ = data.glyphs47(n=2350, seed=1)
    assert not np.array_equal(X, X2)
    assert data.glyphs47(n=0)[0].shape == (0, 28, 28)


def test_glyph_classes_are_coherent(glyphs):
    """On average a glyph is nearer its own class than other classes."""
    X, y = glyphs
    F = X.reshape(len(X), -1).astype(np.float64)
    F /= np.linalg.norm(F, axis=1, keepdims=True)
    sim = F @ F.T
    same = y[:, None] == y[None, :]
    np.fill_diagonal(same, False)
    diff = y[:, None] != y[None, :]
    assert sim[same].mean() > sim[diff].mean() + 0.05
    # Per class too: within-class similarity beats that to the nearest other class.
    M = np.array([F[y == c].mean(0) for c in range(47)])
    own = np.array([(F[y == c] @ M[c]).mean() for c in range(47)])
    cross = (F @ M.T).copy()
    cross[np.arange(len(y)), y] = -np.inf
    assert (own > np.array([np.max(cross[y == c], axis=1).mean() for c in range(47)]) - 0.1).all()
    # A nearest-class-mean classifier on fresh samples does far better than chance (1/47).
    Xt, yt = data.glyphs47(n=470, seed=9)
    Ft = Xt.reshape(len(Xt), -1)
    Ft = Ft / np.linalg.norm(Ft, axis=1, keepdims=True)
    acc = ((Ft @ M.T).argmax(1) == yt).mean()
    assert acc > 0.3


def test_load_glyphs_and_digits_by_name():
    X, y = data.load("glyphs47", n=94, seed=2)
    assert X.shape == (94, 28, 28) and np.bincount(y).tolist() == [2] * 47
    X, y = data.load("digits")
    assert X.shape == (1797, 8, 8)


# --- IDX ----------------------------------------------------------------------


def _idx_bytes(arr: np.ndarray, code: int) -> bytes:
    be = arr.astype(arr.dtype.newbyteorder(">"))
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + be.tobytes()


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    ("dtype", "code"),
    [
        (np.uint8, 0x08),
        (np.int8, 0x09),
        (np.int16, 0x0B),
        (np.int32, 0x0C),
        (np.float32, 0x0D),
        (np.float64, 0x0E),
    ],
)
def test_read_idx_round_trip(tmp_path, compress, dtype, code):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((5, 3, 4)) * 50).astype(dtype)
    raw = _idx_bytes(arr, code)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    out = data.read_idx(path)
    assert out.shape == arr.shape and out.dtype == np.dtype(dtype)
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def _write_pair(tmp_path, n=6, labels_n=None, gz=True):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labs = rng.integers(0, 47, labels_n if labels_n is not None else n, dtype=np.uint8)
    ip, lp = tmp_path / "img-idx3-ubyte", tmp_path / "lab-idx1-ubyte"
    for p, a in ((ip, imgs), (lp, labs)):
        b = _idx_bytes(a, 0x08)
        if gz:
            p = p.with_suffix(".gz")
        p.write_bytes(gzip.compress(b) if gz else b)
    suffix = ".gz" if gz else ""
    return imgs, labs, ip.with_suffix(suffix), lp.with_suffix(suffix)


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_pair(tmp_path, gz):
    imgs, labs, ip, lp = _write_pair(tmp_path, gz=gz)
    X, y = data.load_idx_pair(ip, lp)
    assert X.shape == (6, 28, 28) and X.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_array_equal(X, imgs.astype(np.float32) / 255)
    np.testing.assert_array_equal(y, labs)
    Xt, _ = data.load_idx_pair(ip, lp, transpose=True)
    np.testing.assert_array_equal(Xt, X.transpose(0, 2, 1))


def test_idx_bad_magic(tmp_path):
    p = tmp_path / "bad.idx"
    p.write_bytes(b"\x00\x01\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match=r"bad\.idx.*not an IDX file"):
        data.read_idx(p)
    p.write_bytes(b"hello, this is text")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(p)
    p.write_bytes(b"\x00\x00\x07\x01" + b"\x00" * 8)  # unknown type code
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(p)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated(tmp_path, gz):
    raw = _idx_bytes(np.zeros((4, 28, 28), np.uint8), 0x08)
    p = tmp_path / "short.idx"
    cut = raw[:-100]
    p.write_bytes(gzip.compress(cut) if gz else cut)
    with pytest.raises(ValueError, match=r"short\.idx.*truncated data"):
        data.read_idx(p)
    p.write_bytes(raw[:10])  # header cut short
    with pytest.raises(ValueError, match=r"short\.idx.*truncated IDX header"):
        data.read_idx(p)
    p.write_bytes(raw + b"\x00\x00")
    with pytest.raises(ValueError, match="unexpected bytes"):
        data.read_idx(p)


def test_idx_truncated_gzip_stream(tmp_path):
    raw = _idx_bytes(np.arange(200, dtype=np.uint8).reshape(2, 10, 10), 0x08)
    p = tmp_path / "cut.gz"
    p.write_bytes(gzip.compress(raw)[:-12])
    with pytest.raises(ValueError, match=r"cut\.gz.*gzip"):
        data.read_idx(p)


def test_idx_not_a_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        data.read_idx(tmp_path / "missing.gz")
    with pytest.raises(ValueError, match="not a file"):
        data.read_idx(tmp_path)


def test_idx_pair_mismatched_counts(tmp_path):
    _, _, ip, lp = _write_pair(tmp_path, n=6, labels_n=5)
    with pytest.raises(ValueError, match=r"mismatched counts.*6 images.*5 labels"):
        data.load_idx_pair(ip, lp)


def test_idx_pair_swapped_files(tmp_path):
    _, _, ip, lp = _write_pair(tmp_path)
    with pytest.raises(ValueError, match="expected 3-D images"):
        data.load_idx_pair(lp, ip)


# --- CSV points ---------------------------------------------------------------


def test_csv_points_with_and_without_header(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("x1,x2,label\n0.5,1.5,0\n-1,2e-1,1\n3,4,1\n")
    X, y = data.load_csv_points(p)
    assert X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X, [[0.5, 1.5], [-1, 0.2], [3, 4]])
    assert y.tolist() == [0, 1, 1]
    p.write_text("0.5;1.5;-1\n\n-1;0.2;1.0\n")  # no header, semicolons, -1/1 labels
    X, y = data.load_csv_points(p)
    assert X.shape == (2, 2) and y.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("x1,x2,label\n", "no data rows"),
        ("1,2,0\n3,4\n", "row 2: expected 3 columns"),
        ("1,2,0\n3,abc,1\n", "row 2: x2 is not a number"),
        ("1,2,0\n3,4,0.5\n", "row 2: label is not an integer"),
        ("1,nan,0\n", "row 1: x2 is not finite"),
    ],
)
def test_csv_points_bad_input(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        data.load_csv_points(p)
    assert "bad.csv" in str(info.value)


def test_csv_points_not_a_file(tmp_path):
    with pytest.raises(ValueError, match="not a file"):
        data.load_csv_points(tmp_path / "missing.csv")
