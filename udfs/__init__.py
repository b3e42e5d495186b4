"""User-defined functions: the framework (``udf`` decorators, ``ModelUDF``) and the built-in
library (vision models and features; text features; the label model and end models).

This package never imports ``engine``.
"""
from udfs.accumulator import Accumulator, PartitionEvaluator
from udfs.core import UDF, as_udf, udf
from udfs.model import ModelUDF, choose_device


def builtin_functions() -> list[UDF]:
    """The UDFs every connection has (imported lazily: OpenCV loads on first use)."""
    from udfs.text_features import TEXT_FEATURES
    from udfs.vision import BUILTINS
    return list(BUILTINS) + [TEXT_FEATURES]


__all__ = ["udf", "UDF", "Accumulator", "PartitionEvaluator", "ModelUDF", "as_udf", "choose_device", "builtin_functions"]
