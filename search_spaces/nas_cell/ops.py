"""The 13 NASNet operations and the fixed pieces of a NASNet cell.

Structure follows the released NASNet code (TensorFlow slim ``nets/nasnet/nasnet_utils.py``):

* separable convolutions are applied twice (slim's ``separable_KxK_2``): ReLU, depthwise
  KxK (stride here), pointwise to ``c_out``, BN, ReLU, depthwise KxK, pointwise, BN;
* pooling is followed by a 1x1 conv + BN (no ReLU) only when the channel count changes;
* identity becomes ReLU, 1x1 conv (with the stride), BN when it strides or changes channels;
* a "factorized reduction" halves the resolution with two 1x1 convs on the input and on
  the input shifted by one pixel, concatenated and batch-normalised;
* convolutions and pools use TensorFlow ``SAME`` padding (the extra pixel goes bottom/right)
  and average pooling does not count the padding.

The released code has no plain, asymmetric or dilated convolutions; here they are
ReLU -> conv(s) -> BN like the other ops (``conv_1x3_3x1``: 1x3 with stride (1, s), then 3x1
with stride (s, 1), the first mapping to ``c_out``; ``dil_conv_KxK``: a full KxK conv with
dilation 2); ``make_op(..., bottleneck=True)`` (config ``conv_bottleneck``) builds
``conv_3x3``, ``conv_1x3_3x1``, ``conv_1x7_7x1`` and ``dil_conv_3x3`` as tensorflow/tpu's
AmoebaNet does, inside a 1x1 bottleneck (``BottleneckConv``). Operations of later cell
spaces (``EXTRA_OPS``): ``zero`` (DARTS's ``none``: zeros at the output shape),
``dil_sep_conv_KxK`` (DARTS's ``dil_conv_KxK`` and AmoebaNet's dilated separable conv: ReLU,
depthwise KxK with dilation 2, pointwise, BN, once) and ``avg_pool_5x5``. Every conv is
bias-free and elastic on its input side, so one module serves a supernet (sized for the widest
input) and a standalone network (exact input width).

Average pooling and padding. TensorFlow averages a ``SAME``-padded window over its real pixels
only; so does ``Pool`` by default. timm's ports of NASNet-A and PNASNet-5 pad stride-2 average
pools explicitly with zeros and then count them (their stride-1 pools do not), so
``make_op(..., pad_counted=True)`` (config ``avg_pool_padding="include_strided"``) does the same
to reproduce timm's outputs with its weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.nn import ElasticConv2d

#: The operations of the NASNet paper, with stable short names.
OPS: tuple[str, ...] = (
    "identity",
    "conv_1x3_3x1",
    "conv_1x7_7x1",
    "dil_conv_3x3",
    "avg_pool_3x3",
    "max_pool_3x3",
    "max_pool_5x5",
    "max_pool_7x7",
    "conv_1x1",
    "conv_3x3",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "sep_conv_7x7",
)

#: Operations of the DARTS, PNAS and AmoebaNet cells that the NASNet paper does not have.
EXTRA_OPS: tuple[str, ...] = ("zero", "dil_conv_5x5", "dil_sep_conv_3x3", "dil_sep_conv_5x5", "avg_pool_5x5")

#: Every operation name ``make_op`` builds.
ALL_OPS: tuple[str, ...] = OPS + EXTRA_OPS

#: The five operations of the ENAS micro (cell) search space.
ENAS_OPS: tuple[str, ...] = ("identity", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3")

BN_EPS = 1e-3  # slim NASNet batch-norm epsilon


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def same_pads(x: torch.Tensor, kernel, stride, dilation=1) -> tuple[int, int, int, int]:
    """``F.pad`` amounts (left, right, top, bottom) of TensorFlow ``SAME`` padding for ``x``."""
    pads: list[int] = []
    dims = zip(x.shape[2:], _pair(kernel), _pair(stride), _pair(dilation))
    for size, k, s, d in reversed(list(dims)):  # F.pad lists the last dimension first
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)  # type: ignore[return-value]


class SameConv2d(ElasticConv2d):
    """Bias-free conv with ``SAME`` padding; its input side follows ``x`` (elastic)."""

    def __init__(self, c_in: int, c_out: int, kernel, stride=1, *, dilation=1, groups: int = 1) -> None:
        super().__init__(c_in, c_out, kernel, stride, padding=0, dilation=dilation, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = same_pads(x, self.kernel_size, self.stride, self.dilation)
        return super().forward(F.pad(x, pads) if any(pads) else x)


class Pool(nn.Module):
    """Max or average pooling with ``SAME`` padding; averages ignore padded pixels unless
    ``pad_counted`` (then, with a stride, they count them as zeros: timm's ports)."""

    def __init__(self, kind: str, kernel: int, stride: int, *, pad_counted: bool = False) -> None:
        super().__init__()
        self.kind, self.kernel, self.stride = kind, kernel, stride
        self.pad_counted = pad_counted and stride > 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = same_pads(x, self.kernel, self.stride)
        if self.kind == "max":
            return F.max_pool2d(F.pad(x, pads, value=-math.inf), self.kernel, self.stride)
        if not any(pads) or self.pad_counted:
            return F.avg_pool2d(F.pad(x, pads) if any(pads) else x, self.kernel, self.stride)
        # Sum over real pixels divided by their count: TensorFlow's SAME average pooling.
        ones = x.new_ones(1, 1, *x.shape[2:])
        return F.avg_pool2d(F.pad(x, pads), self.kernel, self.stride) / F.avg_pool2d(
            F.pad(ones, pads), self.kernel, self.stride
        )


class ConvBn(nn.Module):
    """(ReLU ->) one or two SAME convs -> BN; ``kernels``/``strides`` list the convs in order."""

    def __init__(self, c_in: int, c_out: int, kernels, strides, *, dilation: int = 1, relu: bool = True) -> None:
        super().__init__()
        self.relu = relu
        convs, width = [], c_in
        for k, s in zip(kernels, strides):
            convs.append(SameConv2d(width, c_out, k, s, dilation=dilation))
            width = c_out
        self.convs = nn.Sequential(*convs)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.convs(F.relu(x) if self.relu else x))


class SepConv(nn.Module):
    """slim ``separable_KxK_2``: two ReLU -> depthwise -> pointwise -> BN units, stride on the first."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.dw1 = SameConv2d(c_in, c_in, kernel, stride, groups=c_in)
        self.pw1 = SameConv2d(c_in, c_out, 1)
        self.bn1 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.dw2 = SameConv2d(c_out, c_out, kernel, 1, groups=c_out)
        self.pw2 = SameConv2d(c_out, c_out, 1)
        self.bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.pw1(self.dw1(F.relu(x))))
        return self.bn2(self.pw2(self.dw2(F.relu(x))))


class DilSepConv(nn.Module):
    """DARTS ``dil_conv_KxK``: ReLU -> depthwise KxK (dilation 2, the stride) -> pointwise -> BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.dw = SameConv2d(c_in, c_in, kernel, stride, dilation=2, groups=c_in)
        self.pw = SameConv2d(c_in, c_out, 1)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.pw(self.dw(F.relu(x))))


class Zero(nn.Module):
    """DARTS ``none``: zeros of the output's shape (the block ignores that input)."""

    def __init__(self, c_out: int, stride: int) -> None:
        super().__init__()
        self.c_out, self.stride = c_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        return x.new_zeros(n, self.c_out, -(-h // self.stride), -(-w // self.stride))


class Identity(nn.Module):
    """slim ``none``: passes ``x`` through unless it strides or changes channels, then
    ReLU -> 1x1 conv (stride) -> BN. ``proj`` exists when that can happen."""

    def __init__(self, c_in: int, c_out: int, stride: int, *, project: bool) -> None:
        super().__init__()
        self.c_out, self.stride = c_out, stride
        self.proj = ConvBn(c_in, c_out, [1], [stride]) if project else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.proj is not None and (self.stride > 1 or x.shape[1] != self.c_out):
            return self.proj(x)
        return x


class PoolOp(nn.Module):
    """Pooling, then 1x1 conv -> BN (no ReLU) when the channel count must change."""

    def __init__(self, kind: str, kernel: int, c_in: int, c_out: int, stride: int, *, project: bool,
                 pad_counted: bool = False) -> None:
        super().__init__()
        self.c_out = c_out
        self.pool = Pool(kind, kernel, stride, pad_counted=pad_counted)
        self.proj = ConvBn(c_in, c_out, [1], [1], relu=False) if project else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        needs_proj = x.shape[1] != self.c_out
        x = self.pool(x)
        return self.proj(x) if needs_proj and self.proj is not None else x


def make_op(
    name: str, c_in: int, c_out: int, stride: int, *, project: bool | None = None, pad_counted: bool = False,
    bottleneck: bool = False,
) -> nn.Module:
    """Operation ``name`` from ``c_in`` (the widest input it may see) to ``c_out`` channels.

    Args:
        project: Whether identity/pooling keep a projection conv for inputs that stride or
            change channels. ``None``: exactly when this ``c_in``/``stride`` need one.
        pad_counted: Strided average pools count their zero padding (timm's ports).
        bottleneck: Plain convolutions as tensorflow/tpu's AmoebaNet builds them
            (``BottleneckConv``).
    """
    if project is None:
        project = c_in != c_out or (name == "identity" and stride > 1)
    if name == "identity":
        return Identity(c_in, c_out, stride, project=project)
    kind, _, size = name.partition("_pool_")
    if size:
        return PoolOp(kind, int(size[0]), c_in, c_out, stride, project=project, pad_counted=pad_counted)
    if name == "zero":
        return Zero(c_out, stride)
    if name.startswith("sep_conv_"):
        return SepConv(c_in, c_out, int(name[-1]), stride)
    if name in ("dil_sep_conv_3x3", "dil_sep_conv_5x5"):
        return DilSepConv(c_in, c_out, int(name[-1]), stride)
    if name in ("conv_1x3_3x1", "conv_1x7_7x1"):
        k = int(name[7])  # conv_1xK_Kx1
        kernels, strides = [(1, k), (k, 1)], [(1, stride), (stride, 1)]
    elif name in ("dil_conv_3x3", "dil_conv_5x5", "conv_1x1", "conv_3x3"):
        kernels, strides = [int(name[-1])], [stride]
    else:
        raise ValueError(f"unknown operation {name!r}; operations are {list(ALL_OPS)}")
    dilation = 2 if name.startswith("dil_") else 1
    if bottleneck and name in BOTTLENECK_OPS:
        mid = int(c_out * (3 / 8 if name == "conv_1x3_3x1" else 1 / 4))
        return BottleneckConv(c_in, c_out, mid, kernels, strides, dilation=dilation)
    return ConvBn(c_in, c_out, kernels, strides, dilation=dilation)


#: Plain convolutions that ``bottleneck=True`` builds as ``BottleneckConv`` (tensorflow/tpu's
#: ``3x3``, ``1x3_3x1``, ``1x7_7x1``, ``dilated_3x3_rate_2``).
BOTTLENECK_OPS = ("conv_3x3", "conv_1x3_3x1", "conv_1x7_7x1", "dil_conv_3x3")


class BottleneckConv(nn.Module):
    """A plain convolution as tensorflow/tpu ``amoeba_net`` builds it (``network_utils``):
    ReLU-1x1 conv-BN down to ``mid`` channels (F/4, 3F/8 for 1x3/3x1), each conv as
    ReLU-conv-BN at ``mid`` (a 1xK, Kx1 pair has BN and ReLU between), ReLU-1x1 conv-BN up to
    ``c_out``. With ``mid < 1`` the convs map ``c_in`` -> ``c_out`` directly, as there."""

    def __init__(self, c_in: int, c_out: int, mid: int, kernels, strides, *, dilation: int = 1) -> None:
        super().__init__()
        width = mid if mid >= 1 else c_out
        self.reduce = ConvBn(c_in, mid, [1], [1]) if mid >= 1 else None
        convs, c = [], c_in if mid < 1 else mid
        for k, s in zip(kernels, strides):
            convs.append(ConvBn(c, width, [k], [s], dilation=dilation))
            c = width
        self.convs = nn.Sequential(*convs)
        self.expand = ConvBn(mid, c_out, [1], [1]) if mid >= 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x if self.reduce is None else self.reduce(x))
        return x if self.expand is None else self.expand(x)


class FactorizedReduce(nn.Module):
    """slim ``factorized_reduction``: stride 1 is a 1x1 conv -> BN; stride 2 concatenates
    1x1 convs of ``x[::2, ::2]`` and of ``x`` shifted by one pixel, then BN.

    An odd ``c_out`` gives the shifted path the extra channel (slim requires it even).

    Args:
        relu: Apply ReLU first (cell-input preprocessing does, the cell output does not).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, *, relu: bool) -> None:
        super().__init__()
        self.stride, self.relu = stride, relu
        half = c_out if stride == 1 else c_out // 2
        self.conv1 = SameConv2d(c_in, half, 1)
        self.conv2 = SameConv2d(c_in, c_out - half, 1) if stride > 1 else None
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.relu:
            x = F.relu(x)
        if self.conv2 is None:
            return self.bn(self.conv1(x))
        # A 1x1 average pool with stride 2 (VALID) is plain subsampling.
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv1(x[:, :, ::2, ::2]), self.conv2(shifted[:, :, ::2, ::2])], 1))

