"""t-SNE of the two modalities (CLOSE Figure 3 analogue): one panel per adapter, images and
captions coloured by modality, optional lines between pairs. Seeded."""

from __future__ import annotations

import numpy as np

from .._registry import Registry
from .style import COLUMN_WIDTH, palette, paper_style, save

PROJECTIONS: Registry = Registry("projection", ls_hint="projections")


@PROJECTIONS.register("tsne")
def tsne_sklearn(x: np.ndarray, seed: int, perplexity: float = 30.0) -> np.ndarray:
    """scikit-learn's exact-gradient Barnes-Hut t-SNE (PCA init), the measured default."""
    from sklearn.manifold import TSNE

    return TSNE(
        2, perplexity=min(perplexity, (len(x) - 1) / 3), init="pca", random_state=seed, learning_rate="auto"
    ).fit_transform(x)


@PROJECTIONS.register("opentsne")
def tsne_opentsne(x: np.ndarray, seed: int, perplexity: float = 30.0) -> np.ndarray:
    """openTSNE (FFT-accelerated; faster on large N). Needs `pip install gapkit[tsne]`."""
    try:
        from openTSNE import TSNE
    except ImportError:
        from ..errors import GapkitError

        raise GapkitError("The opentsne projection needs openTSNE: pip install 'gapkit[tsne]'.") from None
    return np.asarray(TSNE(perplexity=min(perplexity, (len(x) - 1) / 3), random_state=seed, n_jobs=1).fit(x))


@PROJECTIONS.register("pca")
def pca(x: np.ndarray, seed: int, perplexity: float = 30.0) -> np.ndarray:
    """The first two principal components (linear, fast, keeps the gap direction visible)."""
    from sklearn.decomposition import PCA

    return PCA(2, random_state=seed).fit_transform(x)


def project_panels(panels: dict[str, tuple[np.ndarray, np.ndarray]], method: str, seed: int) -> dict:
    """name -> (n_img + n_txt, 2) coordinates of [images; texts] for each panel's (images, texts)."""
    fn = PROJECTIONS.get(method)
    return {name: fn(np.concatenate([img, txt]), seed) for name, (img, txt) in panels.items()}


def tsne_figure(coords: dict[str, np.ndarray], n_img: int, path, lines: bool = False, title: str = ""):
    with paper_style() as plt:
        k = len(coords)
        fig, axes = plt.subplots(1, k, figsize=(COLUMN_WIDTH * 0.75 * k, 2.5), squeeze=False)
        c = palette(2)
        for ax, (name, xy) in zip(axes[0], coords.items()):
            img, txt = xy[:n_img], xy[n_img:]
            if lines:
                for a, b in zip(img, txt[:n_img]):
                    ax.plot([a[0], b[0]], [a[1], b[1]], color="0.8", lw=0.3, zorder=0)
            ax.scatter(img[:, 0], img[:, 1], s=4, color=c[0], label="image")
            ax.scatter(txt[:, 0], txt[:, 1], s=4, color=c[1], label="caption")
            ax.set_title(name)
            ax.set_xticks([])
            ax.set_yticks([])
        # below the panels: inside one, a legend hides points wherever the two clouds spread
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.02),
            ncol=2,
            frameon=False,
            markerscale=2,
        )
        if title:
            fig.suptitle(title, y=1.06)
        return save(fig, path)
