"""Plain-text rendering of a GapReport (stdout table) and flat rows for CSV."""

from __future__ import annotations

# (stat name, label) in display order; names absent from a report are skipped.
ROWS = [
    ("paired_cosine", "mean paired image-text cosine"),
    ("paired_cosine_sd", "  sd of paired cosine"),
    ("unpaired_cosine", "mean unpaired image-text cosine"),
    ("image_image_cosine", "mean image-image cosine (cone)"),
    ("text_text_cosine", "mean text-text cosine (cone)"),
    ("l2m", "centroid distance |mu_I - mu_T| (L2M)"),
    ("l2m_sq_image_term", "  L2M^2 = |mu_I|^2"),
    ("l2m_sq_text_term", "          + |mu_T|^2"),
    ("l2m_sq_cross_term", "          - 2 mu_I.mu_T"),
    ("centroid_cosine", "cos(mu_I, mu_T)"),
    ("l2i", "mean paired distance |x - y| (L2I)"),
    ("rmg", "RMG (Schrodi et al. reference form)"),
    ("separability", "modality linear separability"),
    ("i2t_r1", "R@1 image->text"),
    ("i2t_r5", "R@5 image->text"),
    ("i2t_r10", "R@10 image->text"),
    ("t2i_r1", "R@1 text->image"),
    ("t2i_r5", "R@5 text->image"),
    ("t2i_r10", "R@10 text->image"),
    ("diff_cov_trace", "trace Cov(x - y)"),
    ("diff_effective_rank", "effective rank Cov(x - y)"),
    ("diff_dims_99", "dims for 99% of Cov(x - y)"),
    ("diff_top_eigenvalue_share", "top eigenvalue share Cov(x - y)"),
]
# The gap decomposition: is the gap one constant offset, or image-specific content? (label, what
# the number says). ../shared/docs/gap-geometry.md has real CLIP's values.
DECOMPOSITION = [
    (
        "text_text_unrelated",
        "mean text-text cosine, different images",
        "real CLIP: above the paired cosine (texts resemble each other more than their images)",
    ),
    (
        "paired_cosine_after_gap_shift",
        "paired cosine after text + (mu_I - mu_T)",
        "alignment left once the constant offset is removed (1 = the gap is all offset)",
    ),
    (
        "ridge_r2",
        "ridge R^2 text -> image (held-out)",
        "how much of an image embedding one caption determines",
    ),
    (
        "residual_text_ratio",
        "tr Cov(x - y) / tr Cov(y)",
        "image-specific residual against the text spread (> 1: the residual dominates)",
    ),
    (
        "residual_share",
        "tr Cov(x - y) / mean |x - y|^2",
        "share of the squared paired distance that varies from pair to pair",
    ),
    (
        "constant_share",
        "|mu_I - mu_T|^2 / mean |x - y|^2",
        "share that one constant vector explains (what a mean shift can remove)",
    ),
    ("image_effective_rank", "effective rank Cov(image)", "dimensions the images spread over"),
    ("text_effective_rank", "effective rank Cov(text)", "dimensions the texts spread over"),
]


def _interval_line(info: dict) -> str:
    if "intervals" in info.get("skipped", {}):
        return f"95% intervals: none, {info['skipped']['intervals']}"
    if not info["bootstrap"]:
        return "95% intervals: none (--bootstrap 0)"
    return (
        f"95% intervals: seeded bootstrap (seed {info['seed']}, {info['bootstrap']} replicates, "
        "resampling images); basic (bias-corrected) intervals for the norm-type statistics"
    )


def _labels(report) -> list[tuple[str, str]]:
    top = [k for k in report.stats if k.startswith("top") and k.endswith("_share")]
    return ROWS + [(k, f"share of |gap|^2 in top {k[3:].split('_')[0]} dims") for k in top]


def _value(s, with_ci: bool) -> str:
    """A statistic's value column (and interval): 'undefined' for NaN (e.g. a share of a spread
    that is zero because every row is the same)."""
    if s.value != s.value:
        return f"{'undefined':>9}"
    ci = with_ci and s.lo == s.lo and s.hi == s.hi
    return f"{s.value:>9.4f}" + (f"  [{s.lo:.4f}, {s.hi:.4f}]" if ci else "")


def render_table(report) -> str:
    info = report.info
    with_ci = bool(info["bootstrap"]) and "intervals" not in info.get("skipped", {})
    lines = [
        f"n = {info['n_images']} images, {info['n_captions']} captions, d = {info['d']}; "
        f"{info['normalization']}",
        *([f"transform: {info['transform']}"] if info.get("transform") else []),
        _interval_line(info),
        "",
    ]
    width = max(len(label) for _, label in ROWS) + 2
    lines.append(f"{'statistic':<{width}}{'value':>9}" + (f"  {'95% interval':<20}" if with_ci else ""))
    skipped = info.get("skipped", {})
    for name, label in _labels(report):
        if name in report.stats:
            lines.append(f"{label:<{width}}{_value(report.stats[name], with_ci)}")
        elif name in skipped:
            lines.append(f"{label:<{width}}{'-':>9}  {skipped[name]}")
    lines += _decomposition_lines(report, width, with_ci)
    lines += _textspread_lines(report, width, with_ci)
    dims = ", ".join(f"{t['dim']} ({t['abs_gap']:.3f})" for t in report.top_dims[:5])
    lines += ["", f"largest per-dimension gaps |mu_I,d - mu_T,d|: {dims}"]
    if report.shifts:
        lines += [
            "",
            "text shifted by b (CLOSE Table 3): MG = mean cos(x, n(y + b)), Delta = mean cos(y, n(y + b))",
            f"{'bias':<8}{'mag.':>6}{'seed':>6}{'MG':>9}{'Delta':>9}",
        ]
        for sh in report.shifts:
            seed = "" if sh["seed"] is None else str(sh["seed"])
            lines.append(
                f"{sh['bias']:<8}{sh['magnitude']:>6.2f}{seed:>6}{sh['mg']['value']:>9.3f}"
                f"{sh['delta']['value']:>9.3f}"
            )
    for key in ("retrieval", "images_without_captions"):
        if key in info:
            lines.append(f"{key.replace('_', ' ')}: {info[key]}")
    return "\n".join(lines)


def _decomposition_lines(report, width: int, with_ci: bool) -> list[str]:
    rows = [r for r in DECOMPOSITION if r[0] in report.stats]
    skipped = report.info.get("skipped", {}).get("decomposition")
    if not rows:
        return ["", f"gap decomposition: {skipped}"] if skipped else []
    # Below MIN_IMAGES_DECOMPOSITION only the streaming pass's row (the shifted paired cosine) is
    # here: the header says why the dense ones are not.
    how = report.info.get("decomposition") or (skipped and f"the dense statistics: {skipped}")
    lines = [
        "",
        "gap decomposition: constant offset or image-specific residual?" + (f" ({how})" if how else ""),
    ]
    for name, label, meaning in rows:
        lines.append(f"{label:<{width}}{_value(report.stats[name], with_ci)}  {meaning}")
    return lines


# Where the texts vary (stats/textspread.py): what decides whether a decoder trained on clean text
# transfers to images. Reference values: real CLIP ViT-B/16, 500 COCO pairs (fixtures/real-clip).
TEXTSPREAD = [
    ("text_beyond_k", "text variance beyond top k text PCs", "the texts' tail (real CLIP: 0.27)"),
    ("image_inside_k", "image variance in those k text PCs", "(real CLIP: 0.23)"),
    ("text_dims_90", "text PCs for 90% of the text variance", "(real CLIP: 118)"),
    ("gap_in_text_sd", "mean gap in text SDs, in those PCs", "(real CLIP: 9.8)"),
]


def _textspread_lines(report, width: int, with_ci: bool) -> list[str]:
    rows = [r for r in TEXTSPREAD if r[0] in report.stats]
    if not rows:
        return []
    how = report.info.get("textspread", "")
    lines = [
        "",
        "where the texts vary: does a decoder trained on clean text read what images put elsewhere?"
        + (f" ({how})" if how else ""),
    ]
    for name, label, meaning in rows:
        lines.append(f"{label:<{width}}{_value(report.stats[name], with_ci)}  {meaning}")
    return lines


def flat_rows(report) -> list[dict]:
    """One row per statistic (CSV)."""
    rows = [
        {"statistic": k, "value": s.value, "ci_low": _blank(s.lo), "ci_high": _blank(s.hi), "n": s.n}
        for k, s in report.stats.items()
    ]
    for sh in report.shifts:
        tag = f"{sh['bias']}@{sh['magnitude']:.3g}" + (f"#{sh['seed']}" if sh["seed"] is not None else "")
        for m in ("mg", "delta"):
            s = sh[m]
            rows.append(
                {
                    "statistic": f"shift_{m}[{tag}]",
                    "value": s["value"],
                    "ci_low": _blank(s["lo"]),
                    "ci_high": _blank(s["hi"]),
                    "n": s["n"],
                }
            )
    return rows


def _blank(v: float):
    """No interval is an empty CSV cell, not the text 'nan'."""
    return "" if v != v else v
