"""Throughput of one SEER training step: our seer_1b setup vs stock VISSL (issue 8).

    python benchmarks/throughput.py --json throughput.json             # CUDA: SEER 1.3B
    python benchmarks/throughput.py --amp bf16 --cudnn-benchmark \
        --channels-last --pad-group-width-to 8 --json fast.json        # the levers
    python benchmarks/throughput.py --device cpu --iters 3 --warmup 1  # CPU, small preset

Prints a table (median step time after warm-up, img/s, TFLOP/s, MFU against a
measured matmul rate, peak GPU memory, ours/stock) and writes it as JSON.
See docs/performance.md.
"""

import seer_plugins  # noqa: F401  (first: the compatibility shims, the registrations)
from seer_plugins.perf.run import main

if __name__ == "__main__":
    main()
