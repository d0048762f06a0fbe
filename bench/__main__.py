"""`python -m bench [--quick]`: the suite (bench/suite.py), one table. The older per-workload
reports stay runnable on their own: `python -m bench.apply_lstm`, `bench.train_step`, ..."""

from bench.suite import main

if __name__ == "__main__":
    main()
