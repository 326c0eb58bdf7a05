"""The data-quality worker (``smartcity quality``): detectors, their thresholds and the flags they write."""
