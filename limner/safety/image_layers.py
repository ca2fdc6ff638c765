"""The image-stage safety layers: size, known-image hashes, nudity, person and age, and public-figure
faces. Each reads `Request.images` and returns one `Verdict`, leaving its signals (nudity scores, person
label) in `Request.signals` for the output monitor (`layers.MonitorLayer`), which runs last.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from limner.safety.hashes import HashList
from limner.safety.layers import Request, ok, refuse
from limner.safety.optout import OptOutRegistry
from limner.safety.policy import Policy
from limner.safety.verdict import Verdict


class ImageSizeLayer:
    """Images already decoded by the caller still get the pixel budget check (fails closed)."""

    name = "image.size"

    def __init__(self, policy: Policy) -> None:
        self.max_pixels = int(policy.image.get("max_pixels", 40_000_000))
        self.max_side = int(policy.image.get("max_side", 12_000))

    def check(self, req: Request) -> Verdict:
        """Refused (`system`) when any image is empty or over the pixel or per-side budget."""
        for i, im in enumerate(req.images):
            if im.width * im.height > self.max_pixels or max(im.size) > self.max_side or min(im.size) < 1:
                return refuse(
                    self.name,
                    "system",
                    "image.max_pixels",
                    f"image {i + 1} is {im.width}x{im.height}, outside the limit of {self.max_pixels} pixels",
                )
        return ok(self.name, f"{len(req.images)} image(s) within size limits")


class HashLayer:
    """Refuses images that match the operator's hash list of known-bad images."""

    name = "image.hashes"

    def __init__(self, hashes: HashList | None) -> None:
        self.hashes = hashes

    def check(self, req: Request) -> Verdict:
        """Refused on the first image close enough to a listed hash: `child_safety` when the entry's label mentions
        CSAM, else `sexual`. Allowed when no list is loaded."""
        if self.hashes is None or len(self.hashes) == 0:
            return ok(self.name, "no hash list loaded")
        for i, im in enumerate(req.images):
            label, dist = self.hashes.match(im)
            if label is not None:
                return refuse(
                    self.name,
                    "child_safety" if "csam" in label.lower() else "sexual",
                    "image.hash_match",
                    f"image {i + 1} matches a known-bad image on the hash list ({label}, distance {dist})",
                    {"hash_distance": float(dist)},
                )
        return ok(self.name, f"no match among {len(self.hashes)} hashes")


class NudityLayer:
    """Refuses images in which NudeNet finds one of the policy's exposed classes above the tier's threshold."""

    name = "image.nudity"

    def __init__(self, policy: Policy) -> None:
        cfg = policy.image.get("nudity") or {}
        self.classes = set(cfg.get("exposed_classes", []))
        th = cfg.get("thresholds", {"adult": 0.45, "minor": 0.3, "low": 0.6})
        self.th = th
        self._det: Any = None

    def detector(self) -> Any:
        """The NudeNet detector, created on first use; raises ModelUnavailable when nudenet is not installed."""
        if self._det is None:
            from limner.safety.classifier import ModelUnavailable

            try:
                from nudenet import NudeDetector
            except ImportError as e:
                raise ModelUnavailable(f"nudity model is not installed ({e.name})") from None
            self._det = NudeDetector()
        return self._det

    def scores(self, im: Image.Image) -> dict[str, float]:
        """The highest NudeNet score of each class detected in `im`."""
        import numpy as np

        bgr = np.ascontiguousarray(np.asarray(im.convert("RGB"))[:, :, ::-1])
        out: dict[str, float] = {}
        for d in self.detector().detect(bgr):
            out[d["class"]] = max(out.get(d["class"], 0.0), float(d["score"]))
        return out

    def check(self, req: Request) -> Verdict:
        """Refused (`sexual`) at the first image with an exposed class at or above the tier's threshold. Leaves each
        image's scores, up to that one, in `signals['nudity']`."""
        tier = "minor" if req.minor else ("low" if req.low else "adult")
        th = float(self.th[tier])
        worst: dict[str, float] = {}
        for i, im in enumerate(req.images):
            sc = self.scores(im)
            req.signals.setdefault("nudity", []).append(sc)
            exposed = {k: v for k, v in sc.items() if k in self.classes}
            worst = {**worst, **{f"img{i + 1}.{k}": v for k, v in exposed.items()}}
            hit = {k: v for k, v in exposed.items() if v >= th}
            if hit:
                k = max(hit, key=lambda x: hit[x])
                return refuse(
                    self.name,
                    "sexual",
                    "image.nudity",
                    f"image {i + 1} shows nudity ({k} {hit[k]:.2f} >= {th:.2f})",
                    worst,
                )
        return ok(self.name, "no exposed nudity detected", worst)


class PersonLayer:
    """Photorealistic-person classifier (none / adult / child) and the rules that depend on it."""

    name = "image.person"

    def __init__(self, policy: Policy) -> None:
        cfg = policy.image.get("person") or {}
        self.child_below = int(cfg.get("child_below_age", 22))
        self.photo_th = float(cfg.get("photo_threshold", 0.5))

    def check(self, req: Request) -> Verdict:
        """Labels every image none/adult/child into `signals['person']`; refuses only uploads (stage `input`) that show
        a photorealistic child."""
        from limner.safety.person import classify_person

        labels = []
        for im in req.images:
            r = classify_person(im, child_below_age=self.child_below, photo_threshold=self.photo_th)
            labels.append(r)
        req.signals["person"] = labels
        rank = {"none": 0, "adult": 1, "child": 2}
        top = max(labels, key=lambda r: rank[r.label]) if labels else None
        scores = {f"img{i + 1}.photo": r.photo_score for i, r in enumerate(labels)}
        scores.update({f"img{i + 1}.min_age": float(r.min_age) for i, r in enumerate(labels) if r.min_age is not None})
        if top is not None and top.label == "child" and req.stage == "input":
            return refuse(
                self.name,
                "child_safety",
                "cs.edit_photoreal_minor",
                "edits of images showing a photorealistic child are not allowed",
                scores,
            )
        return ok(self.name, f"photorealistic person: {top.label if top else 'none'}", scores)


class OptOutFaceLayer:
    """Refuses images that show the face of someone in the opt-out registry."""

    name = "image.optout"

    def __init__(self, registry: OptOutRegistry | None) -> None:
        self.registry = registry

    def check(self, req: Request) -> Verdict:
        """Matches the faces PersonLayer found in photorealistic images against the registered faces (or, when
        PersonLayer did not run, the faces found here); refused (`public_figures`) on a match. Allowed when no
        reference face is registered."""
        if self.registry is None or not self.registry.has_faces:
            return ok(self.name, "no reference faces registered")
        from limner.safety.faces import face_encodings

        persons = req.signals.get("person") or []
        for i, im in enumerate(req.images):
            faces = None  # None: detect here
            if i < len(persons):
                if persons[i].label == "none":  # not a photo, or no face in it
                    continue
                faces = persons[i].faces
            # else PersonLayer did not run (turned off in the policy): fail closed by finding the faces here
            who, dist = self.registry.match_faces(face_encodings(im, faces))
            if who is not None:
                return refuse(
                    self.name,
                    "public_figures",
                    "pf.optout",
                    f"image {i + 1} shows {who}, who has opted out of being depicted",
                    {"face_distance": dist},
                )
        return ok(self.name, "no registered face found")
