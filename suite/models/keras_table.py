"""The 40 ``keras.applications`` models as suite architectures: one table, one generic builder.

This module is data only (it imports no TensorFlow), so that listing cases or
validating a TOML file stays fast. Names follow timm"s snake_case style
(``efficientnet_v2_b0``, ``mobilenet_v3_small``, ``resnet50_v2``); ``resnet50``,
``inception_v3`` and ``mobilenet_v2`` keep their old names.

Each row"s facts come from Keras 3.15"s own source (``keras/src/applications``),
and tests/test_archs.py checks them against Keras: the side its ImageNet weights
were trained at (``default_size``), the smallest side it builds at (``min_size``),
its input convention (the family module"s ``preprocess_input``; ``raw`` means the
model rescales 0-255 pixels itself: EfficientNet always, EfficientNetV2,
MobileNetV3 and ConvNeXt through ``include_preprocessing``, which defaults to on)
and the notop weights file ``keras.applications`` fetches into the Keras cache.
"""

from __future__ import annotations

from suite.models.spec import ArchSpec


def _keras(name: str, constructor: str, family: str, min_size: int, native: int, convention: str, notop: str):
    """One Keras application: built by ``keras.applications.<constructor>``, preprocessed by ``<family>``"s
    ``preprocess_input``, with published ImageNet weights in ``notop``."""
    return ArchSpec(
        name=name,
        module="applications",
        family=family,
        source="keras",
        min_size=min_size,
        preprocess=convention,
        imagenet=True,
        summary=f"keras.applications.{constructor}",
        constructor=constructor,
        weights_file=notop,
        native_size=native,
    )


# One row per application, as Keras" own table has them: kept one line each, wider than the usual 120 columns.
# fmt: off
KERAS_APPLICATIONS: tuple[ArchSpec, ...] = (
    _keras("convnext_tiny", "ConvNeXtTiny", "convnext", 32, 224, "raw", "convnext_tiny_notop.h5"),
    _keras("convnext_small", "ConvNeXtSmall", "convnext", 32, 224, "raw", "convnext_small_notop.h5"),
    _keras("convnext_base", "ConvNeXtBase", "convnext", 32, 224, "raw", "convnext_base_notop.h5"),
    _keras("convnext_large", "ConvNeXtLarge", "convnext", 32, 224, "raw", "convnext_large_notop.h5"),
    _keras("convnext_xlarge", "ConvNeXtXLarge", "convnext", 32, 224, "raw", "convnext_xlarge_notop.h5"),
    _keras("densenet121", "DenseNet121", "densenet", 32, 224, "torch", "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("densenet169", "DenseNet169", "densenet", 32, 224, "torch", "densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("densenet201", "DenseNet201", "densenet", 32, 224, "torch", "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("efficientnet_b0", "EfficientNetB0", "efficientnet", 32, 224, "raw", "efficientnetb0_notop.h5"),
    _keras("efficientnet_b1", "EfficientNetB1", "efficientnet", 32, 240, "raw", "efficientnetb1_notop.h5"),
    _keras("efficientnet_b2", "EfficientNetB2", "efficientnet", 32, 260, "raw", "efficientnetb2_notop.h5"),
    _keras("efficientnet_b3", "EfficientNetB3", "efficientnet", 32, 300, "raw", "efficientnetb3_notop.h5"),
    _keras("efficientnet_b4", "EfficientNetB4", "efficientnet", 32, 380, "raw", "efficientnetb4_notop.h5"),
    _keras("efficientnet_b5", "EfficientNetB5", "efficientnet", 32, 456, "raw", "efficientnetb5_notop.h5"),
    _keras("efficientnet_b6", "EfficientNetB6", "efficientnet", 32, 528, "raw", "efficientnetb6_notop.h5"),
    _keras("efficientnet_b7", "EfficientNetB7", "efficientnet", 32, 600, "raw", "efficientnetb7_notop.h5"),
    _keras("efficientnet_v2_b0", "EfficientNetV2B0", "efficientnet_v2", 32, 224, "raw", "efficientnetv2-b0_notop.h5"),
    _keras("efficientnet_v2_b1", "EfficientNetV2B1", "efficientnet_v2", 32, 240, "raw", "efficientnetv2-b1_notop.h5"),
    _keras("efficientnet_v2_b2", "EfficientNetV2B2", "efficientnet_v2", 32, 260, "raw", "efficientnetv2-b2_notop.h5"),
    _keras("efficientnet_v2_b3", "EfficientNetV2B3", "efficientnet_v2", 32, 300, "raw", "efficientnetv2-b3_notop.h5"),
    _keras("efficientnet_v2_s", "EfficientNetV2S", "efficientnet_v2", 32, 384, "raw", "efficientnetv2-s_notop.h5"),
    _keras("efficientnet_v2_m", "EfficientNetV2M", "efficientnet_v2", 32, 480, "raw", "efficientnetv2-m_notop.h5"),
    _keras("efficientnet_v2_l", "EfficientNetV2L", "efficientnet_v2", 32, 480, "raw", "efficientnetv2-l_notop.h5"),
    _keras("inception_resnet_v2", "InceptionResNetV2", "inception_resnet_v2", 75, 299, "tf", "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("inception_v3", "InceptionV3", "inception_v3", 75, 299, "tf", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("mobilenet", "MobileNet", "mobilenet", 32, 224, "tf", "mobilenet_1_0_224_tf_no_top.h5"),
    _keras("mobilenet_v2", "MobileNetV2", "mobilenet_v2", 32, 224, "tf", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
    _keras("mobilenet_v3_small", "MobileNetV3Small", "mobilenet_v3", 32, 224, "raw", "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"),
    _keras("mobilenet_v3_large", "MobileNetV3Large", "mobilenet_v3", 32, 224, "raw", "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5"),
    _keras("nasnet_mobile", "NASNetMobile", "nasnet", 32, 224, "tf", "nasnet_mobile_no_top.h5"),
    _keras("nasnet_large", "NASNetLarge", "nasnet", 32, 331, "tf", "nasnet_large_no_top.h5"),
    _keras("resnet50", "ResNet50", "resnet", 32, 224, "caffe", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("resnet101", "ResNet101", "resnet", 32, 224, "caffe", "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("resnet152", "ResNet152", "resnet", 32, 224, "caffe", "resnet152_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("resnet50_v2", "ResNet50V2", "resnet_v2", 32, 224, "tf", "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("resnet101_v2", "ResNet101V2", "resnet_v2", 32, 224, "tf", "resnet101v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("resnet152_v2", "ResNet152V2", "resnet_v2", 32, 224, "tf", "resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("vgg16", "VGG16", "vgg16", 32, 224, "caffe", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("vgg19", "VGG19", "vgg19", 32, 224, "caffe", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("xception", "Xception", "xception", 71, 299, "tf", "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"),
)
# fmt: on
