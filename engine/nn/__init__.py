"""Neural-network ops for vizlab's engine: activations, softmax, convolution, pooling, dropout,
and the fused dense / bias-activation ops the layers record.

    import engine.nn as nn
    y = nn.relu(nn.conv2d(x, w, padding="SAME"))
    nn.activation("gelu")(y)

Every op here is an engine op: it records itself and has a registered gradient.
"""

from engine.nn.activations import (
    ACTIVATIONS,
    SELU_ALPHA,
    SELU_SCALE,
    activation,
    elu,
    gelu,
    identity,
    leaky_relu,
    log_softmax,
    logsumexp,
    prelu,
    relu,
    rrelu,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from engine.nn.conv import conv2d, max_pool2d
from engine.nn.dropout import dropout, dropout_mask
from engine.nn.fused import FUSED_ACTIVATIONS, bias_activation, dense

__all__ = [
    "ACTIVATIONS",
    "FUSED_ACTIVATIONS",
    "SELU_ALPHA",
    "SELU_SCALE",
    "activation",
    "bias_activation",
    "conv2d",
    "dense",
    "dropout",
    "dropout_mask",
    "elu",
    "gelu",
    "identity",
    "leaky_relu",
    "log_softmax",
    "logsumexp",
    "max_pool2d",
    "prelu",
    "relu",
    "rrelu",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "tanh",
]
