"""`python -m bench [--quick] [--reports]`: the suite (bench/suite.py), one table. `--reports`
also runs the older per-workload reports (each runnable alone: `python -m bench.apply_lstm`,
`bench.train_step`, `bench.export`, `bench.precision`, `bench.transformer`,
`bench.cli_latency`)."""

import sys

from bench import (
    apply_cnn,
    apply_lstm,
    apply_mlp,
    cli_latency,
    export,
    precision,
    train_step,
    transformer,
)
from bench.suite import main

if __name__ == "__main__":
    reports = "--reports" in sys.argv
    main([a for a in sys.argv[1:] if a != "--reports"])
    if reports:
        apply_mlp.main()
        apply_cnn.main()
        apply_lstm.main()
        train_step.main()
        export.main()
        precision.main(rounds=5, warmup=3)  # quick; `python -m bench.precision`: the full run
        transformer.main([])
        cli_latency.main()
