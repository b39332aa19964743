// The playground page: a Discord channel drawn from the emulator's state, driven through its API.
// Plain browser JavaScript on purpose: no build step, no dependency, readable in the package.
"use strict";

const OPTION = { SUB: 1, GROUP: 2, STRING: 3, INTEGER: 4, BOOLEAN: 5, USER: 6, CHANNEL: 7, ROLE: 8,
  MENTIONABLE: 9, NUMBER: 10, ATTACHMENT: 11 };
const FLAG = { EPHEMERAL: 1 << 6, LOADING: 1 << 7 };
const BUTTON_STYLES = { 1: "primary", 2: "secondary", 3: "success", 4: "danger", 5: "link" };
// Discord's default avatar colours, picked from the user id as Discord does.
const AVATAR_COLORS = ["#5865f2", "#757e8a", "#3ba55c", "#faa61a", "#ed4245", "#eb459e"];

const state = {
  world: null,
  commands: [],
  backend: null,
  viewer: null,
  channelId: null,
  messages: new Map(), // id -> Discord message payload, for the open channel
  agreedNsfw: new Set(), // channels whose age gate the user passed
  unread: new Set(), // channels with news since they were last open
  follow: true, // keep the newest message in view: the user has not scrolled up
  entry: null, // the slash command being composed (see commandEntries)
  events: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "html") node.innerHTML = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// --- talking to the playground server ------------------------------------------------------------

function toast(text, kind = "error") {
  const node = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  node.addEventListener("click", () => node.remove());
  $("toasts").append(node);
  setTimeout(() => node.remove(), kind === "error" ? 8000 : 5000);
}

// POST to the API; a refusal (what the Discord client would not send) is shown and thrown.
async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const text = await response.text();
  let data = {};
  try { data = JSON.parse(text); } catch { data = { error: text || response.statusText }; }
  if (!response.ok) {
    toast(data.error || `${response.status} ${response.statusText}`);
    throw new Error(data.error);
  }
  if (data.error) toast(data.error);
  return data;
}

async function getJson(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// --- world: users, channels ------------------------------------------------------------------------

const user = (id) => state.world.users.find((u) => u.id === String(id));
const channel = (id) => state.world.channels.find((c) => c.id === String(id));
const displayName = (u) => (u ? u.global_name || u.username : "unknown");

function avatar(u, extra = "") {
  const index = u ? Number((BigInt(u.id) >> 22n) % BigInt(AVATAR_COLORS.length)) : 0;
  const letter = (u ? u.username : "?").slice(0, 1).toUpperCase();
  return el("div", { class: `avatar ${extra}`, style: `background:${AVATAR_COLORS[index]}`, "aria-hidden": "true" }, letter);
}

function renderUsers() {
  const select = $("user-select");
  select.replaceChildren(...state.world.users.filter((u) => !u.bot).map((u) =>
    el("option", { value: u.id, selected: u.id === state.viewer }, `${u.username} (${u.admin ? "admin" : "member"})`)));
  $("me-avatar").replaceWith(Object.assign(avatar(user(state.viewer)), { id: "me-avatar" }));
  const locales = (selected) => state.world.locales.map((l) => el("option", { value: l, selected: l === selected }, l));
  $("locale-select").replaceChildren(...locales(user(state.viewer).locale));
  $("guild-locale-select").replaceChildren(...locales(state.world.guild.locale));
}

// A command's text as the acting user's client shows it: its translation for their language, if any.
const shown = (item, key) => item[`${key}_localizations`]?.[user(state.viewer).locale] || item[key];

async function setLocale(change) {
  try {
    state.world = (await post("/api/locale", change)).world;
    renderUsers();
  } catch { /* shown */ }
}

function renderChannels() {
  $("channels").replaceChildren(...state.world.channels.map((c) => el("li", {
    class: `channel${c.id === state.channelId ? " active" : ""}${state.unread.has(c.id) ? " unread" : ""}`, "data-channel": c.name, role: "button",
    tabindex: "0", title: c.nsfw ? "Age-restricted channel" : c.topic, onclick: () => selectChannel(c.id),
  }, el("span", { class: "hash" }, "#"), c.name, c.nsfw ? el("span", { class: "nsfw-badge" }, "18+") : null)));
}

function selectChannel(id) {
  state.channelId = id;
  state.unread.delete(id);
  const c = channel(id);
  $("channel-name").textContent = c.name;
  $("channel-topic").textContent = c.topic || "";
  $("composer-input").placeholder = `Message #${c.name} — type / for commands`;
  $("gate-channel").textContent = `#${c.name}`;
  $("age-gate").hidden = !c.nsfw || state.agreedNsfw.has(id);
  renderChannels();
  loadMessages();
}

// --- messages ----------------------------------------------------------------------------------------

async function loadMessages() {
  const list = await getJson(`/api/channels/${state.channelId}/messages?viewer=${state.viewer}`);
  state.messages = new Map(list.map((m) => [m.id, m]));
  const box = $("messages");
  box.replaceChildren(...list.map(renderMessage));
  if (!list.length) box.append(el("div", { class: "empty" }, "No messages yet. Type / to run a command."));
  state.follow = true;
  followNewest();
}

function followNewest() {
  if (state.follow) $("messages").scrollTop = $("messages").scrollHeight;
}

function upsertMessage(m) {
  if (m.channel_id !== state.channelId) {
    state.unread.add(m.channel_id);
    renderChannels();
    return;
  }
  const box = $("messages");
  state.messages.set(m.id, m);
  box.querySelector(".empty")?.remove();
  const node = renderMessage(m);
  const old = box.querySelector(`[data-id="${m.id}"]`);
  if (old) old.replaceWith(node);
  else {
    // Snowflake order is creation order.
    const next = [...box.children].find((c) => BigInt(c.dataset.id) > BigInt(m.id));
    box.insertBefore(node, next || null);
  }
  followNewest();
}

function removeMessage(id) {
  state.messages.delete(id);
  document.querySelector(`#messages [data-id="${id}"]`)?.remove();
}

function formatTime(iso) {
  const when = new Date(iso);
  const hm = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return when.toDateString() === new Date().toDateString() ? `Today at ${hm}` : `${when.toLocaleDateString()} ${hm}`;
}

function renderMessage(m) {
  const author = user(m.author.id) || { ...m.author };
  const ephemeral = (m.flags & FLAG.EPHEMERAL) !== 0;
  const mentioned = new RegExp(`<@!?${state.viewer}>`).test(m.content || "");
  const meta = m.interaction_metadata;
  const reply = meta ? el("div", { class: "reply" }, avatar(user(meta.user.id), "small"),
    el("span", { class: "who" }, displayName(user(meta.user.id) || meta.user)),
    meta.name ? " used " : " used a button",
    meta.name ? el("span", { class: "cmd" }, `/${meta.name}`) : null) : null;
  const loading = (m.flags & FLAG.LOADING) !== 0 && !m.content && !m.embeds.length && !m.attachments.length;
  const body = el("div", { class: "msg-body" },
    el("div", { class: "head" },
      el("span", { class: "author" }, displayName(author)),
      author.bot ? el("span", { class: "bot-tag" }, "APP") : null,
      el("time", { datetime: m.timestamp }, formatTime(m.timestamp)),
      // A deferred reply is filled in by an edit; Discord does not call that edited.
      m.edited_timestamp && !meta ? el("span", { class: "edited" }, "(edited)") : null),
    loading ? el("div", { class: "thinking" }, `${displayName(author)} is thinking`, el("span", { class: "dots" }))
      : m.content ? el("div", { class: "content", html: markdown(m.content) }) : null,
    renderAttachments(m.attachments),
    m.embeds.length ? el("div", { class: "embeds" }, ...m.embeds.map(renderEmbed)) : null,
    m.components.length ? el("div", { class: "components" }, ...m.components.map((row) => renderRow(m, row))) : null,
    ephemeral ? el("div", { class: "ephemeral-note" }, "👁 Only you can see this · ",
      el("button", { type: "button", onclick: () => removeMessage(m.id) }, "Dismiss message")) : null);
  const classes = ["message", ephemeral && "ephemeral", mentioned && "mentioned"].filter(Boolean).join(" ");
  return el("article", { class: classes, "data-id": m.id }, reply, avatar(author), body);
}

function renderAttachments(attachments) {
  if (!attachments.length) return null;
  return el("div", { class: "attachments" }, ...attachments.map((a) => (a.content_type || "").startsWith("image/")
    ? el("a", { href: a.url, target: "_blank" }, el("img", { src: a.url, alt: a.description || a.filename, onload: followNewest }))
    : el("a", { class: "file", href: a.url, target: "_blank" }, `📄 ${a.filename} (${Math.ceil(a.size / 1024)} KB)`)));
}

function renderEmbed(e) {
  const color = e.color !== undefined && e.color !== null ? `#${e.color.toString(16).padStart(6, "0")}` : null;
  const title = e.title ? (e.url ? el("a", { href: e.url, target: "_blank" }, e.title) : e.title) : null;
  return el("div", { class: "embed", style: color ? `border-left-color:${color}` : null },
    e.author ? el("div", { class: "embed-author" }, e.author.name) : null,
    title ? el("div", { class: "embed-title" }, title) : null,
    e.description ? el("div", { class: "embed-description", html: markdown(e.description) }) : null,
    e.fields && e.fields.length ? el("div", { class: "embed-fields" }, ...e.fields.map((f) =>
      el("div", { class: `embed-field${f.inline ? "" : " wide"}` },
        el("div", { class: "embed-field-name" }, f.name), el("div", { html: markdown(f.value) })))) : null,
    e.image ? el("img", { class: "embed-image", src: e.image.url, alt: "" }) : null,
    e.thumbnail ? el("img", { class: "embed-thumbnail", src: e.thumbnail.url, alt: "" }) : null,
    e.footer ? el("div", { class: "embed-footer" }, e.footer.text) : null);
}

function emojiText(emoji) {
  if (!emoji) return "";
  return emoji.id ? `:${emoji.name}:` : emoji.name;
}

function renderRow(m, row) {
  if (row.type !== 1) return el("div", { class: "hint" }, `(component type ${row.type} is not drawn here)`);
  return el("div", { class: "component-row" }, ...row.components.map((c) => {
    if (c.type === 2) return renderButton(m, c);
    if (c.type === 3) return renderSelect(m, c);
    return el("span", { class: "hint" }, `(component type ${c.type})`);
  }));
}

function renderButton(m, c) {
  const style = BUTTON_STYLES[c.style] || "secondary";
  const text = [emojiText(c.emoji), c.label].filter(Boolean).join(" ");
  if (style === "link") return el("a", { class: "btn btn-link", href: c.url, target: "_blank", rel: "noopener" }, text);
  const button = el("button", { type: "button", class: `btn btn-${style}`, disabled: !!c.disabled, "data-custom-id": c.custom_id }, text);
  button.addEventListener("click", async () => {
    button.classList.add("pending");
    try {
      await post("/api/click", { user_id: state.viewer, message_id: m.id, custom_id: c.custom_id });
    } catch { /* already shown as a toast */ } finally { button.classList.remove("pending"); }
  });
  return button;
}

function renderSelect(m, c) {
  const select = el("select", { class: "component-select", multiple: (c.max_values || 1) > 1, disabled: !!c.disabled },
    el("option", { value: "", disabled: true, selected: true }, c.placeholder || "Make a selection"),
    ...c.options.map((o) => el("option", { value: o.value }, [emojiText(o.emoji), o.label].filter(Boolean).join(" "))));
  select.addEventListener("change", () => {
    const values = [...select.selectedOptions].map((o) => o.value).filter(Boolean);
    post("/api/select", { user_id: state.viewer, message_id: m.id, custom_id: c.custom_id, values }).catch(() => {});
  });
  return select;
}

// Discord's basic markdown. Escaped first, so message text can never become markup.
function markdown(text) {
  const kept = [];
  const keep = (html) => `\u0000${kept.push(html) - 1}\u0000`;
  let s = text.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
  s = s.replace(/`([^`\n]+)`/g, (_, code) => keep(`<code>${code}</code>`));
  s = s.replace(/\\([\\*_~`|#\-[\]()])/g, (_, ch) => keep(ch));
  s = s.replace(/https?:\/\/[^\s<]+/g, (url) => keep(`<a href="${url}" target="_blank" rel="noopener">${url}</a>`));
  s = s.replace(/&lt;@!?(\d+)&gt;/g, (_, id) => keep(`<span class="mention">@${escapeText(displayName(user(id)))}</span>`));
  s = s.replace(/&lt;@&amp;(\d+)&gt;/g, (_, id) => keep(`<span class="mention">@${escapeText(state.world.roles.find((r) => r.id === id)?.name || "role")}</span>`));
  s = s.replace(/&lt;#(\d+)&gt;/g, (_, id) => keep(`<span class="mention">#${escapeText(channel(id)?.name || "channel")}</span>`));
  s = s.replace(/&lt;a?:(\w+):\d+&gt;/g, ":$1:");
  s = s.replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>");
  s = s.replace(/__(.+?)__/g, "<u>$1</u>");
  s = s.replace(/\*(.+?)\*/g, "<em>$1</em>");
  s = s.replace(/(^|\W)_(.+?)_(?=\W|$)/g, "$1<em>$2</em>");
  s = s.replace(/~~(.+?)~~/g, "<s>$1</s>");
  s = s.replace(/(^|\n)&gt; (.*)/g, "$1<blockquote>$2</blockquote>");
  s = s.replace(/\n/g, "<br>").replace(/<\/blockquote><br>/g, "</blockquote>");
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => kept[Number(i)]);
}

function escapeText(text) {
  const node = document.createElement("span");
  node.textContent = text;
  return node.innerHTML;
}

// --- live updates --------------------------------------------------------------------------------------

function connectEvents() {
  if (state.events) state.events.close();
  const source = new EventSource(`/events?viewer=${state.viewer}`);
  state.events = source;
  const status = $("status");
  // Load the channel once subscribed, so no change falls between the load and the stream.
  source.addEventListener("ready", () => {
    status.textContent = "live";
    status.className = "status live";
    loadMessages();
  });
  source.addEventListener("upsert", (e) => upsertMessage(JSON.parse(e.data)));
  source.addEventListener("deleted", (e) => removeMessage(JSON.parse(e.data).id));
  source.addEventListener("modal", (e) => openModal(JSON.parse(e.data)));
  source.addEventListener("violation", (e) => {
    const v = JSON.parse(e.data);
    toast(`The emulator refused a bot request: ${v.method} ${v.path} → ${v.status} ${v.message}`);
  });
  source.addEventListener("commands", (e) => { state.commands = JSON.parse(e.data).commands; });
  source.onerror = () => { status.textContent = "reconnecting…"; status.className = "status"; };
}

// --- slash commands ---------------------------------------------------------------------------------------

// One entry per runnable command path, as Discord lists them: "/config show", "/imagine".
function commandEntries() {
  const entries = [];
  const walk = (command, path, node) => {
    const options = node.options || [];
    const subs = options.filter((o) => o.type === OPTION.SUB || o.type === OPTION.GROUP);
    if (!subs.length) {
      entries.push({ command, subcommand: path.join(" ") || null, name: [command.name, ...path].join(" "),
        description: shown(node, "description"), options });
    }
    for (const sub of subs) walk(command, [...path, sub.name], sub);
  };
  for (const command of state.commands) walk(command, [], command);
  return entries;
}

// The option typed straight into the message box, as in Discord: the first plain required string.
const primaryOption = (entry) => entry.options.find((o) => o.type === OPTION.STRING && o.required && !o.choices && !o.autocomplete);

function showCommandList(prefix) {
  const list = $("command-list");
  const matches = commandEntries().filter((e) => e.name.startsWith(prefix));
  if (!matches.length) { list.hidden = true; return; }
  const bot = user(state.world.bot_id);
  list.replaceChildren(el("div", { class: "command-list-title" }, `Commands matching /${prefix}`),
    ...matches.map((entry, i) => el("div", {
      class: `command-item${i === 0 ? " selected" : ""}`, role: "option", "data-command": entry.name,
      onmousedown: (ev) => { ev.preventDefault(); chooseCommand(entry, ""); },
    }, avatar(bot), el("div", {},
      el("div", {}, el("span", { class: "command-name" }, `/${entry.name}`),
        el("span", { class: "command-options" }, entry.options.map((o) => shown(o, "name")).join(" "))),
      el("div", { class: "command-description" }, entry.description)))));
  list.hidden = false;
}

function chooseCommand(entry, rest) {
  state.entry = entry;
  $("command-list").hidden = true;
  const pill = $("command-pill");
  pill.textContent = `/${entry.name}`;
  pill.hidden = false;
  const input = $("composer-input");
  const primary = primaryOption(entry);
  input.value = primary ? rest : "";
  input.placeholder = primary ? `${shown(primary, "name")}: ${shown(primary, "description")}` : "Press Enter to send";
  renderCommandForm(entry);
  input.focus();
}

function clearCommand() {
  state.entry = null;
  $("command-pill").hidden = true;
  $("command-form").hidden = true;
  $("command-list").hidden = true;
  $("composer-input").placeholder = `Message #${channel(state.channelId).name} — type / for commands`;
}

function renderCommandForm(entry) {
  const form = $("command-form");
  const primary = primaryOption(entry);
  const fields = entry.options.filter((o) => o !== primary).map((o) => optionField(entry, o));
  form.replaceChildren(el("div", { class: "form-title" }, el("b", {}, `/${entry.name}`), ` — ${entry.description}`), ...fields);
  form.hidden = fields.length === 0;
}

function optionField(entry, o) {
  let input;
  const id = `option-${o.name}`;
  if (o.choices && o.choices.length) {
    input = el("select", { id }, el("option", { value: "" }, o.required ? "Choose…" : "(none)"),
      ...o.choices.map((c) => el("option", { value: JSON.stringify(c.value) }, shown(c, "name"))));
  } else if (o.type === OPTION.BOOLEAN) {
    input = el("select", { id }, el("option", { value: "" }, "(none)"), el("option", { value: "true" }, "True"),
      el("option", { value: "false" }, "False"));
  } else if ([OPTION.USER, OPTION.CHANNEL, OPTION.ROLE, OPTION.MENTIONABLE].includes(o.type)) {
    const targets = [
      ...([OPTION.USER, OPTION.MENTIONABLE].includes(o.type) ? state.world.users.map((u) => [u.id, `@${u.username}`]) : []),
      ...([OPTION.ROLE, OPTION.MENTIONABLE].includes(o.type) ? state.world.roles.map((r) => [r.id, `@${r.name}`]) : []),
      ...(o.type === OPTION.CHANNEL ? state.world.channels.map((c) => [c.id, `#${c.name}`]) : []),
    ];
    input = el("select", { id }, el("option", { value: "" }, "(none)"), ...targets.map(([v, label]) => el("option", { value: v }, label)));
  } else if (o.type === OPTION.ATTACHMENT) {
    input = el("input", { id, type: "file" });
  } else {
    const numeric = o.type === OPTION.INTEGER || o.type === OPTION.NUMBER;
    input = el("input", { id, type: numeric && !o.autocomplete ? "number" : "text", step: o.type === OPTION.NUMBER ? "any" : null,
      min: o.min_value, max: o.max_value, minlength: o.min_length, maxlength: o.max_length });
  }
  input.dataset.option = o.name;
  const field = el("label", { class: "field" },
    el("span", { class: "field-name" }, shown(o, "name"), o.required ? el("span", { class: "required" }, " *") : null),
    input, el("span", { class: "field-description" }, shown(o, "description")));
  if (o.autocomplete) attachAutocomplete(entry, o, input, field);
  return field;
}

// The bot answers autocomplete: ask it (debounced) as the user types, offer its choices below the input.
function attachAutocomplete(entry, o, input, field) {
  let timer = null;
  const box = el("div", { class: "suggestions", hidden: true });
  field.append(box);
  input.addEventListener("input", () => {
    delete input.dataset.choice;
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const options = await collectOptions(entry, { partial: true });
      options[o.name] = input.value;
      try {
        const { choices } = await post("/api/autocomplete", { user_id: state.viewer, channel_id: state.channelId,
          name: entry.command.name, subcommand: entry.subcommand, focused: o.name, options });
        box.replaceChildren(...choices.map((c) => el("div", { onmousedown: (ev) => {
          ev.preventDefault();
          input.value = c.name;
          input.dataset.choice = JSON.stringify(c.value);
          box.hidden = true;
        } }, c.name)));
        box.hidden = choices.length === 0;
      } catch { box.hidden = true; }
    }, 250);
  });
  input.addEventListener("blur", () => { box.hidden = true; });
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// The option values to send; `partial` (autocomplete) skips uploads and values that do not parse yet.
async function collectOptions(entry, { partial = false } = {}) {
  const options = {};
  const primary = primaryOption(entry);
  if (primary && $("composer-input").value.trim()) options[primary.name] = $("composer-input").value.trim();
  for (const input of $("command-form").querySelectorAll("[data-option]")) {
    const o = entry.options.find((x) => x.name === input.dataset.option);
    if (o.type === OPTION.ATTACHMENT) {
      const file = input.files[0];
      if (file && !partial) options[o.name] = { filename: file.name, content_type: file.type, data: await readFile(file) };
      continue;
    }
    if (input.value === "") continue;
    let value;
    if (input.dataset.choice) value = JSON.parse(input.dataset.choice);
    else if (input.tagName === "SELECT" && o.choices) value = JSON.parse(input.value);
    else if (o.type === OPTION.BOOLEAN) value = input.value === "true";
    else if (o.type === OPTION.INTEGER) value = Number.parseInt(input.value, 10);
    else if (o.type === OPTION.NUMBER) value = Number.parseFloat(input.value);
    else value = input.value;
    if (typeof value === "number" && Number.isNaN(value)) {
      if (partial) continue;
      throw new Error(`${o.name} must be a number`);
    }
    options[o.name] = value;
  }
  return options;
}

async function sendCommand() {
  const entry = state.entry;
  let options;
  try {
    options = await collectOptions(entry);
  } catch (error) { toast(error.message); return; }
  const missing = entry.options.filter((o) => o.required && !(o.name in options)).map((o) => o.name);
  if (missing.length) { toast(`Fill in ${missing.join(", ")} first.`); return; }
  try {
    await post("/api/slash", { user_id: state.viewer, channel_id: state.channelId, name: entry.command.name,
      subcommand: entry.subcommand, options });
  } catch { return; /* refused: keep the command so it can be fixed */ }
  $("composer-input").value = "";
  clearCommand();
  state.follow = true;
  followNewest();
}

// --- composer ----------------------------------------------------------------------------------------------

function onComposerInput() {
  const input = $("composer-input");
  if (state.entry) return;
  const text = input.value;
  if (!text.startsWith("/")) { $("command-list").hidden = true; return; }
  const words = text.slice(1);
  // "/imagine a lighthouse": a known command name followed by a space picks the command.
  const exact = commandEntries().filter((e) => words.startsWith(`${e.name} `)).sort((a, b) => b.name.length - a.name.length)[0];
  if (exact) { chooseCommand(exact, words.slice(exact.name.length + 1)); return; }
  showCommandList(words);
}

function onComposerKey(event) {
  const input = $("composer-input");
  const list = $("command-list");
  if (!list.hidden && ["ArrowDown", "ArrowUp", "Tab", "Enter"].includes(event.key)) {
    const items = [...list.querySelectorAll(".command-item")];
    const at = items.findIndex((i) => i.classList.contains("selected"));
    if (event.key === "Tab" || event.key === "Enter") {
      event.preventDefault();
      const entry = commandEntries().find((e) => e.name === items[at].dataset.command);
      chooseCommand(entry, "");
      return;
    }
    event.preventDefault();
    const next = (at + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
    items[at].classList.remove("selected");
    items[next].classList.add("selected");
    return;
  }
  if (event.key === "Backspace" && state.entry && input.value === "") {
    event.preventDefault();
    const name = state.entry.name;
    clearCommand();
    input.value = `/${name}`;
    showCommandList(name);
  }
  if (event.key === "Escape") { clearCommand(); list.hidden = true; }
}

async function onComposerSubmit(event) {
  event.preventDefault();
  if (state.entry) { await sendCommand(); return; }
  const input = $("composer-input");
  const content = input.value.trim();
  if (!content) return;
  if (content.startsWith("/")) { toast(`No command ${content.split(" ")[0]}: pick one from the list.`); return; }
  try {
    await post("/api/say", { user_id: state.viewer, channel_id: state.channelId, content });
    input.value = "";
  } catch { /* shown */ }
}

// --- modals --------------------------------------------------------------------------------------------------

function modalInput(c) {
  if (c.type === 3) {
    return el("select", { "data-input": c.custom_id, multiple: (c.max_values || 1) > 1 },
      ...c.options.map((o) => el("option", { value: o.value, selected: !!o.default }, o.label)));
  }
  const attrs = { "data-input": c.custom_id, placeholder: c.placeholder, required: c.required !== false,
    minlength: c.min_length, maxlength: c.max_length };
  const input = c.style === 2 ? el("textarea", attrs) : el("input", { ...attrs, type: "text" });
  input.value = c.value || "";
  return input;
}

function modalField(label, description, c) {
  return el("label", { class: "modal-field" },
    el("span", { class: "modal-label" }, label, c.required !== false && c.type === 4 ? el("span", { class: "required" }, " *") : null),
    description ? el("span", { class: "modal-description" }, description) : null, modalInput(c));
}

function openModal({ interaction_id: interactionId, modal }) {
  const dialog = $("modal");
  const fields = [];
  for (const c of modal.components || []) {
    if (c.type === 1) fields.push(...c.components.map((inner) => modalField(inner.label, null, inner)));
    else if (c.type === 18) fields.push(modalField(c.label, c.description, c.component));
    else if (c.type === 10) fields.push(el("div", { html: markdown(c.content) }));
  }
  const submit = async (event) => {
    event.preventDefault();
    const values = {};
    for (const input of dialog.querySelectorAll("[data-input]")) {
      values[input.dataset.input] = input.tagName === "SELECT" ? [...input.selectedOptions].map((o) => o.value) : input.value;
    }
    try {
      await post("/api/modal", { user_id: state.viewer, interaction_id: interactionId, custom_id: modal.custom_id, values });
      dialog.close();
    } catch { /* shown; the dialog stays open to be fixed */ }
  };
  dialog.replaceChildren(el("form", { method: "dialog", onsubmit: submit },
    el("div", { class: "modal-head" }, avatar(user(state.world.bot_id), "small"), el("h2", {}, modal.title),
      el("button", { type: "button", class: "modal-close", "aria-label": "Close", onclick: () => dialog.close() }, "✕")),
    el("div", { class: "modal-body" }, ...fields),
    el("div", { class: "modal-foot" },
      el("button", { type: "button", class: "btn btn-plain", onclick: () => dialog.close() }, "Cancel"),
      el("button", { type: "submit", class: "btn btn-primary" }, "Submit"))));
  dialog.showModal();
  dialog.querySelector("[data-input]")?.focus();
}

// --- backend controls ------------------------------------------------------------------------------------------

function renderBackend(backend) {
  state.backend = backend;
  $("speeds").replaceChildren(...backend.speeds.map((speed) => el("button", {
    type: "button", role: "radio", "aria-checked": String(speed === backend.speed), "data-speed": speed,
    onclick: () => setBackend({ speed }),
  }, speed)));
  $("drop-hooks").checked = backend.drop_hooks;
  $("banned-hint").textContent = backend.banned_words.length
    ? `Prompts containing ${backend.banned_words.map((w) => `“${w}”`).join(", ")} are always refused.` : "";
}

async function setBackend(change) {
  try {
    const { backend, notes } = await post("/api/backend", change);
    renderBackend(backend);
    notes.forEach((note) => toast(note, "info"));
  } catch { /* shown */ }
}

// --- start ---------------------------------------------------------------------------------------------------------

async function main() {
  const data = await getJson("/api/state");
  state.world = data.world;
  state.commands = data.commands;
  const params = new URLSearchParams(location.search);
  const byName = (name) => state.world.users.find((u) => u.username === name);
  state.viewer = (byName(params.get("user")) || user(state.world.member_id)).id;
  const wanted = state.world.channels.find((c) => c.name === (params.get("channel") || "art")) || state.world.channels[0];
  $("guild-name").textContent = state.world.guild.name;
  $("server-icon").textContent = state.world.guild.name.slice(0, 1);
  renderUsers();
  renderBackend(data.backend);
  state.channelId = wanted.id;
  selectChannel(wanted.id);
  connectEvents();

  $("user-select").addEventListener("change", (e) => {
    state.viewer = e.target.value;
    renderUsers();
    connectEvents(); // ephemeral messages and modals are per user
  });
  $("locale-select").addEventListener("change", (e) => setLocale({ user_id: state.viewer, locale: e.target.value }));
  $("guild-locale-select").addEventListener("change", (e) => setLocale({ guild: true, locale: e.target.value }));
  $("messages").addEventListener("scroll", () => {
    const box = $("messages");
    state.follow = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  });
  $("composer").addEventListener("submit", onComposerSubmit);
  $("composer-input").addEventListener("input", onComposerInput);
  $("composer-input").addEventListener("keydown", onComposerKey);
  $("gate-continue").addEventListener("click", () => { state.agreedNsfw.add(state.channelId); $("age-gate").hidden = true; });
  $("gate-back").addEventListener("click", () => selectChannel(state.world.channels[0].id));
  $("drop-hooks").addEventListener("change", (e) => setBackend({ drop_hooks: e.target.checked }));
  for (const button of document.querySelectorAll("[data-fault]")) {
    button.addEventListener("click", () => setBackend({ fault: button.dataset.fault }));
  }
}

main().catch((error) => toast(`The playground could not start: ${error.message}`));
