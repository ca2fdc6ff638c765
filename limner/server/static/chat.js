// limner's chat UI: each turn calls /v1/responses (stream) with previous_response_id, so it refines the last image.
"use strict";
const $ = (id) => document.getElementById(id);
let lastResponseId = null;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function imageMeta(box, img) {
  const meta = el("div", "meta");
  const s = img.settings || {};
  const verdict = (img.safety || []).every((d) => d.allowed) ? "allowed" : "refused";
  meta.textContent = `prompt: ${img.revised_prompt || img.prompt} · ${s.size} · quality ${s.quality} · seed ${img.seed}` +
    ` · safety ${verdict} · signed (C2PA record ${String(img.record_id).slice(0, 12)}, watermark ${img.payload})`;
  box.appendChild(meta);
  const dl = el("div", "meta");
  for (const fmt of ["png", "webp", "jpeg"]) {
    const a = el("a", "download", fmt);
    a.href = `${img.url}?format=${fmt}`;
    a.download = `limner-${img.id.slice(6, 18)}.${fmt === "jpeg" ? "jpg" : fmt}`;
    dl.append(a, " ");
  }
  box.appendChild(dl);
}

async function* sse(resp) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const chunk = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = chunk.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("");
      if (data) yield JSON.parse(data);
    }
  }
}

function fileToDataUrl(file) {
  return new Promise((ok, fail) => {
    const r = new FileReader();
    r.onload = () => ok(r.result);
    r.onerror = fail;
    r.readAsDataURL(file);
  });
}

async function send(text, file) {
  const turn = el("div", "turn");
  turn.appendChild(el("div", "user", text));
  const img = document.createElement("img");
  img.alt = text;
  turn.appendChild(img);
  $("turns").appendChild(turn);
  const content = [{ type: "input_text", text }];
  if (file) content.push({ type: "input_image", image_url: await fileToDataUrl(file) });
  const body = {
    model: "limner", stream: true, input: [{ role: "user", content }],
    tools: [{ type: "image_generation", quality: $("quality").value, partial_images: 2 }],
  };
  if (lastResponseId) body.previous_response_id = lastResponseId;
  const resp = await fetch("/v1/responses", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!resp.ok) {
    const err = (await resp.json()).error || {};
    img.remove();
    const why = err.moderation_details ? err.moderation_details.reason : err.message;
    // a safety refusal says so; any other 400 (nothing drawable, nothing to undo) is the service's answer
    const refused = err.moderation_details || err.code === "image_content_policy_violation";
    turn.appendChild(el("div", "refusal", refused ? `Refused${err.code ? ` (${err.code})` : ""}: ${why}` : `limner: ${why}`));
    return;
  }
  for await (const ev of sse(resp)) {
    if (ev.type === "response.image_generation_call.partial_image") {
      img.src = `data:image/${ev.output_format || "png"};base64,${ev.partial_image_b64}`;
      img.className = "partial";
    } else if (ev.type === "response.output_item.done" && ev.item.type === "image_generation_call") {
      img.src = `data:image/${ev.item.output_format};base64,${ev.item.result}`;
      img.className = "final";
    } else if (ev.type === "response.completed") {
      lastResponseId = ev.response.id;
      const conv = await (await fetch("/v1/limner/images?limit=1")).json();
      if (conv.data.length) imageMeta(turn, conv.data[0]);
    } else if (ev.type === "response.failed") {
      img.remove();
      turn.appendChild(el("div", "refusal", `Failed: ${ev.response.error.message}`));
    }
  }
  loadHistory();
}

async function loadHistory() {
  const list = $("conversations");
  const data = (await (await fetch("/v1/limner/conversations")).json()).data;
  list.replaceChildren(...data.map((c) => {
    const li = el("li", "conversation", c.title || c.id);
    li.onclick = () => openConversation(c);
    return li;
  }));
}

async function openConversation(c) {
  const detail = await (await fetch(`/v1/limner/conversations/${c.id}`)).json();
  $("turns").replaceChildren();
  for (const img of detail.images) {
    const turn = el("div", "turn");
    turn.appendChild(el("div", "user", img.revised_prompt || img.prompt));
    const im = document.createElement("img");
    im.src = img.url;
    im.className = "final";
    turn.appendChild(im);
    imageMeta(turn, img);
    $("turns").appendChild(turn);
  }
  lastResponseId = c.last_response_id;
}

$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("prompt").value.trim();
  if (!text) return;
  const file = $("file").files[0];
  $("prompt").value = "";
  $("file").value = "";
  $("send").disabled = true;
  try { await send(text, file); } finally { $("send").disabled = false; }
});
$("new-chat").onclick = () => { lastResponseId = null; $("turns").replaceChildren(); };
loadHistory();
