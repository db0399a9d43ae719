"""Temperature-weighted k-nearest-neighbour classification of features.

Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance
Discrimination" (2018), as DINO (Caron et al. 2021, `eval_knn.py`) and VISSL's
`nearest_neighbor_test` run it: features are L2-normalised, the k training
features of highest cosine similarity s_i vote for their class with weight
exp(s_i / T), and classes are ranked by their summed votes. DINO's setting is
k = 20, T = 0.07. A pure function of tensors, on whatever device they are on.
"""

import torch


def knn_class_scores(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    *,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    normalize: bool = True,
    chunk_size: int = 256,
) -> torch.Tensor:
    """Summed neighbour votes per class.

    Args:
        train_features: (N, D) the labelled memory bank.
        train_labels: (N,) integer classes in [0, num_classes).
        test_features: (M, D), on the same device.
        k: neighbours per test feature (at most N are used).
        temperature: T of the weights exp(similarity / T).
        num_classes: C; default: the largest training label + 1.
        normalize: L2-normalise both sides first (cosine similarity).
        chunk_size: test features per similarity matrix (memory: chunk x N).

    Returns:
        (M, C) scores; the predicted class of a row is its argmax.
    """
    if normalize:
        train_features = torch.nn.functional.normalize(train_features, dim=1)
        test_features = torch.nn.functional.normalize(test_features, dim=1)
    num_classes = num_classes or int(train_labels.max()) + 1
    k = min(k, train_features.shape[0])
    bank = train_features.t()
    scores = []
    for start in range(0, test_features.shape[0], chunk_size):
        similarity = test_features[start : start + chunk_size] @ bank
        top_similarity, top_index = similarity.topk(k, dim=1)
        weights = (top_similarity / temperature).exp()
        votes = torch.zeros(len(similarity), num_classes, device=similarity.device)
        votes.scatter_add_(1, train_labels[top_index], weights)
        scores.append(votes)
    return torch.cat(scores)


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> list:
    """Percent of rows whose label is among the `k` best-scored classes, per k
    (k capped at the number of classes)."""
    ranked = scores.argsort(dim=1, descending=True)
    hits = ranked == labels.view(-1, 1)
    return [
        100.0 * hits[:, : min(k, scores.shape[1])].any(dim=1).float().mean().item()
        for k in ks
    ]
