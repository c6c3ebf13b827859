/* The import and siting-check pages: call the JSON API with the session's CSRF token and show the answer
   as tables. Every value is put in with textContent: nothing from a file or the server becomes HTML. */
(function () {
  "use strict";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function table(id, headers, rows) {
    var t = el("table", null, "rm-table");
    t.id = id;
    var head = t.createTHead().insertRow();
    headers.forEach(function (h) { head.appendChild(el("th", h)); });
    var body = t.createTBody();
    rows.forEach(function (r) {
      var tr = body.insertRow();
      r.forEach(function (v) { tr.appendChild(el("td", v === null || v === undefined ? "—" : v)); });
    });
    return t;
  }
  function problemRows(errors) {
    return (errors || []).map(function (p) {
      var m = /^row (\d+)(?:\.(.*))?$/.exec(p.field || "");
      return [m ? m[1] : "", m ? (m[2] || "") : p.field, p.reason_zh || "", p.reason || ""];
    });
  }

  // --- import --------------------------------------------------------------------------------------------
  var importForm = document.getElementById("rm-import-form");
  if (importForm) {
    var result = document.getElementById("rm-import-result");
    var confirmButton = document.getElementById("rm-import-confirm");
    var send = function (dryRun) {
      var file = document.getElementById("rm-import-file").files[0];
      if (!file) return;
      var kind = document.getElementById("rm-import-kind").value;
      var crs = document.getElementById("rm-import-crs").value;
      var data = new FormData();
      data.append("file", file, file.name);
      var url = "/api/v1/imports?" + new URLSearchParams({ kind: kind, crs: crs, dry_run: dryRun ? "true" : "false" });
      result.replaceChildren(el("p", dryRun ? "正在检查……" : "正在导入……", "rm-notice"));
      confirmButton.hidden = true;
      fetch(url, { method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
        .then(function (r) { return r.json().then(function (body) { return { status: r.status, body: body }; }); })
        .then(function (answer) {
          var b = answer.body;
          result.replaceChildren();
          if (answer.status === 201) {
            var done = el("p", "已导入：新增 " + b.inserted + " 条，更新 " + b.updated + " 条，未变 " + b.unchanged + " 条。", "rm-notice");
            done.id = "rm-import-done";
            result.appendChild(done);
            return;
          }
          var rows = b.rows !== undefined ? b.rows : "?";
          var bad = b.rejected_rows || 0;
          var summary = el("p", "共 " + rows + " 行，" + (bad ? bad + " 行有问题（未写入任何记录）" : "全部通过检查") +
            (b.errors_total > (b.errors || []).length ? "；只列出前 " + b.errors.length + " 个问题" : ""),
            bad || answer.status >= 400 ? "rm-error" : "rm-notice");
          summary.id = "rm-import-summary";
          result.appendChild(summary);
          if (answer.status >= 400 && !b.errors) {
            result.appendChild(el("p", b.detail || ("HTTP " + answer.status), "rm-error"));
            return;
          }
          if ((b.errors || []).length) {
            result.appendChild(table("rm-import-report", ["行", "字段", "原因", "Reason"], problemRows(b.errors)));
          }
          confirmButton.hidden = !(answer.status === 200 && b.valid);
        })
        .catch(function () { result.replaceChildren(el("p", "请求失败，请重试。", "rm-error")); });
    };
    importForm.addEventListener("submit", function (ev) { ev.preventDefault(); send(true); });
    confirmButton.addEventListener("click", function () { send(false); });
  }

  // --- siting check ---------------------------------------------------------------------------------------
  var sitingForm = document.getElementById("rm-siting-form");
  if (sitingForm) {
    var out = document.getElementById("rm-siting-result");
    var area = document.getElementById("rm-siting-geometry");
    document.getElementById("rm-siting-file").addEventListener("change", function (ev) {
      var f = ev.target.files[0];
      if (f) f.text().then(function (t) { area.value = t; });
    });
    var VERDICT = { ok: "rm-notice", advise: "rm-warn", veto: "rm-error" };
    var COLOUR = { ok: "#2b83ba", advise: "#e69500", veto: "#c62828" };
    var map = null;
    var drawn = null;
    // The proposal and the line to each conflict on a plain map (no tiles: nothing from outside). The
    // coordinates are drawn as given (the lines come back in the request's crs).
    var drawMap = function (geometry, b) {
      var box = document.getElementById("rm-siting-map");
      if (!window.L || !box) return;
      box.hidden = false;
      if (!map) map = window.L.map(box, { attributionControl: false });
      if (drawn) drawn.remove();
      drawn = window.L.featureGroup().addTo(map);
      window.L.geoJSON(geometry, { style: { color: COLOUR[b.verdict] || "#1d4e89", weight: 2, fillOpacity: 0.3 } })
        .bindTooltip("拟建：" + (b.proposal && b.proposal.name || "")).addTo(drawn);
      (b.features || []).forEach(function (f) {
        if (!f.geometry) return;
        var p = f.properties;
        window.L.geoJSON(f.geometry, { style: { color: COLOUR[p.status] || "#555", weight: 3, dashArray: "6 4" } })
          .bindTooltip(((p.existing && p.existing.name) || "") + "：" + p.distance_m + " 米（要求 " + p.required_m + " 米）")
          .addTo(drawn);
      });
      map.invalidateSize();
      map.fitBounds(drawn.getBounds(), { padding: [30, 30], maxZoom: 17 });
    };
    var STATUS_ZH = { veto: "否决", advise: "提醒" };
    sitingForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var geometry;
      try {
        geometry = JSON.parse(area.value);
      } catch (e) {
        out.replaceChildren(el("p", "GeoJSON 无法解析：" + e.message, "rm-error"));
        return;
      }
      if (geometry && geometry.type === "FeatureCollection") geometry = (geometry.features[0] || {}).geometry;
      if (geometry && geometry.type === "Feature") geometry = geometry.geometry;
      var body = { geometry: geometry, crs: document.getElementById("rm-siting-crs").value };
      var name = document.getElementById("rm-siting-name").value.trim();
      if (name) body.name = name;
      var type = document.getElementById("rm-siting-type").value.trim();
      if (document.getElementById("rm-siting-mode").value === "hazard") body.hazard_kind = type;
      else body.target_type = type;
      ["households", "population"].forEach(function (k) {
        var v = document.getElementById("rm-siting-" + k).value;
        if (v !== "") body[k] = Number(v);
      });
      out.replaceChildren(el("p", "正在核查……", "rm-notice"));
      fetch("/api/v1/analysis/siting-check", {
        method: "POST", credentials: "same-origin", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      })
        .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); })
        .then(function (answer) {
          var b = answer.body;
          out.replaceChildren();
          if (answer.status !== 200) {
            out.appendChild(el("p", "无法核查 (HTTP " + answer.status + ")", "rm-error"));
            var errs = (b.errors || []).map(function (p) { return [p.field, p.reason_zh || "", p.reason || ""]; });
            if (!errs.length && b.detail) errs = [["", "", typeof b.detail === "string" ? b.detail : JSON.stringify(b.detail)]];
            out.appendChild(table("rm-siting-errors", ["字段", "原因", "Reason"], errs));
            return;
          }
          var verdict = el("p", "结论：" + b.verdict_zh + "（" + b.verdict + "）", VERDICT[b.verdict] || "rm-notice");
          verdict.id = "rm-siting-verdict";
          verdict.dataset.verdict = b.verdict;
          out.appendChild(verdict);
          out.appendChild(el("p", b.explanation_zh));
          (b.notes || []).forEach(function (n) { out.appendChild(el("p", typeof n === "string" ? n : JSON.stringify(n), "rm-muted")); });
          out.appendChild(table("rm-siting-conflicts", ["对象", "判定", "距离 (m)", "要求 (m)", "需外移 (m)", "依据"],
            (b.features || []).map(function (f) {
              var p = f.properties;
              return [(p.existing && p.existing.name) || "（辖区外）", STATUS_ZH[p.status] || p.status, p.distance_m, p.required_m, p.move_m, p.explanation_zh || p.rule];
            })));
          drawMap(geometry, b);
          if ((b.unchecked || []).length) {
            out.appendChild(el("p", "有 " + b.unchecked.length + " 个风险单元无法核查（缺少数据），结论不能为“通过”。", "rm-warn"));
          }
        })
        .catch(function () { out.replaceChildren(el("p", "请求失败，请重试。", "rm-error")); });
    });
  }
  // --- the next step of a close-out case or a hazard: POST {data-base}/{the button's value} -------------
  document.querySelectorAll("form.rm-step").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var action = ev.submitter ? ev.submitter.value : "request";
      var body = {};
      Array.prototype.forEach.call(form.elements, function (f) {
        if (!f.name || f.value === "") return;
        if (f.name === "assessment_inputs") {
          var inputs = {};
          f.value.replace(/([A-Za-z]+)\s*[=:]\s*(-?[\d.]+)/g, function (_, k, v) { inputs[k] = Number(v); return ""; });
          body[f.name] = inputs;
        } else {
          body[f.name] = f.type === "number" ? Number(f.value) : f.value;
        }
      });
      if (action === "approve" && body.reason === undefined) delete body.reason;
      var out = form.querySelector(".rm-step-out");
      fetch(form.dataset.base + "/" + encodeURIComponent(action), {
        method: "POST", credentials: "same-origin", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      })
        .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); })
        .then(function (answer) {
          if (answer.status < 300) { window.location.reload(); return; }
          var errs = answer.body.errors || [];
          out.className = "rm-step-out rm-error";
          out.textContent = errs.length
            ? errs.map(function (p) { return p.field + "：" + (p.reason_zh || p.reason); }).join("；")
            : String(answer.body.detail || ("HTTP " + answer.status));
        })
        .catch(function () { out.textContent = "请求失败，请重试。"; });
    });
  });
  // --- the plan's checks made into inspections to fill in ----------------------------------------------
  document.querySelectorAll("button.rm-plan-make").forEach(function (button) {
    button.addEventListener("click", function () {
      var out = button.parentNode.querySelector(".rm-plan-made");
      button.disabled = true;
      out.textContent = "正在生成……";
      fetch("/api/v1/inspections/from-plan", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ adcode: button.dataset.adcode, period: button.dataset.period, part: "all" })
      })
        .then(function (r) { return r.json().then(function (body) { return { status: r.status, body: body }; }); })
        .then(function (answer) {
          var b = answer.body;
          button.disabled = false;
          if (answer.status === 201) {
            out.textContent = "新建 " + b.created.length + " 条，已有 " + b.existing.length + " 条" +
              (b.outside_jurisdiction.length ? "，辖区外 " + b.outside_jurisdiction.length + " 家未生成" : "") + "。";
          } else {
            out.textContent = "未生成：" + (b.errors && b.errors.length ? b.errors.map(function (p) { return p.reason_zh || p.reason; }).join("；") : (b.detail || answer.status));
          }
        })
        .catch(function () { button.disabled = false; out.textContent = "未生成：网络错误"; });
    });
  });
})();
