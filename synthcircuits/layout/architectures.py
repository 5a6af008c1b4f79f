"""Architectures as data: layer names, channel counts and inception-branch channel ranges.

Nothing here imports torch. The model builders, unit addresses, the compiler, edits and
drawings all read these tables, so a channel range is written down exactly once. The three
GoogLeNet layouts are written here by hand; any other network's table is derived from its
traced graph (`models.graph_model`) into the same types.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BRANCH_NAMES = ("1x1", "3x3", "5x5", "pool_reduce")


@dataclass(frozen=True)
class BlockWidths:
    """Output widths of one inception block's convolutions, in concatenation order."""

    n1x1: int
    n3x3_bottleneck: int
    n3x3: int
    n5x5_bottleneck: int
    n5x5: int
    pool_reduce: int

    @property
    def out_channels(self) -> int:
        return self.n1x1 + self.n3x3 + self.n5x5 + self.pool_reduce


@dataclass(frozen=True)
class Branch:
    """One branch of an inception block: its slice of the block's output channels."""

    name: str  # one of BRANCH_NAMES
    start: int
    stop: int  # exclusive
    kernel: int  # spatial size of the branch's last conv
    bottleneck: int | None  # width of the 1x1 bottleneck in front of it, if any

    @property
    def width(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Layer:
    """A named point of the network whose output channels are addressable units."""

    name: str
    channels: int
    kind: str  # "conv", "block", "pool", "norm", "linear", "softmax"
    short: str | None = None  # the papers' shorthand, e.g. "3b" for mixed3b
    in_channels: int | None = None
    branches: tuple[Branch, ...] = ()
    kernel: int | None = None  # spatial size, for plain conv layers
    groups: int = 1  # conv groups (depthwise convs have one input channel per unit)
    inputs: tuple[str, ...] = ()  # traced layouts: the layers this one reads (empty: the one before it)
    # Traced layouts: module paths of the conv (and batch norm) whose rows compute this layer's
    # channels, and whether an activation follows them before this point.
    affine: tuple[str, ...] = ()
    activated: bool = False
    norm_eps: float = 1e-5  # the batch norm's eps, where `affine` has one (it is not in the state dict)

    def unit_kernel(self, branch: str | None = None) -> int:
        """Spatial size of the conv that computes a unit of this layer (in `branch`)."""
        if self.branches:
            return self.branch(branch or "1x1").kernel
        if self.kernel is None:
            raise ValueError(f"{self.name} is a {self.kind} layer; it has no conv kernel")
        return self.kernel

    def branch_of(self, channel: int) -> Branch | None:
        for branch in self.branches:
            if branch.start <= channel < branch.stop:
                return branch
        return None

    def branch(self, name: str) -> Branch:
        for branch in self.branches:
            if branch.name == name:
                return branch
        raise KeyError(f"{self.name} has no branch {name!r}")


@dataclass(frozen=True)
class Architecture:
    """An ordered list of layers; the order is the forward order."""

    name: str
    layers: tuple[Layer, ...]
    num_classes: int
    input_description: str
    classifier: str = ""  # the linear layer's name (its weights' key prefix)
    # How tensors are named: "googlenet" (`<conv>_pre_relu_conv.weight`, Lucent's scheme) or
    # "modules" (a traced network: `<module path>.weight`).
    key_scheme: str = "googlenet"
    input_size: int = 224  # the image size the network was trained at
    output: str = ""  # the final layer (what export writes by default)
    # Layers that play the same part in InceptionV1 (its name -> this architecture's), for comparisons.
    equivalents: tuple[tuple[str, str], ...] = ()
    _by_name: dict[str, Layer] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table: dict[str, Layer] = {}
        for layer in self.layers:
            table[layer.name] = layer
            if layer.short:
                table[layer.short] = layer
        object.__setattr__(self, "_by_name", table)

    def has_layer(self, name: str) -> bool:
        return name in self._by_name

    def layer(self, name: str) -> Layer:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(layer.name for layer in self.layers)
            raise KeyError(f"{self.name} has no layer {name!r}; layers are: {known}") from None

    def equivalent_of(self, inceptionv1_layer: str) -> str:
        """This architecture's layer for an InceptionV1 layer name (blocks match by shorthand)."""
        table = dict(self.equivalents)
        if inceptionv1_layer in table:
            return table[inceptionv1_layer]
        if self.has_layer(inceptionv1_layer):
            return self.layer(inceptionv1_layer).name
        short = inceptionv1_layer.removeprefix("mixed")
        if self.has_layer(short):
            return self.layer(short).name
        raise KeyError(f"{self.name} has no layer matching {inceptionv1_layer!r}")

    def unit_layers(self) -> tuple[Layer, ...]:
        """Layers whose channels are units worth addressing (convs, blocks, and traced nodes)."""
        return tuple(layer for layer in self.layers if layer.kind not in ("linear", "softmax"))

    def index(self, name: str) -> int:
        return self.layers.index(self.layer(name))

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)


def block_layer(name: str, short: str, in_channels: int, w: BlockWidths, k5: int = 5) -> Layer:
    """The layer entry of an inception block, with its four branch ranges."""
    a = w.n1x1
    b = a + w.n3x3
    c = b + w.n5x5
    d = c + w.pool_reduce
    branches = (
        Branch("1x1", 0, a, 1, None),
        Branch("3x3", a, b, 3, w.n3x3_bottleneck),
        Branch("5x5", b, c, k5, w.n5x5_bottleneck),
        Branch("pool_reduce", c, d, 1, None),
    )
    return Layer(name, d, "block", short=short, in_channels=in_channels, branches=branches)


# Lucid's InceptionV1 ("inception5h"), the network the Circuits papers study.
INCEPTIONV1_BLOCKS: dict[str, BlockWidths] = {
    "mixed3a": BlockWidths(64, 96, 128, 16, 32, 32),
    "mixed3b": BlockWidths(128, 128, 192, 32, 96, 64),
    "mixed4a": BlockWidths(192, 96, 204, 16, 48, 64),
    "mixed4b": BlockWidths(160, 112, 224, 24, 64, 64),
    "mixed4c": BlockWidths(128, 128, 256, 24, 64, 64),
    "mixed4d": BlockWidths(112, 144, 288, 32, 64, 64),
    "mixed4e": BlockWidths(256, 160, 320, 32, 128, 128),
    "mixed5a": BlockWidths(256, 160, 320, 48, 128, 128),
    "mixed5b": BlockWidths(384, 192, 384, 48, 128, 128),
}

# torchvision's GoogLeNet (and Caffe's BVLC GoogLeNet): the paper's table, 512-wide mixed4a.
GOOGLENET_BLOCKS: dict[str, BlockWidths] = {
    "3a": BlockWidths(64, 96, 128, 16, 32, 32),
    "3b": BlockWidths(128, 128, 192, 32, 96, 64),
    "4a": BlockWidths(192, 96, 208, 16, 48, 64),
    "4b": BlockWidths(160, 112, 224, 24, 64, 64),
    "4c": BlockWidths(128, 128, 256, 24, 64, 64),
    "4d": BlockWidths(112, 144, 288, 32, 64, 64),
    "4e": BlockWidths(256, 160, 320, 32, 128, 128),
    "5a": BlockWidths(256, 160, 320, 32, 128, 128),
    "5b": BlockWidths(384, 192, 384, 48, 128, 128),
}


def googlenet_layers(
    stem: list[Layer],
    blocks: dict[str, BlockWidths],
    block_name: str,
    pools: tuple[str, str],
    head: tuple[str, str, str],
    classes: int,
    k5: int = 5,
) -> tuple[Layer, ...]:
    """A GoogLeNet-shaped layout: the stem, nine inception blocks (`block_name` formatted with
    each block's shorthand) with max pools before 4a and 5a, then (global pool, classifier,
    softmax) named by `head`."""
    layers, channels = list(stem), stem[-1].channels
    for short, widths in blocks.items():
        if short == "4a":
            layers.append(Layer(pools[0], channels, "pool"))
        if short == "5a":
            layers.append(Layer(pools[1], channels, "pool"))
        layers.append(block_layer(block_name.format(short), short, channels, widths, k5))
        channels = widths.out_channels
    average, classifier, softmax = head
    layers += [Layer(average, channels, "pool"), Layer(classifier, classes, "linear", in_channels=channels), Layer(softmax, classes, "softmax")]
    return tuple(layers)


def _stem(conv0: str, pool0: str, norm0: str | None, conv1: str, conv2: str, norm1: str | None, pool1: str) -> list[Layer]:
    """conv 7x7 s2 -> pool -> (norm) -> conv 1x1 -> conv 3x3 -> (norm) -> pool, as every GoogLeNet has."""
    layers = [Layer(conv0, 64, "conv", in_channels=3, kernel=7), Layer(pool0, 64, "pool")]
    if norm0:
        layers.append(Layer(norm0, 64, "norm"))
    layers += [Layer(conv1, 64, "conv", in_channels=64, kernel=1), Layer(conv2, 192, "conv", in_channels=64, kernel=3)]
    if norm1:
        layers.append(Layer(norm1, 192, "norm"))
    return layers + [Layer(pool1, 192, "pool")]


def _googlenet(name: str, stem: list[Layer], blocks: dict[str, BlockWidths], block_name: str, pools: tuple[str, str],
               head: tuple[str, str, str], classes: int, input_description: str, k5: int = 5, **extra) -> Architecture:
    """A GoogLeNet-shaped architecture; its classifier and output are the head's last two layers."""
    layers = googlenet_layers(stem, blocks, block_name, pools, head, classes, k5)
    return Architecture(name, layers, num_classes=classes, input_description=input_description, classifier=head[1],
                        output=head[2], **extra)


def _inceptionv1() -> Architecture:
    blocks = {name.removeprefix("mixed"): widths for name, widths in INCEPTIONV1_BLOCKS.items()}
    stem = _stem("conv2d0", "maxpool0", "localresponsenorm0", "conv2d1", "conv2d2", "localresponsenorm1", "maxpool1")
    return _googlenet("inceptionv1", stem, blocks, "mixed{}", ("maxpool4", "maxpool10"),
                      ("avgpool0", "softmax2_pre_activation_matmul", "softmax2"), 1008,
                      "RGB in [0, 1], mapped inside the model by x * 255 - 117")


def _torchvision_googlenet() -> Architecture:
    stem = _stem("conv1", "maxpool1", None, "conv2", "conv3", None, "maxpool2")
    return _googlenet(
        "torchvision_googlenet", stem, GOOGLENET_BLOCKS, "inception{}", ("maxpool3", "maxpool4"), ("avgpool", "fc", "softmax"), 1000,
        "RGB in [0, 1], mapped inside the model by (x - 0.5) / 0.5 "
        "(what torchvision's ImageNet normalisation followed by transform_input amounts to)",
        k5=3,  # torchvision's "5x5" branch is a 3x3 conv (kept for compatibility with its weights)
        key_scheme="torchvision",  # torchvision's own module names, without Lucent's per-conv keys
        equivalents=(("conv2d0", "conv1"), ("conv2d1", "conv2"), ("conv2d2", "conv3")),
    )


def _bvlc_googlenet() -> Architecture:
    """Caffe's BVLC GoogLeNet (deploy.prototxt), with its blob names made identifiers."""
    stem = _stem("conv1", "pool1", "norm1", "conv2_reduce", "conv2", "norm2", "pool2")
    return _googlenet(
        "bvlc_googlenet", stem, GOOGLENET_BLOCKS, "inception_{}", ("pool3", "pool4"), ("pool5", "classifier", "prob"), 1000,
        "RGB in [0, 1], mapped inside the model to Caffe's BGR 0-255 minus the mean (104, 117, 123)",
        equivalents=(("conv2d0", "conv1"), ("conv2d1", "conv2_reduce"), ("conv2d2", "conv2")),
    )


INCEPTIONV1 = _inceptionv1()
TORCHVISION_GOOGLENET = _torchvision_googlenet()
BVLC_GOOGLENET = _bvlc_googlenet()

ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in (INCEPTIONV1, TORCHVISION_GOOGLENET, BVLC_GOOGLENET)}


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}") from None
