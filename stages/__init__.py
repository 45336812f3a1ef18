"""physflow stages: plain Python, one folder per stage, each with `run(inputs, config) -> pyarrow.Table`."""
