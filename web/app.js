// AcademicHub web page: search (bm25 / dense / hybrid) with filters and facets, the daily
// "latest" list per category, research radars (their papers with reasons, and briefings),
// paper details with similar papers. No dependencies; Chinese
// labels by default with an English toggle (remembered in localStorage).
"use strict";

const I18N = {
  zh: {
    nav_search: "搜索", nav_latest: "每日最新", placeholder: "搜索论文：关键词、\"短语\"、+必须、-排除…",
    search: "搜索", mode: "模式", mode_bm25: "关键词", mode_dense: "语义", mode_hybrid: "混合",
    filters: "筛选", category: "分类", source: "来源", from: "起始日期", to: "截止日期",
    clear: "清除筛选", latest_title: "每日精选", prev: "上一页", next: "下一页", close: "关闭",
    similar: "相似论文", keys: "快捷键：/ 聚焦搜索框 · Enter 搜索或打开 · ↑↓ 或 j/k 移动 · Esc 关闭",
    all: "全部", results: (t, a, b) => `共 ${t} 篇，显示第 ${a}–${b} 篇`, none: "没有找到相关论文。",
    took: (ms) => `用时 ${ms} 毫秒`, mode_used: (m) => `模式：${m}`, loading: "加载中…",
    facet_category: "分类", facet_source: "来源", authors_more: (n) => ` 等 ${n} 人`,
    no_vector: "该论文还没有向量，暂时无法推荐相似论文。", no_similar: "没有相似论文。",
    unavailable: "（本索引不可用）", error: "出错了：", page: (p, n) => `第 ${p} / ${n} 页`,
    latest_status: (t, d) => `共 ${t} 篇` + (d ? `，最新日期 ${d}` : ""), open: "原文", doi: "DOI",
    score: "得分", published: "发表",
    nav_radars: "研究雷达", radars_title: "研究雷达", since: "起始日期", radar_papers: "雷达论文",
    briefing: "生成简报", no_radars: "还没有雷达。用 academichub radar add 或 POST /api/radars 创建。",
    radar_status: (n, c, m) => `${n} 篇（${c} 篇候选，模式：${m}）`, why: "入选原因",
    themes: "主题", links: "跨领域关联", picks: "重点论文", narrative: "综述", notes: "说明",
    briefing_status: (n, ms) => `简报覆盖 ${n} 篇论文 · 用时 ${ms} 毫秒`,
    translated: (q) => `英文检索词：${q}`,
    digest_preview: "邮件摘要预览", unread_only: "只看未读", mark_read: "全部标为已读", feed: "订阅（Atom）", copy: "复制", copied: "已复制",
    export: "导出", token_prompt: "标记已读需要写入令牌（ACADEMICHUB_TOKEN）：",
    marked: (n) => `已将 ${n} 篇标为已读`, left_out: (n) => `（${n} 篇已读未显示）`, updated_tag: "有更新",
    coverage: (p, eta) => `语义覆盖 ${p}%` + (eta ? `（后台向量化中，约 ${eta} 完成）` : ""),
    minutes: (m) => (m >= 120 ? `${Math.round(m / 60)} 小时` : `${Math.max(1, Math.round(m))} 分钟`),
  },
  en: {
    nav_search: "Search", nav_latest: "Latest", placeholder: "Search papers: words, \"phrases\", +must, -exclude…",
    search: "Search", mode: "Mode", mode_bm25: "Keyword", mode_dense: "Semantic", mode_hybrid: "Hybrid",
    filters: "Filters", category: "Category", source: "Source", from: "From", to: "To",
    clear: "Clear filters", latest_title: "Daily picks", prev: "Previous", next: "Next", close: "Close",
    similar: "Similar papers", keys: "Keys: / focus search · Enter search or open · ↑↓ or j/k move · Esc close",
    all: "All", results: (t, a, b) => `${t} papers, showing ${a}–${b}`, none: "No matching papers.",
    took: (ms) => `${ms} ms`, mode_used: (m) => `mode: ${m}`, loading: "Loading…",
    facet_category: "Category", facet_source: "Source", authors_more: (n) => ` +${n} more`,
    no_vector: "This paper has no vector yet, so similar papers are not available.", no_similar: "No similar papers.",
    unavailable: " (unavailable for this index)", error: "Error: ", page: (p, n) => `page ${p} of ${n}`,
    latest_status: (t, d) => `${t} papers` + (d ? `, newest ${d}` : ""), open: "Open", doi: "DOI",
    score: "score", published: "published",
    nav_radars: "Radars", radars_title: "Research radars", since: "Since", radar_papers: "Radar papers",
    briefing: "Briefing", no_radars: "No radars yet. Create one with academichub radar add or POST /api/radars.",
    radar_status: (n, c, m) => `${n} papers (${c} candidates, mode: ${m})`, why: "why",
    themes: "Themes", links: "Cross-domain links", picks: "Top papers", narrative: "Overview", notes: "Notes",
    briefing_status: (n, ms) => `briefing over ${n} papers · ${ms} ms`,
    translated: (q) => `searched in English as: ${q}`,
    digest_preview: "Digest preview", unread_only: "Unread only", mark_read: "Mark all as read", feed: "Feed (Atom)", copy: "Copy", copied: "Copied",
    export: "Export", token_prompt: "Marking as read needs the write token (ACADEMICHUB_TOKEN):",
    marked: (n) => `${n} papers marked as read`, left_out: (n) => ` (${n} read papers hidden)`, updated_tag: "updated",
    coverage: (p, eta) => `semantic coverage ${p}%` + (eta ? ` (embedding in the background, about ${eta} left)` : ""),
    minutes: (m) => (m >= 120 ? `${Math.round(m / 60)} h` : `${Math.max(1, Math.round(m))} min`),
  },
};

const SOURCE_NAMES = { arxiv: "arXiv", medrxiv: "medRxiv", biorxiv: "bioRxiv", chemrxiv: "ChemRxiv", beir: "BEIR", api: "API" };
const $ = (id) => document.getElementById(id);
const state = {
  lang: localStorage.getItem("academichub.lang") === "en" ? "en" : "zh",
  view: "search", k: 10, offset: 0, total: 0, selected: -1, items: [],
  latestCategory: "", radar: "", radars: [], health: null, lastQuery: null, detailOpen: false, seq: 0,
};
const t = (key, ...args) => {
  const v = I18N[state.lang][key];
  return typeof v === "function" ? v(...args) : v;
};

function applyLang() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  $("lang").textContent = state.lang === "zh" ? "EN" : "中文";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  document.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  markModes();
  showCoverage();
}

// "semantic coverage 37%": the share of papers dense and hybrid search can rank by meaning,
// refreshed while the server embeds in the background.
function showCoverage() {
  const h = state.health, box = $("coverage");
  if (!box) return;
  if (!h || typeof h.semantic_coverage !== "number" || !h.vectors && !h.background_embedding) { box.hidden = true; return; }
  const pct = h.semantic_coverage >= 1 ? "100" : (Math.floor(h.semantic_coverage * 1000) / 10).toFixed(1);
  const b = h.background_embedding;
  const eta = b && b.eta_secs ? t("minutes", b.eta_secs / 60) : "";
  box.textContent = t("coverage", pct, eta);
  box.hidden = false;
}

function pollCoverage() {
  const b = state.health && state.health.background_embedding;
  if (!b || (b.state !== "embedding" && b.state !== "starting" && b.state !== "retrying")) return;
  setTimeout(() => api("/healthz").then((h) => { state.health = h; showCoverage(); pollCoverage(); }).catch(() => {}), 30000);
}

// "arXiv (CS.CL)", "medRxiv (Medicine)"
function label(hit) {
  const src = SOURCE_NAMES[(hit.source || "").toLowerCase()] || hit.source || "";
  const cat = hit.primary_category || (hit.categories || [])[0];
  if (!cat) return src;
  const shown = /^[a-z-]+(\.[A-Za-z-]+)?$/.test(cat) ? cat.toUpperCase() : cat;
  return src ? `${src} (${shown})` : shown;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(path) {
  const resp = await fetch(path, { headers: { Accept: "application/json" } });
  let body = null;
  try { body = await resp.json(); } catch (_) { /* not JSON */ }
  if (!resp.ok) {
    const err = new Error(body && body.error ? body.error.message : `HTTP ${resp.status}`);
    err.code = body && body.error ? body.error.code : String(resp.status);
    throw err;
  }
  return body;
}

function currentMode() {
  const r = document.querySelector('input[name="mode"]:checked');
  return r ? r.value : "";
}

function markModes() {
  const h = state.health;
  document.querySelectorAll('input[name="mode"]').forEach((r) => {
    const semantic = r.value !== "bm25";
    const ok = !h || !semantic || (h.vectors && h.embedder);
    r.disabled = !ok;
    r.parentElement.title = ok ? "" : t("unavailable");
  });
}

function filters() {
  return {
    category: $("f-category").value.trim(), source: $("f-source").value.trim(),
    from: $("f-from").value, to: $("f-to").value,
  };
}

function syncUrl(params) {
  const url = new URL(window.location.href);
  url.search = params.toString();
  window.history.replaceState(null, "", url);
}

function setStatus(text) { $("status").textContent = text; }

function setWarnings(list) {
  const ul = $("warnings");
  ul.replaceChildren(...(list || []).map((w) => el("li", "", w)));
}

function renderItem(hit, withScores) {
  const li = el("li", "hit");
  li.dataset.id = hit.id;
  const head = el("div", "item-head");
  head.append(el("span", "num", `${hit.rank}.`), el("span", "label", label(hit)));
  if (hit.published) head.append(el("span", "date", hit.published));
  if (withScores && typeof hit.score === "number") {
    const parts = [`${t("score")} ${hit.score.toFixed(3)}`];
    if (hit.bm25_rank) parts.push(`bm25 #${hit.bm25_rank}`);
    if (hit.dense_rank) parts.push(`dense #${hit.dense_rank}`);
    head.append(el("span", "why", parts.join(" · ")));
  }
  const title = el("div", "title");
  title.innerHTML = hit.highlight.title; // HTML-escaped by the server; only <mark> added
  const authors = el("div", "authors", authorLine(hit.authors));
  const snip = el("p", "snippet");
  snip.innerHTML = hit.highlight.abstract + (hit.highlight.abstract.length >= 200 ? "…" : "");
  li.append(head, title, authors, snip);
  li.addEventListener("click", () => openDetail(hit.id));
  return li;
}

function authorLine(authors) {
  if (!authors || !authors.length) return "";
  const shown = authors.slice(0, 4).join(", ");
  return authors.length > 4 ? shown + t("authors_more", authors.length - 4) : shown;
}

function renderList(hits, withScores, byDay) {
  const ol = $("results");
  const nodes = [];
  let day = null;
  state.items = [];
  for (const h of hits) {
    if (byDay && h.published !== day) {
      day = h.published;
      nodes.push(el("li", "day", day || "—"));
    }
    const li = renderItem(h, withScores);
    state.items.push(li);
    nodes.push(li);
  }
  if (!hits.length) nodes.push(el("li", "empty", t("none")));
  ol.replaceChildren(...nodes);
  state.selected = -1;
}

function renderFacets(facets) {
  const box = $("facets");
  if (!facets) { box.replaceChildren(); return; }
  const group = (title, values, input) => {
    const frag = [el("h3", "", title)];
    const ul = el("ul");
    for (const v of values.slice(0, 12)) {
      const li = el("li");
      const b = el("button");
      b.type = "button";
      b.append(el("span", "", v.value), el("span", "count", String(v.count)));
      b.addEventListener("click", () => { $(input).value = v.value; $("filters").open = true; runSearch(0); });
      li.append(b);
      ul.append(li);
    }
    frag.push(ul);
    return frag;
  };
  box.replaceChildren(
    ...group(t("facet_category"), facets.category, "f-category"),
    ...group(t("facet_source"), facets.source, "f-source"),
  );
  fillDatalist("category-list", facets.category);
  fillDatalist("source-list", facets.source);
}

function fillDatalist(id, values) {
  $(id).replaceChildren(...values.map((v) => { const o = el("option"); o.value = v.value; return o; }));
}

function renderPager() {
  const pages = Math.max(1, Math.ceil(state.total / state.k));
  const page = Math.floor(state.offset / state.k) + 1;
  $("pager").hidden = state.total <= state.k;
  $("page-info").textContent = t("page", page, pages);
  $("prev").disabled = state.offset === 0;
  $("next").disabled = state.offset + state.k >= state.total;
}

function showView(view) {
  state.view = view;
  $("nav-search").classList.toggle("active", view === "search");
  $("nav-latest").classList.toggle("active", view === "latest");
  $("nav-radars").classList.toggle("active", view === "radars");
  $("latest-bar").hidden = view !== "latest";
  $("radar-bar").hidden = view !== "radars";
  $("facets").hidden = view !== "search";
  if (view !== "search") setTranslation(null);
  $("briefing").hidden = true;
  $("pager").hidden = true;
}

async function showRadars() {
  showView("radars");
  setWarnings([]);
  const seq = ++state.seq;
  try {
    const r = await api("/api/radars");
    if (seq !== state.seq) return;
    state.radars = r.radars;
    if (!r.radars.some((x) => x.id === state.radar)) state.radar = r.radars.length ? r.radars[0].id : "";
    $("radar-list").replaceChildren(...r.radars.map((x) => {
      const b = el("button", "", x.name);
      b.type = "button";
      b.title = x.queries.join(" · ");
      b.dataset.id = x.id;
      b.setAttribute("role", "tab");
      b.addEventListener("click", () => { state.radar = x.id; runRadar(); });
      return b;
    }));
    if (!r.radars.length) { renderList([], false, false); $("results").replaceChildren(el("li", "empty", t("no_radars"))); setStatus(""); return; }
    runRadar();
  } catch (e) {
    if (seq !== state.seq) return;
    setStatus(t("error") + e.message);
  }
}

function markRadar() {
  document.querySelectorAll("#radar-list button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.id === state.radar)));
}

async function runRadar() {
  if (!state.radar) return;
  showView("radars");
  markRadar();
  const params = new URLSearchParams({ k: "20" });
  if ($("r-since").value) params.set("since", $("r-since").value);
  if ($("r-unread").checked) params.set("unread", "true");
  setDeliveryLinks(params);
  const shown = new URLSearchParams({ view: "radars", radar: state.radar });
  if ($("r-since").value) shown.set("since", $("r-since").value);
  syncUrl(shown);
  const seq = ++state.seq;
  setStatus(t("loading"));
  // Never show the previous view's list under this radar while its papers load.
  renderList([], false, false);
  try {
    const r = await api(`/api/radars/${encodeURIComponent(state.radar)}/papers?${params}`);
    if (seq !== state.seq) return;
    const hits = r.papers.map((p) => ({
      ...p, primary_category: (p.categories || [])[0],
      highlight: { title: escapeHtml(p.title), abstract: escapeHtml((p.abstract || "").slice(0, 200)) },
    }));
    renderList(hits, false, false);
    const updated = new Set((r.unread && r.unread.updated) || []);
    hits.forEach((h, i) => {
      const head = state.items[i].querySelector(".item-head");
      if (updated.has(h.id)) head.append(el("span", "updated", t("updated_tag")));
      head.append(el("span", "why", `${t("why")}: ${h.reason.text}`));
    });
    state.radarIds = r.papers.map((p) => p.id);
    setWarnings(r.notes);
    setStatus(t("radar_status", r.papers.length, r.candidates, r.mode) + (r.unread && r.unread.delivered_left_out ? t("left_out", r.unread.delivered_left_out) : ""));
  } catch (e) {
    if (seq !== state.seq) return;
    renderList([], false, false);
    setTranslation(null);
    setStatus(t("error") + e.message);
  }
}

// The radar's Atom feed URL (to copy into a feed reader) and its export links.
function setDeliveryLinks(params) {
  const id = encodeURIComponent(state.radar);
  $("r-feed-url").value = new URL(`/api/radars/${id}/feed.atom`, location.href).href;
  for (const [fmt, a] of [["bibtex", "r-export-bib"], ["ris", "r-export-ris"]]) {
    const p = new URLSearchParams(params);
    p.set("format", fmt);
    p.set("k", "100");
    $(a).href = `/api/radars/${id}/papers?${p}`;
  }
  // The email digest's HTML, as it would be sent now (nothing is sent or marked).
  $("r-digest").href = `/api/digest?${new URLSearchParams({ radar: state.radar, lang: state.lang })}`;
}

async function copyFeedUrl() {
  const input = $("r-feed-url");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch (_) {
    input.select();
    document.execCommand("copy");
  }
  setStatus(t("copied"));
}

// "Mark all as read": the listed papers leave this radar's unread list, feed and digests.
async function markAllRead() {
  if (!state.radar || !(state.radarIds || []).length) return;
  let token = sessionStorage.getItem("academichub.token");
  if (!token) {
    token = window.prompt(t("token_prompt"));
    if (!token) return;
  }
  try {
    const resp = await fetch(`/api/radars/${encodeURIComponent(state.radar)}/read`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ ids: state.radarIds }),
    });
    const body = await resp.json().catch(() => null);
    if (!resp.ok) {
      if (resp.status === 401) sessionStorage.removeItem("academichub.token");
      throw new Error(body && body.error ? body.error.message : `HTTP ${resp.status}`);
    }
    sessionStorage.setItem("academichub.token", token);
    await runRadar();
    setStatus(t("marked", body.marked));
  } catch (e) {
    setStatus(t("error") + e.message);
  }
}

// The English the BM25 leg searched for a Chinese query, under the search box.
function setTranslation(text) {
  const box = $("translation");
  box.hidden = !text;
  box.textContent = text ? t("translated", text) : "";
}

async function runBriefing() {
  if (!state.radar) return;
  const params = new URLSearchParams({ radar: state.radar, lang: state.lang, k: "10" });
  if ($("r-since").value) params.set("since", $("r-since").value);
  const seq = ++state.seq;
  const started = performance.now();
  setStatus(t("loading"));
  try {
    const b = await api(`/api/briefings?${params}`);
    if (seq !== state.seq) return;
    renderBriefing(b);
    setWarnings(b.notes);
    setStatus(t("briefing_status", b.papers.length, (performance.now() - started).toFixed(0)));
  } catch (e) {
    if (seq !== state.seq) return;
    setStatus(t("error") + e.message);
  }
}

// Every statement of a briefing cites paper ids: each id opens that paper.
function cite(id) {
  const a = el("a", "cite", `[${id}]`);
  a.href = "#";
  a.addEventListener("click", (e) => { e.preventDefault(); openDetail(id); });
  return a;
}

function renderBriefing(b) {
  const box = $("briefing");
  const titles = new Map(b.papers.map((p) => [p.id, p.title]));
  const parts = [];
  if (b.narrative) {
    parts.push(el("h2", "", t("narrative")), el("p", "narrative", b.narrative.text));
  }
  if (b.empty) parts.push(el("p", "empty", b.empty));
  if (b.themes.length) {
    parts.push(el("h2", "", t("themes")));
    for (const th of b.themes) {
      const sec = el("section", "theme");
      sec.append(el("h3", "", th.label));
      const ul = el("ul");
      for (const st of th.summary) {
        const li = el("li", "", st.text + " ");
        li.append(cite(st.paper));
        ul.append(li);
      }
      const ids = el("p", "theme-papers");
      th.papers.forEach((id) => { ids.append(cite(id), document.createTextNode(" ")); });
      sec.append(ul, ids);
      parts.push(sec);
    }
  }
  if (b.links.length) {
    parts.push(el("h2", "", t("links")));
    const ul = el("ul", "links-list");
    for (const l of b.links) {
      const li = el("li");
      li.append(el("span", "label", `${l.category_a} ↔ ${l.category_b}`), document.createTextNode(` ${titles.get(l.a) || ""} `), cite(l.a),
        document.createTextNode(` · ${titles.get(l.b) || ""} `), cite(l.b));
      ul.append(li);
    }
    parts.push(ul);
  }
  box.replaceChildren(...parts);
  box.hidden = false;
}

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

async function runSearch(offset) {
  showView("search");
  const q = $("q").value.trim();
  const f = filters();
  const params = new URLSearchParams();
  if (q) params.set("q", q);
  const mode = currentMode();
  if (mode) params.set("mode", mode);
  params.set("k", String(state.k));
  if (offset) params.set("offset", String(offset));
  for (const key of ["category", "source", "from", "to"]) if (f[key]) params.set(key, f[key]);
  syncUrl(params);
  const seq = ++state.seq;
  setStatus(t("loading"));
  try {
    const r = await api(`/api/search?${params}`);
    if (seq !== state.seq) return;
    state.offset = r.offset; state.total = r.total;
    renderList(r.hits, true, false);
    renderFacets(r.facets);
    setWarnings(r.warnings);
    setTranslation(r.translation);
    const a = r.hits.length ? r.offset + 1 : 0;
    setStatus(`${t("results", r.total, a, r.offset + r.hits.length)} · ${t("took", r.took_ms.toFixed(1))} · ${t("mode_used", r.mode)}`);
    renderPager();
  } catch (e) {
    if (seq !== state.seq) return;
    renderList([], false, false);
    setStatus(t("error") + e.message);
  }
}

async function loadCategories() {
  try {
    const r = await api("/api/search?mode=bm25&k=1");
    const cats = r.facets.category.slice(0, 16);
    const chips = [{ value: "", label: t("all") }, ...cats.map((c) => ({ value: c.value, label: `${c.value} ${c.count}` }))];
    $("latest-cats").replaceChildren(...chips.map((c) => {
      const b = el("button", "", c.label);
      b.type = "button";
      b.setAttribute("role", "tab");
      b.setAttribute("aria-pressed", String(c.value === state.latestCategory));
      b.addEventListener("click", () => { state.latestCategory = c.value; runLatest(0); });
      return b;
    }));
    fillDatalist("category-list", r.facets.category);
    fillDatalist("source-list", r.facets.source);
  } catch (_) { /* the list still works without chips */ }
}

async function runLatest(offset) {
  showView("latest");
  if (new URL(window.location.href).searchParams.get("view")) syncUrl(new URLSearchParams());
  document.querySelectorAll("#latest-cats button").forEach((b, i) => {
    const value = i === 0 ? "" : b.textContent.split(" ")[0];
    b.setAttribute("aria-pressed", String(value === state.latestCategory));
  });
  const params = new URLSearchParams();
  if (state.latestCategory) params.set("category", state.latestCategory);
  const f = filters();
  if (f.source) params.set("source", f.source);
  params.set("k", "30");
  if (offset) params.set("offset", String(offset));
  const seq = ++state.seq;
  setStatus(t("loading"));
  setWarnings([]);
  try {
    const r = await api(`/api/latest?${params}`);
    if (seq !== state.seq) return;
    state.offset = r.offset; state.total = r.total; state.k = 30;
    renderList(r.hits, false, true);
    setStatus(t("latest_status", r.total, r.latest_date));
    renderPager();
  } catch (e) {
    if (seq !== state.seq) return;
    setStatus(t("error") + e.message);
  } finally {
    state.k = 10;
  }
}

async function openDetail(id) {
  const box = $("detail");
  state.detailOpen = true;
  box.hidden = false;
  $("detail-backdrop").hidden = false;
  $("d-title").textContent = t("loading");
  for (const f of ["d-meta", "d-authors", "d-abstract", "d-links"]) $(f).textContent = "";
  $("d-similar").replaceChildren();
  box.focus();
  try {
    const p = await api(`/api/papers/${encodeURIComponent(id)}`);
    $("d-meta").textContent = [label(p), p.published, p.id].filter(Boolean).join(" · ");
    $("d-title").textContent = p.title;
    $("d-authors").textContent = (p.authors || []).join(", ");
    $("d-abstract").textContent = p.abstract;
    const links = [];
    if (p.url) links.push([t("open"), p.url]);
    if (p.doi) links.push([t("doi"), `https://doi.org/${p.doi}`]);
    $("d-links").replaceChildren(...links.map(([txt, href]) => {
      const a = el("a", "", txt); a.href = href; a.target = "_blank"; a.rel = "noopener noreferrer"; return a;
    }));
    loadSimilar(p);
  } catch (e) {
    $("d-title").textContent = t("error") + e.message;
  }
}

async function loadSimilar(p) {
  const ol = $("d-similar");
  if (!p.has_vector) { ol.replaceChildren(el("li", "empty", t("no_vector"))); return; }
  try {
    const r = await api(`/api/papers/${encodeURIComponent(p.id)}/similar?k=8`);
    if (!r.hits.length) { ol.replaceChildren(el("li", "empty", t("no_similar"))); return; }
    ol.replaceChildren(...r.hits.map((h) => {
      const li = el("li");
      li.append(el("span", "label", label(h)), document.createTextNode(" "), el("span", "date", h.published || ""));
      const title = el("div", "title", h.title);
      li.append(title);
      li.addEventListener("click", () => openDetail(h.id));
      return li;
    }));
  } catch (e) {
    ol.replaceChildren(el("li", "empty", e.code === "paper_has_no_vector" || e.code === "no_vectors" ? t("no_vector") : t("error") + e.message));
  }
}

function closeDetail() {
  state.detailOpen = false;
  $("detail").hidden = true;
  $("detail-backdrop").hidden = true;
  const li = state.items[state.selected];
  if (li) li.focus();
}

function select(i) {
  if (!state.items.length) return;
  const n = Math.max(0, Math.min(state.items.length - 1, i));
  if (state.items[state.selected]) state.items[state.selected].classList.remove("selected");
  state.selected = n;
  const li = state.items[n];
  li.classList.add("selected");
  li.tabIndex = -1;
  li.focus({ preventScroll: true });
  li.scrollIntoView({ block: "nearest" });
}

function typing(target) {
  return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable);
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "Escape") {
    if (state.detailOpen) { e.preventDefault(); closeDetail(); return; }
    if (typing(e.target)) { e.target.blur(); return; }
  }
  if (state.detailOpen) return;
  if (e.key === "/" && !typing(e.target)) { e.preventDefault(); $("q").focus(); $("q").select(); return; }
  if (e.target === $("q") && e.key === "ArrowDown") { e.preventDefault(); select(0); return; }
  if (typing(e.target)) return;
  if (e.key === "ArrowDown" || e.key === "j") { e.preventDefault(); select(state.selected + 1); }
  else if (e.key === "ArrowUp" || e.key === "k") {
    e.preventDefault();
    if (state.selected <= 0) { $("q").focus(); } else { select(state.selected - 1); }
  } else if (e.key === "Enter" && state.selected >= 0) { e.preventDefault(); openDetail(state.items[state.selected].dataset.id); }
  else if (e.key === "ArrowRight" && !$("next").disabled && !$("pager").hidden) { pageBy(1); }
  else if (e.key === "ArrowLeft" && !$("prev").disabled && !$("pager").hidden) { pageBy(-1); }
});

function pageBy(dir) {
  const size = state.view === "latest" ? 30 : state.k;
  const offset = Math.max(0, state.offset + dir * size);
  if (state.view === "latest") runLatest(offset); else runSearch(offset);
  window.scrollTo(0, 0);
}

function init() {
  applyLang();
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); runSearch(0); });
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem("academichub.lang", state.lang);
    applyLang();
    if (state.view === "latest") loadCategories().then(() => runLatest(state.offset));
    else if (state.view === "radars") showRadars();
    else if ($("results").children.length) runSearch(state.offset);
  });
  $("nav-search").addEventListener("click", () => { showView("search"); $("q").focus(); });
  $("nav-latest").addEventListener("click", () => runLatest(0));
  $("nav-radars").addEventListener("click", showRadars);
  $("r-papers").addEventListener("click", runRadar);
  $("r-briefing").addEventListener("click", runBriefing);
  $("r-unread").addEventListener("change", runRadar);
  $("r-mark-read").addEventListener("click", markAllRead);
  $("r-feed-copy").addEventListener("click", copyFeedUrl);
  $("r-since").addEventListener("change", () => { if (state.view === "radars") runRadar(); });
  $("home").addEventListener("click", (e) => { e.preventDefault(); $("q").value = ""; syncUrl(new URLSearchParams()); runLatest(0); });
  $("f-clear").addEventListener("click", () => {
    for (const id of ["f-category", "f-source", "f-from", "f-to"]) $(id).value = "";
    if (state.view === "search") runSearch(0); else runLatest(0);
  });
  document.querySelectorAll('input[name="mode"]').forEach((r) => r.addEventListener("change", () => { if ($("q").value.trim()) runSearch(0); }));
  $("prev").addEventListener("click", () => pageBy(-1));
  $("next").addEventListener("click", () => pageBy(1));
  $("d-close").addEventListener("click", closeDetail);
  $("detail-backdrop").addEventListener("click", closeDetail);

  const url = new URL(window.location.href);
  const p = url.searchParams;
  $("q").value = p.get("q") || "";
  $("f-category").value = p.get("category") || "";
  $("f-source").value = p.get("source") || "";
  $("f-from").value = p.get("from") || "";
  $("f-to").value = p.get("to") || "";
  if (p.get("category") || p.get("source") || p.get("from") || p.get("to")) $("filters").open = true;
  const healthy = api("/healthz").then((h) => {
    state.health = h;
    const wanted = p.get("mode") || (h.vectors && h.embedder ? "hybrid" : "bm25");
    const r = document.querySelector(`input[name="mode"][value="${wanted}"]`);
    if (r) r.checked = true;
    markModes();
    showCoverage();
    pollCoverage();
  }).catch(() => {
    const r = document.querySelector('input[name="mode"][value="bm25"]');
    if (r) r.checked = true;
  });
  const cats = loadCategories();
  if (p.get("view") === "radars") {
    state.radar = p.get("radar") || "";
    $("r-since").value = p.get("since") || "";
  }
  healthy.then(() => {
    if (p.get("view") === "radars") showRadars();
    else if ($("q").value.trim() || p.get("category")) runSearch(Number(p.get("offset")) || 0);
    else cats.then(() => runLatest(0));
  });
}

document.addEventListener("DOMContentLoaded", init);
