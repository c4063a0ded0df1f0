"""Datasets: generators (no TensorFlow) and tf.data pipelines."""
