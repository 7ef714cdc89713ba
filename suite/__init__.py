"""A Keras-native benchmark suite for image classifiers.

Which classifier, trained which way, gives the best accuracy for the latency you
can afford? The suite pairs architectures with training regimes and datasets
(``suite.registry``), trains and evaluates each case (``suite.runner``), measures
latency and throughput (``suite.measure``) and writes tables and charts
(``suite.storage``, ``suite.report``).
"""

__version__ = "0.1.0"
