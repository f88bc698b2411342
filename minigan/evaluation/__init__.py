"""Measuring generators, in one place: ``metrics`` (modes covered, high-quality share and
reverse KL on the toy mixtures; FID, precision and recall, conditional accuracy on images),
``features`` (the digit CNN, trained by minigan, whose penultimate layer is FID's feature
space), ``sequences`` (validity, distinct-n, novelty of token sequences) and ``translation``
(image-to-image translation: L1, PSNR, SSIM, the FCN-score of a segmenter that reads texture,
colour histograms, FID on the segmenter's features)."""
