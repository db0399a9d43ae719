"""The demo: SEER end to end on scikit-learn's digits or a user's image folder
(:mod:`pipeline`, :mod:`folder`), and its tables and plots (:mod:`report`)."""
