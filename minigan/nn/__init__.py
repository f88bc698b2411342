"""minigan.nn: layers with hand-derived backward passes, containers and losses."""
from .module import Module
from .layers import Linear, ReLU, LeakyReLU, Tanh, Sigmoid, Dropout, Sequential, sigmoid
from .losses import bce_with_logits, mse, softmax_cross_entropy, softmax, log_softmax

__all__ = ["Module", "Linear", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Dropout", "Sequential",
           "sigmoid", "bce_with_logits", "mse", "softmax_cross_entropy", "softmax", "log_softmax"]
