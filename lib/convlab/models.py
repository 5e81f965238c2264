"""Small models the notebooks train and probe.

``UNet`` follows the seed material's Keras U-Net, whose 4th and 5th encoder blocks use
dilated convs instead of going deeper; ``DilatedStack`` is a plain stack of dilated
3x3 convs for the gridding and HDC experiments.
"""
from __future__ import annotations

import torch
from torch import nn

from .shapes import check_int, check_rates

__all__ = ["conv_block", "UNet", "DilatedStack", "DilatedSegmenter", "AtrousCifarNet"]


def conv_block(in_channels: int, out_channels: int, dilation: int = 1) -> nn.Sequential:
    """Two 3x3 "same" convs with ReLU, as in each U-Net stage."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=dilation, dilation=dilation),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net with three pooling stages; blocks 4 and 5 keep the resolution and dilate instead.

    Block 4 uses dilation ``dilation``, block 5 ``2 * dilation``; ``dilation=1`` is the same
    network with no dilated block (same parameters, receptive field 100 instead of 228 at
    the bottleneck for the default 2). Input H and W must be divisible by 8. Output:
    (N, num_classes, H, W) logits.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 1, width: int = 16, dilation: int = 2):
        super().__init__()
        w = check_int(width, "width", 1)
        self.enc1 = conv_block(in_channels, w)
        self.enc2 = conv_block(w, 2 * w)
        self.enc3 = conv_block(2 * w, 4 * w)
        dilation = check_int(dilation, "dilation", 1)
        self.enc4 = conv_block(4 * w, 8 * w, dilation=dilation)  # dilated, no pooling after
        # dilation=1 is the plain U-Net (the comparison the notebook draws): no dilated block.
        self.enc5 = conv_block(8 * w, 8 * w, dilation=2 * dilation if dilation > 1 else 1)
        self.pool = nn.MaxPool2d(2)
        self.up3 = nn.ConvTranspose2d(8 * w, 4 * w, 2, stride=2)
        self.dec3 = conv_block(8 * w, 4 * w)
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.dec2 = conv_block(4 * w, 2 * w)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec1 = conv_block(2 * w, w)
        self.head = nn.Conv2d(w, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"UNet needs H and W divisible by 8, got {tuple(x.shape[-2:])}")
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        e5 = self.enc5(self.enc4(self.pool(e3)))
        d3 = self.dec3(torch.cat([self.up3(e5), e3], 1))
        d2 = self.dec2(torch.cat([self.up2(d3), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


class DilatedStack(nn.Module):
    """3x3 convs with the given dilations, "same" padding, ReLU between; shape-preserving.

    With ``ones=True`` every weight is 1 and there is no bias or ReLU, so the effective
    receptive field is exactly the dependency map.
    """

    def __init__(self, rates, in_channels: int = 1, channels: int = 8, out_channels: int = 1,
                 kernel_size: int = 3, ones: bool = False):
        super().__init__()
        rates = check_rates(rates)
        layers = []
        widths = [in_channels] + [channels] * (len(rates) - 1) + [out_channels]
        for i, rate in enumerate(rates):
            conv = nn.Conv2d(widths[i], widths[i + 1], kernel_size, padding="same",
                             dilation=rate, bias=not ones)
            if ones:
                nn.init.ones_(conv.weight)
            layers.append(conv)
            if not ones and i < len(rates) - 1:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class DilatedSegmenter(nn.Module):
    """Per-pixel classifier for the HDC experiment (05): a 1x1 stem, one 3x3 conv + BatchNorm
    + ReLU per rate ("same" padding), a 1x1 head to ``num_classes`` logits.

    The 1x1 layers do not widen the receptive field, so it is exactly that of the rates;
    the parameter count depends on the number of rates, not on their values, so two
    schedules of the same length compare at equal cost.
    """

    def __init__(self, rates, in_channels: int = 1, channels: int = 16, num_classes: int = 3,
                 kernel_size: int = 3):
        super().__init__()
        rates = check_rates(rates)
        channels = check_int(channels, "channels", 1)
        layers = [nn.Conv2d(in_channels, channels, 1)]
        for rate in rates:
            layers += [nn.Conv2d(channels, channels, kernel_size, padding=rate * (kernel_size - 1) // 2,
                                 dilation=rate, bias=False),
                       nn.BatchNorm2d(channels), nn.ReLU()]
        layers.append(nn.Conv2d(channels, num_classes, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class AtrousCifarNet(nn.Module):
    """A small CIFAR-10 classifier whose second conv is atrous (dilation ``rate``).

    conv3x3(3->w) ReLU, atrous conv3x3(w->w, dilation rate, "same") ReLU, maxpool 2,
    conv3x3(w->2w) ReLU, maxpool 2, global average pool, linear(2w -> 10). The atrous
    layer widens the field of view of the first stage from 5 to 3 + 2*rate pixels at no
    extra parameters.
    """

    def __init__(self, width: int = 32, rate: int = 2, num_classes: int = 10):
        super().__init__()
        w = check_int(width, "width", 1)
        rate = check_int(rate, "rate", 1)
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=rate, dilation=rate), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(2 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"AtrousCifarNet takes (N, 3, H, W) images, got shape {tuple(x.shape)}")
        return self.classifier(self.features(x).mean(dim=(2, 3)))
