"""The Images API through the official openai client: generate, stream, edit with a mask, errors."""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import openai
import pytest
from openai import OpenAI
from PIL import Image

from limner.data.scene import Scene, SceneObject, render
from limner.provenance.verify import verify
from tests.server.conftest import Server


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def decode(b64: str) -> Image.Image:
    im = Image.open(io.BytesIO(base64.b64decode(b64)))
    im.load()
    return im


def test_models_list_and_aliases(client: OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "limner" in ids and "tiny" in ids  # tiny: the checkpoint's own id
    assert {"gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "dall-e-2", "dall-e-3"} <= set(ids)  # the alias table
    assert client.models.retrieve("limner").owned_by == "limner"
    assert client.models.retrieve("dall-e-3").id == "dall-e-3"
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("stable-diffusion-xl")
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError) as e:
        client.images.generate(model="stable-diffusion-xl", prompt="a red star")
    assert e.value.body["code"] == "model_not_found" and e.value.body["param"] == "model"


def test_dall_e_defaults_any_documented_size_and_nulls(client: OpenAI, server: Server) -> None:
    """What DALL-E clients send by default works: model dall-e-2 or dall-e-3, 1024x1024, quality standard, a
    style; the image comes back at exactly the size asked for (drawn at the native size of its aspect, resized);
    a null optional field means its default."""
    r = client.images.generate(model="dall-e-2", prompt="a red star", size="1024x1024", n=1,
                               response_format="b64_json")
    assert decode(r.data[0].b64_json).size == (1024, 1024) and r.size == "1024x1024"
    r = client.images.generate(model="dall-e-3", prompt="a red star", size="1792x1024", quality="standard",
                               style="vivid", response_format="b64_json")
    assert decode(r.data[0].b64_json).size == (1792, 1024) and r.quality == "medium"
    assert r.usage.output_tokens == 384  # drawn as 384x256: 24 x 16 tokens
    with server.http() as http:
        body = {"prompt": "a blue ring", "model": None, "n": None, "size": None, "quality": None, "stream": None,
                "partial_images": None, "background": None, "output_format": None, "user": None}
        res = http.post("/v1/images/generations", json=body)
        assert res.status_code == 200, res.text
        assert "size" not in res.json() and len(res.json()["data"]) == 1  # 256x256: not in the enum
        res = http.post("/v1/images/generations", json={"prompt": "a blue ring", "size": "8000x8000"})
        assert res.status_code == 400 and res.json()["error"]["param"] == "size"


def test_url_response_format_gives_an_expiring_link_to_the_tenants_image(client: OpenAI, server: Server) -> None:
    """DALL-E's default answer shape: `url`, downloadable without a key, signed for one image and tenant."""
    import httpx

    r = client.images.generate(model="dall-e-2", prompt="a red star", size="512x512", response_format="url")
    url = r.data[0].url
    assert r.data[0].b64_json is None and url is not None and url.startswith(server.url)
    got = httpx.get(url, timeout=30)
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(got.content)).size == (512, 512)
    assert verify(got.content).verdict == "made_by_limner"
    forged = url.replace("owner=local", "owner=someone")
    assert httpx.get(forged, timeout=30).status_code == 403
    bad_sig = url[:-1] + ("0" if url[-1] != "0" else "1")
    assert httpx.get(bad_sig, timeout=30).status_code == 403
    # streamed images are always base64 events (as OpenAI streams them): response_format "url" does not apply
    events = list(client.images.generate(model="dall-e-2", prompt="a red star", response_format="url", stream=True))
    assert events[-1].type == "image_generation.completed" and events[-1].b64_json


def test_langchain_dalle_wrapper_works_with_its_defaults(server: Server) -> None:
    """LangChain's DallEAPIWrapper as it comes (model dall-e-2, 1024x1024, answers read from `data[i].url`)."""
    import httpx

    dalle = pytest.importorskip("langchain_community.utilities.dalle_image_generator")
    wrapper = dalle.DallEAPIWrapper(api_key="local", base_url=f"{server.url}/v1")
    url = wrapper.run("a red star above a blue ring")
    got = httpx.get(url, timeout=30)
    assert got.status_code == 200 and Image.open(io.BytesIO(got.content)).size == (1024, 1024)
    assert verify(got.content).verdict == "made_by_limner"


def test_json_body_edits_and_variations(client: OpenAI, server: Server) -> None:
    """An edit sent as JSON (`images: [{image_url: data URL}]`, optional `mask`) edits as the form does; a
    variation draws the upload's object anew at the size asked for, and an image with no world object gets the
    model's own redraw of its tokens. A URL the SSRF guard refuses, an unknown file id and a malformed
    reference are errors naming the parameter."""
    star = png(render(Scene(256, 256, "white", [SceneObject("star", "red")])).convert("RGB"))
    data_url = "data:image/png;base64," + base64.b64encode(star).decode()
    mask = Image.new("RGBA", (256, 256), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 128, 128))
    mask_url = "data:image/png;base64," + base64.b64encode(png(mask)).decode()
    with server.http() as http:
        res = http.post("/v1/images/edits", json={"model": "gpt-image-1", "images": [{"image_url": data_url}],
                                                  "mask": {"image_url": mask_url}, "prompt": "a blue heart",
                                                  "quality": "low", "seed": 2, "n": None})
        assert res.status_code == 200, res.text
        out = decode(res.json()["data"][0]["b64_json"]).convert("RGB")
        kept = np.abs(np.asarray(out, dtype=np.float32)[128:, :] - np.asarray(Image.open(io.BytesIO(star)),
                                                                               dtype=np.float32)[128:, :]).mean()
        assert out.size == (256, 256) and kept < 3.0  # outside the mask the upload is kept (watermark aside)
        for ref, param, status in (({"image_url": f"{server.url}/health"}, "images[0].image_url", 400),
                                   ({"image_url": "http://169.254.169.254/latest/meta-data"}, "images[0].image_url",
                                    400),
                                   ({"file_id": "file-abc"}, "images[0].file_id", 404), ("nope", "images[0]", 400)):
            res = http.post("/v1/images/edits", json={"images": [ref], "prompt": "a blue heart"})
            assert res.status_code == status and res.json()["error"]["param"] == param, res.text
        assert "private, loopback or link-local" in http.post("/v1/images/edits", json={
            "images": [{"image_url": f"{server.url}/health"}], "prompt": "a blue heart"}).json()["error"]["message"]
    r = client.images.create_variation(image=("star.png", star, "image/png"), model="dall-e-2", n=1,
                                       size="512x512", response_format="b64_json")
    assert decode(r.data[0].b64_json).size == (512, 512) and "star" in (r.data[0].revised_prompt or "")
    flat = png(Image.new("RGB", (256, 256), (20, 90, 200)))
    r = client.images.create_variation(image=("flat.png", flat, "image/png"), n=2, response_format="b64_json")
    got = [decode(d.b64_json) for d in r.data]
    assert len(got) == 2 and got[0].size == (256, 256) and r.size is None  # 256x256 is not in the answer's enum
    assert verify(base64.b64decode(r.data[0].b64_json)).verdict == "made_by_limner"


def test_files_api_and_file_ids(client: OpenAI, server: Server) -> None:
    """Files uploaded through the SDK's `files.create` are listed, read back byte for byte, usable as `file_id`
    in a JSON edit, and gone after `files.delete`; another owner's (or a deleted) id is a 404."""
    star = png(render(Scene(256, 256, "white", [SceneObject("star", "red")])).convert("RGB"))
    f = client.files.create(file=("star.png", star, "image/png"), purpose="vision")
    assert f.object == "file" and f.bytes == len(star) and f.filename == "star.png" and f.purpose == "vision"
    assert client.files.retrieve(f.id).id == f.id
    assert client.files.content(f.id).content == star
    assert f.id in [x.id for x in client.files.list(purpose="vision")]
    later = client.files.create(file=("notes.txt", b"hello", "text/plain"), purpose="user_data",
                                expires_after={"anchor": "created_at", "seconds": 3600})
    assert later.expires_at is not None and later.expires_at - later.created_at == 3600
    page = client.files.list(limit=1, order="asc")
    assert len(page.data) == 1 and page.has_more
    with server.http() as http:
        res = http.post("/v1/images/edits", json={"images": [{"file_id": f.id}], "prompt": "make the star blue",
                                                  "quality": "low", "seed": 1})
        assert res.status_code == 200 and decode(res.json()["data"][0]["b64_json"]).size == (256, 256), res.text
        bad = http.post("/v1/files", files={"file": ("x.png", star, "image/png")}, data={"purpose": "nonsense"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "purpose", bad.text
        # naming one upload again and again cannot pull more into memory than a request body may hold (4 MB here)
        big = client.files.create(file=("big.bin", b"\x89PNG" + bytes(1_500_000), "image/png"), purpose="vision")
        res = http.post("/v1/images/edits", json={"images": [{"file_id": big.id}] * 3, "prompt": "a red star"})
        assert res.status_code == 400 and res.json()["error"]["code"] == "request_too_large", res.text
        res = http.post("/v1/responses", json={"model": "limner", "tools": [{"type": "image_generation"}],
                                               "input": [{"role": "user", "content": [
                                                   {"type": "input_text", "text": "a star like these"},
                                                   *[{"type": "input_image", "file_id": f.id}] * 18]}]})
        assert res.status_code == 400 and res.json()["error"]["code"] == "too_many_images", res.text
        assert http.get("/v1/files/%00").status_code == 404
        client.files.delete(big.id)
    assert client.files.delete(f.id).deleted and client.files.delete(later.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(f.id)
    with server.http() as http:
        res = http.post("/v1/images/edits", json={"images": [{"file_id": f.id}], "prompt": "make the star blue"})
        assert res.status_code == 404 and res.json()["error"]["param"] == "images[0].file_id", res.text


def test_open_webui_and_librechat_request_shapes(client: OpenAI, server: Server) -> None:
    """The bodies two chat UIs send for image generation, as their source builds them: Open WebUI's
    (backend/open_webui/routers/images.py: model, prompt, n, size, and response_format b64_json unless the model
    answers with URLs, whose URL it then fetches with its Authorization header) and LibreChat's DALL-E 3 tool
    (api/app/clients/tools/structured/DALLE3.js: model dall-e-3, quality, style, size, prompt, n 1, then
    data[0].url, whose file name comes from the URL's basename)."""
    import httpx

    with server.http() as http:
        res = http.post("/v1/images/generations", headers={"Authorization": "Bearer local"}, json={
            "model": "gpt-image-1", "prompt": "a red star", "n": 1, "size": "512x512", "response_format": "b64_json"})
        assert res.status_code == 200 and decode(res.json()["data"][0]["b64_json"]).size == (512, 512), res.text
        res = http.post("/v1/images/generations", headers={"Authorization": "Bearer local"}, json={
            "model": "dall-e-2", "prompt": "a red star", "n": 1, "size": "256x256"})
        url = res.json()["data"][0]["url"]
        got = http.get(url, headers={"Authorization": "Bearer local"})
        assert got.status_code == 200 and got.headers["content-type"].startswith("image/"), got.text
    r = client.images.generate(model="dall-e-3", quality="hd", style="natural", size="1024x1792",
                               prompt="a watercolour of a blue heart", n=1)
    url = r.data[0].url
    assert url is not None and url.split("?")[0].endswith(".png")  # the basename carries the extension
    assert Image.open(io.BytesIO(httpx.get(url, timeout=30).content)).size == (1024, 1792)


def test_generate_returns_signed_images_and_usage(client: OpenAI, server: Server) -> None:
    r = client.images.generate(model="gpt-image-1", prompt="two red stars", n=2, size="384x256", quality="low",
                               output_format="webp", extra_body={"seed": 7})
    assert len(r.data) == 2 and r.size is None and r.output_format == "webp" and r.quality == "low"
    assert r.usage.output_tokens == 2 * (384 // 16) * (256 // 16)
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    raw = base64.b64decode(r.data[0].b64_json)
    assert Image.open(io.BytesIO(raw)).size == (384, 256)
    assert verify(raw).verdict == "made_by_limner"  # served bytes passed the provenance stage
    with server.http() as h:  # and the gallery recalls them with their settings and seed
        gallery = h.get("/v1/limner/images", params={"limit": 2}).json()["data"]
    assert {g["prompt"] for g in gallery} == {"two red stars"} and all(g["seed"] == 7 for g in gallery)
    assert gallery[0]["settings"]["size"] == "384x256" and gallery[0]["payload"]


def test_stream_with_partial_images(client: OpenAI) -> None:
    t0 = time.perf_counter()
    seen: list[tuple[str, float]] = []
    events = []
    for ev in client.images.generate(model="limner", prompt="a blue ring", stream=True, partial_images=2,
                                     quality="low", size="256x256"):
        seen.append((ev.type, time.perf_counter() - t0))
        events.append(ev)
    assert [t for t, _ in seen] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    assert decode(events[0].b64_json).size == (256, 256)
    final = events[-1]
    assert final.usage.output_tokens == 256 and decode(final.b64_json).size == (256, 256)
    assert verify(base64.b64decode(events[0].b64_json)).verdict == "made_by_limner"  # previews are signed too
    assert seen[0][1] < seen[-1][1]
    # previews and the final image name one request in their signed manifests
    ids = {verify(base64.b64decode(e.b64_json)).c2pa.generation["request_id"] for e in events}
    assert len(ids) == 1 and next(iter(ids)).startswith("img_"), ids


def test_moderation_block_is_openai_shaped(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.images.generate(model="gpt-image-1", prompt="step by step instructions to build a pipe bomb")
    body = e.value.body
    assert body["code"] == "moderation_blocked"
    assert body["moderation_details"]["stage"] == "prompt"
    assert body["moderation_details"]["categories"] == ["illicit"]
    details = body["moderation_details"]  # the audited layer, rule and record behind the refusal
    assert details["layer"] and details["rule"] and details["reason"] and details["decision_id"]
    with pytest.raises(openai.BadRequestError) as e:  # a stream is refused before it starts
        list(client.images.generate(model="gpt-image-1", prompt="a naked child", stream=True, partial_images=1))
    assert e.value.body["code"] == "moderation_blocked"


BASE = 40  # grey level of the image the mask edit starts from


def test_edit_with_mask_keeps_the_unmasked_region(client: OpenAI) -> None:
    # A dark base, not mid-grey: the tiny random model's drawing is itself near mid-grey, so against a
    # grey base "the masked area changed" would hinge on that random model, not on the edit path.
    base = Image.new("RGB", (320, 200), (BASE, BASE, BASE))
    mask = Image.new("RGBA", (320, 200), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 160, 100))  # alpha 0: the top-left quarter is the area to edit
    r = client.images.edit(image=("base.png", png(base), "image/png"), mask=("mask.png", png(mask), "image/png"),
                           prompt="a yellow star", quality="low", extra_body={"seed": 3})
    out = np.asarray(decode(r.data[0].b64_json).convert("RGB"), dtype=np.float32)
    assert out.shape == (200, 320, 3)
    kept = np.abs(out[100:, :] - BASE).mean()  # only the invisible watermark may touch the kept area
    edited = np.abs(out[:100, :160] - BASE).mean()
    assert kept < 3.0, kept
    assert edited > 10 * kept, (edited, kept)
    assert r.usage.input_tokens_details.image_tokens > 0
    res = verify(base64.b64decode(r.data[0].b64_json))
    assert res.verdict == "made_by_limner"


def test_edit_streams_image_edit_events(client: OpenAI) -> None:
    # uploads with a prompt that is not an edit instruction are references the prompt draws from
    star = png(render(Scene(256, 256, "white", [SceneObject("star", "red")])).convert("RGB"))
    events = list(client.images.edit(image=[("a.png", star, "image/png"), ("b.png", star, "image/png")],
                                     prompt="the object in this image, but green", stream=True, partial_images=1,
                                     quality="low"))
    assert [e.type for e in events] == ["image_edit.partial_image", "image_edit.completed"]
    # an upload without any world object cannot be one: a 400 that says so, and the server keeps serving
    flat = png(Image.new("RGB", (256, 256), (20, 90, 200)))
    with pytest.raises(openai.BadRequestError) as e:
        client.images.edit(image=("a.png", flat, "image/png"), prompt="a green square like this one")
    assert "no world object" in e.value.body["message"]


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"n": 0}, "n"), ({"n": 11}, "n"), ({"size": "4096x8192"}, "size"), ({"size": "huge"}, "size"),
    ({"prompt": "x" * 32001}, "prompt"), ({"quality": "ultra"}, "quality"),
    ({"output_format": "jpeg", "background": "transparent"}, "background"),
    ({"extra_body": {"colour": "red"}}, "colour"),
    # a parameter whose name starts like a pydantic type tag ("str...") is still named
    ({"extra_body": {"stream": "maybe"}}, "stream"),
])
def test_bad_generation_parameters_name_the_parameter(client: OpenAI, kwargs: dict, param: str) -> None:
    args = {"model": "limner", "prompt": "a red star", **kwargs}
    with pytest.raises(openai.BadRequestError) as e:
        client.images.generate(**args)
    assert e.value.status_code == 400 and e.value.body["param"] == param, e.value.body


def test_bad_uploads_answer_400(client: OpenAI, server: Server) -> None:
    good = png(Image.new("RGB", (64, 64), "white"))
    cases = [
        ({"image": ("a.txt", b"not an image at all", "text/plain")}, "image"),
        ({"image": ("a.png", good[: len(good) // 2], "image/png")}, "image"),
        ({"image": [("a.png", good, "image/png")] * 17}, "image"),
        ({"image": ("a.png", good, "image/png"),
          "mask": ("m.png", png(Image.new("RGBA", (32, 32))), "image/png")}, "mask"),
    ]
    for files, param in cases:
        with pytest.raises(openai.BadRequestError) as e:
            client.images.edit(prompt="a star", **files)
        assert e.value.body["param"] == param, e.value.body
    # a decompression bomb: a tiny file that claims 20000x20000 pixels
    bomb = png(Image.new("1", (20000, 20000)))
    with pytest.raises(openai.BadRequestError) as e:
        client.images.edit(prompt="a star", image=("bomb.png", bomb, "image/png"))
    assert e.value.body["code"] == "image_too_large"
    with server.http() as h:
        js = {"content-type": "application/json"}
        r = h.post("/v1/images/generations", content=b'{"prompt": "a star", "n": ', headers=js)
        assert r.status_code == 400 and "parse the JSON" in r.json()["error"]["message"]
        r = h.post("/v1/images/generations", json={"prompt": 12})
        assert r.status_code == 400 and r.json()["error"]["param"] == "prompt"
        r = h.post("/v1/images/generations", content=b"x" * (5 * 1024 * 1024), headers=js)
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        chunked = h.post("/v1/images/generations", content=iter([b"x" * 1024 * 1024] * 5), headers=js)
        assert chunked.status_code == 413  # no Content-Length: counted as it streams in
        assert h.get("/health").status_code == 200  # and it keeps serving


@pytest.mark.parametrize("size", ["256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "1792x1024",
                                  "1024x1792"])
def test_every_documented_size_is_delivered_exactly(client: OpenAI, size: str) -> None:
    """Each size OpenAI documents for its image models comes back at exactly that size (drawn at the native
    size of its aspect, resized); the answer names it only where its schema's enum has it."""
    r = client.images.generate(model="gpt-image-1", prompt="a red star", size=size, quality="low",  # type: ignore[arg-type]
                               extra_body={"seed": 1})
    w, h = (int(v) for v in size.split("x"))
    assert decode(r.data[0].b64_json).size == (w, h)
    assert r.size == (size if size in ("1024x1024", "1536x1024", "1024x1536") else None)
