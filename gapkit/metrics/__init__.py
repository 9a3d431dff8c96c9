"""Task metrics: captioning (pycocoevalcap's scorers, one by one), VQA accuracy, VE accuracy.
numpy-only apart from pycocoevalcap; Java is needed for PTB tokenisation and METEOR."""

from .caption import caption_scores, java_available
from .ve import ve_accuracy
from .vqa import normalize_answer, vqa_accuracy

__all__ = ["caption_scores", "java_available", "normalize_answer", "vqa_accuracy", "ve_accuracy"]
