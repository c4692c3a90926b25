"""Pretrained VGG16 weights: Keras' .h5 layout read (the same features as the .npz path),
wrong, missing and truncated files refused naming the layer, found where Keras and
vizlab keep them; the download served from 127.0.0.1 (md5, cancel, resume with Range,
server errors, offline); `vizlab weights`."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest

import engine as en
from engine import pretrained
from engine.experiments import style as lab
from engine.experiments.settings import SettingError

h5py = pytest.importorskip("h5py")

# Keras' names for the 13 conv layers, and their kernel shapes in VGG16 (HWIO).
KERAS_CONVS = ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2",
               "block3_conv1", "block3_conv2", "block3_conv3", "block4_conv1",
               "block4_conv2", "block4_conv3", "block5_conv1", "block5_conv2",
               "block5_conv3"]
SHAPES = [(3, 3, 3, 64), (3, 3, 64, 64), (3, 3, 64, 128), (3, 3, 128, 128),
          (3, 3, 128, 256), (3, 3, 256, 256), (3, 3, 256, 256), (3, 3, 256, 512),
          (3, 3, 512, 512), (3, 3, 512, 512), (3, 3, 512, 512), (3, 3, 512, 512),
          (3, 3, 512, 512)]


@pytest.fixture(autouse=True)
def no_real_weights(tmp_path, monkeypatch):
    """Nothing from this machine's caches: each test has empty ones of its own."""
    monkeypatch.setenv("VIZLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))


def random_vgg16(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {name: ((rng.standard_normal(shape, dtype=np.float32) * 0.05),
                   rng.standard_normal(shape[-1], dtype=np.float32))
            for name, shape in zip(lab.LAYER_NAMES, SHAPES)}


@pytest.fixture(scope="session")
def full_h5(tmp_path_factory):
    """A file in the real notop file's layout and shapes (random values, 59 MB)."""
    weights = random_vgg16()
    path = tmp_path_factory.mktemp("vgg") / pretrained.VGG16_FILE
    pretrained.write_keras_vgg16_h5(path, weights)
    return path, weights


def test_the_written_file_has_keras_layout(full_h5):
    path, _ = full_h5
    with h5py.File(path, "r") as f:
        names = [n.decode() for n in f.attrs["layer_names"]]
        assert names[:4] == ["input_1", "block1_conv1", "block1_conv2", "block1_pool"]
        assert [n for n in names if "_conv" in n] == KERAS_CONVS
        assert len(names) == 1 + 13 + 5
        for layer, shape in zip(KERAS_CONVS, SHAPES):
            group = f[layer]
            assert [n.decode() for n in group.attrs["weight_names"]] == [
                f"{layer}_W_1:0", f"{layer}_b_1:0"]
            assert f[f"{layer}/{layer}_W_1:0"].shape == shape
            assert f[f"{layer}/{layer}_b_1:0"].shape == (shape[-1],)
            assert f[f"{layer}/{layer}_W_1:0"].dtype == np.float32
        assert len(f["block3_pool"].attrs["weight_names"]) == 0
    assert path.stat().st_size > 58_000_000  # 14.7 million float32 weights


def test_h5_gives_the_same_weights_and_features_as_the_npz(full_h5, tmp_path):
    path, weights = full_h5
    net = lab.load_vgg16(path, 5)
    assert list(net.weights) == list(lab.LAYER_NAMES)
    for name, (kernel, bias) in weights.items():
        np.testing.assert_array_equal(net.weights[name][0], kernel)
        np.testing.assert_array_equal(net.weights[name][1], bias)
    assert net.weights["conv1_1"][0].dtype == np.float32
    npz = tmp_path / "vgg16.npz"
    np.savez(npz, *[a for name in lab.LAYER_NAMES[:4] for a in weights[name]])
    from_npz = lab.load_vgg16_npz(npz, 2, np.float32)
    from_h5 = lab.load_vgg16(path, 2)
    image = en.Tensor(np.random.default_rng(1).uniform(0, 1, (1, 16, 16, 3)), np.float32)
    wanted = {"conv1_1", "conv2_2"}
    a, b = from_h5(image, wanted), from_npz(image, wanted)
    for name in wanted:
        assert a[name].shape == b[name].shape
        np.testing.assert_array_equal(a[name].value, b[name].value)
    assert a["conv2_2"].shape == (1, 8, 8, 128)
    assert from_h5.description == f"pretrained VGG16 weights from {path.name} (full widths)"


def test_the_file_is_found_in_keras_and_vizlab_folders(full_h5, tmp_path):
    path, _ = full_h5
    config = lab.Config(size=16, blocks=1, steps=1)
    assert pretrained.find_weights() is None
    assert lab.resolve(config).pretrained is False
    with pytest.raises(SettingError, match="vizlab weights download vgg16"):
        lab.resolve(lab.Config(features="pretrained"))
    keras = tmp_path / "keras" / "models"
    keras.mkdir(parents=True)
    (keras / pretrained.VGG16_FILE).symlink_to(path)
    assert pretrained.find_weights() == keras / pretrained.VGG16_FILE
    plan = lab.resolve(lab.Config())
    assert (plan.pretrained, plan.size, plan.blocks, plan.content_layer) == (
        True, 256, 5, "conv4_2")
    assert plan.style_layers == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    snaps = list(lab.run(config))
    assert snaps[0].pretrained and "pretrained VGG16 weights from" in snaps[0].features
    assert snaps[-1].image.dtype == np.float32
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / pretrained.VGG16_FILE).symlink_to(path)
    assert pretrained.find_weights() == cache / pretrained.VGG16_FILE  # vizlab's first
    assert lab.resolve(lab.Config(features="random")).pretrained is False


def write_small(path, blocks=2, change=None, drop=None):
    weights = {k: v for k, v in random_vgg16().items()
               if k in lab.kept_layers(blocks)}
    if change:
        weights.update(change)
    pretrained.write_keras_vgg16_h5(path, weights, blocks)
    if drop:
        with h5py.File(path, "a") as f:
            del f[drop]


def test_wrong_missing_and_damaged_files_name_the_layer(tmp_path, full_h5):
    path = tmp_path / "w.h5"
    write_small(path, change={"conv2_1": (np.zeros((3, 3, 64, 100), np.float32),
                                          np.zeros(100, np.float32))})
    with pytest.raises(SettingError, match=r"layer block2_conv1 \(conv2_1\): the kernel "
                                           r"has shape \(3, 3, 64, 100\), VGG16 needs "
                                           r"\(3, 3, 64, 128\)"):
        lab.load_vgg16(path, 2)
    assert lab.load_vgg16(path, 1).weights["conv1_2"][0].shape == (3, 3, 64, 64)
    write_small(path, drop="block2_conv2")
    with pytest.raises(SettingError, match=r"layer block2_conv2 \(conv2_2\) is missing"):
        lab.load_vgg16(path, 2)
    write_small(path, drop="block1_conv2/block1_conv2_b_1:0")
    with pytest.raises(SettingError, match=r"block1_conv2 .* has no bias dataset"):
        lab.load_vgg16(path, 1)
    bad = random_vgg16()["conv1_1"][0].copy()
    bad[0, 0, 0, 0] = np.nan
    write_small(path, change={"conv1_1": (bad, np.zeros(64, np.float32))})
    with pytest.raises(SettingError, match=r"block1_conv1 .* NaN"):
        lab.load_vgg16(path, 1)
    # A download cut off at 40%: the first layer whose data is past the end is named.
    cut = tmp_path / "cut.h5"
    data = full_h5[0].read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])
    with pytest.raises(SettingError, match=r"weights_path.*cut.h5: layer block\d_conv\d "
                                           r"\(conv\d_\d\) is cut off: the file is "
                                           r"truncated at [\d,]+ bytes"):
        lab.load_vgg16(cut, 5)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all" * 100)
    with pytest.raises(SettingError, match="junk.h5 is not a readable HDF5 file"):
        lab.load_vgg16(junk, 1)


# ----------------------------------------------------------------------------------
# the download, from a server on 127.0.0.1


class Server:
    """Serves `data` at /file, with Range; `status` forces an error answer."""

    def __init__(self, data: bytes) -> None:
        self.data, self.status, self.ranges = data, 200, []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the standard library's name
                owner.ranges.append(self.headers.get("Range"))
                if owner.status != 200:
                    self.send_error(owner.status)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].rstrip("-"))
                    if start >= len(owner.data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(owner.data) - 1}/{len(owner.data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(owner.data) - start))
                self.end_headers()
                self.wfile.write(owner.data[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/file"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    data = np.random.default_rng(0).bytes(300_000)
    s = Server(data)
    s.md5 = hashlib.md5(data).hexdigest()
    yield s
    s.close()


def test_download_checks_the_md5_and_renames_at_the_end(server, tmp_path):
    dest = tmp_path / "d" / "w.h5"
    seen = []
    got = pretrained.download(dest, server.url, server.md5, chunk=50_000,
                              progress=lambda done, total: seen.append((done, total)))
    assert got == dest and dest.read_bytes() == server.data
    assert not (tmp_path / "d" / "w.h5.part").exists()
    assert seen[0] == (0, 300_000) and seen[-1] == (300_000, 300_000)
    assert server.ranges == [None]
    dest.unlink()
    with pytest.raises(pretrained.DownloadError, match=f"md5 is {server.md5}, not the "
                                                       f"expected 0{{32}}"):
        pretrained.download(dest, server.url, "0" * 32)
    assert list((tmp_path / "d").iterdir()) == []  # nothing half written, nothing kept


def test_cancel_keeps_the_part_and_the_next_download_resumes_it(server, tmp_path):
    dest = tmp_path / "w.h5"
    part = tmp_path / "w.h5.part"
    done_so_far = []
    with pytest.raises(pretrained.DownloadCancelled, match="cancelled at 0.1 MB"):
        pretrained.download(dest, server.url, server.md5, chunk=40_000,
                            progress=lambda done, total: done_so_far.append(done),
                            cancelled=lambda: done_so_far[-1] >= 120_000)
    assert not dest.exists()
    assert part.read_bytes() == server.data[:120_000]
    pretrained.download(dest, server.url, server.md5)
    assert server.ranges == [None, "bytes=120000-"]
    assert dest.read_bytes() == server.data and not part.exists()
    # A whole file left as .part (the rename never happened): 416, checked, renamed.
    dest.rename(part)
    pretrained.download(dest, server.url, server.md5)
    assert dest.read_bytes() == server.data and server.ranges[-1] == "bytes=300000-"


def test_server_errors_and_offline_give_clear_messages(server, tmp_path):
    dest = tmp_path / "w.h5"
    for status, reason in ((500, "Internal Server Error"), (404, "Not Found")):
        server.status = status
        with pytest.raises(pretrained.DownloadError,
                           match=f"the server 127.0.0.1:\\d+ answered {status} {reason}"):
            pretrained.download(dest, server.url, server.md5)
    assert list(tmp_path.iterdir()) == []
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(pretrained.DownloadError) as info:
        pretrained.download(dest, f"http://127.0.0.1:{port}/w.h5", server.md5, timeout=5)
    message = str(info.value)
    assert "cannot reach 127.0.0.1" in message and "offline" in message
    assert f"download http://127.0.0.1:{port}/w.h5 yourself and put it at {dest}" in message


def test_cli_weights_list_and_download(server, tmp_path, monkeypatch, capsys):
    from vizlab import cli

    monkeypatch.setitem(pretrained.KNOWN, "vgg16",
                        (pretrained.VGG16_FILE, server.url, server.md5))
    assert cli.main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'cache' / pretrained.VGG16_FILE}: absent" in out
    assert "Get them with: vizlab weights download vgg16" in out
    assert cli.main(["weights", "download", "vgg16"]) == 0
    dest = tmp_path / "cache" / pretrained.VGG16_FILE
    assert dest.read_bytes() == server.data
    assert capsys.readouterr().out == f"wrote {dest} (md5 {server.md5} checked)\n"
    assert cli.main(["weights", "list"]) == 0
    assert f"{dest}: present, 0.3 MB, md5 checked" in capsys.readouterr().out
    dest.unlink()
    server.status = 500
    assert cli.main(["weights", "download", "vgg16"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vizlab: the server 127.0.0.1:") and "answered 500" in err
