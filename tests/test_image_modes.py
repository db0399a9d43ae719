"""Images as the user meant them (seer_plugins.data.image_modes): 16-bit and float
intensities scaled, not clipped; a TIFF's fourth band left out, not composited;
EXIF orientation applied; the conversions said before training; through the data
sources VISSL builds and through k-NN."""

import numpy as np
import pytest
from launch_helpers import knn_top1
from PIL import Image

from seer_plugins import compose
from seer_plugins.checks.data_files import check_data
from seer_plugins.data.image_modes import Reading, default_reading
from seer_plugins.data.low_shot_dataset import SeerLowShotDataset
from seer_plugins.data.robust_images import SeerRobustDiskDataset, load_image
from seer_plugins.errors import ConfigError

SIDE = 32


def _ramp(high: float, dtype, reverse: bool = False) -> np.ndarray:
    """A left-to-right intensity ramp from 0 to `high`."""
    row = np.linspace(0, high, SIDE)
    ramp = np.tile(row[::-1] if reverse else row, (SIDE, 1))
    return ramp.astype(dtype)


def _pixels(path, reading: Reading | None = None) -> tuple[np.ndarray, str | None]:
    image, conversion = load_image(str(path), reading)
    assert image.mode == "RGB"
    return np.asarray(image), conversion


def test_a_12_bit_image_in_16_bits_keeps_its_contrast_relative_to_65535(tmp_path):
    path = tmp_path / "ct.png"
    Image.fromarray(_ramp(4095, np.uint16)).save(path)
    assert Image.open(path).mode == "I;16"
    pixels, conversion = _pixels(path)
    # 4095 / 65535 of white, not clipped to white: still a ramp.
    assert pixels.min() == 0 and pixels.max() == round(4095 / 65535 * 255)
    assert np.all(np.diff(pixels[0, :, 0].astype(int)) >= 0)
    assert conversion == (
        "I;16 (16-bit) scaled from 0..65535 to 0..255, its values in the lowest quarter"
    )
    stretched, _ = _pixels(path, Reading("minmax", None, None, ()))
    assert (stretched.min(), stretched.max()) == (0, 255)
    windowed, how = _pixels(path, Reading("window", 0, 2047.5, ()))
    assert windowed[0, -1, 0] == 255 and windowed[0, 0, 0] == 0  # clipped above
    assert "window 0..2047.5" in how


def test_values_outside_the_range_are_said_to_be_clipped(tmp_path):
    path = tmp_path / "hu.tif"
    Image.fromarray(_ramp(1000, np.float32) - 500).save(path)  # -500..500
    pixels, conversion = _pixels(path)
    assert conversion.endswith("values outside the range clipped")
    pixels, conversion = _pixels(path, Reading("minmax", None, None, ()))
    assert (pixels.min(), pixels.max()) == (0, 255) and "clipped" not in conversion


def test_float_images_are_taken_as_0_to_1_and_int32_by_its_range(tmp_path):
    floats = tmp_path / "f.tif"
    Image.fromarray(_ramp(1.0, np.float32)).save(floats)
    pixels, conversion = _pixels(floats)
    assert (pixels.min(), pixels.max()) == (0, 255) and "F (float" in conversion
    ints = tmp_path / "i.tif"
    Image.fromarray(_ramp(60000, np.int32)).save(ints)
    pixels, conversion = _pixels(ints)
    # The type's range, as documented: 60000 of 2^31 - 1 is black...
    assert pixels.max() == 0 and "32-bit signed" in conversion
    # ...and a window (or minmax) reads the values the user meant.
    pixels, _ = _pixels(ints, Reading("window", 0, 60000, ()))
    assert (pixels.min(), pixels.max()) == (0, 255)


def test_a_tiff_fourth_band_is_left_out_not_composited(tmp_path):
    bands = np.zeros((SIDE, SIDE, 4), np.uint8)
    bands[..., 0], bands[..., 1], bands[..., 2], bands[..., 3] = 200, 50, 50, 30
    path = tmp_path / "rgbn.tif"
    Image.fromarray(bands, "RGBA").save(path)  # the 4th band flagged as alpha
    pixels, conversion = _pixels(path)
    assert tuple(pixels[0, 0]) == (200, 50, 50)
    assert conversion == "bands [0, 1, 2] of 4 as RGB"
    pixels, _ = _pixels(path, Reading("dtype", None, None, (3, 2, 1)))
    assert tuple(pixels[0, 0]) == (30, 50, 50)
    # A selection applies to any image of several bands, and a one-band image
    # cannot give bands it lacks.
    jpeg = tmp_path / "rgb.jpg"
    Image.new("RGB", (SIDE, SIDE), (10, 120, 240)).save(jpeg, quality=100)
    pixels, _ = _pixels(jpeg, Reading("dtype", None, None, (2, 1, 0)))
    assert abs(int(pixels[0, 0, 0]) - 240) <= 2
    gray = tmp_path / "gray.png"
    Image.new("L", (SIDE, SIDE), 9).save(gray)
    with pytest.raises(ValueError, match=r"SEER_BANDS=\[3, 2, 1\] names a band"):
        _pixels(gray, Reading("dtype", None, None, (3, 2, 1)))
    # PNG alpha is transparency: still over white.
    png = tmp_path / "logo.png"
    Image.new("RGBA", (SIDE, SIDE), (255, 0, 0, 0)).save(png)
    assert tuple(_pixels(png)[0][0, 0]) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    landscape = np.zeros((16, 48, 3), np.uint8)
    landscape[:, :8] = 255  # a white left edge
    image = Image.fromarray(landscape)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    path = tmp_path / "phone.jpg"
    image.save(path, exif=exif, quality=95)
    pixels, conversion = _pixels(path)
    assert pixels.shape[:2] == (48, 16)  # upright: taller than wide
    assert pixels[:8].mean() > 200  # the left edge is now the top
    assert conversion == "EXIF orientation 6 applied"


def test_plain_8_bit_images_report_nothing_and_16_bit_rgb_keeps_its_high_byte(
    tmp_path,
):
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((SIDE, SIDE, 3), 77, np.uint8)).save(path)
    assert _pixels(path)[1] is None
    assert default_reading() == Reading("dtype", None, None, ())


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("config.DATA.TRAIN.SEER_INTENSITY.mode=gamma", "SEER_INTENSITY.mode='gamma'"),
        ("config.DATA.TRAIN.SEER_INTENSITY.mode=window", "needs numbers low < high"),
        ("config.DATA.TRAIN.SEER_BANDS=[1,2]", "SEER_BANDS=[1, 2]: is not three"),
    ],
)
def test_bad_reading_settings_are_refused_at_compose_time(override, fragment):
    with pytest.raises(ConfigError) as error:
        compose(["config=pretrain/seer_tiny", override])
    assert fragment in str(error.value)


@pytest.fixture(scope="module")
def ramps(tmp_path_factory):
    """Two classes of 16-bit images differing only in the ramp's direction."""
    root = tmp_path_factory.mktemp("ramps")
    for split, count in (("train", 12), ("val", 6)):
        for name, reverse in (("left", False), ("right", True)):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                ramp = _ramp(3000 + 50 * i, np.uint16, reverse)
                Image.fromarray(ramp).save(folder / f"{i}.png")
    return root


def _ramp_config(ramps, source="disk_folder"):
    return compose(
        [
            "config=benchmark/linear/digits",
            f"config.DATA.TRAIN.DATA_SOURCES=[{source}]",
            f"config.DATA.TRAIN.DATA_PATHS=[{ramps}/train]",
            f"config.DATA.TEST.DATA_PATHS=[{ramps}/val]",
            "config.METERS.accuracy_list_meter.topk_values=[1]",
        ]
    )


@pytest.mark.parametrize("source", ["disk_folder", "seer_low_shot"])
def test_the_training_data_path_reads_16_bit_images_as_ramps(ramps, source):
    config = _ramp_config(ramps, source)
    cls = SeerRobustDiskDataset if source == "disk_folder" else SeerLowShotDataset
    dataset = cls(config, source, str(ramps / "train"), "TRAIN", "ramps")
    image, ok = dataset[0]
    pixels = np.asarray(image)
    assert ok and pixels.max() > pixels.min()  # not the all-white of a clip


def test_the_preflight_says_how_the_data_is_converted(ramps, capsys):
    check_data(_ramp_config(ramps))
    out = capsys.readouterr().out
    assert (
        "config.DATA.TRAIN.DATA_PATHS[0]: 16 of 16 sampled images: I;16 (16-bit) "
        "scaled from 0..65535 to 0..255"
    ) in out
    assert "config.DATA.TEST.DATA_PATHS[0]: 12 of 12 sampled images" in out
    # 12-bit values in 16 bits use 6% of 0..255: said, with what to set.
    assert (
        "these images lose contrast as read; set config.DATA.TRAIN.SEER_INTENSITY"
        in (out)
    )


@pytest.mark.slow
def test_knn_tells_16_bit_ramps_apart(ramps, tmp_path):
    """The issue's case: clipped to white, the two classes scored 50% (chance)."""
    assert knn_top1(ramps / "train", ramps / "val", tmp_path, k=5) == 100.0


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "config.DATA.TRAIN.SEER_INTENSITY=window",
            "config.DATA.TRAIN.SEER_INTENSITY='window': is not a mapping of keys; "
            "its keys: ['high', 'low', 'mode']",
        ),
        (
            "config.DATA.TRAIN.SEER_INTENSITY={mode: window, lo: 0, high: 4095}",
            "did you mean config.DATA.TRAIN.SEER_INTENSITY.low?",
        ),
    ],
)
def test_a_reading_setting_of_the_wrong_shape_is_one_line(override, message):
    with pytest.raises(ConfigError) as error:
        compose(["config=pretrain/seer_tiny", override])
    assert message in str(error.value)


def test_a_folder_of_every_kind_reads_and_is_reported_kind_by_kind(tmp_path, capsys):
    """The new user's folder: phone JPEGs, float TIFFs, 16-bit PNGs, 4-band TIFFs
    and int32 TIFFs in each class; sampled across kinds, each said once."""
    root = tmp_path / "mixed"
    for name, reverse in (("left", False), ("right", True)):
        folder = root / "train" / name
        folder.mkdir(parents=True)
        for i in range(2):
            photo = Image.fromarray(_ramp(255, np.uint8, reverse)).convert("RGB")
            exif = photo.getexif()
            exif[0x0112] = 6
            photo.save(folder / f"a_phone{i}.jpg", exif=exif)
            Image.fromarray(_ramp(1.0, np.float32, reverse)).save(
                folder / f"b_f{i}.tif"
            )
            Image.fromarray(_ramp(4095, np.uint16, reverse)).save(
                folder / f"c_ct{i}.png"
            )
            bands = np.stack([_ramp(255, np.uint8, reverse)] * 4, axis=-1)
            Image.fromarray(bands, "RGBA").save(folder / f"d_nir{i}.tif")
    config = compose(
        [
            "config=pretrain/seer_tiny",
            f"config.DATA.TRAIN.DATA_PATHS=[{root / 'train'}]",
            "config.DATA.TRAIN.DATA_LIMIT=-1",
            "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=4",
        ]
    )
    check_data(config)
    out = capsys.readouterr().out
    for kind in (
        "EXIF orientation 6 applied",
        "F (float) scaled from 0..1 to 0..255",
        "I;16 (16-bit) scaled from 0..65535 to 0..255",
        "bands [0, 1, 2] of 4 as RGB",
    ):
        assert kind in out, out
    source = config.DATA.TRAIN.DATA_SOURCES[0]
    dataset = SeerRobustDiskDataset(config, source, str(root / "train"), "TRAIN", "m")
    for index in range(len(dataset)):
        image, ok = dataset[index]
        pixels = np.asarray(image)
        assert ok and pixels.max() > pixels.min(), dataset.image_dataset.samples[index]


def test_unreadable_samples_are_said_and_a_band_selection_they_lack_refused(
    tmp_path, capsys
):
    train = tmp_path / "train"
    for name in ("a", "b"):
        (train / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(_ramp(4095, np.uint16)).save(train / name / f"{i}.png")
    (train / "a" / "9.png").write_text("not an image")  # one of nine
    overrides = [
        "config=pretrain/seer_tiny",
        f"config.DATA.TRAIN.DATA_PATHS=[{train}]",
        "config.DATA.TRAIN.DATA_LIMIT=-1",
        "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=4",
    ]
    check_data(compose(overrides))
    assert "1 of 9 sampled images cannot be read, replaced" in capsys.readouterr().out
    # A band selection the images lack: the setting's fault, refused naming it.
    with pytest.raises(ConfigError) as error:
        check_data(compose([*overrides, "config.DATA.TRAIN.SEER_BANDS=[3,0,1]"]))
    assert str(error.value).startswith(
        "config.DATA.TRAIN.SEER_BANDS=[3, 0, 1]: does not fit the images of"
    )
    assert "names a band the image lacks" in str(error.value)
    # A window is the user's choice: no advice to choose one.
    window = "config.DATA.TRAIN.SEER_INTENSITY={mode: window, low: 0, high: 60000}"
    check_data(compose([*overrides, window]))
    assert "lose contrast" not in capsys.readouterr().out
    with pytest.raises(ConfigError, match="SEER_BANDS=0: is not three band indices"):
        compose([*overrides, "config.DATA.TRAIN.SEER_BANDS=0"])
