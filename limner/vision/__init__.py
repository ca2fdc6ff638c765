"""Reading images, shared by generation and evaluation: the object detector (`detect`, with its small
shape classifier `shape_net`), colour naming and distances (`color`), OCR (`ocr`), and scoring an image
against a record of what it should show (`records`, `score`).

The studio's verifier and scene reading use it at run time; the evals use it with their own data and
validation on top. It imports only `limner.data` (the world's names and colours) and `limner.limits`.
"""
