// The Sluice console: one page, hash routes (#/models, #/models/<name>, #/new), plain JavaScript.
// Everything that comes from data is shown with textContent (the `el` helper): never innerHTML.
// The ID token lives in memory and in sessionStorage only, and travels in the Authorization header.
// The access token (Cognito's, for the user's own two-step sign-in) is kept beside it and travels only
// in the JSON body of the /api/mfa calls, never in a URL.
"use strict";

(function () {
  const body = document.body;
  const BASE = body.dataset.base || "";
  const API = BASE + "/api";
  const SAMPLE_BYTES = 256 * 1024;
  const REFRESH_MS = 3000;
  const UPLOAD_POLL_MS = 1500;
  const UPLOAD_WAIT_MS = 10 * 60 * 1000;
  const STORE = "sluice.console.session";

  const main = document.getElementById("main");
  const statusLine = document.getElementById("status");
  const alertLine = document.getElementById("alert");

  let session = loadSession(); // {token, access, expires, user}
  let me = null; // GET /api/me
  let screen = 0; // bumped at each new screen: timers of an old screen stop

  // ---------- small helpers ----------

  // el("p", {className: "x"}, "text", child…): an element whose strings become text nodes.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "for") node.htmlFor = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // node.replaceChildren(…children) leaving out null, undefined and false (optional parts).
  function fill(node, ...children) {
    node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
    return node;
  }

  function say(text) {
    alertLine.textContent = "";
    statusLine.textContent = text || "";
  }

  function warn(text) {
    statusLine.textContent = "";
    alertLine.textContent = text || "";
  }

  function clearMessages() {
    statusLine.textContent = "";
    alertLine.textContent = "";
  }

  function errorText(response) {
    const data = response.body || {};
    let text = data.error || data.message || "Something went wrong (HTTP " + response.status + ").";
    const details = Array.isArray(data.details) ? data.details : [];
    const parts = details.map((d) => (d.field ? d.field + ": " : "") + (d.message || "")).filter(Boolean);
    if (parts.length) text += " " + parts.join("; ");
    return text;
  }

  function when(text) {
    if (!text) return "";
    const date = new Date(text);
    return isNaN(date.getTime()) ? String(text) : date.toLocaleString();
  }

  function number(value) {
    if (typeof value !== "number") return String(value);
    return Number.isInteger(value) ? String(value) : value.toFixed(3);
  }

  function metricsText(metrics) {
    return Object.entries(metrics || {})
      .filter(([, v]) => typeof v === "number" || typeof v === "string")
      .map(([k, v]) => k + " " + number(v))
      .join(", ");
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // A new screen: clear <main>, set the title, move focus to the heading.
  function show(title, ...children) {
    screen += 1;
    const heading = el("h1", { tabindex: "-1", id: "screen-title" }, title);
    fill(main, heading, ...children);
    document.title = title + " — Sluice console";
    heading.focus();
    return screen;
  }

  // ---------- session ----------

  function loadSession() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORE) || "null");
      if (saved && saved.token && saved.expires > Date.now()) return saved;
    } catch (ignored) {
      // a damaged entry is no session
    }
    sessionStorage.removeItem(STORE);
    return null;
  }

  function startSession(answer) {
    session = {
      token: answer.id_token,
      access: answer.access_token || "",
      expires: Date.now() + 1000 * (Number(answer.expires_in) || 3600),
      user: answer.user || {},
    };
    sessionStorage.setItem(STORE, JSON.stringify(session));
    me = null;
  }

  function endSession(message) {
    session = null;
    me = null;
    sessionStorage.removeItem(STORE);
    document.getElementById("nav").hidden = true;
    signInScreen(message);
  }

  // ---------- the API ----------

  async function api(method, path, payload) {
    const headers = { Accept: "application/json" };
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    if (session) {
      if (session.expires <= Date.now()) {
        endSession("Your session has ended. Please sign in again.");
        throw new Error("signed out");
      }
      headers.Authorization = session.token;
    }
    let response;
    try {
      response = await fetch(API + path, {
        method: method,
        headers: headers,
        body: payload === undefined ? undefined : JSON.stringify(payload),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (error) {
      return { status: 0, body: { error: "The console cannot reach the server. Check your connection." } };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (ignored) {
      data = null;
    }
    if (response.status === 401 && session) {
      endSession("Your session has ended or is not valid any more. Please sign in again.");
      throw new Error("signed out");
    }
    return { status: response.status, body: data };
  }

  async function whoAmI() {
    if (me) return me;
    const answer = await api("GET", "/me");
    if (answer.status !== 200) {
      warn(errorText(answer));
      return null;
    }
    me = answer.body;
    const nav = document.getElementById("nav");
    const groups = (me.groups || []).join(", ") || "no group";
    document.getElementById("who").textContent = "Signed in as " + me.email + " (" + groups + ")";
    document.getElementById("security-link").hidden = !me.mfa || me.mfa === "OFF";
    nav.hidden = false;
    return me;
  }

  // ---------- sign in ----------

  function signInScreen(message) {
    const email = el("input", { id: "email", name: "email", type: "email", autocomplete: "username", required: true });
    const password = el("input", {
      id: "password",
      name: "password",
      type: "password",
      autocomplete: "current-password",
      required: true,
    });
    const form = el(
      "form",
      { className: "card narrow", novalidate: true },
      el("p", {}, "Sign in with the email and password your administrator gave you."),
      el("div", { className: "field" }, el("label", { for: "email" }, "Email"), email),
      el("div", { className: "field" }, el("label", { for: "password" }, "Password"), password),
      el("button", { type: "submit", className: "primary" }, "Sign in"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!email.value || !password.value) {
        warn("Enter your email and your password.");
        return;
      }
      say("Signing in…");
      const answer = await api("POST", "/sign-in", { email: email.value.trim(), password: password.value });
      password.value = "";
      signedInOrChallenged(answer, email.value.trim());
    });
    show("Sign in to the Sluice console", form);
    if (message) warn(message);
    else clearMessages();
  }

  // The sign-in's answer: signed in, or a challenge's screen (a new password, an authenticator's code).
  function signedInOrChallenged(answer, email) {
    const challenge = answer.status === 409 && answer.body ? answer.body.challenge : null;
    if (answer.status === 200) {
      startSession(answer.body);
      clearMessages();
      route();
    } else if (challenge === "NEW_PASSWORD_REQUIRED") {
      newPasswordScreen(email, answer.body.session, answer.body.error);
    } else if (challenge === "SOFTWARE_TOKEN_MFA") {
      codeScreen(email, answer.body.session, answer.body.error);
    } else {
      warn(errorText(answer));
    }
  }

  function codeInput() {
    return el("input", {
      id: "code",
      name: "code",
      type: "text",
      inputmode: "numeric",
      autocomplete: "one-time-code",
      pattern: "[0-9 ]*",
      maxlength: "7",
      required: true,
      "aria-describedby": "code-help",
    });
  }

  function codeScreen(email, challengeSession, message) {
    const code = codeInput();
    const form = el(
      "form",
      { className: "card narrow", novalidate: true },
      el("p", {}, "Two-step sign-in is on for " + email + "."),
      el(
        "div",
        { className: "field" },
        el("label", { for: "code" }, "Code"),
        code,
        el("p", { id: "code-help", className: "help" }, "The 6 digits your authenticator app shows now for the Sluice console."),
      ),
      el("button", { type: "submit", className: "primary" }, "Verify"),
      el("button", { type: "button", onclick: () => signInScreen() }, "Start again"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!code.value.trim()) {
        warn("Enter the code your authenticator app shows.");
        return;
      }
      say("Checking the code…");
      const answer = await api("POST", "/sign-in", { email: email, code: code.value.trim(), session: challengeSession });
      code.value = "";
      signedInOrChallenged(answer, email);
      if (answer.status !== 200) code.focus();
    });
    show("Enter your code", form);
    if (message) say(message);
    code.focus();
  }

  function newPasswordScreen(email, challengeSession, message) {
    const password = el("input", {
      id: "new-password",
      type: "password",
      autocomplete: "new-password",
      required: true,
      "aria-describedby": "new-password-help",
    });
    const form = el(
      "form",
      { className: "card narrow", novalidate: true },
      el("p", {}, "This is your first sign-in: choose a password of your own for " + email + "."),
      el(
        "div",
        { className: "field" },
        el("label", { for: "new-password" }, "New password"),
        password,
        el("p", { id: "new-password-help", className: "help" }, "At least 12 characters, with upper and lower case letters, a digit and a symbol."),
      ),
      el("button", { type: "submit", className: "primary" }, "Set password and sign in"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = await api("POST", "/sign-in", {
        email: email,
        new_password: password.value,
        session: challengeSession,
      });
      password.value = "";
      signedInOrChallenged(answer, email);
    });
    show("Choose a new password", form);
    if (message) say(message);
  }

  // ---------- models ----------

  async function modelsScreen() {
    const loading = el("p", {}, "Loading the models…");
    const mine = show("Models", loading);
    const user = await whoAmI();
    if (mine !== screen) return;
    if (user && !(user.groups || []).length) {
      loading.remove();
      main.append(
        el("p", {}, "Your account is in no group yet, so there is nothing you may see. Ask your administrator to add you to viewers or operators."),
      );
      return;
    }
    const answer = await api("GET", "/models");
    if (mine !== screen) return;
    if (answer.status !== 200) {
      loading.remove();
      warn(errorText(answer));
      return;
    }
    const models = (answer.body.models || []).slice();
    // the server lists models needing attention first; keep that order, but be sure of it
    models.sort((a, b) => Number((b.attention || []).length > 0) - Number((a.attention || []).length > 0));
    const parts = [
      el(
        "p",
        { className: "lead" },
        "Each model turns a row of your data into a prediction. The version in production answers requests; " +
          "new versions are trained when new data arrives and replace it only when they do better.",
      ),
    ];
    if (user && user.can_act) {
      parts.push(el("p", {}, el("a", { href: "#/new", className: "button-link" }, "New model from a CSV")));
    }
    if (!models.length) {
      parts.push(el("p", {}, "There are no models yet."));
    } else {
      const rows = models.map((m) => {
        const attention = m.attention || [];
        return el(
          "tr",
          { className: attention.length ? "attention" : "" },
          el("th", { scope: "row" }, el("a", { href: "#/models/" + encodeURIComponent(m.name) }, m.name)),
          el("td", {}, m.production_version === null || m.production_version === undefined ? "none yet" : "version " + m.production_version),
          el("td", {}, rolloutText(m.rollout)),
          el("td", {}, m.drift || "not checked yet", m.checked_at ? el("span", { className: "muted" }, " (" + when(m.checked_at) + ")") : null),
          el("td", {}, liveMetricText(m.live_metric)),
          el("td", {}, attention.length ? el("ul", { className: "plain" }, attention.map((a) => el("li", {}, a))) : "nothing"),
        );
      });
      parts.push(
        el(
          "table",
          {},
          el("caption", {}, "Your models, those needing attention first"),
          el(
            "thead",
            {},
            el("tr", {}, ["Model", "In production", "Rollout", "Last drift check", "Live metric", "Needs attention"].map((h) => el("th", { scope: "col" }, h))),
          ),
          el("tbody", {}, rows),
        ),
      );
    }
    loading.remove();
    main.append(...parts);
  }

  function rolloutText(rollout) {
    if (!rollout) return "no rollout in progress";
    let text = String(rollout.state || "");
    if (rollout.version !== null && rollout.version !== undefined) text += ": version " + rollout.version;
    if (typeof rollout.percent === "number" && rollout.percent > 0) text += ", answering " + rollout.percent + "% of requests";
    return text;
  }

  function liveMetricText(metric) {
    if (!metric) return "no feedback yet";
    let text = metric.name + " " + number(metric.value);
    if (metric.gate !== null && metric.gate !== undefined) text += " (limit " + number(metric.gate) + ")";
    return text;
  }

  // ---------- a model's page ----------

  async function modelScreen(name) {
    const sections = {
      summary: el("section", { "aria-labelledby": "h-summary" }),
      actions: el("section", { "aria-labelledby": "h-actions", className: "card" }),
      run: el("section", { "aria-labelledby": "h-run" }),
      card: el("section", { "aria-labelledby": "h-card" }),
      versions: el("section", { "aria-labelledby": "h-versions" }),
      monitoring: el("section", { "aria-labelledby": "h-monitoring" }),
      audit: el("section", { "aria-labelledby": "h-audit" }),
      upload: el("section", { "aria-labelledby": "h-upload", className: "card" }),
    };
    const mine = show(
      "Model " + name,
      el("p", {}, el("a", { href: "#/models" }, "← All models")),
      ...Object.values(sections),
    );
    const user = await whoAmI();
    const timer = { wake: null };
    let shownActions = null;
    let first = true;
    while (mine === screen) {
      const answer = await api("GET", "/models/" + encodeURIComponent(name));
      if (mine !== screen) return;
      if (answer.status !== 200) {
        warn(errorText(answer));
        return;
      }
      const model = answer.body;
      fillSummary(sections.summary, model);
      const actionsKey = JSON.stringify([model.actions, model.decision, model.production_version]);
      if (actionsKey !== shownActions) {
        fillActions(sections.actions, model, () => refreshNow());
        shownActions = actionsKey;
      }
      fillRun(sections.run, model.run);
      fillCard(sections.card, model.card);
      fillVersions(sections.versions, model);
      fillMonitoring(sections.monitoring, model);
      fillAudit(sections.audit, model.audit || []);
      if (first) {
        if (user && user.can_act) uploadForm(sections.upload, name, () => refreshNow());
        else sections.upload.remove();
        first = false;
      }
      const running = model.run && model.run.status === "RUNNING";
      await waitOrWake(running ? REFRESH_MS : 4 * REFRESH_MS, timer);
    }

    function refreshNow() {
      if (timer.wake) timer.wake();
    }
  }

  // Wait `ms`, or less if holder.wake() is called (an action asks the page to refresh at once).
  function waitOrWake(ms, holder) {
    return new Promise((resolve) => {
      const timeout = setTimeout(done, ms);
      function done() {
        clearTimeout(timeout);
        holder.wake = null;
        resolve();
      }
      holder.wake = done;
    });
  }

  function fillSummary(section, model) {
    const production = model.production_version;
    fill(section, 
      el("h2", { id: "h-summary", className: "visually-hidden" }, "Summary"),
      el(
        "p",
        { className: "lead", id: "production" },
        production === null || production === undefined
          ? "No version of this model is in production yet."
          : "Version " + production + " is in production: it answers prediction requests.",
      ),
      model.pending_version !== null && model.pending_version !== undefined
        ? el("p", { className: "attention-note" }, "Version " + model.pending_version + " is waiting for approval.")
        : null,
    );
  }

  function fillActions(section, model, after) {
    const actions = model.actions || {};
    const can = actions.approve || actions.reject || actions.rollback || actions.retrain;
    const decision = model.decision;
    if (!can && !decision) {
      section.hidden = true;
      fill(section, el("h2", { id: "h-actions" }, "Decisions"));
      return;
    }
    section.hidden = false;
    const reason = el("textarea", { id: "reason", rows: "2", "aria-describedby": "reason-help" });
    const buttons = [];
    const act = async (button, path, payload, done) => {
      for (const b of buttons) b.disabled = true;
      say(button.textContent + ": working…");
      const answer = await api("POST", "/models/" + encodeURIComponent(model.name) + path, payload);
      for (const b of buttons) b.disabled = false;
      if (answer.status === 200) {
        reason.value = "";
        say(done(answer.body || {}));
        after();
      } else {
        warn(errorText(answer));
      }
    };
    if (actions.approve !== null && actions.approve !== undefined) {
      const version = actions.approve;
      const b = el("button", { type: "button", className: "primary" }, "Approve");
      b.addEventListener("click", () =>
        act(b, "/versions/" + version + "/approve", withReason(reason.value), () => "Version " + version + " is approved; it is being promoted."),
      );
      buttons.push(b);
    }
    if (actions.reject !== null && actions.reject !== undefined) {
      const version = actions.reject;
      const b = el("button", { type: "button", className: "danger" }, "Reject");
      b.addEventListener("click", () => {
        if (!reason.value.trim()) {
          warn("Write a reason for rejecting version " + version + " in the Reason box, then press Reject again.");
          reason.focus();
          return;
        }
        act(b, "/versions/" + version + "/reject", { reason: reason.value.trim() }, () => "Version " + version + " is rejected.");
      });
      buttons.push(b);
    }
    if (actions.rollback) {
      const b = el("button", { type: "button" }, "Roll back");
      b.addEventListener("click", () =>
        act(b, "/rollback", withReason(reason.value), () => "Rolled back: the previous version is in production again."),
      );
      buttons.push(b);
    }
    if (actions.retrain) {
      const b = el("button", { type: "button" }, "Retrain");
      b.addEventListener("click", () => act(b, "/retrain", {}, () => "Retraining started on the latest accepted data."));
      buttons.push(b);
    }
    fill(section, 
      el("h2", { id: "h-actions" }, "Decisions"),
      ...decisionFacts(decision),
      can
        ? el(
            "div",
            { className: "field" },
            el("label", { for: "reason" }, "Reason"),
            reason,
            el("p", { id: "reason-help", className: "help" }, "Why you decide this. Needed to reject; kept in the audit trail."),
          )
        : null,
      can ? el("div", { className: "buttons" }, buttons) : null,
    );
  }

  // The version waiting for a decision: its card's sentences, its metrics beside production's, what
  // approving and rejecting do.
  function decisionFacts(decision) {
    if (!decision) return [];
    const parts = [
      el(
        "p",
        { className: "attention-note" },
        decision.status === "pending_approval"
          ? "Version " + decision.version + " passed its checks and waits for a person to approve or reject it."
          : "Version " + decision.version + " is being tried (" + decision.status + ").",
      ),
    ];
    for (const sentence of decision.sentences || []) parts.push(el("p", {}, sentence));
    const metrics = decision.metrics || [];
    if (metrics.length) {
      const production = decision.production_version;
      parts.push(
        el(
          "table",
          {},
          el("caption", {}, "Version " + decision.version + (production === null || production === undefined ? "" : " against version " + production + " in production")),
          el(
            "thead",
            {},
            el("tr", {}, ["Metric", "Version " + decision.version, production === null || production === undefined ? "In production" : "Version " + production].map((h) => el("th", { scope: "col" }, h))),
          ),
          el(
            "tbody",
            {},
            metrics.map((m) => el("tr", {}, el("td", {}, m.name), el("td", {}, m.version === null || m.version === undefined ? "—" : number(m.version)), el("td", {}, m.production === null || m.production === undefined ? "—" : number(m.production)))),
          ),
        ),
      );
    }
    if (decision.approving) parts.push(el("p", {}, decision.approving));
    if (decision.rejecting) parts.push(el("p", {}, decision.rejecting));
    return parts;
  }

  function withReason(text) {
    return text.trim() ? { reason: text.trim() } : {};
  }

  const STEP_WORDS = { done: "done", running: "in progress", waiting: "waiting for a person", failed: "failed", pending: "not started" };

  function fillRun(section, run) {
    const parts = [el("h2", { id: "h-run" }, "Latest training run")];
    if (!run) {
      parts.push(el("p", {}, "No training run yet."));
    } else {
      parts.push(
        el("p", {}, "Started " + when(run.started_at) + "; " + runWords(run.status) + "."),
        el(
          "ol",
          { className: "steps" },
          (run.steps || []).map((step) =>
            el(
              "li",
              { className: "step step-" + String(step.state || "pending") },
              el("span", { className: "step-name" }, step.name),
              el("span", { className: "step-state" }, STEP_WORDS[step.state] || String(step.state)),
              step.detail ? el("span", { className: "step-detail" }, step.detail) : null,
            ),
          ),
        ),
      );
    }
    fill(section, ...parts);
  }

  function runWords(status) {
    return (
      { RUNNING: "still running (this page refreshes by itself)", SUCCEEDED: "finished", FAILED: "failed", TIMED_OUT: "timed out", ABORTED: "stopped" }[status] ||
      String(status || "").toLowerCase()
    );
  }

  function fillCard(section, card) {
    const parts = [el("h2", { id: "h-card" }, "About the model")];
    if (!card) {
      parts.push(el("p", {}, "No model card yet: it is shown once a version is in production (a version waiting for approval is under Decisions)."));
    } else {
      parts.push(
        el(
          "p",
          { className: "muted", id: "card-version" },
          "Model card of version " + card.version + (card.status === "production" ? ", the version in production." : " (" + String(card.status || "").replace("_", " ") + ")."),
        ),
      );
      for (const sentence of card.sentences || []) parts.push(el("p", {}, sentence));
      const metrics = Object.entries(card.metrics || {}).filter(([, v]) => typeof v === "number" || typeof v === "string");
      if (metrics.length) {
        parts.push(el("dl", { className: "metrics" }, metrics.map(([k, v]) => [el("dt", {}, k), el("dd", {}, number(v))])));
      }
    }
    fill(section, ...parts);
  }

  function fillVersions(section, model) {
    const versions = model.versions || [];
    const parts = [el("h2", { id: "h-versions" }, "Versions")];
    if (!versions.length) {
      parts.push(el("p", {}, "No versions yet."));
    } else {
      parts.push(
        el(
          "table",
          {},
          el("thead", {}, el("tr", {}, ["Version", "Status", "Scores", "Trained", "Why it was trained"].map((h) => el("th", { scope: "col" }, h)))),
          el(
            "tbody",
            {},
            versions.map((v) =>
              el(
                "tr",
                { className: v.status === "production" ? "current" : "" },
                el("th", { scope: "row" }, String(v.version)),
                el("td", {}, String(v.status || "").replace(/_/g, " ")),
                el("td", {}, metricsText(v.metrics)),
                el("td", {}, when(v.created_at)),
                el("td", {}, v.trigger || ""),
              ),
            ),
          ),
        ),
      );
    }
    fill(section, ...parts);
  }

  function fillMonitoring(section, model) {
    const list = (items, empty) => (items && items.length ? el("ul", {}, items.map((s) => el("li", {}, s))) : el("p", {}, empty));
    fill(section, 
      el("h2", { id: "h-monitoring" }, "Monitoring"),
      el("h3", {}, "Drift (has the incoming data changed since training?)"),
      list(model.drift, "No drift check yet."),
      el("h3", {}, "Data quality"),
      list(model.data_quality, "No data-quality check yet."),
    );
  }

  function fillAudit(section, events) {
    const parts = [el("h2", { id: "h-audit" }, "Audit trail")];
    if (!events.length) {
      parts.push(el("p", {}, "Nothing recorded yet."));
    } else {
      parts.push(
        el(
          "table",
          {},
          el("thead", {}, el("tr", {}, ["When", "What", "Version", "Who", "Reason"].map((h) => el("th", { scope: "col" }, h)))),
          el(
            "tbody",
            {},
            events.map((e) =>
              el(
                "tr",
                {},
                el("td", {}, when(e.time)),
                el("td", {}, String(e.type || "").replace(/_/g, " ")),
                el("td", {}, e.version === null || e.version === undefined ? "" : String(e.version)),
                el("td", {}, e.by_email || e.by || "Sluice (automatic)"),
                el("td", {}, e.reason || ""),
              ),
            ),
          ),
        ),
      );
    }
    fill(section, ...parts);
  }

  // ---------- uploads (a new model, or new data for a model) ----------

  function newModelScreen() {
    const holder = el("section", { className: "card" });
    show(
      "New model from a CSV",
      el("p", {}, el("a", { href: "#/models" }, "← All models")),
      el(
        "p",
        { className: "lead" },
        "Choose a CSV file (a spreadsheet saved as CSV, one row per example, with a header row). " +
          "The console shows what each column holds; you pick the column the model should learn to predict, " +
          "name the model and press Train.",
      ),
      holder,
    );
    whoAmI();
    uploadForm(holder, null);
  }

  // The upload form: for a new model (model === null: target, sensitive, name) or new data for `model`.
  function uploadForm(section, model, accepted) {
    const isNew = model === null;
    const file = el("input", { id: "csv-file", type: "file", accept: ".csv,text/csv", "aria-describedby": "csv-help" });
    const columnsArea = el("div", { id: "columns" });
    const target = el("select", { id: "target" });
    const sensitive = el("select", { id: "sensitive", "aria-describedby": "sensitive-help" });
    const name = el("input", { id: "model-name", type: "text", autocomplete: "off", "aria-describedby": "name-help", pattern: "[a-z0-9-]+" });
    const train = el("button", { type: "submit", className: "primary" }, "Train");
    const progress = el("progress", { id: "upload-progress", max: "100", value: "0" });
    const progressField = el("div", { className: "field", hidden: true }, el("label", { for: "upload-progress" }, "Upload progress"), progress);
    const outcome = el("div", { id: "upload-outcome" });
    const newFields = isNew
      ? el(
          "div",
          { hidden: true },
          el("div", { className: "field" }, el("label", { for: "target" }, "Column to predict"), target),
          el(
            "div",
            { className: "field" },
            el("label", { for: "sensitive" }, "Sensitive column"),
            sensitive,
            el("p", { id: "sensitive-help", className: "help" }, "Optional: a column such as gender or age group. It is not used to predict; Sluice checks the model treats its groups alike."),
          ),
          el(
            "div",
            { className: "field" },
            el("label", { for: "model-name" }, "Model name"),
            name,
            el("p", { id: "name-help", className: "help" }, "Lower-case letters, digits and dashes, e.g. loan-default."),
          ),
        )
      : null;
    const form = el(
      "form",
      { novalidate: true },
      el(
        "div",
        { className: "field" },
        el("label", { for: "csv-file" }, "CSV file"),
        file,
        el("p", { id: "csv-help", className: "help" }, isNew ? "The first row names the columns." : "Same columns as the data the model was trained on."),
      ),
      columnsArea,
      newFields,
      el("div", { className: "buttons" }, train),
      progressField,
    );
    fill(section, 
      el("h2", { id: isNew ? "h-new" : "h-upload" }, isNew ? "Your data" : "Upload new data"),
      isNew ? null : el("p", {}, "New data for " + model + " trains a new version; it replaces production only if it does better."),
      form,
      outcome,
    );

    if (isNew) {
      file.addEventListener("change", async () => {
        fill(columnsArea);
        newFields.hidden = true;
        fill(outcome);
        const chosen = file.files && file.files[0];
        if (!chosen) return;
        say("Reading the columns of " + chosen.name + "…");
        const sample = await readSample(chosen);
        const answer = await api("POST", "/columns", { file_name: chosen.name, sample: sample });
        if (answer.status !== 200) {
          warn(errorText(answer));
          return;
        }
        const columns = answer.body.columns || [];
        fill(columnsArea, columnsTable(columns, answer.body.rows));
        fill(target, el("option", { value: "" }, "Choose a column"), ...columns.filter((c) => c.can_predict).map((c) => el("option", { value: c.name }, c.name)));
        fill(sensitive, el("option", { value: "" }, "None"), ...columns.map((c) => el("option", { value: c.name }, c.name)));
        if (!name.value) name.value = suggestName(chosen.name);
        newFields.hidden = false;
        say("Found " + columns.length + " columns. Choose the column to predict.");
      });
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const chosen = file.files && file.files[0];
      if (!chosen) {
        warn("Choose a CSV file first.");
        file.focus();
        return;
      }
      const request = { model: isNew ? name.value.trim() : model, file_name: chosen.name, size: chosen.size };
      if (isNew) {
        if (!target.value) {
          warn("Choose the column to predict.");
          target.focus();
          return;
        }
        if (!/^[a-z0-9-]+$/.test(request.model)) {
          warn("The model name may hold only lower-case letters, digits and dashes.");
          name.focus();
          return;
        }
        request.target = target.value;
        if (sensitive.value) request.sensitive = sensitive.value;
      }
      train.disabled = true;
      try {
        if (await upload(chosen, request, progressField, progress, outcome) && accepted) accepted();
      } finally {
        train.disabled = false;
      }
    });
  }

  function suggestName(fileName) {
    return (
      fileName
        .replace(/\.[^.]*$/, "")
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "-")
        .replace(/^-+|-+$/g, "")
        .slice(0, 60) || "my-model"
    );
  }

  // The first 256 KB of the file as text, cut at the last line end (the whole file when smaller).
  async function readSample(file) {
    const text = await file.slice(0, SAMPLE_BYTES).text();
    if (file.size <= SAMPLE_BYTES) return text;
    const end = text.lastIndexOf("\n");
    return end > 0 ? text.slice(0, end + 1) : text;
  }

  function columnsTable(columns, rows) {
    return el(
      "table",
      {},
      el("caption", {}, "What the file holds" + (rows !== undefined && rows !== null ? " (" + rows + " rows read)" : "")),
      el("thead", {}, el("tr", {}, ["Column", "What it holds", "Can be predicted"].map((h) => el("th", { scope: "col" }, h)))),
      el(
        "tbody",
        {},
        columns.map((c) =>
          el("tr", {}, el("th", { scope: "row" }, c.name), el("td", {}, c.description || c.kind || ""), el("td", {}, c.can_predict ? "yes" : "no")),
        ),
      ),
    );
  }

  async function upload(file, request, progressField, progress, outcome) {
    fill(outcome);
    say("Preparing the upload…");
    const answer = await api("POST", "/uploads", request);
    if (answer.status !== 200) {
      warn(errorText(answer));
      return false;
    }
    const ticket = answer.body;
    progressField.hidden = false;
    progress.value = 0;
    say("Uploading " + file.name + "…");
    const sent = await postFile(ticket, file, progress);
    if (!sent.ok) {
      warn("The upload did not go through: " + sent.message);
      return false;
    }
    progress.value = 100;
    say("Uploaded. Checking the data…");
    const deadline = Date.now() + UPLOAD_WAIT_MS;
    while (Date.now() < deadline) {
      const state = await api("GET", "/uploads?key=" + encodeURIComponent(ticket.key));
      if (state.status !== 200) {
        warn(errorText(state));
        return false;
      }
      if (state.body.state === "accepted") {
        const model = state.body.model || request.model;
        fill(outcome, 
          el(
            "p",
            { className: "good" },
            "The file was accepted and training has started. ",
            el("a", { href: "#/models/" + encodeURIComponent(model) }, "Follow the training of " + model),
          ),
        );
        say("The file was accepted and training has started.");
        return true;
      }
      if (state.body.state === "quarantined") {
        fill(outcome, ...quarantineReport(state.body.report));
        warn("The file was not accepted: it is set aside and nothing is trained. See the problems below.");
        return false;
      }
      await sleep(UPLOAD_POLL_MS);
    }
    warn("The file was uploaded, but its check has not finished yet. Look at the model's page in a few minutes.");
    return false;
  }

  // POST the file to the pre-signed URL: the fields, then `file` last (S3 ignores what follows it).
  function postFile(ticket, file, progress) {
    return new Promise((resolve) => {
      const form = new FormData();
      for (const [key, value] of Object.entries(ticket.fields || {})) form.append(key, value);
      form.append("file", file);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", ticket.url);
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) progress.value = Math.round((100 * event.loaded) / event.total);
      });
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) resolve({ ok: true });
        else resolve({ ok: false, message: "the storage answered " + xhr.status + "." });
      });
      xhr.addEventListener("error", () => resolve({ ok: false, message: "the storage could not be reached." }));
      xhr.send(form);
    });
  }

  function quarantineReport(report) {
    const parts = [el("h3", {}, "Why the file was not accepted")];
    if (!report) {
      parts.push(el("p", {}, "The file did not pass the checks."));
      return parts;
    }
    parts.push(el("p", { className: "bad" }, report.summary || "The file did not pass the checks."));
    const problems = report.problems || [];
    if (problems.length) {
      parts.push(
        el(
          "table",
          {},
          el("caption", {}, "Problems found"),
          el("thead", {}, el("tr", {}, ["Row", "Column", "Problem"].map((h) => el("th", { scope: "col" }, h)))),
          el(
            "tbody",
            {},
            problems.map((p) =>
              el(
                "tr",
                {},
                el("td", {}, p.row === null || p.row === undefined ? "all" : String(p.row)),
                el("td", {}, p.column === null || p.column === undefined ? "" : String(p.column)),
                el("td", {}, p.message || ""),
              ),
            ),
          ),
        ),
      );
    }
    parts.push(el("p", {}, "Fix these rows in your file and upload it again."));
    return parts;
  }

  // ---------- two-step sign-in ----------

  async function securityScreen() {
    const state = el("section", { "aria-labelledby": "h-two-step" });
    const mine = show("Two-step sign-in", state);
    await whoAmI();
    if (mine !== screen) return;
    if (!session.access) {
      fill(state, el("p", {}, "Sign out and sign in again to change your two-step sign-in."));
      return;
    }
    const answer = await api("POST", "/mfa", { access_token: session.access });
    if (mine !== screen) return;
    if (answer.status !== 200) {
      warn(errorText(answer));
      return;
    }
    showTwoStep(state, answer.body);
  }

  function showTwoStep(section, status) {
    const heading = el("h2", { id: "h-two-step" }, "Your sign-in");
    if (!status.available) {
      fill(section, heading, el("p", {}, "This console does not offer two-step sign-in. Ask your administrator if you need it."));
    } else if (status.enabled) {
      fill(
        section,
        heading,
        el("p", { className: "good" }, "Two-step sign-in is on: each sign-in asks for the code your authenticator app shows."),
        el("p", {}, "If you lose the device with the app, ask your administrator to turn two-step sign-in off for your account; then set it up again."),
      );
    } else {
      const start = el("button", { type: "button", className: "primary" }, "Set up two-step sign-in");
      start.addEventListener("click", () => startTwoStep(section, start));
      fill(
        section,
        heading,
        el("p", {}, "Two-step sign-in is off: your password alone signs you in."),
        el("p", {}, "Turn it on to be asked, at each sign-in, for a code from an authenticator app on your phone " +
          "(Google Authenticator, Microsoft Authenticator, 1Password, Authy or any app for time-based codes)."),
        start,
      );
    }
  }

  async function startTwoStep(section, button) {
    button.disabled = true;
    say("Preparing a key for your app…");
    const answer = await api("POST", "/mfa/setup", { access_token: session.access });
    button.disabled = false;
    if (answer.status !== 200) {
      warn(errorText(answer));
      return;
    }
    clearMessages();
    const secret = String(answer.body.secret || "");
    const uri = String(answer.body.uri || "");
    const code = codeInput();
    const form = el(
      "form",
      { className: "card narrow", novalidate: true },
      el(
        "div",
        { className: "field" },
        el("label", { for: "code" }, "Code"),
        code,
        el("p", { id: "code-help", className: "help" }, "The 6 digits the app shows for the Sluice console."),
      ),
      el("button", { type: "submit", className: "primary" }, "Verify and turn on"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      say("Checking the code…");
      const done = await api("POST", "/mfa/verify", { access_token: session.access, code: code.value.trim() });
      code.value = "";
      if (done.status === 200) {
        showTwoStep(section, done.body);
        say("Two-step sign-in is on. From your next sign-in, the console asks for your app's code.");
      } else {
        warn(errorText(done));
        code.focus();
      }
    });
    fill(
      section,
      el("h2", { id: "h-two-step" }, "Set up two-step sign-in"),
      el("ol", {},
        el("li", {}, "In your authenticator app, add an account and choose to enter a setup key. Type this key (time-based):",
          el("p", {}, el("code", { id: "mfa-secret", className: "secret" }, secret.replace(/(.{4})/g, "$1 ").trim()))),
        el("li", {}, "Or, on the device that has the app, open ",
          el("a", { href: uri, id: "mfa-link" }, "this setup link"),
          " (its address is ", el("code", { className: "secret" }, uri), ")."),
        el("li", {}, "Enter the code the app now shows, to check it works."),
      ),
      form,
    );
    code.focus();
  }

  // ---------- routing ----------

  function route() {
    clearMessagesOnScreenChange();
    if (!session) {
      signInScreen();
      return;
    }
    const hash = location.hash || "#/models";
    const match = /^#\/models\/(.+)$/.exec(hash);
    if (match) {
      modelScreen(decodeURIComponent(match[1])).catch(failed);
    } else if (hash === "#/new") {
      newModelScreen();
    } else if (hash === "#/security") {
      securityScreen().catch(failed);
    } else {
      modelsScreen().catch(failed);
    }
  }

  let lastHash = null;
  function clearMessagesOnScreenChange() {
    if (location.hash !== lastHash) clearMessages();
    lastHash = location.hash;
  }

  function failed(error) {
    if (error && error.message === "signed out") return;
    warn("Something went wrong in the page: " + (error && error.message ? error.message : error));
  }

  document.getElementById("sign-out").addEventListener("click", () => {
    endSession();
    say("You are signed out.");
  });
  window.addEventListener("hashchange", route);
  window.addEventListener("unhandledrejection", (event) => failed(event.reason));
  route();
})();
