import io
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from limner.train.real import RealImageBatcher, load_items


def _shard(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tf:
        for key, payload in members:
            info = tarfile.TarInfo(key)
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    return path


def _png(color: tuple[int, int, int], size: tuple[int, int] = (300, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def test_folder_of_captioned_images(tmp_path: Path) -> None:
    for i, c in enumerate([(255, 0, 0), (0, 0, 255)]):
        (tmp_path / f"im{i}.png").write_bytes(_png(c))
        (tmp_path / f"im{i}.txt").write_text(f"a photo number {i} with a sign that says 'HI {i}'")
    (tmp_path / "orphan.png").write_bytes(_png((0, 255, 0)))  # no caption: skipped
    assert len(load_items(tmp_path)) == 2
    b = next(RealImageBatcher(tmp_path, 3, seed=0))
    w, h = b.size
    assert b.images.shape == (3, 4, h, w) and b.glyphs.shape == (3, 1, h, w)
    assert float(b.glyphs.max()) > 0.5  # the quoted text became a glyph condition
    assert all("photo" in p for p in b.prompts)


def test_webdataset_shard(tmp_path: Path) -> None:
    shard = _shard(tmp_path / "shard-000.tar", [("a.png", _png((9, 9, 9))), ("a.txt", b"a dark square")])
    items = load_items(shard)
    assert [i.caption for i in items] == ["a dark square"]
    b = next(RealImageBatcher(shard, 2, seed=1))
    assert b.prompts == ["a dark square", "a dark square"]


def test_empty_or_missing_data_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no captioned images"):
        load_items(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope"):
        load_items(tmp_path / "nope")


def test_a_corrupt_file_in_a_shard_is_skipped_and_counted(tmp_path: Path) -> None:
    shard = _shard(tmp_path / "shard-001.tar", [("good.png", _png((200, 10, 10))), ("good.txt", b"a red photo"),
                                                 ("bad.png", b"\x89PNG\r\n\x1a\n truncated"),
                                                 ("bad.txt", b"a broken photo")])
    assert len(load_items(shard)) == 2  # both have a caption; one cannot be decoded
    batches = RealImageBatcher(shard, 4, seed=0)
    seen = [next(batches) for _ in range(5)]
    assert all(b.prompts == ["a red photo"] * 4 for b in seen)  # only the readable image is ever trained on
    assert sum(b.skipped for b in seen) > 0  # and every unreadable draw was counted


def test_data_that_cannot_be_read_at_all_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"nothing")
    (tmp_path / "x.txt").write_text("a caption")
    with pytest.raises(ValueError, match="could not be read"):
        next(RealImageBatcher(tmp_path, 2, seed=0))


def test_parquet_in_the_hugging_face_image_caption_layout(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [({"bytes": _png((0, 0, 200)), "path": "a.png"}, "a blue photo"),
            ({"bytes": _png((0, 200, 0)), "path": "b.png"}, "a green photo")]
    table = pa.table({"image": [r[0] for r in rows], "text": [r[1] for r in rows]})
    pq.write_table(table, tmp_path / "train-00000.parquet")
    items = load_items(tmp_path)
    assert [i.caption for i in items] == ["a blue photo", "a green photo"]
    b = next(RealImageBatcher(tmp_path / "train-00000.parquet", 4, seed=2))
    assert set(b.prompts) <= {"a blue photo", "a green photo"} and b.skipped == 0
    pq.write_table(pa.table({"picture": [b"x"], "text": ["t"]}), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="bad.parquet.*expected 'image'"):
        load_items(tmp_path / "bad.parquet")


def test_a_shard_that_is_not_a_tar_is_skipped_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "a.tar").write_bytes(b"not a tar at all" * 40)
    _shard(tmp_path / "b.tar", [("k.png", _png((1, 2, 3))), ("k.txt", b"a dark photo")])
    with pytest.warns(UserWarning, match="a.tar"):
        items = load_items(tmp_path)
    assert [i.caption for i in items] == ["a dark photo"]
