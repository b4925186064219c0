// The salve console's script: the person's key, kept in this browser and
// never readable by a page; requests signed here in the format the CLI
// signs (salve::identity::SignedRequest); answers checked here against the
// fleet inventory the fleet admin signed (salve::api::v1::SignedReply).
// The console server relays; it is trusted with nothing.
"use strict";

const REQUEST_DOMAIN = "salve request v1\0";
const ANSWER_DOMAIN = "salve answer v1\0";
const INVENTORY_DOMAIN = "salve inventory v1\0";
const FRAME_DOMAIN = "salve stream frame v1\0";
const KEY_PREFIX = "ed25519:";
// A PKCS#8 wrapping of a 32-byte Ed25519 seed (RFC 8410): this prefix, then the seed.
const PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

const utf8 = new TextEncoder();

function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function toBase64(bytes) {
  let binary = "";
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function randomHex(n) {
  return Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// Text as it is safe to show: control and bidirectional characters written
// as \u{…}, as the CLI shows them (salve::text::escaped).
function escaped(text, keepLines) {
  return String(text).replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, (c) =>
    keepLines && (c === "\n" || c === "\t") ? c : "\\u{" + c.codePointAt(0).toString(16) + "}");
}

// ---- The key, in IndexedDB -------------------------------------------------

function database() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("salve-console", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("identity");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

async function stored(mode, action) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("identity", mode);
    const request = action(tx.objectStore("identity"));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = () => reject(tx.error);
  });
}

const loadIdentity = () => stored("readonly", (s) => s.get("me"));
const saveIdentity = (identity) => stored("readwrite", (s) => s.put(identity, "me"));
const forgetIdentity = () => stored("readwrite", (s) => s.delete("me"));

// Reads a key file as `salve keygen` writes it (TOML: principal,
// private_key, public_key) and keeps the private key as an unextractable
// WebCrypto key.
async function importKeyFile(text, adminKey) {
  const value = (name) => {
    const line = text.split(/\r?\n/).find((l) => new RegExp("^\\s*" + name + "\\s*=").test(l));
    const match = line && line.match(/=\s*"([^"]*)"/);
    return match ? match[1] : null;
  };
  const principal = value("principal");
  const privateKey = value("private-key");
  const publicKey = value("public-key");
  if (!privateKey || !privateKey.startsWith(KEY_PREFIX)) {
    throw new Error("this is not a salve key file: it has no private-key = \"ed25519:…\" line");
  }
  if (!principal) {
    throw new Error("the key file names no principal: make one with salve keygen --principal YOUR-ID");
  }
  let seed;
  try { seed = fromBase64(privateKey.slice(KEY_PREFIX.length)); } catch (e) { seed = null; }
  if (!seed || seed.length !== 32) throw new Error("the private key is not 32 bytes of base64");
  if (!adminKey.startsWith(KEY_PREFIX) || fromBase64(adminKey.slice(KEY_PREFIX.length)).length !== 32) {
    throw new Error("the fleet admin's key must be ed25519: and 32 bytes of base64");
  }
  const signingKey = await crypto.subtle.importKey("pkcs8", concat(new Uint8Array(PKCS8_PREFIX), seed),
    { name: "Ed25519" }, false, ["sign"]);
  seed.fill(0);
  await saveIdentity({ principal, publicKey, adminKey, signingKey });
  return principal;
}

// ---- Signing and checking --------------------------------------------------

async function verifies(keyText, message, signatureBase64) {
  if (!keyText || !keyText.startsWith(KEY_PREFIX)) return false;
  try {
    const key = await crypto.subtle.importKey("raw", fromBase64(keyText.slice(KEY_PREFIX.length)),
      { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, fromBase64(signatureBase64), message);
  } catch (e) {
    return false;
  }
}

// The endpoints' keys, from the inventory the console serves, once the
// fleet admin's signature on it verifies with the key the person gave.
let inventoryKeys = null;
async function endpointKeys(identity) {
  if (inventoryKeys) return inventoryKeys;
  const response = await fetch("/api/inventory");
  const file = await response.json();
  if (!file.signature || file.signature.by !== identity.adminKey) {
    throw new Error("the console's inventory is not signed by the fleet admin key you gave: nothing it relays can be checked");
  }
  const entries = file.endpoints.map((e) => ({ name: e.name, key: e.key }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const message = concat(utf8.encode(INVENTORY_DOMAIN), utf8.encode(JSON.stringify(entries)));
  if (!(await verifies(file.signature.by, message, file.signature.value))) {
    throw new Error("the console's inventory does not verify with the fleet admin key you gave: it was changed");
  }
  inventoryKeys = new Map(entries.map((e) => [e.name, e.key]));
  return inventoryKeys;
}

// `operation`, signed for `endpoint` as the CLI signs it: the request's
// JSON text.
// An operation's `input` may be given as `rawInput`, JSON text checked by
// the caller, which goes into the request as written: parsing it into a
// JavaScript value would round integers past 2^53.
async function signed(identity, endpoint, operation, rawInput) {
  let text = JSON.stringify({
    principal: identity.principal,
    endpoint,
    timestamp_ms: Date.now(),
    nonce: randomHex(16),
    operation: rawInput === undefined ? operation : { ...operation, input: null },
  });
  if (rawInput !== undefined) {
    // The operation is the last member: its closing braces end the text.
    text = text.slice(0, -"null}}".length) + rawInput + "}}";
  }
  const payload = utf8.encode(text);
  const signature = await crypto.subtle.sign({ name: "Ed25519" }, identity.signingKey,
    concat(utf8.encode(REQUEST_DOMAIN), payload));
  return JSON.stringify({ payload: toBase64(payload), signature: toBase64(signature) });
}

class Refused extends Error {
  constructor(code, message, checked) {
    super(message);
    this.code = code;
    this.checked = checked;
  }
}

// Signs `operation`, has the console relay it to `endpoint`, and checks
// the answer: signed by the endpoint's key in the inventory, for this
// very request. Gives the result, or throws Refused (checked: whether the
// endpoint itself said so).
async function ask(identity, endpoint, operation) {
  const keys = await endpointKeys(identity);
  const body = await signed(identity, endpoint, operation);
  const requestDigest = await sha256Hex(utf8.encode(body));
  const response = await fetch("/api/relay/" + encodeURIComponent(endpoint), {
    method: "POST", headers: { "Content-Type": "application/json" }, body,
  });
  let answer;
  try { answer = await response.json(); } catch (e) {
    throw new Refused("bad-answer", "the console's answer is not JSON (HTTP " + response.status + ")", false);
  }
  if (!answer.payload || !answer.signature) {
    const error = answer.error || {};
    throw new Refused(error.code || "unsigned-answer",
      (error.message || "an answer without the endpoint's signature") + " (said by the console, not signed by the endpoint)", false);
  }
  const payloadBytes = fromBase64(answer.payload);
  if (!(await verifies(keys.get(endpoint), concat(utf8.encode(ANSWER_DOMAIN), payloadBytes), answer.signature))) {
    throw new Refused("bad-answer", "the answer is not signed by " + endpoint + "'s key in the inventory: it was forged or changed on the way", false);
  }
  const payload = JSON.parse(new TextDecoder().decode(payloadBytes));
  if (payload.endpoint !== endpoint || payload.request !== requestDigest) {
    throw new Refused("bad-answer", "the signed answer is for another endpoint or another request: an old answer replayed", false);
  }
  if (payload.reply.error) {
    throw new Refused(payload.reply.error.code, payload.reply.error.message, true);
  }
  return payload.reply.result;
}

// Signs a streaming `operation` (invoke, follow-invocation), has the
// console relay it to `endpoint`, and reads the answer as it comes: each
// frame signed by the endpoint's key in the inventory, for this very
// request, numbered in order (a frame lost, repeated or moved is refused).
// `onEvent` gets each event (started, log, stdout, stderr, lagged); the
// answer is returned, or thrown as Refused.
async function streamed(identity, endpoint, operation, onEvent, rawInput) {
  const keys = await endpointKeys(identity);
  const body = await signed(identity, endpoint, operation, rawInput);
  const requestDigest = await sha256Hex(utf8.encode(body));
  const response = await fetch("/api/stream/" + encodeURIComponent(endpoint), {
    method: "POST", headers: { "Content-Type": "application/json" }, body,
  });
  if (!response.body || response.status !== 200) {
    let error = {};
    try { error = (await response.json()).error || {}; } catch (e) { error = {}; }
    throw new Refused(error.code || "bad-answer", (error.message || "no stream (HTTP " + response.status + ")") + " (said by the console, not signed by the endpoint)", false);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  let seq = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    let end;
    while ((end = pending.indexOf("\n")) >= 0) {
      const text = pending.slice(0, end);
      pending = pending.slice(end + 1);
      if (!text) continue;
      const frame = JSON.parse(text);
      if (!frame.payload || !frame.signature) {
        const error = frame.error || {};
        throw new Refused(error.code || "unsigned-answer", (error.message || "a line without the endpoint's signature") + " (said by the console, not signed by the endpoint)", false);
      }
      const payloadBytes = fromBase64(frame.payload);
      if (!(await verifies(keys.get(endpoint), concat(utf8.encode(FRAME_DOMAIN), payloadBytes), frame.signature))) {
        throw new Refused("bad-answer", "a frame is not signed by " + endpoint + "'s key in the inventory: it was forged or changed on the way", false);
      }
      const payload = JSON.parse(new TextDecoder().decode(payloadBytes));
      if (payload.endpoint !== endpoint || payload.request !== requestDigest) {
        throw new Refused("bad-answer", "a frame is for another endpoint or another request: replayed", false);
      }
      if (payload.seq !== seq) {
        throw new Refused("bad-answer", "frame " + seq + " was due and frame " + payload.seq + " came: frames were lost or moved on the way", false);
      }
      seq += 1;
      if (payload.line === null) continue;
      const line = JSON.parse(payload.line);
      if (line.event) {
        onEvent(line);
        continue;
      }
      if (line.error) throw new Refused(line.error.code, line.error.message, true);
      return line.result;
    }
  }
  throw new Refused("bad-answer", "the stream ended without the endpoint's answer", false);
}

// ---- Pages -----------------------------------------------------------------

function say(element, text, kind) {
  if (!element) return;
  element.textContent = text;
  element.dataset.kind = kind || "";
}

// Why a change (invoke, approve, deny, close, request) was not confirmed:
// the endpoint's signed refusal says it was not done; anything else (the
// console's word, a cut stream) leaves it unknown.
function notDone(what, error) {
  if (error instanceof Refused && error.checked) return "Not " + what + ": " + refusalText(error);
  return "Outcome unknown (the endpoint's answer did not reach this page): " + refusalText(error)
    + ". Look at the session before trying again.";
}

function refusalText(error) {
  if (error instanceof Refused) {
    return escaped(error.message) + " (" + error.code + (error.checked ? ", signed by the endpoint" : "") + ")";
  }
  return escaped(error.message || String(error));
}

function set(field, text) {
  const element = document.querySelector('[data-field="' + field + '"]');
  if (element) element.textContent = text;
  return element;
}

const when = (ms) => new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");

async function keyPage(identity) {
  const form = document.getElementById("key-form");
  const status = document.getElementById("key-status");
  const upload = document.getElementById("key-upload");
  upload.addEventListener("change", async () => {
    const file = upload.files[0];
    if (file) document.getElementById("key-file").value = await file.text();
  });
  if (identity) {
    say(status, "This browser holds the key of " + identity.principal + ", and checks answers with the fleet admin key " + identity.adminKey + ".");
    document.getElementById("admin-key").value = identity.adminKey;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = document.getElementById("key-file").value;
    const admin = document.getElementById("admin-key").value.trim();
    try {
      const principal = await importKeyFile(text, admin);
      document.getElementById("key-file").value = "";
      upload.value = "";
      say(status, "Your key is kept in this browser: you act as " + principal + ".", "ok");
      showWho(await loadIdentity());
    } catch (error) {
      say(status, "The key was not kept: " + refusalText(error), "error");
    }
  });
  document.getElementById("key-forget").addEventListener("click", async () => {
    await forgetIdentity();
    say(status, "The key is gone from this browser.", "ok");
    showWho(null);
  });
}

// Puts the part of a page the console renders at `path` (from the signed
// requests in `body`) into `place`, or the console's error.
async function showFragment(path, body, place) {
  try {
    const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body });
    const answer = await response.json();
    if (answer.html !== undefined) {
      // Rendered by the console with every value escaped.
      place.innerHTML = answer.html;
      delete place.dataset.kind;
    } else {
      place.textContent = escaped(answer.error.message) + " (" + answer.error.code + ")";
      place.dataset.kind = "error";
    }
  } catch (error) {
    place.textContent = refusalText(error);
    place.dataset.kind = "error";
  }
}

// Fills each endpoint's section from a fragment the console renders from
// the endpoint's signed answers to what `body` signs for it.
async function fillSections(identity, fragment, body) {
  const status = document.getElementById("queue-status");
  for (const section of document.querySelectorAll("section[data-endpoint]")) {
    const endpoint = section.dataset.endpoint;
    const place = section.querySelector(".queue");
    try {
      await endpointKeys(identity);
      await showFragment("/fragments/" + fragment + "/" + encodeURIComponent(endpoint), await body(endpoint), place);
    } catch (error) {
      place.textContent = refusalText(error);
      place.dataset.kind = "error";
    }
  }
  say(status, "As of " + when(Date.now()) + ".");
}

const approvalsPage = (identity) => fillSections(identity, "queue", async (endpoint) => JSON.stringify({
  sessions: JSON.parse(await signed(identity, endpoint, { op: "list-sessions", open_only: true })),
  escalations: JSON.parse(await signed(identity, endpoint, { op: "list-escalations" })),
}));

const sessionsPage = (identity) => fillSections(identity, "sessions",
  (endpoint) => signed(identity, endpoint, { op: "list-sessions", open_only: false }));

// Whether an installed action declares any capability the endpoint classes
// as privileged.
const privileged = (entry) => entry.capabilities.some((c) => c.class === "privileged");

async function newSessionPage(identity) {
  const form = document.getElementById("request-form");
  const select = document.getElementById("endpoint");
  const scope = document.getElementById("scope");
  const result = document.getElementById("result");
  document.getElementById("technician").value = identity.principal;
  const showCatalog = async () => {
    const legend = scope.querySelector("legend");
    scope.replaceChildren(legend);
    try {
      const catalog = await ask(identity, select.value, { op: "list-catalog" });
      for (const entry of catalog) {
        const label = document.createElement("label");
        label.className = "inline";
        const box = document.createElement("input");
        box.type = "checkbox";
        box.name = "action";
        box.value = entry.id;
        label.append(box, " " + entry.id + " " + entry.version + (privileged(entry) ? " (privileged)" : "") + ": " + escaped(entry.description));
        scope.appendChild(label);
      }
      if (!catalog.length) scope.append("This endpoint has no action installed.");
    } catch (error) {
      const note = document.createElement("p");
      note.dataset.kind = "error";
      note.textContent = "The actions cannot be shown: " + refusalText(error);
      scope.appendChild(note);
    }
  };
  const category = document.getElementById("category");
  const showCategories = async () => {
    category.replaceChildren();
    try {
      for (const c of await ask(identity, select.value, { op: "list-categories" })) {
        const option = document.createElement("option");
        option.value = c.name;
        option.textContent = c.name + ": " + escaped(c.description);
        category.appendChild(option);
      }
    } catch (error) {
      say(document.getElementById("category-help"), "The categories cannot be shown: " + refusalText(error), "error");
    }
  };
  select.addEventListener("change", () => Promise.all([showCatalog(), showCategories()]));
  await Promise.all([showCatalog(), showCategories()]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const allowed = Array.from(scope.querySelectorAll("input[name=action]:checked"), (b) => b.value);
    if (!allowed.length) {
      say(result, "Choose at least one action the session may run.", "error");
      return;
    }
    const endpoint = select.value;
    const request = {
      ticket: document.getElementById("ticket").value.trim(),
      problem: document.getElementById("problem").value.trim(),
      category: category.value,
      endpoint,
      technician: document.getElementById("technician").value.trim(),
      scope: { allowed, prohibited: [], privileged: document.getElementById("privileged").checked },
      attended: document.getElementById("attended").checked,
      idle_minutes: Number(document.getElementById("idle").value),
      duration_minutes: Number(document.getElementById("duration").value),
    };
    try {
      const session = await ask(identity, endpoint, { op: "request-session", request });
      result.replaceChildren("Requested: session " + session.id + " waits for an approver. ");
      const link = document.createElement("a");
      link.href = "/sessions/" + encodeURIComponent(endpoint) + "/" + encodeURIComponent(session.id);
      link.textContent = "Open it";
      result.append(link);
      result.dataset.kind = "ok";
    } catch (error) {
      say(result, notDone("requested", error), "error");
    }
  });
}

function outcomeText(outcome) {
  if (outcome.status === "succeeded") return "succeeded";
  if (outcome.status === "failed") return "failed: " + escaped(outcome.message) + " (" + escaped(outcome.code) + ")";
  return "stopped by the sandbox: " + escaped(outcome.message) + " (" + outcome.reason + ")";
}

function showRun(invocation) {
  document.getElementById("run").hidden = false;
  set("run-outcome", outcomeText(invocation.outcome) + ", in " + (invocation.duration_us / 1000).toFixed(1) + " ms");
  set("run-output", invocation.outcome.status === "succeeded"
    ? escaped(JSON.stringify(invocation.outcome.output, null, 2), true) : "—");
  set("run-logs", invocation.logs.length
    ? invocation.logs.map((l) => "+" + l.at_ms + " ms " + l.level + ": " + escaped(l.message)).join("\n") : "—");
  set("run-stdout", invocation.stdout ? escaped(invocation.stdout, true) : "—");
  set("run-denied", invocation.denied_calls.length
    ? invocation.denied_calls.map((d) => d.capability + "." + d.function + " " + escaped(d.target) + ": " + escaped(d.reason)).join("\n") : "none");
}

async function workspacePage(identity) {
  const detail = document.getElementById("detail");
  const { endpoint, session } = detail.dataset;
  const verified = document.getElementById("verified");
  const show = async () => {
    const shown = await ask(identity, endpoint, { op: "show-session", session });
    set("id", shown.id);
    set("ticket", escaped(shown.request.ticket));
    set("problem", escaped(shown.request.problem));
    set("technician", shown.request.technician);
    set("state", shown.state + (shown.state === "approved" && shown.request.attended ? ": waits for the end user's consent at the endpoint" : ""));
    set("approved", shown.approved ? shown.approved[0] + ", " + when(shown.approved[1]) : "not yet");
    set("expires", when(shown.expires_ms));
    return shown;
  };
  const listInvocations = async () => {
    const list = document.getElementById("invocations");
    const records = await ask(identity, endpoint, { op: "list-invocations", session });
    list.replaceChildren();
    for (const record of records) {
      const item = document.createElement("li");
      item.textContent = when(record.started_ms) + " " + record.action + " by " + record.principal + ": " + record.status
        + (record.invocation ? ", " + outcomeText(record.invocation.outcome) : "");
      list.appendChild(item);
    }
    if (!records.length) list.append("Nothing yet.");
  };
  let shown;
  try {
    shown = await show();
  } catch (error) {
    say(verified, "Not shown: " + refusalText(error), "error");
    hideDetail(detail);
    return;
  }
  say(verified, "Signed by " + endpoint + " with its key in the inventory your fleet admin signed.", "ok");
  await listInvocations().catch((error) => say(document.getElementById("invocations"), refusalText(error), "error"));
  const action = document.getElementById("action");
  const inputField = document.getElementById("input");
  const entries = new Map();
  // The chosen action's input, as its manifest describes it: the
  // description as help, the example as a start (unless one was written).
  let shownExample = inputField.value;
  const describe = () => {
    const entry = entries.get(action.value);
    const input = entry && entry.input;
    document.getElementById("input-help").textContent = input ? escaped(input.description) : "";
    if (inputField.value === shownExample) {
      let example = "{}";
      if (input && input.example) {
        try { example = JSON.stringify(JSON.parse(input.example), null, 2); } catch (e) { example = input.example; }
      }
      inputField.value = example;
      shownExample = example;
    }
  };
  try {
    const catalog = await ask(identity, endpoint, { op: "list-catalog" });
    const allowed = new Set(shown.request.scope.allowed.map((rule) => String(rule).split("@")[0]));
    for (const entry of catalog.filter((e) => allowed.has(e.id))) {
      entries.set(entry.id, entry);
      const option = document.createElement("option");
      option.value = entry.id;
      option.textContent = entry.id + " " + entry.version + (privileged(entry) ? " (privileged: needs a second approval)" : "");
      action.appendChild(option);
    }
    action.addEventListener("change", describe);
    describe();
  } catch (error) {
    say(document.getElementById("invoke-result"), "The actions cannot be shown: " + refusalText(error), "error");
  }
  const open = shown.state !== "closed";
  document.getElementById("invoke").disabled = !open || !action.options.length;
  document.getElementById("close").disabled = !open;
  document.getElementById("invoke-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = document.getElementById("invoke-result");
    const input = document.getElementById("input").value.trim();
    try {
      JSON.parse(input);
    } catch (error) {
      say(result, "The input is not JSON: " + error.message + ". Nothing was signed or sent.", "error");
      return;
    }
    const button = document.getElementById("invoke");
    button.disabled = true;
    say(result, "Running " + action.value + "…");
    const live = document.getElementById("live");
    live.textContent = "";
    live.hidden = false;
    const write = (text) => { live.textContent += text + "\n"; };
    try {
      const answer = await streamed(identity, endpoint, { op: "invoke", session, action: action.value }, (event) => {
        if (event.event === "started") write("started: invocation " + event.invocation.id);
        else if (event.event === "log") write("+" + event.at_ms + " ms " + event.level + ": " + escaped(event.message));
        else if (event.event === "stdout" || event.event === "stderr") write(escaped(event.text, true));
        else if (event.event === "lagged") write("(the page fell behind the output: " + escaped(event.message || "the rest is in the invocation") + ")");
      }, input);
      if (answer.decision === "ran") {
        say(result, "It ran: invocation " + answer.id + ".", "ok");
        showRun(answer.invocation);
      } else if (answer.decision === "escalated") {
        result.replaceChildren("It is privileged: it waits for a second approver (escalation " + answer.escalation.id + "). Send them ");
        const link = document.createElement("a");
        link.href = "/approvals/escalation/" + encodeURIComponent(endpoint) + "/" + encodeURIComponent(answer.escalation.id);
        link.textContent = "its approval page";
        result.append(link, ", then run it again with the same input.");
        result.dataset.kind = "";
      } else {
        say(result, "Denied: " + escaped(answer.denial.message) + " (" + answer.denial.code + ")", "error");
      }
      await listInvocations();
    } catch (error) {
      say(result, notDone("run", error), "error");
    }
    button.disabled = false;
  });
  document.getElementById("close-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = document.getElementById("close-result");
    const report = {
      resolved: document.getElementById("resolved").checked,
      summary: document.getElementById("summary").value.trim() || null,
      follow_up: document.getElementById("follow-up").value.trim() || null,
    };
    try {
      const closed = await ask(identity, endpoint, { op: "close-session", session, report });
      set("state", closed.state);
      say(result, "Closed, with your write-up in the audit log.", "ok");
      document.getElementById("close").disabled = true;
      document.getElementById("invoke").disabled = true;
    } catch (error) {
      say(result, notDone("closed", error), "error");
    }
  });
}

// The JSON text serde writes for the session request (fields in order, no
// spaces), whose sha256 an approval carries.
const requestDigest = (request) => sha256Hex(utf8.encode(JSON.stringify(request)));

async function sessionPage(identity) {
  const detail = document.getElementById("detail");
  const { endpoint, session } = detail.dataset;
  const verified = document.getElementById("verified");
  const result = document.getElementById("result");
  let shown;
  try {
    shown = await ask(identity, endpoint, { op: "show-session", session });
  } catch (error) {
    say(verified, "Not shown: " + refusalText(error), "error");
    hideDetail(detail);
    return;
  }
  const request = shown.request;
  const digest = await requestDigest(request);
  set("id", shown.id);
  set("endpoint", request.endpoint);
  set("ticket", escaped(request.ticket));
  set("category", escaped(request.category));
  set("problem", escaped(request.problem));
  set("requester", shown.requester);
  set("technician", request.technician);
  set("scope", request.scope.allowed.map((rule) => escaped(rule)).join(", ")
    + (request.scope.privileged ? "; privileged actions may be asked for, each with its own approval" : "; no privileged action")
    + (request.scope.prohibited.length ? "; never: " + request.scope.prohibited.join(", ") : ""));
  set("attended", request.attended ? "yes: the end user consents at the endpoint first" : "no");
  set("limits", "after " + request.idle_minutes + " min idle, or " + request.duration_minutes + " min after the request");
  set("state", shown.state);
  set("request-digest", digest);
  say(verified, "Signed by " + endpoint + " with its key in the inventory your fleet admin signed; this is what you approve.", "ok");
  const approve = document.getElementById("approve");
  approve.disabled = shown.state !== "requested";
  approve.addEventListener("click", async () => {
    approve.disabled = true;
    try {
      const answer = await ask(identity, endpoint, { op: "approve-session", session, request_digest: digest });
      set("state", answer.state);
      say(result, "Approved by " + identity.principal + ": the session is " + answer.state + ".", "ok");
    } catch (error) {
      say(result, notDone("approved", error), "error");
    }
  });
}

// Nothing to read or act on when the answer did not check out.
function hideDetail(detail) {
  for (const part of detail.querySelectorAll("dl, .actions")) part.hidden = true;
}

// JSON text laid out two spaces an indent, token by token as written:
// nothing is parsed into numbers, so every digit shown is the input's.
function indentJson(text) {
  let out = "";
  let depth = 0;
  let inString = false;
  const newline = () => "\n" + "  ".repeat(depth);
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === "\\") { out += text[++i] || ""; } else if (c === '"') { inString = false; }
      continue;
    }
    if (c === '"') { inString = true; out += c; }
    else if (c === "{" || c === "[") { depth++; out += c + newline(); }
    else if (c === "}" || c === "]") { depth--; out += newline() + c; }
    else if (c === ",") { out += c + newline(); }
    else if (c === ":") { out += ": "; }
    else if (!/\s/.test(c)) { out += c; }
  }
  return out.replace(/([{\[])\n\s*([}\]])/g, "$1$2");
}

function prettyInput(input) {
  if (input === null || input === undefined) return "(not kept: the escalation predates inputs being stored)";
  try { JSON.parse(input); } catch (e) { return escaped(input); }
  return escaped(indentJson(input), true);
}

async function escalationPage(identity) {
  const detail = document.getElementById("detail");
  const { endpoint, escalation } = detail.dataset;
  const verified = document.getElementById("verified");
  const result = document.getElementById("result");
  let shown;
  try {
    shown = await ask(identity, endpoint, { op: "show-escalation", escalation });
  } catch (error) {
    say(verified, "Not shown: " + refusalText(error), "error");
    hideDetail(detail);
    return;
  }
  const key = shown.key;
  // The input shown is the input approved: its sha256 must be the one the
  // escalation holds.
  const inputDigest = shown.input === null ? null : await sha256Hex(utf8.encode(shown.input));
  set("id", shown.id);
  set("action", key.action + " " + key.version);
  set("digest", key.digest);
  set("input", prettyInput(shown.input));
  set("input-digest", key.input_digest + (inputDigest === key.input_digest ? " (matches the input shown)" : " (DOES NOT match the input shown)"));
  set("invoker", shown.invoker);
  set("session", key.session);
  set("raised", when(shown.raised_ms));
  set("expires", when(shown.expires_ms));
  set("status", shown.status);
  try {
    const catalog = await ask(identity, endpoint, { op: "list-catalog" });
    const entry = catalog.find((e) => e.id === key.action && e.digest === key.digest);
    const place = set("capabilities", "");
    if (!entry) {
      place.textContent = "This component is no longer installed on the endpoint.";
    } else {
      const list = document.createElement("ul");
      for (const c of entry.capabilities) {
        const item = document.createElement("li");
        item.textContent = c.name + " (" + c.class + ")" + (c.parameters.length ? ": " + c.parameters.map((p) => escaped(p)).join(", ") : "");
        list.appendChild(item);
      }
      place.appendChild(list);
    }
  } catch (error) {
    set("capabilities", "Not shown: " + refusalText(error));
  }
  try {
    const earlier = await ask(identity, endpoint, { op: "list-invocations", session: key.session });
    set("earlier", earlier.length ? earlier.map((i) => i.action + " by " + i.principal + ": " + i.status).join("; ") : "nothing yet");
  } catch (error) {
    set("earlier", "Not shown: " + refusalText(error));
  }
  if (inputDigest !== key.input_digest) {
    say(verified, "The input shown does not hash to the digest the escalation holds: do not approve.", "error");
    detail.querySelector(".actions").hidden = true;
    return;
  }
  say(verified, "Signed by " + endpoint + " with its key in the inventory your fleet admin signed; approving approves this component and this input only.", "ok");
  const approve = document.getElementById("approve");
  const deny = document.getElementById("deny");
  approve.disabled = deny.disabled = shown.status !== "pending";
  approve.addEventListener("click", async () => {
    approve.disabled = deny.disabled = true;
    try {
      const answer = await ask(identity, endpoint, { op: "approve-escalation", escalation, action_digest: key.digest, input_digest: inputDigest });
      set("status", answer.status);
      say(result, "Approved by " + identity.principal + ": the technician may now run it once.", "ok");
    } catch (error) {
      say(result, notDone("approved", error), "error");
    }
  });
  deny.addEventListener("click", async () => {
    const reason = document.getElementById("deny-reason").value.trim();
    if (!reason) {
      say(result, "Say why you deny it: the technician and the audit log are told.", "error");
      document.getElementById("deny-reason").focus();
      return;
    }
    approve.disabled = deny.disabled = true;
    try {
      const answer = await ask(identity, endpoint, { op: "deny-escalation", escalation, reason });
      set("status", answer.status);
      say(result, "Denied by " + identity.principal + ".", "ok");
    } catch (error) {
      say(result, notDone("denied", error), "error");
    }
  });
}

// Records per page of export-audit (the endpoint's most), and the most
// pages the console reads for one view.
const EXPORT_PAGE = 5000;
const MAX_PAGES = 40;

// The endpoint's own verification of its audit log, in words.
function verificationText(verification) {
  if (verification.ok) {
    const v = verification.verified;
    return "verified by the endpoint: " + v.records + " records up to #" + v.last_seq + " in " + v.segments + " segment(s), "
      + v.checkpoints + " signed checkpoint(s)" + (v.checkpoint_key ? " by " + v.checkpoint_key : "")
      + (v.unvouched ? "; the last " + v.unvouched + " record(s) come after the last checkpoint (chained, not yet signed)" : "; every record covered by a signed checkpoint");
  }
  if (verification.file) {
    return "DOES NOT VERIFY: " + escaped(verification.file) + ":" + verification.line + (verification.seq ? " (record " + verification.seq + ")" : "") + ": " + escaped(verification.error);
  }
  return "could not be verified: " + escaped(verification.error);
}

// The export-audit pages that read the log up to (a little past) its last
// record, each signed.
async function exportPages(identity, endpoint, lastSeq) {
  const pages = [];
  for (let after = 0; after <= lastSeq && pages.length < MAX_PAGES; after += EXPORT_PAGE) {
    pages.push(JSON.parse(await signed(identity, endpoint, { op: "export-audit", after, limit: EXPORT_PAGE })));
  }
  return JSON.stringify({ exports: pages });
}

async function auditPage(identity) {
  const status = document.getElementById("queue-status");
  for (const section of document.querySelectorAll("section[data-endpoint]")) {
    const endpoint = section.dataset.endpoint;
    const verified = section.querySelector('[data-field="verified"]');
    const place = section.querySelector(".queue");
    let verification;
    try {
      verification = await ask(identity, endpoint, { op: "verify-audit" });
      verified.textContent = verificationText(verification);
      verified.dataset.kind = verification.ok ? "ok" : "error";
    } catch (error) {
      verified.textContent = refusalText(error);
      verified.dataset.kind = "error";
      continue;
    }
    const lastSeq = verification.ok ? verification.verified.last_seq : 0;
    await showFragment("/fragments/metrics/" + encodeURIComponent(endpoint), await exportPages(identity, endpoint, lastSeq), place);
  }
  say(status, "As of " + when(Date.now()) + ".");
}

async function reportPage(identity) {
  const detail = document.getElementById("detail");
  const { endpoint, session } = detail.dataset;
  const verified = document.getElementById("verified");
  let verification;
  try {
    verification = await ask(identity, endpoint, { op: "verify-audit" });
  } catch (error) {
    say(verified, "Not shown: " + refusalText(error), "error");
    return;
  }
  say(verified, "The audit log of " + endpoint + ": " + verificationText(verification), verification.ok ? "ok" : "error");
  const lastSeq = verification.ok ? verification.verified.last_seq : 0;
  await showFragment("/fragments/report/" + encodeURIComponent(endpoint) + "/" + encodeURIComponent(session),
    await exportPages(identity, endpoint, lastSeq), detail.querySelector(".queue"));
}

function showWho(identity) {
  const who = document.getElementById("who");
  if (!who) return;
  who.textContent = identity ? "Signed in this browser as " + identity.principal : "No key loaded";
}

async function start() {
  let identity = null;
  try { identity = await loadIdentity(); } catch (e) { identity = null; }
  showWho(identity);
  const page = document.body.dataset.page;
  if (page === "key") return keyPage(identity);
  if (!identity && page !== "missing") {
    const main = document.getElementById("main");
    const note = document.createElement("p");
    note.className = "error";
    note.setAttribute("role", "alert");
    note.append("Load your key first: every request here is signed with it, in this browser. ");
    const link = document.createElement("a");
    link.href = "/key";
    link.textContent = "Load your key";
    note.append(link);
    main.prepend(note);
    return;
  }
  if (page === "approvals") return approvalsPage(identity);
  if (page === "sessions") return sessionsPage(identity);
  if (page === "audit") return auditPage(identity);
  if (page === "report") return reportPage(identity);
  if (page === "new-session") return newSessionPage(identity);
  if (page === "workspace") return workspacePage(identity);
  if (page === "session") return sessionPage(identity);
  if (page === "escalation") return escalationPage(identity);
}

document.addEventListener("DOMContentLoaded", () => {
  start().catch((error) => {
    const main = document.getElementById("main");
    const note = document.createElement("p");
    note.className = "error";
    note.textContent = "The page failed: " + refusalText(error);
    main.prepend(note);
  });
});
