"""The Style lab's experiment: neural style transfer (Gatys, Ecker and Bethge 2016).

An image is optimised so that its features at one deep conv layer match those of a
content image, and the Gram matrices of its features at several layers (the first conv
of each block) match those of a style image. The features come from a VGG16-style conv
stack (64,64,P,128,128,P,256x3,P,512x3,P,512x3,P: 3x3 convs with "SAME" padding and
ReLU, 2x2 max-pools), built from the engine's `conv2d` and `max_pool2d`, truncated to
the first `blocks` blocks and with its widths scaled by `width_scale`.

The features are ImageNet VGG16's when Keras' weights file is found (vizlab's cache
folder or ~/.keras/models, see engine.pretrained; `vizlab weights download vgg16` gets
it) or named in `weights_path`: then the paper's setting, full widths, content at
conv4_2, style at conv1_1..conv5_1, 256 px. Otherwise the filters are random
(He-normal, from `seed`). Random-filter networks still synthesise texture
(Ustyuzhaninov et al. 2016; He, Wang and Hopcroft 2016) and keep a picture's layout
at a shallow layer (conv1_2), once each layer's loss is normalised, because their raw
magnitudes differ by orders of magnitude from layer to layer. Settings left at 'auto'
(or 0) take the values that suit the features in use (see `resolve`). The network and
the image are float32. Here every loss is relative to its target:

    content  = sum (F - P)^2 / sum P^2          at the content layer
    style_l  = sum (G_l - A_l)^2 / sum A_l^2    G = F^T F / (C*H*W), for each style layer
    style    = mean over the style layers of style_l
    tv       = mean of squared differences of neighbouring pixels (0..1 image)
    total    = content + style_weight * style + tv_weight * tv

Keras VGG16 "notop" weights are read from Keras' .h5 file or an .npz of its arrays
(`load_vgg16`); the input is what Keras' VGG16 expects, and the random network gets
the same input so that the two are interchangeable: RGB in 0..1 becomes BGR on 0..255
minus the ImageNet means [103.939, 116.779, 123.68].
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import engine as en
from engine import nn, optimizers, pretrained
from engine._paths import ASSETS
from engine.data import npz
from engine.experiments.history import History
from engine.experiments.settings import SettingError, setting, split_list

TITLE = "Style"
SUMMARY = ("Style transfer (Gatys et al. 2016): an image optimised to match a content "
           "image's deep features and a style image's Gram matrices.")

# Keras VGG16, include_top=False: conv widths per block; a 2x2 max-pool ends each block.
VGG16_BLOCKS = pretrained.VGG16_BLOCKS
VGG_MEANS_BGR = np.array([103.939, 116.779, 123.68])
LAYER_NAMES = tuple(f"conv{b + 1}_{c + 1}" for b, widths in enumerate(VGG16_BLOCKS)
                    for c in range(len(widths)))
IMAGES_DIR = ASSETS / "images"
# VGG16's conv stack holds 14.7 million weights (59 MB as float32); float64 doubles it.
MAX_WEIGHTS_BYTES = 160_000_000
BUNDLED = ("chelsea", "coffee", "astronaut")
STYLES = ("strokes",) + BUNDLED
OPTIMIZERS = ("adam", "lbfgs")
INITS = ("auto", "content", "noise")
FEATURES = ("auto", "pretrained", "random")
MIN_SIZE, MAX_SIZE = 16, 512


# ----------------------------------------------------------------------------------
# settings


def parse_layers(text: str) -> list[str]:
    """Layer names from "conv1_1, conv2_1" (commas, semicolons or spaces)."""
    return split_list(text)


@dataclasses.dataclass
class Config:
    features: str = setting("auto", "the network whose features are matched: 'pretrained' "
                            "VGG16 (Keras' weights file, found in vizlab's cache or "
                            "~/.keras/models, or weights_path), 'random' VGG-shaped filters "
                            "(texture synthesis, shallow content), or 'auto' (pretrained "
                            "when a weights file is found)", choices=FEATURES)
    content_image: str = setting("chelsea", "bundled content image (CC0 / public domain, "
                                 "see assets/README.md)", choices=BUNDLED)
    style_image: str = setting("strokes", "bundled style image: 'strokes' is a texture "
                               "of brush strokes drawn by code (seed 0); the others are "
                               "photos", choices=STYLES)
    content_path: str = setting("", "your own content image (PNG/JPEG...); overrides "
                                "content_image when set")
    style_path: str = setting("", "your own style image; overrides style_image when set")
    size: int = setting(0, "side of the square images, in pixels (0: auto, 256 with "
                        "pretrained weights, 128 with random filters)", low=0,
                        high=MAX_SIZE)
    blocks: int = setting(0, "VGG16 blocks kept (1..5; 0: auto, 5 with pretrained weights "
                          "for the paper's layers, 3 with random filters)", low=0, high=5)
    width_scale: float = setting(1.0, "conv widths relative to VGG16's 64..512 (1 = full "
                                 "widths; small is fast); random filters only, "
                                 "pretrained weights have their own", low=1 / 64, high=1.0,
                                 log_scale=True)
    seed: int = setting(0, "seed of the random filters and of the noise start",
                        low=0, high=2**31 - 1)
    weights_path: str = setting("", "a VGG16 notop weights file: Keras' .h5 (needs h5py: "
                                "vizlab[weights]) or an .npz of its arrays in Keras order; "
                                "empty: the .h5 found in vizlab's cache or ~/.keras/models")
    content_layer: str = setting("auto", "layer whose features the content loss matches "
                                 "('auto': conv4_2 with pretrained weights, conv1_2 with "
                                 "random filters, else the deepest kept conv)",
                                 choices=("auto",) + LAYER_NAMES)
    style_layers: str = setting("auto", "layers whose Gram matrices the style loss "
                                "matches, e.g. 'conv1_1,conv2_1' ('auto': the first conv "
                                "of each kept block)")
    style_weight: float = setting(10.0, "style / content weight ratio", low=0.0, high=1e9,
                                  live=True, log_scale=True)
    tv_weight: float = setting(2.0, "weight of the total-variation (smoothness) loss; 0 "
                               "leaves the pixel noise random filters favour",
                               low=0.0, high=1e6, live=True)
    optimizer: str = setting("adam", "adam (engine) or lbfgs (scipy L-BFGS-B, bounded to "
                             "0..1)", choices=OPTIMIZERS)
    lbfgs_chunk: int = setting(10, "L-BFGS iterations per scipy call, shown as one "
                               "snapshot; its curvature memory starts afresh at each call",
                               low=1, high=1000)
    learning_rate: float = setting(0.02, "Adam's learning rate (pixel values are 0..1)",
                                   low=1e-5, high=1.0, live=True, log_scale=True)
    init: str = setting("auto", "start from the content image or from noise ('auto': the "
                        "content image with pretrained weights, noise with random filters: "
                        "texture synthesis, with the content's layout from a shallow layer)",
                        choices=INITS)
    steps: int = setting(500, "optimisation steps (L-BFGS iterations)", low=1,
                         high=100_000)
    snapshot_every: int = setting(1, "steps between snapshots", low=1, high=10_000,
                                  live=True)

    def check(self) -> None:
        # The image files' headers only (sizes, not pixels): a file that cannot be used
        # is refused when it is chosen, not at every preview.
        plan = resolve(self)
        for field in ("content_path", "style_path"):
            path = getattr(self, field).strip()
            if path:
                check_image_file(path, plan.size, field)
        if self.size and self.size < MIN_SIZE:
            raise SettingError(f"setting 'size': {self.size} is too small; 0 (auto) or "
                               f"{MIN_SIZE}..{MAX_SIZE}")
        kept = kept_layers(plan.blocks)
        if self.content_layer != "auto" and self.content_layer not in kept:
            raise SettingError(f"setting 'content_layer': {self.content_layer} is not in "
                               f"the {plan.blocks} kept block(s); one of {', '.join(kept)}")
        if self.style_layers.strip() != "auto":
            names = parse_layers(self.style_layers)
            bad = [n for n in names if n not in kept]
            if not names or bad:
                raise SettingError(f"setting 'style_layers': {', '.join(bad) or 'nothing'} "
                                   f"is not a kept layer; choose from {', '.join(kept)}")


@dataclasses.dataclass(frozen=True)
class Plan:
    """The settings with every 'auto' decided: what a run uses."""

    pretrained: bool
    weights: Path | None  # the weights file, when pretrained
    size: int
    blocks: int
    content_layer: str
    style_layers: list[str]
    init: str


def weights_file(config: Config) -> Path | None:
    """The weights file the settings point at, or the one found in the usual places."""
    if config.weights_path.strip():
        return Path(config.weights_path.strip()).expanduser()
    return pretrained.find_weights("vgg16")


def resolve(config: Config) -> Plan:
    """The run's plan. SettingError when pretrained features are asked for and there is
    no weights file (saying how to get one)."""
    path = None if config.features == "random" else weights_file(config)
    if config.features == "pretrained" and path is None:
        raise SettingError(
            "setting 'features': no pretrained VGG16 weights found (looked for "
            f"{' and '.join(str(p) for p in pretrained.candidate_paths())}). Get them with "
            "`vizlab weights download vgg16` or the lab's 'Get VGG16 weights...' button. "
            + pretrained.manual_hint())
    real = path is not None
    size = int(config.size) or (256 if real else 128)
    blocks = int(config.blocks) or (5 if real else 3)
    kept = kept_layers(blocks)
    if config.content_layer != "auto":
        content = config.content_layer
    else:
        # Random filters keep a picture's layout only near the pixels: conv1_2.
        preferred = "conv4_2" if real else "conv1_2"
        content = preferred if preferred in kept else kept[-1]
    if config.style_layers.strip() != "auto":
        styles = parse_layers(config.style_layers)
    else:
        styles = [f"conv{b + 1}_1" for b in range(blocks)]
    init = config.init if config.init != "auto" else ("content" if real else "noise")
    return Plan(real, path, size, blocks, content, styles, init)


def kept_layers(blocks: int) -> list[str]:
    """Names of the conv layers in the first `blocks` blocks."""
    return [f"conv{b + 1}_{c + 1}" for b in range(blocks)
            for c in range(len(VGG16_BLOCKS[b]))]


def content_layer_of(config: Config) -> str:
    return resolve(config).content_layer


def style_layers_of(config: Config) -> list[str]:
    return resolve(config).style_layers


# ----------------------------------------------------------------------------------
# images


# Images are decoded at most this large (RGB: 3 bytes a pixel): a photo of 8000x5000
# fits; a declared size beyond is refused before anything is decoded. JPEGs decode at
# a reduced scale (1/2 .. 1/8, Pillow's draft) close to the lab's size, so larger ones fit.
MAX_IMAGE_MEGAPIXELS = 40
# A shorter side than this cannot make a texture or a picture worth matching.
MIN_IMAGE_SIDE = 8
# EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose).
_EXIF_ORIENTATION = 0x0112
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _working_mode(im: Image.Image) -> Image.Image:
    """The image in a mode Pillow resizes well: RGB, RGBA (any transparency), L, LA or F
    (16-bit and 32-bit grey become F on 0..255)."""
    if im.mode in ("RGB", "RGBA", "L", "LA", "F"):
        return im
    if im.mode.startswith("I"):  # I, I;16, I;16B...: 16-bit grey as PNG and TIFF store it
        grey = np.asarray(im, dtype=np.float32)
        return Image.fromarray(np.clip(grey / 257.0, 0.0, 255.0))  # float32: mode F
    if "A" in im.mode or "a" in im.mode or "transparency" in im.info:
        return im.convert("RGBA")
    return im.convert("RGB")


def _as_rgb(im: Image.Image) -> Image.Image:
    """RGB; transparent parts become white, as a viewer shows them on a page."""
    if im.mode == "F":
        im = Image.fromarray(np.clip(np.asarray(im), 0, 255).round().astype(np.uint8))
    if im.mode in ("RGBA", "LA"):
        im = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)),
                                     im).convert("RGB")
    return im.convert("RGB")


def _open_image(path: Path, size: int, name: str) -> Image.Image:
    """The image file opened (header read, nothing decoded; a JPEG set to decode reduced),
    after checking the size it declares. SettingError naming the setting otherwise."""
    shown = str(path)
    if not path.is_file():
        raise SettingError(f"setting {name!r}: no such file: {shown!r}")
    try:
        with warnings.catch_warnings():
            # The size is checked here, against a lower limit than Pillow's warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise SettingError(f"setting {name!r}: {shown!r} declares more than "
                           f"{MAX_IMAGE_MEGAPIXELS} megapixels; images up to that are "
                           f"read") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise SettingError(f"setting {name!r}: cannot read {shown!r} as an image "
                           f"({exc})") from None
    try:
        w, h = im.size
        if min(w, h) < MIN_IMAGE_SIDE:
            raise SettingError(
                f"setting {name!r}: {shown!r} is {w}x{h} pixels; an image needs at "
                f"least {MIN_IMAGE_SIDE} pixels on its short side")
        # JPEG: decode at the smallest scale that still covers `size` on the short side.
        scale = size / min(w, h)
        im.draft("RGB", (max(1, round(w * scale)), max(1, round(h * scale))))
        dw, dh = im.size
        if dw * dh > MAX_IMAGE_MEGAPIXELS * 1_000_000:
            raise SettingError(
                f"setting {name!r}: {shown!r} is {w}x{h} pixels "
                f"({w * h / 1e6:.1f} megapixels); images up to "
                f"{MAX_IMAGE_MEGAPIXELS} megapixels are read")
    except BaseException:
        im.close()
        raise
    return im


def check_image_file(path: str | Path, size: int, name: str = "image") -> None:
    """Refuse, cheaply (the header only), an image file that load_image would refuse for
    its absence or its size. SettingError naming the setting."""
    _open_image(Path(path).expanduser(), size, name).close()


def load_image(path: str | Path, size: int, name: str = "image") -> np.ndarray:
    """An image file as (size, size, 3) float64 RGB in 0..1: its centre square, scaled to
    `size`, upright as its EXIF orientation says; grey, 16-bit and transparent images are
    turned into RGB (transparency on white).

    The size the file declares is checked before anything is decoded: past
    MAX_IMAGE_MEGAPIXELS (after a JPEG's reduced decoding) or with a side shorter than
    MIN_IMAGE_SIDE it is refused. SettingError, naming the setting, if it cannot be read.
    """
    path = Path(path).expanduser()
    try:
        with _open_image(path, size, name) as im:
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
            im.load()
            work = _working_mode(im)
    except SettingError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise SettingError(f"setting {name!r}: cannot read {str(path)!r} as an image "
                           f"({exc})") from None
    # The centre square, scaled straight to size x size (reduce first, then Lanczos).
    w, h = work.size
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    work = work.resize((size, size), Image.Resampling.LANCZOS,
                       box=(left, top, left + side, top + side), reducing_gap=3.0)
    im = _as_rgb(work)
    if orientation in _UPRIGHT:  # the centre square maps onto itself: turn it after
        im = im.transpose(_UPRIGHT[orientation])
    return np.asarray(im, dtype=np.float64) / 255.0


def stroke_texture(size: int = 128, seed: int = 0) -> np.ndarray:
    """The 'strokes' style: short thick brush strokes in a blue/yellow palette, laid
    along a swirling direction field, drawn with Pillow from `seed` (deterministic).
    Returns (size, size, 3) float64 in 0..1."""
    rng = np.random.default_rng(seed)
    canvas = 4 * size  # drawn large, then scaled down: smooth edges
    im = Image.new("RGB", (canvas, canvas), (22, 40, 92))
    draw = ImageDraw.Draw(im)
    palette = np.array([(22, 52, 130), (40, 90, 170), (90, 140, 200), (230, 200, 60),
                        (245, 230, 140), (200, 110, 40), (15, 30, 70)])
    weights = np.array([3, 3, 2, 2, 1, 1, 2], dtype=float)
    count = int(1.6 * size * size / 16)
    for _ in range(count):
        x, y = rng.uniform(0, canvas, 2)
        # Direction: circles around a few centres, so strokes swirl as in a painting.
        angle = np.arctan2(y - canvas / 2, x - canvas / 2) + np.pi / 2 \
            + 0.6 * np.sin(3 * x / canvas * np.pi) + rng.normal(0, 0.25)
        length = rng.uniform(0.04, 0.09) * canvas
        dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
        colour = palette[rng.choice(len(palette), p=weights / weights.sum())]
        colour = np.clip(colour + rng.normal(0, 12, 3), 0, 255).astype(int)
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=tuple(colour),
                  width=int(rng.uniform(0.012, 0.022) * canvas))
    im = im.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(im, dtype=np.float64) / 255.0


def content_and_style(config: Config, size: int
                      ) -> tuple[np.ndarray, np.ndarray, str, str]:
    """The two target images at `size`, and their names for the view."""
    if config.content_path.strip():
        content = load_image(config.content_path.strip(), size, "content_path")
        content_name = Path(config.content_path.strip()).name
    else:
        content = load_image(IMAGES_DIR / f"{config.content_image}.png", size, "content_image")
        content_name = config.content_image
    if config.style_path.strip():
        style = load_image(config.style_path.strip(), size, "style_path")
        style_name = Path(config.style_path.strip()).name
    elif config.style_image == "strokes":
        style = np.asarray(Image.fromarray(
            (stroke_texture(128, 0) * 255).round().astype(np.uint8)).resize(
                (size, size), Image.Resampling.LANCZOS), dtype=np.float64) / 255.0
        style_name = "strokes"
    else:
        style = load_image(IMAGES_DIR / f"{config.style_image}.png", size, "style_image")
        style_name = config.style_image
    return content, style, content_name, style_name


def vgg_preprocess(image: en.Tensor) -> en.Tensor:
    """(N, H, W, 3) RGB in 0..1 -> what Keras' VGG16 expects: BGR on 0..255 minus the
    ImageNet channel means [103.939, 116.779, 123.68] (B, G, R)."""
    bgr = en.concat([image[..., 2:3], image[..., 1:2], image[..., 0:1]], axis=-1)
    return bgr * 255.0 - en.Tensor(VGG_MEANS_BGR.astype(image.dtype))


# ----------------------------------------------------------------------------------
# the network


@dataclasses.dataclass
class VGGFeatures:
    """A VGG16-style conv stack: {layer name: (kernel HWIO, bias)} in order."""

    weights: dict[str, tuple[np.ndarray, np.ndarray]]
    description: str

    def __call__(self, x: en.Tensor, wanted: set[str]) -> dict[str, en.Tensor]:
        """The ReLU outputs of the wanted layers for images x (N, H, W, 3), RGB 0..1.
        Stops after the deepest wanted layer."""
        out: dict[str, en.Tensor] = {}
        h = vgg_preprocess(x)
        for name, (kernel, bias) in self.weights.items():
            if name.endswith("_1") and name != "conv1_1":
                h = nn.max_pool2d(h, 2, 2)  # the pool that ended the previous block
            h = nn.relu(nn.conv2d(h, en.Tensor(kernel), padding="SAME") + en.Tensor(bias))
            if name in wanted:
                out[name] = h
                if len(out) == len(wanted):
                    break
        return out


def widths(blocks: int, width_scale: float) -> list[int]:
    return [max(1, round(w * width_scale)) for b in range(blocks) for w in VGG16_BLOCKS[b]]


def random_vgg(blocks: int, width_scale: float, seed: int,
               dtype: type = np.float64) -> VGGFeatures:
    """Random He-normal 3x3 filters (std sqrt(2 / (9 * in))), zero biases, from `seed`."""
    rng = np.random.default_rng([seed, 7])
    weights: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    cin = 3
    for name, cout in zip(kept_layers(blocks), widths(blocks, width_scale), strict=True):
        kernel = rng.normal(0.0, np.sqrt(2.0 / (9 * cin)), (3, 3, cin, cout)).astype(dtype)
        weights[name] = (kernel, np.zeros(cout, dtype=dtype))
        cin = cout
    return VGGFeatures(weights, f"random VGG-style filters, seed {seed} — not pretrained "
                                f"VGG16 (widths x{width_scale:g})")


def load_vgg16_npz(path: str | Path, blocks: int, dtype: type = np.float64) -> VGGFeatures:
    """Keras VGG16 notop weights from an .npz holding arr_0 .. arr_25 in Keras order:
    conv1_1 kernel (3, 3, 3, 64), conv1_1 bias (64,), conv1_2 kernel (3, 3, 64, 64), ...,
    conv5_3 bias (512,); that is what `np.savez(path, *model.get_weights())` writes for
    `keras.applications.VGG16(include_top=False)`. Only the kept blocks' arrays are
    needed. SettingError when the file is unreadable or a shape is wrong."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise SettingError(f"setting 'weights_path': no such file: {str(path)!r}")
    layers = kept_layers(blocks)
    expected: dict[str, tuple[tuple[int, ...], str]] = {}  # arr_i -> shape, what it is
    cin = 3
    for i, (name, cout) in enumerate(zip(layers, widths(blocks, 1.0), strict=True)):
        expected[f"arr_{2 * i}"] = ((3, 3, cin, cout), f"{name} kernel")
        expected[f"arr_{2 * i + 1}"] = ((cout,), f"{name} bias")
        cin = cout

    def check(headers: dict[str, npz.ArrayHeader]) -> None:
        # Shapes come from the headers: nothing is read until every one fits.
        for i, name in enumerate(layers):
            kernel, bias = headers.get(f"arr_{2 * i}"), headers.get(f"arr_{2 * i + 1}")
            if kernel is None or bias is None:
                raise SettingError(f"setting 'weights_path': {path.name} has no arr_{2 * i} "
                                   f"/ arr_{2 * i + 1} ({name} kernel and bias)")
            want_kernel, want_bias = expected[f"arr_{2 * i}"][0], expected[f"arr_{2 * i + 1}"][0]
            if kernel.shape != want_kernel or bias.shape != want_bias:
                raise SettingError(f"setting 'weights_path': {name} needs kernel "
                                   f"{want_kernel} and bias {want_bias}, got {kernel.shape} "
                                   f"and {bias.shape}")

    try:
        arrays = npz.read_npz(path, path.name, max_bytes=MAX_WEIGHTS_BYTES, kinds="f",
                              check=check, names=expected)
    except SettingError:
        raise
    except (OSError, ValueError) as exc:
        raise SettingError(f"setting 'weights_path': {exc}") from None
    for key, (_, what) in expected.items():
        if not np.isfinite(arrays[key]).all():
            bad = int(np.size(arrays[key]) - np.count_nonzero(np.isfinite(arrays[key])))
            raise SettingError(f"setting 'weights_path': {key} ({what}) in {path.name} "
                               f"holds {bad} NaN or infinite values")
    weights = {
        name: (arrays[f"arr_{2 * i}"].astype(dtype), arrays[f"arr_{2 * i + 1}"].astype(dtype))
        for i, name in enumerate(layers)
    }
    return VGGFeatures(weights, f"pretrained VGG16 weights from {path.name} (full widths)")


def load_vgg16(path: str | Path, blocks: int, dtype: type = np.float32) -> VGGFeatures:
    """Pretrained VGG16 from Keras' .h5 file or an .npz of its arrays (by the suffix;
    anything not .npz is read as HDF5). SettingError naming the layer when it is wrong."""
    path = Path(path).expanduser()
    if path.suffix.lower() == ".npz":
        return load_vgg16_npz(path, blocks, dtype)
    if not path.is_file():
        raise SettingError(f"setting 'weights_path': no such file: {str(path)!r}")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, blocks, np.dtype(dtype).str)
    if key not in _LOADED:
        try:
            weights = pretrained.read_keras_vgg16_h5(path, kept_layers(blocks))
        except ImportError as exc:
            raise SettingError(f"setting 'weights_path': {exc}") from None
        except ValueError as exc:
            raise SettingError(f"setting 'weights_path': {exc}") from None
        _LOADED.clear()  # one network kept: VGG16 is 59 MB
        _LOADED[key] = {name: (k.astype(dtype), b.astype(dtype))
                        for name, (k, b) in weights.items()}
    return VGGFeatures(dict(_LOADED[key]),
                       f"pretrained VGG16 weights from {path.name} (full widths)")


_LOADED: dict[tuple, dict[str, tuple[np.ndarray, np.ndarray]]] = {}


def make_network(config: Config, dtype: type = np.float32,
                 plan: Plan | None = None) -> VGGFeatures:
    plan = plan or resolve(config)
    if plan.pretrained:
        return load_vgg16(plan.weights, plan.blocks, dtype)
    return random_vgg(plan.blocks, config.width_scale, config.seed, dtype)


# ----------------------------------------------------------------------------------
# losses


def gram(features: en.Tensor) -> en.Tensor:
    """Gram matrix of one image's features (1, H, W, C): F^T F / (C*H*W), F (H*W, C)."""
    _, h, w, c = features.shape
    f = en.reshape(features, (h * w, c))
    return en.matmul(en.transpose(f), f) / float(c * h * w)


def total_variation(x: en.Tensor) -> en.Tensor:
    """Mean squared difference of vertically and horizontally neighbouring pixels."""
    dv = x[:, 1:, :, :] - x[:, :-1, :, :]
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    return en.mean(en.square(dv)) + en.mean(en.square(dh))


@dataclasses.dataclass
class Targets:
    """What the losses compare against: content features and style Grams (as arrays)."""

    content_layer: str
    style_layers: list[str]
    content: np.ndarray
    grams: dict[str, np.ndarray]


def make_targets(net: VGGFeatures, content: np.ndarray, style: np.ndarray,
                 content_layer: str, style_layers: list[str]) -> Targets:
    with en.no_grad():
        fc = net(en.Tensor(content[None]), {content_layer})[content_layer].value.copy()
        fs = net(en.Tensor(style[None]), set(style_layers))
        grams = {name: gram(fs[name]).value.copy() for name in style_layers}
    return Targets(content_layer, list(style_layers), fc, grams)


@dataclasses.dataclass
class Losses:
    total: en.Tensor
    content: en.Tensor
    style: en.Tensor
    tv: en.Tensor
    per_layer: list[en.Tensor]


def style_losses(net: VGGFeatures, image: en.Tensor, targets: Targets, style_weight: float,
                 tv_weight: float) -> Losses:
    """Every loss of the image (1, H, W, 3) as engine Tensors (see the module docstring)."""
    feats = net(image, {targets.content_layer, *targets.style_layers})
    p = targets.content
    content = en.sum(en.square(feats[targets.content_layer] - en.Tensor(p))) \
        / float(max(np.sum(p * p), 1e-12))
    per_layer = []
    for name in targets.style_layers:
        a = targets.grams[name]
        per_layer.append(en.sum(en.square(gram(feats[name]) - en.Tensor(a)))
                         / float(max(np.sum(a * a), 1e-12)))
    style = en.sum(en.stack(per_layer)) / float(len(per_layer))
    tv = total_variation(image)
    total = content + style * float(style_weight) + tv * float(tv_weight)
    return Losses(total, content, style, tv, per_layer)


# ----------------------------------------------------------------------------------
# snapshots and the run


@dataclasses.dataclass(frozen=True)
class Snapshot:
    step: int
    image: np.ndarray  # (H, W, 3) float, 0..1 (Adam may step slightly outside; clipped)
    content_image: np.ndarray
    style_image: np.ndarray
    content_name: str
    style_name: str
    features: str  # which network's features are in use, for the visible label
    pretrained: bool  # True: ImageNet VGG16; False: random filters
    steps: int  # the steps the run is to make
    content_layer: str
    style_layers: tuple[str, ...]
    total: float
    content: float
    style: float
    tv: float
    style_per_layer: np.ndarray  # (layers,) style_l, before the weight
    optimizer: str
    style_weight: float  # the weights the total was made with (live settings)
    tv_weight: float
    # Per step: step, total, content, style, tv; layers: (steps, layers) style_l.
    history: dict[str, np.ndarray]


def run(config: Config) -> Iterator[Snapshot]:
    """Snapshot 0: the starting image and its losses; then one every `snapshot_every`
    optimisation steps, up to `steps`."""
    config.check()
    plan = resolve(config)
    content_img, style_img, content_name, style_name = content_and_style(config, plan.size)
    # float32 throughout: half the memory and bandwidth of float64, and BLAS's sgemm.
    content_img, style_img = content_img.astype(np.float32), style_img.astype(np.float32)
    net = make_network(config, np.float32, plan)
    targets = make_targets(net, content_img, style_img, plan.content_layer,
                           plan.style_layers)
    if plan.init == "content":
        start = content_img.copy()
    else:
        start = np.random.default_rng([config.seed, 3]).uniform(0.0, 1.0, content_img.shape)
    image = en.Variable(start[None].astype(np.float32), dtype=np.float32)
    layers = len(targets.style_layers)
    history = History({"step": 1, "total": 1, "content": 1, "style": 1, "tv": 1,
                       "layers": layers})
    step = 0
    losses = evaluate(net, image, targets, config)

    def snapshot() -> Snapshot:
        per_layer = np.array([float(t.value) for t in losses.per_layer])
        history.append(step=step, total=float(losses.total.value),
                       content=float(losses.content.value), style=float(losses.style.value),
                       tv=float(losses.tv.value), layers=per_layer)
        return Snapshot(
            step=step, image=np.clip(image.value[0], 0.0, 1.0).copy(),
            content_image=content_img, style_image=style_img, content_name=content_name,
            style_name=style_name, features=net.description, pretrained=plan.pretrained,
            steps=int(config.steps),
            content_layer=targets.content_layer, style_layers=tuple(targets.style_layers),
            total=float(losses.total.value), content=float(losses.content.value),
            style=float(losses.style.value), tv=float(losses.tv.value),
            style_per_layer=per_layer, optimizer=config.optimizer,
            style_weight=float(config.style_weight), tv_weight=float(config.tv_weight),
            history=history.view(),
        )

    yield snapshot()
    if config.optimizer == "adam":
        adam = optimizers.Adam(lambda: config.learning_rate)  # a live setting
        while step < config.steps:
            adam.minimize(losses.total, [image])
            # Projected Adam: the image stays a valid picture in 0..1.
            np.clip(image.value, 0.0, 1.0, out=image.value)
            step += 1
            losses = evaluate(net, image, targets, config)
            if step % config.snapshot_every == 0 or step == config.steps:
                yield snapshot()
    else:
        while step < config.steps:
            chunk = min(max(int(config.snapshot_every), int(config.lbfgs_chunk)),
                        config.steps - step)
            done = lbfgs(net, image, targets, config, chunk)
            if done == 0:
                return  # converged: L-BFGS-B makes no more progress
            step += done
            losses = evaluate(net, image, targets, config)
            yield snapshot()


def evaluate(net: VGGFeatures, image: en.Variable, targets: Targets,
             config: Config) -> Losses:
    return style_losses(net, image, targets, config.style_weight, config.tv_weight)


def lbfgs(net: VGGFeatures, image: en.Variable, targets: Targets, config: Config,
          iterations: int) -> int:
    """Up to `iterations` of scipy's L-BFGS-B on the image, bounded to 0..1, gradients
    from the engine; the image Variable ends at the best point. Returns iterations done."""
    from scipy.optimize import minimize

    shape = image.value.shape

    def f(flat: np.ndarray) -> tuple[float, np.ndarray]:
        image.value[...] = flat.reshape(shape)
        loss = evaluate(net, image, targets, config).total
        (grad,) = en.gradients(loss, [image])
        return float(loss.value), np.asarray(grad, dtype=np.float64).ravel()

    result = minimize(f, image.value.ravel().copy(), jac=True, method="L-BFGS-B",
                      bounds=[(0.0, 1.0)] * image.value.size,
                      options={"maxiter": iterations})
    image.value[...] = result.x.reshape(shape)
    return int(result.nit)
