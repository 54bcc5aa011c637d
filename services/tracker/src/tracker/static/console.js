// What every console page shares: sign-in, the API with the viewer's token, the nav bar
// and a DOM builder that never interprets data as HTML (no innerHTML with API values).
"use strict";
const BS = (() => {
  const KEY = "bs-dashboard-token";  // the dashboard's key: one sign-in opens every page
  const PAGES = [
    ["/dashboard", "Delivery"],
    ["/console/policies", "Policies"],
    ["/console/clients", "Clients"],
    ["/console/adherence", "Adherence"],
    ["/console/dead-letters", "Dead letters", "ops"],
  ];

  function takeTokenFromFragment() {
    const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child == null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  class ApiError extends Error {
    constructor(status, detail, body) { super(detail); this.status = status; this.body = body; }
  }

  async function api(path, options = {}) {
    const token = sessionStorage.getItem(KEY);
    if (!token) throw new ApiError(401, "Sign in with an access token.");
    const headers = { Authorization: "Bearer " + token };
    const init = { method: options.method || "GET", headers };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    const res = await fetch(path, init);
    let body = null;
    try { body = await res.json(); } catch (_) { /* no JSON body */ }
    if (!res.ok) {
      const detail = body && typeof body.detail === "string" ? body.detail : res.statusText;
      throw new ApiError(res.status, detail, body);
    }
    return body;
  }

  // Times travel in UTC; show them in the browser's zone unless told otherwise.
  function when(iso, timeZone) {
    if (!iso) return "-";
    const d = new Date(iso);
    return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short", timeZone });
  }

  function showError(target, error) {
    const text = error instanceof ApiError && error.status === 403 ? "Not allowed: " + error.message
      : error instanceof ApiError && error.status === 401 ? "Sign in again: " + error.message
      : String(error.message || error);
    target.textContent = text;
    target.hidden = !text;
  }

  // Header with nav and sign-in; calls start(whoami) once a token works.
  async function mount(active, start) {
    takeTokenFromFragment();
    const who = el("span", { class: "who" });
    const nav = el("nav", { "aria-label": "Console" });
    const header = el("header", {}, el("h1", { text: "Between Sessions" }), nav, who,
      el("button", { type: "button", class: "secondary", onclick: () => { sessionStorage.removeItem(KEY); location.reload(); } }, "Sign out"));
    document.body.prepend(header);
    const banner = el("div", { class: "banner", role: "alert", hidden: true });
    const login = el("form", { class: "login", hidden: true },
      el("label", { for: "bs-token" }, "Access token"),
      el("input", { id: "bs-token", type: "password", autocomplete: "off" }),
      el("button", { type: "submit" }, "Open"));
    login.addEventListener("submit", (e) => {
      e.preventDefault();
      sessionStorage.setItem(KEY, document.getElementById("bs-token").value.trim());
      location.reload();
    });
    document.querySelector("main").prepend(banner, login);
    try {
      const me = await api("/api/whoami");
      for (const [href, label, role] of PAGES) {
        if (role === "ops" && me.scope !== "ops") continue;
        nav.append(el("a", { href, "aria-current": href === active ? "page" : null }, label));
      }
      who.textContent = me.scope === "ops" ? "operations (every clinic)" : "clinic " + me.clinics[0];
      await start(me);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) login.hidden = false;
      showError(banner, error);
    }
  }

  return { el, api, when, mount, showError, ApiError };
})();
