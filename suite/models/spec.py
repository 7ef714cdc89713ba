"""``ArchSpec``: what the rest of the suite needs to know about an architecture, as plain data."""

from __future__ import annotations

from dataclasses import dataclass

SOURCES = ("suite", "keras", "hub", "user")  # where an architecture comes from, in `suite archs`
CONVENTIONS = {  # input conventions: what the model expects its 0-255 RGB pixels turned into
    "unit": "[0, 1]",
    "tf": "[-1, 1]",
    "caffe": "BGR, ImageNet mean subtracted, 0-255",
    "torch": "[0, 1], ImageNet mean/std normalised",
    "raw": "0-255 (the model rescales them itself)",
}


@dataclass(frozen=True, kw_only=True)
class ArchSpec:
    """One architecture: how to build it, what it takes as input, where pretrained weights come from."""

    name: str
    module: str  # family module under suite.models that builds it: simple_cnn, resnet, applications, hub, user
    min_size: int  # smallest input side in pixels the network accepts
    preprocess: str  # input convention, a key of CONVENTIONS
    imagenet: bool  # published ImageNet weights exist (Keras applications)
    summary: str
    family: str = ""  # e.g. "efficientnet_v2"; a Keras application's family is its keras.applications module
    source: str = "suite"  # one of SOURCES
    constructor: str = ""  # Keras applications: the keras.applications attribute that builds it
    weights_file: str = ""  # Keras applications: the notop ImageNet file in the Keras cache (~/.keras/models)
    handle: str = ""  # TF-Hub architectures only: the default module handle, which also holds its pretrained weights
    native_size: int = 0  # side in pixels its pretrained weights were trained at; 0 = none
    builder: str = ""  # user architectures: "module:function" or a saved backbone's .keras path
    builder_hash: str = ""  # user architectures: sha256 (12 hex) of the builder's source file, part of the case key
    unsafe: bool = False  # user architectures from a .keras file: deserialise it with Keras' safe_mode off

    @property
    def hub(self) -> bool:
        """A TF-Hub module: one opaque layer whose weights come with its handle (no scratch, no partial freezing)."""
        return bool(self.handle)
