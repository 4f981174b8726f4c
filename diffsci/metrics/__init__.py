"""Evaluation core shared by every domain: sample-level detection (AUROC, AP, FPR at 95 % TPR),
location-level segmentation of anomaly maps (pixel AUROC, AP, best Dice) and image metrics."""

from .detection import auroc, average_precision, detection_metrics, fpr_at_tpr
from .image import nmse, psnr, ssim
from .segmentation import best_dice, dice, pixel_ap, pixel_auroc, segmentation_metrics

__all__ = ["auroc", "average_precision", "fpr_at_tpr", "detection_metrics", "pixel_auroc", "pixel_ap",
           "dice", "best_dice", "segmentation_metrics", "psnr", "nmse", "ssim"]
