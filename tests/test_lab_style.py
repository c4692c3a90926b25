"""Style lab: the Gram matrix, gradients against central differences, Adam lowering the
loss, content loss 0 at the content image, deterministic random filters, VGG input
preprocessing, the weights loader, bad paths, and the view."""

from __future__ import annotations

import re

import numpy as np
import pytest

import engine as en
from engine.experiments import style as lab
from engine.experiments.settings import SettingError, apply_settings


@pytest.fixture(autouse=True)
def no_real_weights(tmp_path, monkeypatch):
    """'auto' finds no weights file of this machine's: these tests use random filters."""
    monkeypatch.setenv("VIZLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))


TINY = dict(features="random", size=16, blocks=2, width_scale=1 / 16)  # widths 4,4,8,8


def tiny_targets(seed: int = 0) -> tuple[lab.VGGFeatures, lab.Targets, np.ndarray]:
    rng = np.random.default_rng(5)
    content, style = rng.uniform(0, 1, (2, 8, 8, 3))
    net = lab.random_vgg(2, 1 / 16, seed)
    targets = lab.make_targets(net, content, style, "conv2_2", ["conv1_1", "conv2_1"])
    return net, targets, content


def test_gram_is_f_transpose_f_over_chw():
    features = np.arange(24, dtype=np.float64).reshape(1, 2, 3, 4) / 10 - 1
    g = lab.gram(en.Tensor(features)).value
    f = features.reshape(6, 4)
    np.testing.assert_allclose(g, f.T @ f / (4 * 2 * 3), rtol=1e-14)
    assert g.shape == (4, 4)
    # One entry by hand: channels 0 and 1 summed over the 6 positions, / 24.
    assert g[0, 1] == pytest.approx(sum(f[i, 0] * f[i, 1] for i in range(6)) / 24)


def test_total_loss_gradient_matches_central_differences():
    net, targets, _ = tiny_targets()
    rng = np.random.default_rng(1)
    image = en.Variable(rng.uniform(0.2, 0.8, (1, 8, 8, 3)), dtype=np.float64)

    def total(x):
        return lab.style_losses(net, x, targets, 100.0, 3.0).total

    (auto,) = en.gradients(total(image), [image])
    (numeric,) = en.numerical_gradients(total, [image], eps=1e-6)
    assert np.abs(auto).max() > 1e-3  # a real gradient, not all zeros
    np.testing.assert_allclose(auto, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("part", ["content", "style", "tv"])
def test_gatys_losses_gradients_match_central_differences_at_32x32(part):
    """Each loss's gradient to the image (1, 32, 32, 3), float64, against central
    differences at 60 pixels drawn at random (every pixel would take 6000 passes)."""
    rng = np.random.default_rng(3)
    content, style = rng.uniform(0, 1, (2, 32, 32, 3))
    net = lab.random_vgg(3, 1 / 16, 0, np.float64)
    targets = lab.make_targets(net, content, style, "conv2_2",
                               ["conv1_1", "conv2_1", "conv3_1"])
    image = en.Variable(rng.uniform(0.1, 0.9, (1, 32, 32, 3)), dtype=np.float64)

    def loss() -> en.Tensor:
        return getattr(lab.style_losses(net, image, targets, 30.0, 10.0), part)

    (auto,) = en.gradients(loss(), [image])
    assert auto.dtype == np.float64 and np.abs(auto).max() > 1e-6
    eps = 1e-5
    flat = image.value.reshape(-1)
    for index in rng.choice(flat.size, 60, replace=False):
        keep = flat[index]
        flat[index] = keep + eps
        up = float(loss().value)
        flat[index] = keep - eps
        down = float(loss().value)
        flat[index] = keep
        numeric = (up - down) / (2 * eps)
        assert auto.reshape(-1)[index] == pytest.approx(numeric, rel=1e-4, abs=1e-9), index


def test_loss_falls_over_10_steps_with_random_filters():
    """The random-filter defaults (from noise, content at conv1_2, three blocks), float32,
    smaller: the total falls at every one of 10 Adam steps, by a third in all."""
    snaps = list(lab.run(lab.Config(features="random", size=32, width_scale=1 / 8,
                                    steps=10)))
    assert snaps[0].image.dtype == np.float32 and snaps[-1].content_layer == "conv1_2"
    totals = snaps[-1].history["total"]
    assert len(totals) == 11
    assert np.all(np.diff(totals) < 0)
    assert totals[-1] < 0.67 * totals[0]


def test_style_loss_gradient_wrt_features_matches_the_formula():
    """d/dF sum (F^T F / n - A)^2 / sum A^2 = 4 F (G - A) / (n sum A^2), n = C*H*W."""
    rng = np.random.default_rng(2)
    f = en.Variable(rng.normal(size=(1, 3, 2, 4)), dtype=np.float64)
    a = rng.normal(size=(4, 4))
    a = a @ a.T
    loss = en.sum(en.square(lab.gram(f) - en.Tensor(a))) / float(np.sum(a * a))
    (grad,) = en.gradients(loss, [f])
    flat = f.value.reshape(6, 4)
    g = flat.T @ flat / 24
    expected = 4 * flat @ (g - a) / (24 * np.sum(a * a))
    np.testing.assert_allclose(grad.reshape(6, 4), expected, rtol=1e-10)


def test_adam_steps_lower_the_total_loss():
    snaps = list(lab.run(lab.Config(steps=15, init="noise", **TINY)))
    assert [s.step for s in snaps] == list(range(16))
    totals = snaps[-1].history["total"]
    assert totals[-1] < 0.5 * totals[0]
    assert snaps[-1].style < snaps[0].style
    # The curves hold every step's numbers, the per-layer ones too.
    np.testing.assert_allclose(snaps[-1].history["layers"][-1], snaps[-1].style_per_layer)
    assert snaps[-1].style == pytest.approx(snaps[-1].style_per_layer.mean())
    last = snaps[-1]
    assert (last.style_weight, last.tv_weight) == (10.0, 2.0)
    assert last.total == pytest.approx(last.content + 10 * last.style + 2 * last.tv,
                                       rel=1e-5)
    for s in snaps:
        assert s.image.shape == (16, 16, 3)
        assert 0.0 <= s.image.min() and s.image.max() <= 1.0


def test_lbfgs_lowers_the_total_loss():
    snaps = list(lab.run(lab.Config(steps=20, optimizer="lbfgs", init="noise", **TINY)))
    # lbfgs_chunk 10: one snapshot per 10 iterations (fewer if scipy stops early).
    assert [s.step for s in snaps] == [0, 10, 20]
    assert snaps[-1].total < 0.2 * snaps[0].total


def test_content_start_without_style_stays_at_the_content_image():
    snaps = list(lab.run(lab.Config(steps=5, style_weight=0.0, tv_weight=0.0, init="content",
                                    **TINY)))
    for s in snaps:
        assert s.content == 0.0
        np.testing.assert_array_equal(s.image, s.content_image)
    assert snaps[0].style > 0  # the style is far, but it has no weight


def test_random_filters_are_deterministic_from_their_seed():
    a, b = lab.random_vgg(2, 0.25, 3), lab.random_vgg(2, 0.25, 3)
    c = lab.random_vgg(2, 0.25, 4)
    assert list(a.weights) == ["conv1_1", "conv1_2", "conv2_1", "conv2_2"]
    assert [k.shape for k, _ in a.weights.values()] == [(3, 3, 3, 16), (3, 3, 16, 16),
                                                        (3, 3, 16, 32), (3, 3, 32, 32)]
    for name in a.weights:
        np.testing.assert_array_equal(a.weights[name][0], b.weights[name][0])
        assert not np.array_equal(a.weights[name][0], c.weights[name][0])
    # He-normal: std sqrt(2 / (9 * 16)) = 0.118 for conv1_2.
    assert a.weights["conv1_2"][0].std() == pytest.approx(np.sqrt(2 / 144), rel=0.1)
    assert "random VGG-style filters, seed 3" in a.description
    assert "not pretrained VGG16" in a.description


def test_vgg_preprocessing_is_bgr_minus_means_on_0_255():
    pixel = np.array([[[[1.0, 0.5, 0.0]]]])  # R=255, G=127.5, B=0
    out = lab.vgg_preprocess(en.Tensor(pixel)).value[0, 0, 0]
    np.testing.assert_allclose(out, [0 - 103.939, 127.5 - 116.779, 255 - 123.68])


def test_layers_default_to_conv4_2_and_the_first_conv_of_each_block(tmp_path):
    np.savez(tmp_path / "w.npz", np.zeros((3, 3, 3, 64)), np.zeros(64))  # found, not read
    real = dict(features="pretrained", weights_path=str(tmp_path / "w.npz"))
    assert lab.content_layer_of(lab.Config(**real)) == "conv4_2"
    assert lab.content_layer_of(lab.Config(blocks=3, **real)) == "conv3_3"
    assert lab.style_layers_of(lab.Config(**real)) == [f"conv{b}_1" for b in range(1, 6)]
    plan = lab.resolve(lab.Config(**real))
    assert (plan.pretrained, plan.size, plan.blocks, plan.init) == (True, 256, 5, "content")
    # Random filters: shallow content (conv1_2) over three blocks, from noise, at 128 px.
    plan = lab.resolve(lab.Config(features="random"))
    assert (plan.pretrained, plan.size, plan.blocks, plan.init) == (False, 128, 3, "noise")
    assert (plan.content_layer, plan.style_layers) == ("conv1_2",
                                                       ["conv1_1", "conv2_1", "conv3_1"])
    assert lab.content_layer_of(lab.Config(features="random", blocks=2)) == "conv1_2"
    config = lab.Config(blocks=2, features="random")
    with pytest.raises(SettingError, match="content_layer"):
        apply_settings(config, {"content_layer": "conv3_1"})
    with pytest.raises(SettingError, match="style_layers"):
        apply_settings(config, {"style_layers": "conv1_1, conv9_1"})
    apply_settings(config, {"style_layers": "conv1_2 conv2_2"})
    assert lab.style_layers_of(config) == ["conv1_2", "conv2_2"]


def test_weights_loader_reads_keras_order_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(3, 3, 3, 64)), rng.normal(size=64),
              rng.normal(size=(3, 3, 64, 64)), rng.normal(size=64)]
    path = tmp_path / "vgg16_block1.npz"
    np.savez(path, *arrays)
    net = lab.load_vgg16_npz(path, 1)
    np.testing.assert_array_equal(net.weights["conv1_2"][0], arrays[2])
    np.testing.assert_array_equal(net.weights["conv1_1"][1], arrays[1])
    assert net.description == "pretrained VGG16 weights from vgg16_block1.npz (full widths)"
    # conv1_1 by hand at one pixel: relu(sum over taps of the preprocessed input x kernel).
    x = rng.uniform(0, 1, (1, 5, 5, 3))
    out = net(en.Tensor(x), {"conv1_1"})["conv1_1"].value
    pre = x[0, :, :, ::-1] * 255 - lab.VGG_MEANS_BGR
    patch = pre[1:4, 1:4]  # the 3x3 window around pixel (2, 2)
    expected = np.maximum(np.einsum("ijc,ijco->o", patch, arrays[0]) + arrays[1], 0)
    np.testing.assert_allclose(out[0, 2, 2], expected, rtol=1e-10)
    with pytest.raises(SettingError, match="arr_4"):
        lab.load_vgg16_npz(path, 2)
    np.savez(path, arrays[0][..., :32], arrays[1])
    with pytest.raises(SettingError, match=r"conv1_1 needs kernel \(3, 3, 3, 64\)"):
        lab.load_vgg16_npz(path, 1)
    # The run uses the file's filters, whatever width_scale says.
    np.savez(path, *arrays)
    snap = next(lab.run(lab.Config(weights_path=str(path), blocks=1, size=16)))
    assert snap.features == "pretrained VGG16 weights from vgg16_block1.npz (full widths)"


def test_bad_image_paths_give_clear_errors(tmp_path):
    with pytest.raises(SettingError, match="content_path.*no such file"):
        next(lab.run(lab.Config(content_path=str(tmp_path / "missing.png"), **TINY)))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(SettingError, match="style_path.*cannot read"):
        next(lab.run(lab.Config(style_path=str(junk), **TINY)))
    with pytest.raises(SettingError, match="weights_path.*no such file"):
        lab.load_vgg16_npz(tmp_path / "none.npz", 1)


def test_user_images_and_bundled_ones_load_at_the_size(tmp_path):
    from PIL import Image

    path = tmp_path / "red.png"
    Image.new("RGB", (40, 20), (255, 0, 0)).save(path)
    image = lab.load_image(path, 16)
    assert image.shape == (16, 16, 3)
    np.testing.assert_allclose(image[8, 8], [1, 0, 0])
    snap = next(lab.run(lab.Config(content_path=str(path), **TINY)))
    assert snap.content_name == "red.png"
    for name in lab.BUNDLED:
        assert lab.load_image(lab.IMAGES_DIR / f"{name}.png", 24).shape == (24, 24, 3)
    strokes = lab.stroke_texture(32, 0)
    np.testing.assert_array_equal(strokes, lab.stroke_texture(32, 0))
    assert strokes.std() > 0.1  # a texture, not a flat colour


def test_view_shows_the_image_and_the_features_label(qtbot, shown_lab, previewed):
    view = shown_lab("style")
    view.apply_settings({"size": 24, "blocks": 2, "width_scale": 0.125, "steps": 20})
    previewed(view)
    assert view.last_snapshot.step == 0 and view.last_snapshot.image.shape == (24, 24, 3)
    assert view.features_label.isVisible()
    assert "random VGG-style filters, seed 0" in view.features_label.text()
    assert "not pretrained VGG16" in view.features_label.text()
    for n in range(1, 4):
        view.step()
        qtbot.waitUntil(lambda n=n: len(view.timeline) == n, timeout=10_000)
    snap = view.last_snapshot
    assert snap.step == 2
    shown = view.image_view.export_data()["image"]
    np.testing.assert_allclose(shown, snap.image.astype(np.float32))
    np.testing.assert_allclose(view.content_view.export_data()["image"],
                               snap.content_image.astype(np.float32))
    steps, totals = view.loss_plot.curve_data("total")
    np.testing.assert_array_equal(steps, [0, 1, 2])
    np.testing.assert_array_equal(totals, snap.history["total"])
    bars = view.layer_bars.export_data()
    assert list(bars["labels"]) == ["conv1_1", "conv2_1"]
    np.testing.assert_allclose(bars["values"], snap.style_per_layer * 10 / 2)
    view.shutdown()


def test_view_downloads_weights_with_progress_and_cancel_saves_and_records(
        qtbot, shown_lab, previewed, tmp_path):
    """The button's download (from 127.0.0.1) runs off the GUI thread with a progress
    bar; Cancel keeps the part; a second press resumes and checks the md5; the lab then
    finds the file. Save writes the result's own pixels; recording grabs frames."""
    import hashlib
    import http.server
    import threading

    from engine import pretrained
    from vizlab import export

    data = np.random.default_rng(0).bytes(2_000_000)
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the standard library's name
            start = int(self.headers["Range"].split("=")[1].rstrip("-")) \
                if self.headers.get("Range") else 0
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:start + 500_000])
            self.wfile.flush()
            release.wait(10)  # the rest only once the test lets it go
            self.wfile.write(data[start + 500_000:])

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        view = shown_lab("style")
        view.apply_settings({"size": 24, "blocks": 2, "width_scale": 0.125, "steps": 20})
        previewed(view)
        assert view.get_weights_button.isVisible()
        download = view.download
        download.url = f"http://127.0.0.1:{httpd.server_address[1]}/w.h5"
        download.md5 = hashlib.md5(data).hexdigest()
        download.dest = tmp_path / "cache" / pretrained.VGG16_FILE
        view.get_weights()
        qtbot.waitUntil(lambda: view.download_bar.value() == 1 or
                        view.download_bar.maximum() == 2, timeout=20_000)
        assert view.cancel_button.isVisible() and view.download_bar.maximum() == 2
        view.cancel_download()
        release.set()
        qtbot.waitUntil(lambda: not download.busy and not view.cancel_button.isVisible(),
                        timeout=20_000)
        assert "Download cancelled" in view.pending_label.text()
        part = download.dest.with_name(download.dest.name + ".part")
        assert part.stat().st_size >= 500_000 and not download.dest.exists()
        view.get_weights()
        qtbot.waitUntil(lambda: download.dest.exists(), timeout=20_000)
        qtbot.waitUntil(lambda: "VGG16's weights are in" in view.pending_label.text())
        assert download.dest.read_bytes() == data and not part.exists()
        assert pretrained.find_weights() == download.dest
    finally:
        httpd.shutdown()
        httpd.server_close()

    view.apply_settings({"features": "random"})
    previewed(view)
    view.recorder = export.Recorder()
    for n in range(1, 4):
        view.step()
        qtbot.waitUntil(lambda n=n: len(view.timeline) == n, timeout=10_000)
    assert view.recorder.frame_count >= 3  # File > Start Recording grabs every drawing
    view.recorder.close()
    view.recorder = None
    saved = view.save_image(tmp_path / "result.png")
    from PIL import Image

    with Image.open(saved) as im:
        assert (im.size, im.mode) == ((24, 24), "RGB")
        pixels = np.asarray(im)
    np.testing.assert_array_equal(
        pixels, (np.clip(view.last_snapshot.image, 0, 1) * 255).round().astype(np.uint8))
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".png"] == ["result.png"]
    view.shutdown()


def test_running_view_shows_steps_per_second_and_time_left(qtbot, shown_lab, previewed):
    view = shown_lab("style")
    view.apply_settings({"features": "random", "size": 16, "blocks": 1,
                         "width_scale": 1 / 16, "steps": 100_000})
    previewed(view)
    try:
        view.run()
        qtbot.waitUntil(lambda: "steps/s" in view.note.text(), timeout=60_000)
        text = view.note.text()
    finally:
        view.shutdown()
    match = re.search(r"Step (\d+)/100000, <b>([\d.]+) steps/s</b>, (?:(\d+) min )?(\d+) s "
                      r"left", text)
    assert match, text
    step, rate = int(match.group(1)), float(match.group(2))
    assert rate > 0
    left = int(match.group(3) or 0) * 60 + int(match.group(4))
    # The rate shown has 3 significant digits: the time left agrees to within 1%.
    assert left == pytest.approx((100_000 - step) / rate, rel=0.01, abs=2)
