"""Pictures of what a GAN does: image grids, 2-D sample scatters, densities, loss curves.

Every plotting function returns a ``matplotlib.figure.Figure`` and, given ``path``, saves it
there. Figures are built with ``matplotlib.figure.Figure``, not ``pyplot``: nothing global is
touched, no backend needs choosing (saving works headless), figures made in a loop are freed like
any object, and a notebook shows a figure once, when it is the last expression of a cell (or with
``display(fig)``). Pass ``ax=`` to draw into an axes of your own figure instead.

Inputs may be NumPy or CuPy arrays (they are copied to the host with ``to_numpy``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .backend import to_numpy

__all__ = ["image_grid", "save_image_grid", "plot_image_grid", "plot_samples_2d",
           "plot_density_2d", "plot_losses", "plot_training_snapshots", "plot_token_samples",
           "plot_sequences"]


# ----------------------------------------------------------------------------- helpers

def _figure(figsize):
    from matplotlib.figure import Figure
    return Figure(figsize=figsize, layout="constrained")


def _fig_ax(ax, figsize):
    """A new (figure, axes), or the given axes and its figure."""
    if ax is not None:
        return ax.figure, ax
    fig = _figure(figsize)
    return fig, fig.add_subplot(1, 1, 1)


def _finish(fig, path, dpi=100):
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig


def _points(a, what):
    """``a`` as a float64 NumPy array (n, 2)."""
    a = np.asarray(to_numpy(a), dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{what} must have shape (n, 2), got {a.shape}")
    return a


def _centers(centers):
    """Centres (K, 2) from an array or a GaussianMixture; None stays None."""
    if centers is None:
        return None
    if hasattr(centers, "centers"):
        centers = centers.centers
    return _points(centers, "centers")


def _limits(centers, *point_sets):
    """Square axis limits ((lo, hi), (lo, hi)) that show the centres and most of the points.

    The box around the centres gets a margin of a quarter of its size; it then grows to hold
    the 0.5..99.5 percentiles of the points, so that a generator far from the data stays
    visible without one wild sample shrinking everything else.
    """
    boxes = []
    if centers is not None:
        lo, hi = centers.min(axis=0), centers.max(axis=0)
        margin = max(0.25 * float(np.max(hi - lo)), 0.5)
        boxes.append((lo - margin, hi + margin))
    for p in point_sets:
        p = p[np.all(np.isfinite(p), axis=1)]
        if len(p):
            lo, hi = np.percentile(p, 0.5, axis=0), np.percentile(p, 99.5, axis=0)
            pad = max(0.05 * float(np.max(hi - lo)), 1e-3)
            boxes.append((lo - pad, hi + pad))
    if not boxes:
        return (-1.0, 1.0), (-1.0, 1.0)
    lo = np.min([b[0] for b in boxes], axis=0)
    hi = np.max([b[1] for b in boxes], axis=0)
    mid, half = (lo + hi) / 2, float(np.max(hi - lo)) / 2
    return (mid[0] - half, mid[0] + half), (mid[1] - half, mid[1] + half)


def _scatter(ax, samples, centers, data, lim, title, s=4):
    if data is not None:
        ax.scatter(data[:, 0], data[:, 1], s=s, c="tab:blue", alpha=0.3, linewidths=0,
                   label="real data")
    ax.scatter(samples[:, 0], samples[:, 1], s=s, c="tab:orange", alpha=0.5, linewidths=0,
               label="generated")
    if centers is not None:
        ax.scatter(centers[:, 0], centers[:, 1], s=40, marker="x", c="k", linewidths=1.2,
                   label="mode centres")
    xlim, ylim = lim if lim is not None else _limits(
        centers, samples, *([] if data is None else [data]))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)


# ----------------------------------------------------------------------------- images

def image_grid(images, nrow: int | None = None, padding: int = 1, pad_value: float = 0.5):
    """Tile a batch of images into one picture.

    Args:
        images: (N, C, H, W) with C in {1, 3}, or (N, H, W), values in [-1, 1] (a tanh output;
            clipped to that range).
        nrow: images per row (as torchvision's ``make_grid``); default ``ceil(sqrt(N))``.
        padding: pixels between images and around the border.
        pad_value: grey level of the padding and of empty cells, in [0, 1].

    Returns:
        float NumPy array in [0, 1]: (H', W') for one channel, (H', W', 3) for three, with
        ``H' = rows*H + (rows+1)*padding``, ``W' = nrow*W + (nrow+1)*padding``,
        ``rows = ceil(N / nrow)``. Image i sits in row ``i // nrow``, column ``i % nrow``.
    """
    x = np.asarray(to_numpy(images), dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[0] < 1:
        raise ValueError(f"image_grid: images must have shape (N, C, H, W) with C in (1, 3) and "
                         f"N >= 1, or (N, H, W); got {np.shape(to_numpy(images))}")
    n, c, h, w = x.shape
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if isinstance(nrow, bool) or int(nrow) != nrow or nrow < 1:
        raise ValueError(f"image_grid: nrow must be a positive integer, got {nrow!r}")
    if isinstance(padding, bool) or int(padding) != padding or padding < 0:
        raise ValueError(f"image_grid: padding must be a non-negative integer, got {padding!r}")
    nrow, padding = int(nrow), int(padding)
    ncol_cells = min(nrow, n)
    rows = math.ceil(n / ncol_cells)
    x = (np.clip(x, -1.0, 1.0) + 1.0) / 2.0                          # [-1, 1] -> [0, 1]
    grid = np.full((c, rows * h + (rows + 1) * padding, ncol_cells * w + (ncol_cells + 1) * padding),
                   float(pad_value))
    for i in range(n):
        r, col = divmod(i, ncol_cells)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = x[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def save_image_grid(images, path, nrow: int | None = None, padding: int = 1, scale: int = 4,
                    pad_value: float = 0.5):
    """Write :func:`image_grid` of ``images`` to ``path`` (PNG), each pixel as a ``scale`` x
    ``scale`` block (8x8 digits are tiny at scale 1).

    Returns: the grid as written, float array (scale*H', scale*W'[, 3]) in [0, 1].
    """
    from matplotlib.image import imsave

    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise ValueError(f"save_image_grid: scale must be a positive integer, got {scale!r}")
    grid = image_grid(images, nrow=nrow, padding=padding, pad_value=pad_value)
    grid = np.repeat(np.repeat(grid, int(scale), axis=0), int(scale), axis=1)
    if grid.ndim == 2:
        imsave(path, grid, cmap="gray", vmin=0.0, vmax=1.0)
    else:
        imsave(path, grid)
    return grid


def plot_image_grid(images, nrow: int | None = None, *, ax=None, title: str = "Samples",
                    path=None, padding: int = 1):
    """Show :func:`image_grid` of ``images`` (N, C, H, W) in [-1, 1] on an axes. Returns the Figure."""
    grid = image_grid(images, nrow=nrow, padding=padding)
    fig, ax = _fig_ax(ax, (4, 4))
    if grid.ndim == 2:
        ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title)
    return _finish(fig, path)


# ----------------------------------------------------------------------------- 2-D samples

def plot_samples_2d(samples, centers=None, *, data=None, ax=None,
                    title: str = "Generated samples and mode centres",
                    lim=None, path=None):
    """Scatter of 2-D samples against the data.

    Args:
        samples: (n, 2) generated points (orange).
        centers: (K, 2) mode centres or a GaussianMixture (black crosses); optional.
        data: (m, 2) real samples (blue), optional.
        lim: ``((xmin, xmax), (ymin, ymax))``; default: the centres with a margin, grown to
            show nearly all points.
        ax: draw here instead of in a new figure. path: save the figure there.

    Returns: the Figure.
    """
    samples = _points(samples, "plot_samples_2d: samples")
    data = None if data is None else _points(data, "plot_samples_2d: data")
    fig, ax = _fig_ax(ax, (4.5, 4.5))
    _scatter(ax, samples, _centers(centers), data, lim, title)
    if data is not None:
        ax.legend(loc="best", fontsize="small", markerscale=2)
    return _finish(fig, path)


def plot_density_2d(samples, centers=None, *, bins: int = 100, lim=None, ax=None,
                    title: str = "Density of generated samples (log scale)", path=None):
    """2-D histogram of samples (n, 2), colour ``log(1 + count)``, with the mode centres
    (K, 2 or a GaussianMixture) ringed in white. Shows where mass piles up, which a scatter hides.
    Returns the Figure."""
    samples = _points(samples, "plot_density_2d: samples")
    centers = _centers(centers)
    if isinstance(bins, bool) or int(bins) != bins or bins < 1:
        raise ValueError(f"plot_density_2d: bins must be a positive integer, got {bins!r}")
    xlim, ylim = lim if lim is not None else _limits(centers, samples)
    finite = samples[np.all(np.isfinite(samples), axis=1)]
    counts, xedges, yedges = np.histogram2d(finite[:, 0], finite[:, 1], bins=int(bins),
                                            range=[xlim, ylim])
    fig, ax = _fig_ax(ax, (5, 4.5))
    mesh = ax.pcolormesh(xedges, yedges, np.log1p(counts.T), cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax, label="log(1 + samples per bin)")
    if centers is not None:
        ax.scatter(centers[:, 0], centers[:, 1], s=80, marker="o", facecolors="none",
                   edgecolors="w", linewidths=0.6)                # rings: the density shows inside
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    return _finish(fig, path)


def plot_training_snapshots(snapshots, steps, centers=None, *, lim=None, path=None,
                            title: str = "Generated samples during training"):
    """A row of scatters, one per snapshot: how the generator's samples move over training.

    Args:
        snapshots: list of T arrays (n_t, 2) of generated samples.
        steps: list of T training steps, one per snapshot (panel titles).
        centers: (K, 2) mode centres or a GaussianMixture, drawn in every panel; optional.
        lim: shared axis limits; default: one box for all panels (centres and samples).

    Returns: the Figure (1 row, T panels).
    """
    snapshots = [_points(s, f"plot_training_snapshots: snapshot {i}") for i, s in enumerate(snapshots)]
    steps = list(steps)
    if not snapshots or len(steps) != len(snapshots):
        raise ValueError(f"plot_training_snapshots: expected as many steps as snapshots (>= 1), "
                         f"got {len(snapshots)} snapshots and {len(steps)} steps")
    centers = _centers(centers)
    lim = lim if lim is not None else _limits(centers, *snapshots)
    t = len(snapshots)
    fig = _figure((2.6 * t, 3.4))
    axes = fig.subplots(1, t, squeeze=False)[0]
    for i, (ax, s, step) in enumerate(zip(axes, snapshots, steps)):
        _scatter(ax, s, centers, None, lim, f"step {step}")
        if i > 0:
            ax.set_ylabel("")
    fig.suptitle(title)
    return _finish(fig, path)


# ----------------------------------------------------------------------------- losses

def plot_losses(history: Mapping, *, steps=None, ax=None, smooth: int = 1,
                title: str = "Training losses", xlabel: str = "step", ylabel: str = "loss",
                path=None):
    """One curve per entry of ``history``, e.g. ``{"D loss": [...], "G loss": [...]}``.

    Args:
        history: mapping name -> sequence of numbers (one per logged step).
        steps: x values shared by all curves (length of the longest curve); default 0, 1, ...
        smooth: moving-average window (1 = raw); GAN losses are noisy.
        ax: draw here instead of in a new figure. path: save the figure there.

    Returns: the Figure.
    """
    if not isinstance(history, Mapping) or not history:
        raise ValueError("plot_losses: history must be a non-empty dict name -> list of numbers, "
                         f"got {type(history).__name__}")
    if isinstance(smooth, bool) or int(smooth) != smooth or smooth < 1:
        raise ValueError(f"plot_losses: smooth must be a positive integer, got {smooth!r}")
    smooth = int(smooth)
    curves = {}                                  # name -> (x offset, values)
    for name, values in history.items():
        v = np.asarray([float(to_numpy(a)) for a in values], dtype=np.float64)
        if smooth > 1 and len(v) >= smooth:      # value j averages raw values j .. j+smooth-1,
            v = np.convolve(v, np.ones(smooth) / smooth, mode="valid")
            curves[str(name)] = (smooth - 1, v)  # plotted at the step of the last of them
        else:
            curves[str(name)] = (0, v)
    if steps is not None:
        steps = np.asarray(to_numpy(steps), dtype=np.float64)
        longest = max(len(v) for v in history.values())
        if steps.shape != (longest,):
            raise ValueError(f"plot_losses: steps must have one entry per logged value "
                             f"({longest}), got shape {steps.shape}")
    fig, ax = _fig_ax(ax, (6, 3.5))
    for name, (offset, v) in curves.items():
        x = np.arange(len(v)) + offset if steps is None else steps[offset:offset + len(v)]
        ax.plot(x, v, label=name, linewidth=1.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title if smooth == 1 else f"{title} (moving average over {smooth})")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _finish(fig, path)


# ----------------------------------------------------------------------------- sequences

def plot_token_samples(lines, *, title: str = "Samples", path=None):
    """Sampled token sequences as lines of monospaced text, one per sample (decode them
    first: a grammar's symbols, or token ids joined by spaces). Returns the Figure."""
    lines = [str(s) for s in lines]
    if not lines:
        raise ValueError("plot_token_samples: no lines to draw")
    width = max(4.0, min(16.0, 0.09 * max(len(s) for s in lines) + 0.6))
    fig = _figure((width, 0.6 + 0.2 * len(lines)))
    ax = fig.add_subplot(1, 1, 1)
    ax.axis("off")
    ax.set_title(title, fontsize="small")
    for i, s in enumerate(lines):
        ax.text(0.0, 1 - (i + 0.5) / len(lines), s, family="monospace", fontsize=9,
                va="center", ha="left", transform=ax.transAxes)
    return _finish(fig, path)


def plot_sequences(groups, *, title: str = "Samples", ylim=(-1.05, 1.05), path=None):
    """Real-valued sequences as curves: ``groups`` is a list of (panel title or None, array
    (n, T) or (n, T, 1)); one panel per group, its curves overlaid (a grid of panels).
    Returns the Figure."""
    groups = list(groups)
    if not groups:
        raise ValueError("plot_sequences: no sequences to draw")
    cols = math.ceil(math.sqrt(len(groups))) if len(groups) > 5 else len(groups)
    rows = math.ceil(len(groups) / cols)
    fig = _figure((min(2.2 * cols, 16), 1.6 * rows + 0.5))
    for i, (name, x) in enumerate(groups):
        x = np.asarray(to_numpy(x), dtype=np.float64)
        x = x.reshape(x.shape[0], -1) if x.ndim == 3 else np.atleast_2d(x)
        ax = fig.add_subplot(rows, cols, i + 1)
        t = np.arange(1, x.shape[1] + 1)
        for row in x:
            ax.plot(t, row, linewidth=1.0, alpha=0.8 if len(x) > 1 else 1.0)
        ax.set_ylim(*ylim)
        ax.tick_params(labelsize="x-small")
        if name:
            ax.set_title(name, fontsize="small")
    fig.suptitle(title, fontsize="small")
    return _finish(fig, path)
