import os

# TensorFlow's C++ start-up chatter (oneDNN, CPU features) would bury the worker's own log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
