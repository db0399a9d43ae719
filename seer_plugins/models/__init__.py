"""Model plugins: the `seer_regnet` trunk (:mod:`seer_regnet`) and the
`seer_swav_head` head (:mod:`seer_swav_head`), and what they are built from: RegNet
parameters and presets, blocks, group padding, prototypes by role; the widths a head
reads (:mod:`head_widths`, :mod:`feature_widths`, the `${seer.width:...}`
resolvers)."""
