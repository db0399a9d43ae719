"""`disk_folder` / `disk_filelist` that survive bad images: convert, replace, count.

VISSL's `DiskImageDataset` catches a failed load and returns a grey placeholder
(or, with `DATA.<split>.ENABLE_QUEUE_DATASET`, a previously seen image) with
`is_success=False`, but for `disk_folder` it reads the image once *outside* that
`try` (`image_path = self.image_dataset[idx]` calls ImageFolder's loader), so one
unreadable file ends the run. This subclass, installed under VISSL's two names,
reads each image once, inside the guard, and:

- reads every mode PIL opens as 8-bit RGB the one documented way
  (:mod:`seer_plugins.data.image_modes`: EXIF orientation, a TIFF's bands, 16-bit
  and float intensities scaled as `DATA.<split>.SEER_INTENSITY` says, transparent
  images over white);
- decodes huge JPEGs at a reduced scale (`draft`) and shrinks any image whose
  longer side exceeds `MAX_SIDE`; images beyond PIL's decompression-bomb limit
  are refused by PIL and count as unreadable;
- on an unreadable, truncated or empty file logs a warning with the path and
  returns VISSL's replacement (queue or grey image) flagged `is_success=False`,
  which reaches each batch as `data_valid == -1`; the `seer_bad_images` hook
  counts those and reports a summary per epoch.
"""

import logging

from PIL import Image
from vissl.data.data_helper import get_mean_image
from vissl.data.disk_dataset import DiskImageDataset

from seer_plugins.data.class_lists import numbered_folder, split_index, training_classes
from seer_plugins.data.file_lists import is_text_list, read_paths
from seer_plugins.data.image_modes import Reading, default_reading, read_rgb, reading_of

SOURCES = ("disk_folder", "disk_filelist")
# Longest side kept after loading. SEER's largest crop is 224 px and
# RandomResizedCrop rescales anyway; decoding 100-megapixel photos at full size
# costs seconds and hundreds of MB per image in each loader worker.
MAX_SIDE = 4096


def load_image(
    path: str, reading: Reading | None = None, max_side: int = MAX_SIDE
) -> tuple[Image.Image, str | None]:
    """The image at `path` as 8-bit RGB whose longer side is <= `max_side`, and
    what :func:`~seer_plugins.data.image_modes.read_rgb` did to it (None: nothing
    to report).

    Raises whatever PIL raises on a file it cannot read completely (truncated,
    empty, not an image, beyond the decompression-bomb limit).
    """
    with Image.open(path) as img:
        if max(img.size) > max_side:
            # JPEG only: decode at 1/2, 1/4 or 1/8 scale, still >= the target size.
            scale = max_side / max(img.size)
            img.draft("RGB", (int(img.width * scale), int(img.height * scale)))
        rgb, conversion = read_rgb(img, reading or default_reading())
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side))
    return rgb, conversion


def load_rgb(
    path: str, max_side: int = MAX_SIDE, reading: Reading | None = None
) -> Image.Image:
    """:func:`load_image`'s image alone."""
    return load_image(path, reading, max_side)[0]


class SeerRobustDiskDataset(DiskImageDataset):
    """VISSL's DiskImageDataset reading each image once, inside the failure guard."""

    def _image_path(self, idx: int) -> str:
        if self.data_source == "disk_folder":
            return self.image_dataset.samples[idx][0]  # no load, unlike [idx]
        return self._replace_img_path_prefix(
            str(self.image_dataset[idx]),
            replace_prefix=self._remove_prefix,
            new_prefix=self._new_prefix,
        )

    def _load_data(self, path):
        if self.data_source == "disk_filelist" and is_text_list(path):
            # VISSL reads .npy lists only ("Reading from .txt is not supported").
            self.image_dataset = read_paths(path)
            return
        super()._load_data(path)
        if self.data_source == "disk_folder" and self.split != "TRAIN":
            training = training_classes(
                self.cfg, split_index(self.cfg, self.split, path)
            )
            if training is not None:
                # Labels numbered by the training data's classes, not this folder's.
                folder = self.image_dataset
                folder.samples, folder.classes = numbered_folder(
                    folder.samples, folder.classes, self.split, path, training
                )
                folder.imgs = folder.samples
                folder.targets = [label for _, label in folder.samples]

    def _reading(self) -> Reading:
        if getattr(self, "_seer_reading", None) is None:
            self._seer_reading = reading_of(self.cfg, self.split)
        return self._seer_reading

    def _replacement(self) -> Image.Image:
        img = self.on_failure()[0] if self.enable_queue_dataset else None
        if img is None:
            img = get_mean_image(self.cfg["DATA"][self.split].DEFAULT_GRAY_IMG_SIZE)
        return img

    def __getitem__(self, idx):
        if not self.is_initialized:
            self._load_data(self._path)
            self.is_initialized = True
        if not self.queue_init and self.enable_queue_dataset:
            self._init_queues()
        path = self._image_path(idx)
        try:
            img = load_rgb(path, reading=self._reading())
        except Exception as error:  # any unreadable file: replace, count, go on
            logging.warning(
                "unreadable image replaced (%s, sample %d): %s: %s",
                path,
                idx,
                type(error).__name__,
                error,
            )
            # is_success=False even for a queued replacement: the batch's
            # data_valid then counts every unreadable file.
            return self._replacement(), False
        if self.enable_queue_dataset:
            self.on_sucess(img)
        return img, True
