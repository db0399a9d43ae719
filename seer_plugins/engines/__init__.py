"""Engines registered into VISSL's engine registry (`engine_name`), beside VISSL's
`train`, `extract_features` and `extract_cluster`: :mod:`knn` (`seer_knn`), with
its math in :mod:`knn_classifier` and its result files in :mod:`knn_results`."""
