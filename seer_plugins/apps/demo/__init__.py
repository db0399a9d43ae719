"""The demo: SEER end to end on scikit-learn's digits (:mod:`pipeline`), and its
tables and plots (:mod:`report`)."""
