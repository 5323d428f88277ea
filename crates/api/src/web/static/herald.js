// Herald's admin page: the little it does in the browser. Forms work without
// it; it asks before destructive buttons, submits the kind picker, ticks every
// failure at once, and renders the rule form's preview as one types.
"use strict";

document.addEventListener("submit", (e) => {
  const button = e.submitter;
  const message = (button && button.dataset.confirm) || e.target.dataset.confirm;
  if (message && !window.confirm(message)) e.preventDefault();
});

document.addEventListener("change", (e) => {
  const t = e.target;
  if (t.matches("select[data-autosubmit]")) t.form.submit();
  if (t.matches("input[data-check-all]")) {
    for (const box of t.form.querySelectorAll(`input[name="${t.dataset.checkAll}"]`)) box.checked = t.checked;
  }
});

// The rule form's preview: the form posted to its preview URL (CSRF token
// included), the answer (an HTML fragment made by the server) shown below.
(() => {
  const form = document.getElementById("rule-form");
  if (!form) return;
  const target = document.getElementById("preview");
  let timer = null;
  let seq = 0;
  const preview = async (mode) => {
    const body = new URLSearchParams(new FormData(form));
    body.set("mode", mode);
    const mine = ++seq;
    const answer = await fetch(form.dataset.previewUrl, { method: "POST", body, credentials: "same-origin" });
    const html = await answer.text();
    if (mine === seq) target.innerHTML = html;
  };
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => preview("sample"), 400);
  });
  for (const button of form.querySelectorAll("button[data-preview]")) {
    button.addEventListener("click", () => preview(button.dataset.preview));
  }
})();
