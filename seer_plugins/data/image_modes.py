"""Images as the user meant them: every mode PIL opens, as 8-bit RGB, one way.

SEER trains on 8-bit RGB; medical and remote-sensing images rarely are. PIL's own
`convert("RGB")` clips rather than scales: a 16-bit grayscale PNG (mode `I;16`, CT,
MR and X-ray exports) becomes white, a float TIFF (mode `F`, values 0-1) black. Here,
in this order:

1. **Orientation**: the EXIF orientation tag is applied (a phone photo tagged
   "rotate 90" is read upright).
2. **Bands**: the ones `DATA.<split>.SEER_BANDS` names, in any image of several
   bands (a one-band image with another selection than [0, 0, 0] is refused);
   without a selection a TIFF with more than three bands (R, G, B, NIR) keeps its
   first three: a fourth band flagged as alpha is a band like the others, not
   composited. Elsewhere (PNG, GIF, WebP) alpha is transparency: the image is
   composited over white.
3. **Intensity** of images wider than 8 bits (integer `I;16*` and `I`, float `F`),
   mapped to 0..255 as `DATA.<split>.SEER_INTENSITY.mode` says:
   - `dtype` (the default): integers from their type's range (16-bit: 0..65535,
     so a 12-bit image stored in 16 bits keeps its contrast relative to 65535;
     a 32-bit TIFF's from 0..2^31-1), floats from 0..1;
   - `minmax`: each image from its own minimum..maximum;
   - `window`: from `low`..`high`, in the image's values (a CT window in
     Hounsfield units, say); values outside are clipped.
   16-bit RGB PNGs are read by PIL as 8-bit RGB already (their high byte).
4. Everything else (`L`, `P`, `CMYK`, `1`, ...) through PIL's `convert("RGB")`.

:func:`read_rgb` says which of these it did (None for plain 8-bit RGB, L and P), so
the launcher's preflight can report the data's conversions before training.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from seer_plugins.config.defaults import plugin_section
from seer_plugins.errors import ConfigError

INTENSITY_KEY = "SEER_INTENSITY"
BANDS_KEY = "SEER_BANDS"
INTENSITY_MODES = ("dtype", "minmax", "window")
# Modes PIL converts to RGB without loss: what needs no report.
PLAIN_MODES = ("RGB", "L", "P")
TRANSPARENT_MODES = ("RGBA", "LA", "PA")
# Wider than 8 bits: scaled by SEER_INTENSITY.
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
EXIF_ORIENTATION = 0x0112
# What a conversion says of an image that loses contrast: over 1% of its values
# outside the range (clipped), or all of them in its lowest quarter.
CLIPPED_SHARE = 0.01
CLIPPED = "values outside the range clipped"
DIM = "its values in the lowest quarter"
# TIFF tags: bits per sample, sample format (1 unsigned, 2 signed, 3 float).
BITS_PER_SAMPLE, SAMPLE_FORMAT = 258, 339


class ReadingError(ValueError):
    """An image the reading settings cannot apply to (a band it lacks): the
    settings', not the file's, fault."""


@dataclass(frozen=True)
class Reading:
    """How a dataset's images become 8-bit RGB (its `SEER_INTENSITY`, `SEER_BANDS`)."""

    mode: str
    low: float | None
    high: float | None
    bands: tuple[int, ...]


def reading_of(config, split: str) -> Reading:
    """The `Reading` of `config.DATA.<split>`, its defaults from configs/defaults.

    Raises:
        ConfigError: an unknown mode, a window without low < high, a bad band list.
    """
    data = f"DATA.{split}"
    intensity = plugin_section(config, f"{data}.{INTENSITY_KEY}")
    key = f"config.{data}.{INTENSITY_KEY}"
    mode = intensity["mode"]
    if mode not in INTENSITY_MODES:
        raise ConfigError(
            f"{key}.mode", mode, "is unknown", f"one of {INTENSITY_MODES}"
        )
    low, high = intensity["low"], intensity["high"]
    if mode == "window" and not (_is_number(low) and _is_number(high) and low < high):
        raise ConfigError(
            key,
            {"low": low, "high": high},
            "mode window needs numbers low < high",
            f"e.g. {key}={{mode: window, low: -1000, high: 400}}",
        )
    bands = plugin_section(config, data)[BANDS_KEY]
    bands = [] if bands is None else bands
    if not (
        isinstance(bands, Sequence)
        and len(bands) in (0, 3)
        and all(
            isinstance(b, int) and not isinstance(b, bool) and b >= 0 for b in bands
        )
    ):
        raise ConfigError(
            f"config.{data}.{BANDS_KEY}",
            bands,
            "is not three band indices",
            "[] (the first three) or e.g. [3, 2, 1]",
        )
    return Reading(mode, low, high, tuple(bands))


@functools.cache
def default_reading() -> Reading:
    """The reading of a config that sets nothing (the defaults files')."""
    return reading_of({}, "TRAIN")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_rgb(img: Image.Image, reading: Reading) -> tuple[Image.Image, str | None]:
    """`img` (opened, any mode) as 8-bit RGB, and what was done to it in words, or
    None for plain 8-bit RGB, L and P images."""
    done = []
    is_tiff = img.format == "TIFF"
    # Before a transposed copy loses the TIFF tags.
    storage = _type_range(img) if img.mode in WIDE_MODES else None
    orientation = img.getexif().get(EXIF_ORIENTATION, 1)
    if orientation != 1:
        img = ImageOps.exif_transpose(img)
        done.append(f"EXIF orientation {orientation} applied")
    bands, mode = img.getbands(), img.mode
    if len(bands) == 1 and set(reading.bands) - {0}:
        raise ReadingError(
            f"{BANDS_KEY}={list(reading.bands)} names a band the image lacks: it has "
            f"1 ({mode})"
        )
    if (reading.bands and len(bands) > 1) or (is_tiff and len(bands) > 3):
        chosen = reading.bands or (0, 1, 2)
        if max(chosen) >= len(bands):
            raise ReadingError(
                f"{BANDS_KEY}={list(chosen)} names a band the image lacks: it has "
                f"{len(bands)} ({''.join(bands)})"
            )
        split = img.split()
        img = Image.merge("RGB", [split[i].convert("L") for i in chosen])
        done.append(f"bands {list(chosen)} of {len(bands)} as RGB")
    elif mode in WIDE_MODES:
        img, how = _scaled(img, reading, storage)
        done.append(how)
    elif mode in TRANSPARENT_MODES or (mode == "P" and "transparency" in img.info):
        img = _over_white(img)
        done.append(f"{mode} (with transparency) over white")
    elif mode not in PLAIN_MODES:
        done.append(f"{mode} converted to RGB")
    # convert() reads the pixels now (a truncated file fails here, inside the
    # caller's `with`) and returns an image of its own.
    return img.convert("RGB"), "; ".join(done) or None


def _type_range(img: Image.Image) -> tuple[float, float, str]:
    """(low, high, words) of the image's storage type."""
    if img.mode.startswith("I;16"):
        return 0.0, 65535.0, "16-bit"
    if img.mode == "F":
        return 0.0, 1.0, "float"
    # Mode I is PIL's 32-bit signed integer; a TIFF says what it stored.
    tags = getattr(img, "tag_v2", None) or {}
    bits = _first(tags.get(BITS_PER_SAMPLE), 32)
    signed = _first(tags.get(SAMPLE_FORMAT), 2) == 2
    high = 2.0 ** (bits - 1 if signed else bits) - 1
    return 0.0, high, f"{bits}-bit {'signed' if signed else 'unsigned'}"


def _first(value, default: int) -> int:
    """A TIFF tag's first value (tags hold one per band)."""
    if value is None:
        return default
    return int(value[0] if isinstance(value, tuple) else value)


def _scaled(img: Image.Image, reading: Reading, storage) -> tuple[Image.Image, str]:
    values = np.asarray(img, dtype=np.float64)
    if reading.mode == "minmax":
        low, high = float(values.min()), float(values.max())
        how = f"{img.mode} scaled from its min..max"
    elif reading.mode == "window":
        low, high = float(reading.low), float(reading.high)
        how = f"{img.mode} scaled from the window {reading.low}..{reading.high}"
    else:
        low, high, words = storage
        how = f"{img.mode} ({words}) scaled from {low:g}..{high:g}"
    span = high - low
    scaled = (values - low) * (255.0 / span) if span > 0 else values * 0.0
    gray = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    how = f"{how} to 0..255"
    # Said, so the data's loss of contrast is not silent (the preflight advises);
    # a window or minmax is the user's choice.
    if reading.mode == "dtype":
        if np.mean((scaled < -0.5) | (scaled > 255.5)) > CLIPPED_SHARE:
            how = f"{how}, {CLIPPED}"
        elif gray.max() < 64:
            how = f"{how}, {DIM}"
    return Image.fromarray(gray, "L"), how


def _over_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
