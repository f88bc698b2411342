"""minigan.nn: layers with hand-derived backward passes, containers and losses."""
from .module import Module
from .layers import Linear, ReLU, LeakyReLU, Tanh, Sigmoid, Softplus, Dropout, Sequential, sigmoid
from .conv import Conv2d, ConvTranspose2d
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm, InstanceNorm2d
from .pool import MaxPool2d, AvgPool2d, Upsample
from .temporal import Conv1d, MaxPool1d, WordAttention
from .reshape import Flatten, Reshape
from .recurrent import LSTMCell, LSTM, GRU
from .embedding import Embedding
from .spectral import SpectralNorm, spectral_norm, power_iteration
from .minibatch import MinibatchDiscrimination
from .highway import Highway
from .clip import clip_grad_norm
from .losses import bce_with_logits, mse, l1_loss, softmax_cross_entropy, softmax, log_softmax
from .receptive import (concat_channels, concat_channels_backward, receptive_field,
                        ReceptiveField)

__all__ = ["Module", "Linear", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Softplus", "Dropout", "Sequential",
           "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "InstanceNorm2d",
           "MaxPool2d", "AvgPool2d", "Upsample", "Flatten", "Reshape",
           "Conv1d", "MaxPool1d", "WordAttention",
           "LSTMCell", "LSTM", "GRU", "Embedding", "clip_grad_norm",
           "SpectralNorm", "spectral_norm", "power_iteration", "MinibatchDiscrimination", "Highway",
           "sigmoid", "bce_with_logits", "mse", "l1_loss", "softmax_cross_entropy", "softmax",
           "log_softmax", "concat_channels", "concat_channels_backward", "receptive_field",
           "ReceptiveField"]
