"""Training loops: one file per model kind, sharing the data split and the checkpoint format."""
