"""Run folders: what made a run (:mod:`fingerprint`), and one run per folder
(:mod:`run_folder`). The launcher, the sweep and the demo claim and compare runs
through here."""
