"""`python -m bench`: every benchmark, printed as a short report."""

from bench import apply_cnn, apply_lstm, apply_mlp, export, precision, train_step, transformer

if __name__ == "__main__":
    apply_mlp.main()
    apply_cnn.main()
    apply_lstm.main()
    train_step.main()
    export.main()
    precision.main(rounds=5, warmup=3)  # quick; `python -m bench.precision`: the full run
    transformer.main([])
