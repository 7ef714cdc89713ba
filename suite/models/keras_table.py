"""The 40 ``keras.applications`` models as suite architectures: one table, one generic builder.

This module is data only (it imports no TensorFlow), so that listing cases or
validating a TOML file stays fast. Names follow timm's snake_case style
(``efficientnet_v2_b0``, ``mobilenet_v3_small``, ``resnet50_v2``); ``resnet50``,
``inception_v3`` and ``mobilenet_v2`` keep their old names.

Each row's facts come from Keras 3.15's own source (``keras/src/applications``),
and tests/test_archs.py checks them against Keras: the side its ImageNet weights
were trained at (``default_size``), the smallest side it builds at (``min_size``),
its input convention (the family module's ``preprocess_input``; ``raw`` means the
model rescales 0-255 pixels itself: EfficientNet always, EfficientNetV2,
MobileNetV3 and ConvNeXt through ``include_preprocessing``, which defaults to on)
and the notop weights file ``keras.applications`` fetches into the Keras cache.
"""

from __future__ import annotations

from typing import Any

from suite.models.spec import ArchSpec


def _keras(name: str, constructor: str, **facts: Any) -> ArchSpec:
    """One Keras application: built by ``keras.applications.<constructor>``, with published ImageNet weights.

    ``facts`` are the row's ``ArchSpec`` fields: ``family`` (the ``keras.applications`` module whose
    ``preprocess_input`` it follows), ``min_size``, ``native_size``, ``preprocess`` and ``weights_file``.
    """
    return ArchSpec(
        name=name,
        module="applications",
        source="keras",
        imagenet=True,
        summary=f"keras.applications.{constructor}",
        constructor=constructor,
        **facts,
    )


# One row per application, as Keras' own table has them: kept one line each, wider than the usual 120 columns.
# fmt: off
KERAS_APPLICATIONS: tuple[ArchSpec, ...] = (
    _keras("convnext_tiny", "ConvNeXtTiny", family="convnext", min_size=32, native_size=224, preprocess="raw", weights_file="convnext_tiny_notop.h5"),
    _keras("convnext_small", "ConvNeXtSmall", family="convnext", min_size=32, native_size=224, preprocess="raw", weights_file="convnext_small_notop.h5"),
    _keras("convnext_base", "ConvNeXtBase", family="convnext", min_size=32, native_size=224, preprocess="raw", weights_file="convnext_base_notop.h5"),
    _keras("convnext_large", "ConvNeXtLarge", family="convnext", min_size=32, native_size=224, preprocess="raw", weights_file="convnext_large_notop.h5"),
    _keras("convnext_xlarge", "ConvNeXtXLarge", family="convnext", min_size=32, native_size=224, preprocess="raw", weights_file="convnext_xlarge_notop.h5"),
    _keras("densenet121", "DenseNet121", family="densenet", min_size=32, native_size=224, preprocess="torch", weights_file="densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("densenet169", "DenseNet169", family="densenet", min_size=32, native_size=224, preprocess="torch", weights_file="densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("densenet201", "DenseNet201", family="densenet", min_size=32, native_size=224, preprocess="torch", weights_file="densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("efficientnet_b0", "EfficientNetB0", family="efficientnet", min_size=32, native_size=224, preprocess="raw", weights_file="efficientnetb0_notop.h5"),
    _keras("efficientnet_b1", "EfficientNetB1", family="efficientnet", min_size=32, native_size=240, preprocess="raw", weights_file="efficientnetb1_notop.h5"),
    _keras("efficientnet_b2", "EfficientNetB2", family="efficientnet", min_size=32, native_size=260, preprocess="raw", weights_file="efficientnetb2_notop.h5"),
    _keras("efficientnet_b3", "EfficientNetB3", family="efficientnet", min_size=32, native_size=300, preprocess="raw", weights_file="efficientnetb3_notop.h5"),
    _keras("efficientnet_b4", "EfficientNetB4", family="efficientnet", min_size=32, native_size=380, preprocess="raw", weights_file="efficientnetb4_notop.h5"),
    _keras("efficientnet_b5", "EfficientNetB5", family="efficientnet", min_size=32, native_size=456, preprocess="raw", weights_file="efficientnetb5_notop.h5"),
    _keras("efficientnet_b6", "EfficientNetB6", family="efficientnet", min_size=32, native_size=528, preprocess="raw", weights_file="efficientnetb6_notop.h5"),
    _keras("efficientnet_b7", "EfficientNetB7", family="efficientnet", min_size=32, native_size=600, preprocess="raw", weights_file="efficientnetb7_notop.h5"),
    _keras("efficientnet_v2_b0", "EfficientNetV2B0", family="efficientnet_v2", min_size=32, native_size=224, preprocess="raw", weights_file="efficientnetv2-b0_notop.h5"),
    _keras("efficientnet_v2_b1", "EfficientNetV2B1", family="efficientnet_v2", min_size=32, native_size=240, preprocess="raw", weights_file="efficientnetv2-b1_notop.h5"),
    _keras("efficientnet_v2_b2", "EfficientNetV2B2", family="efficientnet_v2", min_size=32, native_size=260, preprocess="raw", weights_file="efficientnetv2-b2_notop.h5"),
    _keras("efficientnet_v2_b3", "EfficientNetV2B3", family="efficientnet_v2", min_size=32, native_size=300, preprocess="raw", weights_file="efficientnetv2-b3_notop.h5"),
    _keras("efficientnet_v2_s", "EfficientNetV2S", family="efficientnet_v2", min_size=32, native_size=384, preprocess="raw", weights_file="efficientnetv2-s_notop.h5"),
    _keras("efficientnet_v2_m", "EfficientNetV2M", family="efficientnet_v2", min_size=32, native_size=480, preprocess="raw", weights_file="efficientnetv2-m_notop.h5"),
    _keras("efficientnet_v2_l", "EfficientNetV2L", family="efficientnet_v2", min_size=32, native_size=480, preprocess="raw", weights_file="efficientnetv2-l_notop.h5"),
    _keras("inception_resnet_v2", "InceptionResNetV2", family="inception_resnet_v2", min_size=75, native_size=299, preprocess="tf", weights_file="inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("inception_v3", "InceptionV3", family="inception_v3", min_size=75, native_size=299, preprocess="tf", weights_file="inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("mobilenet", "MobileNet", family="mobilenet", min_size=32, native_size=224, preprocess="tf", weights_file="mobilenet_1_0_224_tf_no_top.h5"),
    _keras("mobilenet_v2", "MobileNetV2", family="mobilenet_v2", min_size=32, native_size=224, preprocess="tf", weights_file="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
    _keras("mobilenet_v3_small", "MobileNetV3Small", family="mobilenet_v3", min_size=32, native_size=224, preprocess="raw", weights_file="weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"),
    _keras("mobilenet_v3_large", "MobileNetV3Large", family="mobilenet_v3", min_size=32, native_size=224, preprocess="raw", weights_file="weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5"),
    _keras("nasnet_mobile", "NASNetMobile", family="nasnet", min_size=32, native_size=224, preprocess="tf", weights_file="nasnet_mobile_no_top.h5"),
    _keras("nasnet_large", "NASNetLarge", family="nasnet", min_size=32, native_size=331, preprocess="tf", weights_file="nasnet_large_no_top.h5"),
    _keras("resnet50", "ResNet50", family="resnet", min_size=32, native_size=224, preprocess="caffe", weights_file="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("resnet101", "ResNet101", family="resnet", min_size=32, native_size=224, preprocess="caffe", weights_file="resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("resnet152", "ResNet152", family="resnet", min_size=32, native_size=224, preprocess="caffe", weights_file="resnet152_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("resnet50_v2", "ResNet50V2", family="resnet_v2", min_size=32, native_size=224, preprocess="tf", weights_file="resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("resnet101_v2", "ResNet101V2", family="resnet_v2", min_size=32, native_size=224, preprocess="tf", weights_file="resnet101v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("resnet152_v2", "ResNet152V2", family="resnet_v2", min_size=32, native_size=224, preprocess="tf", weights_file="resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("vgg16", "VGG16", family="vgg16", min_size=32, native_size=224, preprocess="caffe", weights_file="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("vgg19", "VGG19", family="vgg19", min_size=32, native_size=224, preprocess="caffe", weights_file="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _keras("xception", "Xception", family="xception", min_size=71, native_size=299, preprocess="tf", weights_file="xception_weights_tf_dim_ordering_tf_kernels_notop.h5"),
)
# fmt: on
