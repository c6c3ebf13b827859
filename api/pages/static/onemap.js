// The one map's page: the side panel (what was clicked, read from the API with the session cookie), the
// search box, and closing the panel. Text from the register only ever goes in through textContent.
(function () {
  "use strict";
  var KIND_ZH = {enterprise: "企业", risk_unit: "风险单元", protection_target: "防护目标", jurisdiction: "行政区",
    zone: "分区", hazard: "隐患", violation: "安全距离问题", cluster: "联防联控组"};
  var LEVEL_ZH = {1: "重大风险（红）", 2: "较大风险（橙）", 3: "一般风险（黄）", 4: "低风险（蓝）"};
  var CLASS_ZH = {high_sensitive: "高敏感防护目标", important: "重要防护目标", general_1: "一般防护目标一类",
    general_2: "一般防护目标二类", general_3: "一般防护目标三类"};
  var nav, body, title;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }
  function open(heading) {
    document.body.classList.remove("rm-panel-closed");
    title.textContent = heading;
    body.textContent = "";
    if (window.riskmapMap) { window.riskmapMap.invalidateSize(); }
  }
  function table(rows) {
    var t = el("table");
    rows.forEach(function (r) {
      if (r[1] === undefined || r[1] === null || r[1] === "" || (Array.isArray(r[1]) && !r[1].length)) { return; }
      var tr = el("tr");
      tr.appendChild(el("th", r[0]));
      tr.appendChild(el("td", Array.isArray(r[1]) ? r[1].join("、") : r[1]));
      t.appendChild(tr);
    });
    body.appendChild(t);
  }
  function links(list) {
    var p = el("p", null, "rm-links");
    list.forEach(function (l) {
      var a = el("a", l[0]);
      a.href = l[1];
      if (l[2]) { a.setAttribute("download", ""); }
      p.appendChild(a);
    });
    body.appendChild(p);
  }
  function getJSON(url) {
    return fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}}).then(function (r) {
      if (!r.ok) { throw new Error(r.status === 404 ? "未找到或无权查看" : "读取失败（" + r.status + "）"); }
      return r.json();
    });
  }
  function failed(err) { body.appendChild(el("p", err.message, "rm-notice")); }

  var show = {
    enterprise: function (p) {
      open(p.n || "企业");
      if (!p.i) { return; }
      getJSON("/api/v1/enterprises/" + p.i).then(function (f) {
        var q = f.properties;
        table([["统一社会信用代码", q.credit_code], ["行业", q.sector], ["地址", q.address],
               ["风险等级（就高）", LEVEL_ZH[p.l]], ["风险单元", q.risk_unit_count], ["联系人", q.contact_person],
               ["联系电话", q.contact_phone], ["监管部门", q.supervising_department]]);
        links([["一企一册（Excel）", "/api/v1/exports/enterprise-register/" + p.i + ".xlsx", true],
               ["一企一册（PDF）", "/api/v1/exports/enterprise-register/" + p.i + ".pdf", true],
               ["变更历史", "/api/v1/enterprises/" + p.i + "/history"],
               ["风险点", "/api/v1/risk-units?enterprise_id=" + p.i],
               ["隐患", "/api/v1/hazards?enterprise_id=" + p.i]]);
      }).catch(failed);
    },
    risk_unit: function (p) {
      open(p.n || "风险单元");
      if (!p.i) { return; }
      getJSON("/api/v1/risk-units/" + p.i).then(function (f) {
        var q = f.properties;
        table([["风险等级", LEVEL_ZH[q.level]], ["评估方法", q.assessment_method], ["分值", q.assessment_score],
               ["危险因素", q.hazards], ["事故类型", q.accident_types], ["管控措施", q.control_measures],
               ["管控层级", q.control_level], ["责任人", q.responsible_person], ["下次评估", q.next_assessment_due]]);
        links([["变更历史", "/api/v1/risk-units/" + p.i + "/history"],
               ["人员暴露", "/api/v1/analysis/exposure?risk_unit_id=" + p.i],
               ["隐患", "/api/v1/hazards?risk_unit_id=" + p.i]]);
      }).catch(failed);
    },
    protection_target: function (p) {
      open(p.n || "防护目标");
      getJSON("/api/v1/protection-targets/" + p.i).then(function (f) {
        var q = f.properties;
        table([["类型", q.type], ["GB 36894 分类", CLASS_ZH[q.gb_class] || q.gb_class], ["人数", q.population],
               ["户数", q.households], ["地址", q.address]]);
        links([["变更历史", "/api/v1/protection-targets/" + p.i + "/history"]]);
      }).catch(failed);
    },
    hazard: function (p) {
      open("隐患 " + p.i);
      getJSON("/api/v1/hazards/" + p.i).then(function (f) {
        var q = f.properties;
        table([["描述", q.description], ["等级", q.grade_zh], ["状态", q.status_zh], ["企业", q.enterprise_name],
               ["风险点", q.risk_unit_name], ["整改期限", q.deadline + (q.deadlines_provisional ? "（待定）" : "")],
               ["逾期", q.overdue ? "是（" + q.working_days_overdue + " 个工作日）" : "否"],
               ["挂牌督办", q.supervised ? q.supervising_unit : ""]]);
        var steps = el("ul");
        (q.events || []).forEach(function (e) { steps.appendChild(el("li", e.on_date + " " + e.action + " " + e.actor)); });
        body.appendChild(el("h3", "办理过程"));
        body.appendChild(steps);
      }).catch(failed);
    },
    zone: function (p, layer) {
      open(p.n || "分区");
      var counts = p.k || [0, 0, 0, 0];
      table([["区域风险等级", LEVEL_ZH[p.l] || "无风险单元"], ["重大", counts[0]], ["较大", counts[1]],
             ["一般", counts[2]], ["低", counts[3]], ["说明", p.s]]);
      if (!p.l || nav.dataset.public === "true") { return; }
      body.appendChild(el("h3", "决定颜色的风险单元（" + (LEVEL_ZH[p.l] || "") + "）"));
      var url = "/api/v1/risk-units?limit=10&level=" + p.l;
      if (nav.dataset.zones === "children" && p.c) {
        url += "&adcode=" + encodeURIComponent(p.c);
      } else if (layer && layer.getBounds) {
        var b = layer.getBounds();
        url += "&bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",");
      }
      getJSON(url).then(function (fc) {
        var list = el("ul");
        fc.features.forEach(function (f) {
          var li = el("li", f.properties.name + (f.properties.enterprise_name ? "（" + f.properties.enterprise_name + "）" : ""));
          list.appendChild(li);
        });
        if (!fc.features.length) { list.appendChild(el("li", "（企业风险点见企业图层）")); }
        body.appendChild(list);
        if (fc.numberMatched > fc.features.length) { body.appendChild(el("p", "共 " + fc.numberMatched + " 个，显示前 10 个")); }
      }).catch(failed);
    },
    violation: function (p) {
      open("安全防护距离");
      table([["风险单元", p.h], ["防护目标", p.t], ["实际距离（米）", p.d], ["要求距离（米）", p.r], ["依据", p.b], ["说明", p.x]]);
    },
    cluster: function (p) {
      open("联防联控组 " + p.n);
      table([["成员企业", p.k + " 家"], ["最高等级", LEVEL_ZH[p.l]]]);
      links([["交叉互查安排", "/api/v1/analysis/cross-inspection?adcode=" + encodeURIComponent(nav.dataset.adcode)]]);
    }
  };

  window.riskmapSelect = function (kind, props, layer) {
    var f = show[kind];
    if (f) { f(props || {}, layer); }
  };

  function search(event) {
    event.preventDefault();
    var q = document.getElementById("rm-search-q").value.trim();
    if (!q) { return; }
    open("搜索：" + q);
    getJSON("/api/v1/search?q=" + encodeURIComponent(q)).then(function (r) {
      var list = el("ul", null, "rm-results");
      list.id = "rm-results";
      r.results.forEach(function (hit) {
        var li = el("li");
        li.appendChild(el("span", KIND_ZH[hit.kind] || hit.kind, "rm-kind"));
        li.appendChild(el("span", hit.name));
        if (hit.detail) { li.appendChild(el("span", " " + hit.detail, "rm-kind")); }
        li.dataset.kind = hit.kind;
        li.dataset.id = hit.id;
        li.addEventListener("click", function () {
          var b = hit.bbox, map = window.riskmapMap;
          if (map) { map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {maxZoom: 16, padding: [40, 40]}); }
          var select = show[hit.kind];
          if (select && hit.kind !== "jurisdiction") { select({i: hit.id, n: hit.name}); }
        });
        list.appendChild(li);
      });
      if (!r.results.length) { list.appendChild(el("li", "没有找到")); }
      body.appendChild(list);
    }).catch(failed);
  }

  document.addEventListener("DOMContentLoaded", function () {
    nav = document.getElementById("rm-nav");
    body = document.getElementById("rm-panel-body");
    title = document.getElementById("rm-panel-title");
    var form = document.getElementById("rm-search");
    if (form) { form.addEventListener("submit", search); }
    document.getElementById("rm-panel-close").addEventListener("click", function () {
      document.body.classList.add("rm-panel-closed");
      if (window.riskmapMap) { window.riskmapMap.invalidateSize(); }
    });
  });
}());
