"""Data plugins: the `seer_low_shot` source and its split files, the robust disk
dataset behind `disk_folder`/`disk_filelist`, per-sample seeded augmentations,
loader workers that start fast and exit with training, the class count of a folder
(`${seer.num_classes:...}`) and the digits export."""
