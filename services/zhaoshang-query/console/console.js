// The zhaoshang console's one script: it records facts through the command API
// (the same JSON bodies, with the session cookie and the X-Zhaoshang-Console
// header), shows each problem+json error beside its field, refreshes the parts
// of the page a fact changes, and draws the charts.
// Every page works without it for reading; the forms need it.
"use strict";

(function () {
  const CONSOLE_HEADER = { "X-Zhaoshang-Console": "1" };

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // A list typed by a person: split on 、，, ; and new lines.
  function splitList(text) {
    return text.split(/[、，,;；\n]+/).map((s) => s.trim()).filter((s) => s.length > 0);
  }

  function setPath(target, dotted, value) {
    const parts = dotted.split(".");
    let node = target;
    for (const part of parts.slice(0, -1)) {
      if (typeof node[part] !== "object" || node[part] === null) node[part] = {};
      node = node[part];
    }
    node[parts[parts.length - 1]] = value;
  }

  // The form's JSON body and URL: `data-path` fields fill {placeholders} of
  // data-api; empty optional fields are left out (the API's defaults apply).
  function commandOf(form) {
    let url = form.dataset.api;
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.type === "submit") continue;
      if (el.dataset.path) {
        url = url.replace("{" + el.dataset.path + "}", encodeURIComponent(el.value));
        continue;
      }
      if (el.dataset.enterpriseRole) {
        const names = splitList(el.value);
        if (names.length) {
          body.enterprises = (body.enterprises || []).concat(names.map((name) => ({ name, role: el.dataset.enterpriseRole })));
        }
        continue;
      }
      const type = el.dataset.type;
      if (type === "bool") {
        if (el.checked) setPath(body, el.name, true);
        continue;
      }
      const raw = el.value.trim();
      if (raw === "") continue;
      if (type === "integer") {
        // Sent as a number when it is one; anything else is sent as typed so
        // that the API names the field and the rule it breaks.
        const digits = raw.replace(/[,，\s]/g, "");
        setPath(body, el.name, /^-?\d+$/.test(digits) ? Number(digits) : raw);
      } else if (type === "list") {
        setPath(body, el.name, splitList(raw));
      } else {
        setPath(body, el.name, raw);
      }
    }
    return { url, body };
  }

  function clearMessages(form) {
    form.querySelectorAll(".field-error, .form-error, .form-ok").forEach((el) => (el.textContent = ""));
    form.querySelectorAll(".field.invalid").forEach((el) => el.classList.remove("invalid"));
  }

  // The field box an error names: exactly, or by its first segment
  // (`enterprises[0].name` → enterprises, `figures.month` → figures.month).
  function fieldBox(form, name) {
    if (!name) return null;
    const boxes = Array.from(form.querySelectorAll(".field[data-field]"));
    const exact = boxes.find((b) => b.dataset.field === name);
    if (exact) return exact;
    const head = name.replace(/\[.*$/, "");
    return boxes.find((b) => b.dataset.field === head) || boxes.find((b) => name.startsWith(b.dataset.field + ".")) || null;
  }

  function showProblem(form, problem, status) {
    const errors = Array.isArray(problem.errors) ? problem.errors : [];
    const general = [];
    for (const error of errors) {
      const text = (error.message || error.detail || "") + (error.rule ? "（" + error.rule + "）" : "");
      const box = fieldBox(form, error.field);
      if (box) {
        box.classList.add("invalid");
        const slot = box.querySelector(".field-error");
        slot.textContent = slot.textContent ? slot.textContent + "；" + text : text;
      } else {
        general.push((error.field ? error.field + "：" : "") + text);
      }
    }
    if (errors.length === 0) {
      general.push((problem.detail || problem.title || "提交失败（" + status + "）") + (problem.rule ? "（" + problem.rule + "）" : ""));
    }
    form.querySelector(".form-error").textContent = general.join("；");
  }

  // Reloads the sections named by the form's data-refresh from this page,
  // read after the read models have applied the new event.
  async function refresh(sections, sequence) {
    const url = new URL(window.location.href);
    url.searchParams.set("consistent_with", String(sequence));
    url.searchParams.set("wait_ms", "10000");
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) {
      window.location.assign(url);
      return;
    }
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of sections) {
      const fresh = page.getElementById(id);
      const current = document.getElementById(id);
      if (fresh && current) current.replaceWith(document.importNode(fresh, true));
    }
    document.querySelectorAll("form.command select[data-path='project']").forEach((select) => {
      const fresh = page.querySelector("#" + select.form.id + " select[data-path='project']");
      if (fresh) select.innerHTML = fresh.innerHTML;
    });
    document.dispatchEvent(new CustomEvent("console:refreshed"));
  }

  async function submit(event) {
    const form = event.target;
    if (!form.matches("form.command")) return;
    event.preventDefault();
    clearMessages(form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const { url, body } = commandOf(form);
      if (/\{[a-z_]+\}/.test(url)) {
        form.querySelector(".form-error").textContent = "请先选择项目。";
        return;
      }
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: Object.assign({ "Content-Type": "application/json", "Idempotency-Key": newKey() }, CONSOLE_HEADER),
        body: JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        showProblem(form, answer, response.status);
        return;
      }
      form.querySelector(".form-ok").textContent = "已登记（事件序号 " + answer.sequence + "）";
      form.reset();
      await refresh((form.dataset.refresh || "").split(/\s+/).filter(Boolean), answer.sequence);
    } catch (error) {
      form.querySelector(".form-error").textContent = "无法连接服务，请稍后重试。";
    } finally {
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------ charts

  function drawCharts() {
    const island = document.getElementById("chart-data");
    if (!island || !window.echarts) return;
    const data = JSON.parse(island.textContent);
    const byTaskForce = echarts.init(document.getElementById("chart-task-forces"));
    const byMeasure = echarts.init(document.getElementById("chart-measures"));
    const select = document.getElementById("chart-measure");
    // No animation: the figures are read, not watched, and a screenshot or a
    // printout taken at once shows the whole line.
    const grid = { left: 44, right: 16, top: 64, bottom: 28 };
    const legend = { type: "scroll", top: 28, left: 0, right: 0 };
    const title = (text) => ({ text, left: 0, top: 0, textStyle: { fontSize: 14 } });
    function drawTaskForces() {
      const measure = data.measures[select.value];
      byTaskForce.setOption(
        {
          animation: false,
          title: title("各专班逐月累计：" + measure.label),
          tooltip: { trigger: "axis" },
          legend,
          grid,
          xAxis: { type: "category", data: data.months },
          yAxis: { type: "value", minInterval: 1 },
          series: data.task_forces
            .filter((tf) => tf.id)
            .map((tf) => ({ name: tf.name, type: "line", data: measure.lines[tf.id] || [] })),
        },
        true
      );
    }
    const withTargets = data.order.filter((code) => data.measures[code].target);
    byMeasure.setOption({
      animation: false,
      title: title("全系统各指标逐月完成率（%）"),
      tooltip: { trigger: "axis", valueFormatter: (v) => v + "%" },
      legend,
      grid,
      xAxis: { type: "category", data: data.months },
      yAxis: { type: "value", axisLabel: { formatter: "{value}%" } },
      series: withTargets.map((code) => {
        const m = data.measures[code];
        return { name: m.label, type: "line", data: m.lines._total.map((v) => Math.round((1000 * v) / m.target) / 10) };
      }),
    });
    select.addEventListener("change", drawTaskForces);
    drawTaskForces();
    window.addEventListener("resize", () => {
      byTaskForce.resize();
      byMeasure.resize();
    });
  }

  document.addEventListener("submit", submit);
  document.addEventListener("DOMContentLoaded", () => {
    drawCharts();
  });
})();
